"""The calibration behind a cell file's fitted values (``<cell>.calibration.json``).

``scripts/calibrate.py --record`` writes, next to the cell file, which parameters were
fitted, their values, units and forms, and the covariance of the fit (in fit space:
log10 of log-scaled parameters, the value of the others).  The reproduction reads it to
label each parameter's origin (fitted) and to carry the fit's uncertainty to predictions
(:func:`propagate`).  A record applies only while the configuration still has the
recorded values (a user file that overrides a fitted value makes it void).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from fem_cell.config.posterior_draws import override_value
from fem_cell.units import from_si

#: relative agreement between a record's value and the configuration's
MATCH_RTOL = 1e-3


@dataclass(frozen=True)
class CalibrationRecord:
    """Fitted parameters and their covariance.

    Attributes:
        mechanism: the candidate mechanism fitted (``"trapping"``).
        date: when.
        parameters: per parameter ``key``, ``unit``, ``form`` (``value``/``prefactor``),
            ``log`` (fit space log10), ``value``.
        covariance: fit-space covariance (n × n).
        targets: the targets (name, value, sigma, model value at the optimum).
        source: where the record was read from.
    """

    mechanism: str
    date: str
    parameters: tuple[dict, ...]
    covariance: np.ndarray
    targets: tuple[dict, ...]
    source: str

    @property
    def keys(self) -> tuple[str, ...]:
        return tuple(p["key"] for p in self.parameters)

    def stderr(self) -> dict[str, float]:
        """Standard error of each parameter in its unit (log ones: linearised)."""
        out = {}
        for i, p in enumerate(self.parameters):
            s = math.sqrt(max(float(self.covariance[i, i]), 0.0))
            out[p["key"]] = p["value"] * math.log(10.0) * s if p["log"] else s
        return out

    def matches(self, settings: Mapping) -> bool:
        """Whether a configuration's settings still hold the recorded values."""
        for p in self.parameters:
            s = settings.get(p["key"])
            if s is None:
                return False
            v = float(s.value) if (s.unit or "1") == p["unit"] else from_si(
                float(s.si_value), p["unit"])
            if not math.isclose(v, p["value"], rel_tol=MATCH_RTOL):
                return False
        return True

    def overrides(self, steps: Mapping[str, float] | None = None) -> dict:
        """Config overrides setting the recorded values, each shifted by ``steps[key]``
        in fit space (log10 for log parameters)."""
        out = {}
        for p in self.parameters:
            h = (steps or {}).get(p["key"], 0.0)
            v = p["value"] * 10.0**h if p["log"] else p["value"] + h
            out[p["key"]] = override_value(p.get("form", "value"), p["unit"], v)
        return out


def record_path(cell_name: str) -> Path:
    """The built-in cell's record file."""
    return Path(str(resources.files("fem_cell") / "data" / "cells" /
                    f"{cell_name}.calibration.json"))


def load_record(path: str | Path) -> CalibrationRecord:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    return CalibrationRecord(d["mechanism"], d["date"], tuple(d["parameters"]),
                             np.asarray(d["covariance_fit_space"], dtype=float),
                             tuple(d.get("targets", ())), str(path))


def record_for(config) -> CalibrationRecord | None:
    """The record of a configuration's cell if it exists and still applies."""
    p = record_path(config.name)
    if not p.is_file():
        return None
    rec = load_record(p)
    return rec if rec.matches(config.settings) else None


def propagate(record: CalibrationRecord, evaluate: Callable[[dict], dict[str, float]],
              base: Mapping[str, float], *, step_log: float = 0.02,
              step_linear: float = 0.005) -> dict[str, float]:
    """Linearised standard deviation of quantities from the fit's covariance.

    ``evaluate(overrides)`` returns the quantities for config overrides; ``base`` are their
    values at the recorded parameters.  One forward difference per parameter (fit-space
    steps ``step_log`` decades / ``step_linear`` in the unit, e.g. eV); σ² = gᵀ C g.
    """
    n = len(record.parameters)
    grads = {q: np.zeros(n) for q in base}
    for i, p in enumerate(record.parameters):
        h = step_log if p["log"] else step_linear
        shifted = evaluate(record.overrides({p["key"]: h}))
        for q in base:
            grads[q][i] = (shifted[q] - base[q]) / h
    return {q: float(math.sqrt(max(g @ record.covariance @ g, 0.0))) for q, g in grads.items()}


__all__ = ["CalibrationRecord", "MATCH_RTOL", "load_record", "propagate", "record_for",
           "record_path"]
