"""Proton conservation in the anneal, from time-integrated fluxes.

:class:`~fem_cell.model.chemistry.ChemistryDiagnostics` integrates the fluxes over the
accepted steps with the trapezoidal rule — ``H_consumed`` (the sink at Li) and
``H_exchanged`` (LiCoO2 → Li3PO4) — independently of the inventories (assembled from the
fields).  The continuous balances are

    H_total(0) − H_total(t) = ∫ j_sink dt          (``balance_error`` = difference),
    H_LiCoO2(0) − H_LiCoO2(t) = ∫ j_exchange dt    (the bottom of LiCoO2 is sealed),

so both differences are time-discretisation errors of the run (BDF2 for the fields, the
trapezoidal rule for the integrals: O(dt²)).  They compare independent quantities: a
flux with a wrong sign, factor or area, a lost or double-counted step, an inventory over
the wrong cells, or a leak at a boundary makes them O(1).

The run: the default cell (1-D), exposed as configured, then a short program (ramp to
150 °C at 10 K/min, 20 min hold).  Measured:

* default solver settings (fraction tolerance 1e-3 absolute and relative, 38 transport
  steps; 53 when the heat's steps bound the transport's, before the heat had its own):
  max |balance error| / H(0) = 3.9e-4; max |H_LiCoO2(0) − H_LiCoO2 − H_exchanged| / H(0)
  = 2.1e-2 (the default tolerance is far above the mobile fractions, x_s = 4e-5: the
  ramp's growing exchange flux is integrated with 150 s steps);
* relative tolerance 0, fraction tolerance 1e-5, 1e-6, 1e-7, 1e-8 (132, 257, 524, 1102
  steps; ``dt_initial`` 1e-4 s, see below): balance errors 6.0e-5, 2.2e-5, 6.6e-6,
  1.6e-6 (orders in the mean step 1.5, 1.7, 1.9), exchange errors 1.5e-3, 3.7e-4,
  8.7e-5, 1.9e-5 (orders 2.1, 2.0, 2.0) — the same errors as with the heat's steps
  binding (146, 269, 534, 1109 steps then).

``dt_initial`` is 1e-4 s in the refinement: the exposed state starts with mobile protons
at the LiCoO2 top and none across the interface, so the exchange flux starts with a
~3 ms transient; the stepper has no error estimate for its first step, and the
trapezoid then books j(0)·dt_initial/2 for it (1.8e-9 mol/m² = 8e-5 H(0) with the
default 0.01 s), an error that no fraction tolerance removes.
"""

from __future__ import annotations

import functools
import json

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal

PROGRAM = {"anneal": {"segments": [{"ramp_to": "150 degC", "rate": "10 K/min"},
                                   {"hold": "20 min"}]},
           "output": {"fields": False, "plots": False, "render": False,
                      "checkpoints": False}}
COLUMNS = ("time_s", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2",
           "H_exchanged_mol_m2", "balance_error_mol_m2", "mass_balance_rel")


@functools.cache
def anneal(solver_json: str) -> dict[str, np.ndarray]:
    """History columns of the short anneal with ``[solver]`` overrides (JSON) and the
    number of accepted steps (``"steps"``)."""
    cfg = load_config(overrides={**PROGRAM, "solver": json.loads(solver_json)})
    res = run_anneal(cfg, MPI.COMM_WORLD, progress=False)
    h = res.tables["history"]
    out = {c: np.asarray(h.column(c), dtype=float) for c in COLUMNS}
    out["steps"] = res.details["stats"].accepted
    return out


def errors(h: dict[str, np.ndarray]) -> tuple[float, float, float]:
    """(max |balance error|, max |H_LiCoO2 loss − H_exchanged|, recomputed balance
    error) over the run, relative to the initial total inventory."""
    h0 = h["H_LiCoO2_mol_m2"][0] + h["H_Li3PO4_mol_m2"][0]
    total = h["H_LiCoO2_mol_m2"] + h["H_Li3PO4_mol_m2"]
    own = (h0 - total) - h["H_consumed_mol_m2"]
    exch = (h["H_LiCoO2_mol_m2"][0] - h["H_LiCoO2_mol_m2"]) - h["H_exchanged_mol_m2"]
    return (float(np.max(np.abs(h["balance_error_mol_m2"]))) / h0,
            float(np.max(np.abs(exch))) / h0,
            float(np.max(np.abs(own - h["balance_error_mol_m2"]))) / h0)


def check_the_run_moved_protons(h: dict[str, np.ndarray]) -> None:
    """The balances are only a test if protons moved (measured: 80 % of them left LiCoO2,
    5.7 % reached Li)."""
    h0 = h["H_LiCoO2_mol_m2"][0]
    assert h0 > 0 and h["H_Li3PO4_mol_m2"][0] == 0.0
    assert h["H_exchanged_mol_m2"][-1] > 0.2 * h0
    assert h["H_consumed_mol_m2"][-1] > 0.005 * h0


def test_anneal_balance_default_settings():
    h = anneal(json.dumps({}))
    check_the_run_moved_protons(h)
    bal, exch, own = errors(h)
    msg = f"{h['steps']} steps: balance error {bal:.3g}, exchange error {exch:.3g} (of H(0))"
    assert own < 1e-12, msg  # the column is (initial − current total) − H_consumed
    assert bal < 1e-3, msg
    assert exch < 5e-2, msg
    # each step conserves protons exactly in its own (BDF) discretisation
    assert np.max(np.abs(h["mass_balance_rel"])) < 1e-8, msg


def refinement(tols) -> tuple[np.ndarray, np.ndarray, np.ndarray, str]:
    """Steps, errors (balance, exchange) and their orders in the mean step (∝ 1/steps)
    for absolute fraction tolerances ``tols`` (relative tolerance 0)."""
    runs = [anneal(json.dumps({"fraction_tolerance": tol, "fraction_relative_tolerance": 0.0,
                               "dt_initial": "1e-4 s", "dt_min": "1e-9 s"}))
            for tol in tols]
    for h in runs:
        check_the_run_moved_protons(h)
    steps = np.array([h["steps"] for h in runs], dtype=float)
    err = np.array([errors(h)[:2] for h in runs])
    orders = np.log(err[:-1] / err[1:]) / np.log(steps[1:] / steps[:-1])[:, None]
    msg = f"tolerances {tols}: steps {steps}, balance errors {err[:, 0]} (orders " \
          f"{orders[:, 0]}), exchange errors {err[:, 1]} (orders {orders[:, 1]})"
    return steps, err, orders, msg


def test_anneal_balance_falls_with_time_tolerance():
    steps, err, orders, msg = refinement((1e-5, 1e-6))
    assert steps[1] > 1.5 * steps[0], msg
    assert np.all(orders > 1.4), msg
    assert err[-1, 0] < 5e-5 and err[-1, 1] < 1e-3, msg


@pytest.mark.slow
def test_anneal_balance_converges_at_second_order():
    _, err, orders, msg = refinement((1e-5, 1e-6, 1e-7, 1e-8))
    assert np.all(orders > 1.4), msg
    assert orders[-1, 0] > 1.8 and orders[-1, 1] > 1.8, msg
    assert err[-1, 0] < 5e-6 and err[-1, 1] < 5e-5, msg
