"""One case of a study: a configuration (base + overrides) run through a job in-process
on a given communicator, reduced to named numbers.

Jobs:

* ``"anneal"`` — exposure → heat + Li⁺/H⁺ transport through the program
  (:func:`fem_cell.jobs.anneal.run_anneal`); values: the anneal summary
  (``R_interface_ohm_cm2`` = final value at 25 °C, ``R_interface_ohm_cm2_initial``,
  ``H_LiCoO2_removed_fraction``, …) and, on request, history columns at chosen times;
* ``"expose"`` — the exposed state only (``R_interface_ohm_cm2``, inventories);
* ``"impedance"`` — the small-signal spectrum of a state (pristine, exposed or a
  checkpoint) at a temperature: ``Z_real_ohm_cm2@<f>Hz``, ``Z_imag_ohm_cm2@<f>Hz``.

The stepper lands on every time a history value is asked for (``record_times`` of
:func:`~fem_cell.jobs.anneal.run_anneal`), so those values are computed there, not
interpolated between steps (which during the steep fall of R after the ramp differed by
0.7 % from step grid to step grid, and made a fit to a measured history noisy).

Overrides use the user-config structure (a nested dict, as in a TOML file), built from
dotted keys by :func:`overrides_from_keys`; see :mod:`fem_cell.studies.spec`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fem_cell.jobs.anneal import run_anneal
from fem_cell.jobs.impedance import model_spectrum
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.model import CHEMISTRY_COLUMNS, CellModel, ChemistryDiagnostics

JOBS = ("anneal", "expose", "impedance")
#: the options of an ``"impedance"`` case (:attr:`Record.options`)
IMPEDANCE_OPTIONS = ("state", "temperature")
#: spectrum values an ``"impedance"`` case records (``<part>@<f>Hz``)
SPECTRUM_PARTS = ("Z_real_ohm_cm2", "Z_imag_ohm_cm2")


def spectrum_key(part: str, f: float) -> str:
    """The recorded name of a spectrum value: ``<part>@<f>Hz`` (12 significant digits)."""
    return f"{part}@{float(f):.12g}Hz"
QUIET_OUTPUT = {"output": {"fields": False, "plots": False, "render": False}}

@dataclass
class Record:
    """What a case records.

    Attributes:
        summary: summary keys to keep (empty: all numeric ones).
        history: (column, time in s) pairs, reported as ``<column>@<time>s``; for the
            ``"impedance"`` job (part, frequency in Hz) pairs, reported as
            ``<part>@<f>Hz`` (:func:`spectrum_key`).
        options: the ``"impedance"`` job's ``state`` (``"pristine"``, ``"exposed"`` or a
            checkpoint) and ``temperature`` (K).
    """

    summary: Sequence[str] = ()
    history: Sequence[tuple[str, float]] = field(default_factory=tuple)
    options: Mapping[str, Any] = field(default_factory=dict)


def history_at(history, column: str, t: float) -> float:
    """Value of a history column at time t (s), linear in time between rows."""
    times = history.column("time_s")
    if not times[0] - 1e-9 <= t <= times[-1] + 1e-9:
        raise ValueError(f"time {t} s outside the run (0 … {times[-1]} s)")
    return float(np.interp(t, times, history.column(column)))


def run_case(config, comm, job: str = "anneal", record: Record | None = None,
             exposure=None, guard=None) -> dict[str, Any]:
    """Run one case and return its values (on every rank of ``comm``).

    Args:
        config: a validated RunConfig (base + this case's overrides).
        comm: the communicator the case runs on (a study's sub-communicator).
        job: ``"anneal"``, ``"expose"`` or ``"impedance"`` (the small-signal spectrum of a
            state, :func:`fem_cell.jobs.impedance.model_spectrum`, at the frequencies the
            record asks for).
        record: what to keep (default: every numeric summary value).
        exposure: optional Exposure object overriding the configuration's.
        guard: polled (collectively on ``comm``) between the time steps of an anneal;
            default: never interrupts (see :mod:`fem_cell.jobs.interrupts`).
    """
    record = record or Record()
    if job == "anneal":
        res = run_anneal(config, comm, progress=False, exposure=exposure,
                         chemistry=config.chemistry is not None,
                         guard=guard if guard is not None else NO_GUARD,
                         record_times=tuple(t for _, t in record.history))
        out = _numeric(res.summary, record.summary)
        for col, t in record.history:
            out[f"{col}@{t:g}s"] = history_at(res.history, col, t)
        return out
    if job == "expose":
        model = CellModel(config, comm)
        chem = model.chemistry(exposure=exposure)
        model.destroy()  # the exposure is solved; the diagnostics need the fields only
        return _numeric(ChemistryDiagnostics(chem, config.solver)(after_step=False),
                        record.summary)
    if job == "impedance":
        return _spectrum_case(config, comm, record)
    raise ValueError(f"unknown job {job!r}; expected one of {JOBS}")


def _spectrum_case(config, comm, record: Record) -> dict[str, float]:
    """The model's spectrum at the recorded frequencies (``record.history``)."""
    if record.summary:
        raise KeyError(f"an impedance case records spectrum values only, not {record.summary}")
    bad = sorted(set(record.options) - set(IMPEDANCE_OPTIONS))
    if bad:
        raise KeyError(f"impedance case options {bad}: expected {IMPEDANCE_OPTIONS}")
    parts = {p for p, _ in record.history}
    if not parts <= set(SPECTRUM_PARTS):
        raise KeyError(f"spectrum values {sorted(parts - set(SPECTRUM_PARTS))}: expected "
                       f"{SPECTRUM_PARTS}")
    freqs = np.array(sorted({float(f) for _, f in record.history}))
    state = record.options.get("state", "pristine")
    kw = ({} if state == "pristine" else {"proton_fraction": "exposed"} if state == "exposed"
          else {"state": state})
    Z = model_spectrum(config, comm, freqs,
                       temperature=float(record.options.get("temperature", 298.15)), **kw)
    out = {}
    for f, z in zip(freqs, Z, strict=True):
        out[spectrum_key("Z_real_ohm_cm2", f)] = float(z.real)
        out[spectrum_key("Z_imag_ohm_cm2", f)] = float(z.imag)
    return out


#: numeric summary keys of the anneal job without chemistry
#: (:func:`~fem_cell.jobs.anneal.summary_of`)
ANNEAL_HEAT_KEYS = ("T_plate_max_C", "T_film_max_C", "T_Li_max_C", "film_mean_minus_plate_min_mK",
                    "film_mean_minus_plate_max_mK", "t_end_s", "steps_accepted",
                    "steps_rejected", "newton_iterations", "dofs", "cells", "wall_time_s")
#: the anneal history columns besides the chemistry ones
#: (:data:`fem_cell.jobs.anneal.HISTORY_COLUMNS`)
HEAT_HISTORY_COLUMNS = ("time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C", "T_top_C",
                        "T_Li_max_C", "dt_s", "newton_iterations")


def history_columns() -> list[str]:
    """Columns a case's anneal history has (heat + chemistry)."""
    return list(HEAT_HISTORY_COLUMNS) + list(CHEMISTRY_COLUMNS)


def summary_keys(job: str) -> set[str]:
    """The numeric values a case of ``job`` can record (``record.summary`` keys)."""
    if job == "impedance":
        return set()
    if job == "expose":
        return set(CHEMISTRY_COLUMNS)
    keys = set(ANNEAL_HEAT_KEYS) | {"transport_dofs", "H_LiCoO2_removed_fraction",
                                    "mass_balance_rel_max", "R_interface_ohm_cm2",
                                    "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2"}
    for c in CHEMISTRY_COLUMNS:
        keys |= {f"{c}_initial", f"{c}_final"}
    return keys


def _numeric(summary: Mapping[str, Any], keep: Sequence[str]) -> dict[str, float]:
    out = {}
    for k, v in summary.items():
        if keep and k not in keep:
            continue
        if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
            out[k] = float(v)
    missing = [k for k in keep if k not in out]
    if missing:
        raise KeyError(f"the case has no value(s) {missing}; it has {sorted(out)}")
    return out
