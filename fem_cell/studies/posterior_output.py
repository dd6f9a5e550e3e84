"""The files of a posterior calibration (rank 0): ``posterior.csv`` (one row per kept
sample: ``step``, ``walker``, one column per parameter key in its unit, ``log_posterior``
and the model value of every target), ``identifiability.csv``, ``posterior_targets.csv``
(5/50/95 % of every target's model value), ``posterior_diagnostics.json``, ``corner.png``,
``chains.png`` and ``calibration.txt`` (the table as text); with a surrogate
``surrogate_check.csv`` (per held-out model run: the parameters, and per target the
model's value, the emulator's and the difference in units of the target's sigma)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fem_cell.outputs.posterior_plots import plot_chains, plot_corner
from fem_cell.outputs.rundir import json_default


def _label(key: str, unit: str) -> str:
    short = key.split(".")[-1]
    return f"{short} [{unit}]" if unit not in ("1", "") else short


def write_posterior(res, file: Callable[[str], Path | None]) -> None:
    """Write a :class:`~fem_cell.studies.posterior.PosteriorResult`'s files through
    ``file(rel) -> path`` (the job's file registry)."""
    res.samples().to_csv(file("posterior.csv"), index=False, float_format="%.10g")
    ident = res.identifiability()
    ident.to_csv(file("identifiability.csv"), index=False, float_format="%.6g")
    res.predictions().to_csv(file("posterior_targets.csv"), index=False, float_format="%.6g")
    file("posterior_diagnostics.json").write_text(
        json.dumps({**res.diagnostics, "evaluations": res.evaluations,
                    "failed_evaluations": len(res.failures),
                    "first_failure": res.failures[0] if res.failures else None,
                    "settings": res.settings.__dict__, "wall_time_s": res.wall_time,
                    "surrogate": res.to_dict()["surrogate"]},
                   indent=2, default=json_default) + "\n", encoding="utf-8")
    file("calibration.txt").write_text(res.table() + "\n", encoding="utf-8")
    if res.surrogate is not None:
        _surrogate_csv(res, file("surrogate_check.csv"))
    vals = res.kept()[0]
    labels = [_label(p.key, u) for p, u in zip(res.parameters, res.units, strict=True)]
    logs = [p.log for p in res.parameters]
    ok = np.all(np.isfinite(vals), axis=1)
    d = res.diagnostics
    title = (f"{vals.shape[0]} samples ({res.settings.walkers} walkers x {d['kept_steps']} "
             f"kept steps); " + ("converged" if d["converged"] else "NOT converged: short "
                                 "chains, read the bands as indicative"))
    plot_corner(vals[ok], labels, file("corner.png"), log=logs,
                bounds=[(p.lower, p.upper) for p in res.parameters], title=title)
    plot_chains(res.chain_values(), labels, file("chains.png"),
                burn=res.settings.burn_steps, log=logs)


def _surrogate_csv(res, path: Path) -> None:
    import pandas as pd

    sc = res.surrogate
    z = np.asarray(sc["check_points"], dtype=float)
    model = np.asarray(sc["check_model"], dtype=float)
    sur = np.asarray(sc["check_surrogate"], dtype=float)
    d: dict = {}
    for j, p in enumerate(res.parameters):
        d[p.key] = [p.from_fit(float(v)) for v in z[:, j]]
    for j, t in enumerate(res.targets):
        a, b = sur[:, j], model[:, j]
        with np.errstate(divide="ignore", invalid="ignore"):
            e = ((np.log(a) - np.log(b)) if t.transform == "log" else (a - b)) / t.sigma
        d[f"model:{t.name}"] = b
        d[f"surrogate:{t.name}"] = a
        d[f"error_sigma:{t.name}"] = e
    pd.DataFrame(d).to_csv(path, index=False, float_format="%.8g")


__all__ = ["write_posterior"]
