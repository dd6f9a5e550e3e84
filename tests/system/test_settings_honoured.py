"""Settings that exist are honoured (and only settings that exist are read).

* ``[solver] fraction_tolerance`` (the transport's time-error tolerance on the proton
  fractions): tightening it takes more steps and converges R_interface(t) — measured
  against a tight reference run;
* ``[output] checkpoints = false`` writes no checkpoint.
"""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import anneal_job, run_anneal

pytestmark = pytest.mark.serial

SHORT = {"anneal": {"initial_temperature": "25 degC",
                    "segments": [{"ramp_to": "150 degC", "rate": "10 K/min"}, {"hold": "20 min"}]},
         "output": {"fields": False, "plots": False, "render": False, "checkpoints": False,
                    "field_interval": "5 min"}}


def _run(tol):
    cfg = load_config(overrides={**SHORT, "solver": {"fraction_tolerance": tol,
                                                     "fraction_relative_tolerance": tol}})
    assert cfg.solver.fraction_tolerance == tol
    res = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    h = res.history
    return res.summary["steps_accepted"], h.column("time_s"), h.column("R_interface_ohm_cm2")


def test_fraction_tolerance_changes_steps_and_converges_R():
    ref_steps, t_ref, R_ref = _run(1e-7)
    steps, errors = [], []
    for tol in (1e-2, 1e-3, 1e-4, 1e-5):
        n, t, R = _run(tol)
        # compare at the output times (every 5 min and the breakpoints: rows of every run)
        out = np.arange(0.0, t_ref[-1] + 1.0, 300.0)
        common = [x for x in out if np.any(np.isclose(t, x)) and np.any(np.isclose(t_ref, x))]
        assert len(common) >= 6
        err = max(abs(R[np.isclose(t, x)][0] / R_ref[np.isclose(t_ref, x)][0] - 1)
                  for x in common)
        steps.append(n)
        errors.append(err)
    assert steps == sorted(steps) and len(set(steps)) == len(steps), steps  # more steps
    assert ref_steps > steps[-1]
    assert all(b < a for a, b in zip(errors, errors[1:], strict=False)), errors  # converges
    assert errors[-1] < 0.2 * errors[0], errors


def test_checkpoints_can_be_turned_off(tmp_path):
    cfg = load_config(overrides=SHORT)
    assert cfg.output.checkpoints is False
    anneal_job(cfg, tmp_path / "off", MPI.COMM_SELF, progress=False)
    assert not (tmp_path / "off" / "checkpoints").exists()
    on = load_config(overrides={**SHORT, "output": {**SHORT["output"], "checkpoints": True}})
    anneal_job(on, tmp_path / "on", MPI.COMM_SELF, progress=False)
    assert len(list((tmp_path / "on" / "checkpoints").glob("t*.h5"))) >= 6
