"""Parameter values from a sampled posterior (a posterior calibration's folder).

A posterior calibration (``fem-cell calibrate`` with ``method = "posterior"``,
:mod:`fem_cell.studies.posterior`) writes ``posterior.csv`` (one row per sample, one
column per parameter in the cell file's units) and ``identifiability.csv`` (the
parameters, their units and forms).  :func:`read_draws` takes a seeded subsample of it;
each draw is a set of configuration overrides (:meth:`PosteriorDraws.overrides`) that a
job or a study applies on top of its configuration — the posterior sweep
(:mod:`fem_cell.studies.posterior_study`) and the reproduction's predicted cases
(``fem-cell reproduce --posterior``).  Like the calibration record, a parameter source:
hence the config layer.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.errors import ConfigError


def override_value(form: str, unit: str, value: float):
    """A configuration override of a number in ``unit``: ``{prefactor, unit}`` for an
    Arrhenius rate's prefactor (``form = "prefactor"``), a bare number when
    dimensionless, else ``{value, unit}``."""
    if form == "prefactor":
        return {"prefactor": float(value), "unit": unit or "1"}
    if unit in ("", "1"):
        return float(value)
    return {"value": float(value), "unit": unit}


@dataclasses.dataclass(frozen=True)
class PosteriorDraws:
    """Parameter values of a posterior subsample: ``values[i]`` maps each key to the
    override value of sample i (``{value|prefactor, unit}``)."""

    folder: Path
    keys: tuple[str, ...]
    units: tuple[str, ...]
    table: tuple[tuple[float, ...], ...]
    forms: tuple[str, ...]
    converged: bool | None

    def overrides(self, i: int) -> dict[str, Any]:
        return {k: override_value(f, u, v) for k, u, f, v in
                zip(self.keys, self.units, self.forms, self.table[i], strict=True)}

    @property
    def digest(self) -> str:
        text = json.dumps([self.keys, self.units, self.forms, self.table])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_draws(folder: str | Path, samples: int, seed: int = 0) -> PosteriorDraws:
    """``samples`` draws (without replacement, ``seed``) from a posterior calibration's
    folder (its ``posterior.csv`` and ``identifiability.csv``)."""
    import pandas as pd

    folder = Path(folder)
    try:
        post = pd.read_csv(folder / "posterior.csv")
        ident = pd.read_csv(folder / "identifiability.csv")
    except (OSError, ValueError) as e:
        raise ConfigError(str(folder), "--posterior", str(folder),
                          f"the folder of a posterior calibration (fem-cell calibrate with "
                          f"method = 'posterior'): {e}") from None
    keys = tuple(ident["parameter"])
    missing = [k for k in keys if k not in post]
    if missing or not len(post):
        raise ConfigError(str(folder), "--posterior", str(folder),
                          f"posterior.csv with samples of {list(keys)}")
    if not 1 <= samples <= len(post):
        raise ConfigError(str(folder), "--samples", samples,
                          f"between 1 and the {len(post)} posterior samples")
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(post), size=samples, replace=False))
    table = tuple(tuple(float(post[k].iloc[i]) for k in keys) for i in idx)
    units = tuple("1" if (isinstance(u, float) and np.isnan(u)) else str(u)
                  for u in ident["unit"])
    forms = tuple(str(f) for f in ident["form"]) if "form" in ident else ("value",) * len(keys)
    converged = None
    try:
        converged = bool(json.loads((folder / "posterior_diagnostics.json")
                                    .read_text(encoding="utf-8"))["converged"])
    except (OSError, ValueError, KeyError):
        pass
    return PosteriorDraws(folder, keys, units, table, forms, converged)




__all__ = ["PosteriorDraws", "override_value", "read_draws"]
