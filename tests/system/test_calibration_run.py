"""A tiny real calibration: one free parameter (β of the degraded layer), one target (the
exposed interface resistance, an exposure-only case: no time stepping), a few evaluations
of the real 1-D model; and scripts/calibrate.py's set-up is well-posed."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from fem_cell._dolfinx import MPI
from fem_cell.studies.calibration import FitParameter, Target, calibrate

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.mark.mpi
def test_one_parameter_calibration_reproduces_its_target(shared_tmp):
    comm = MPI.COMM_WORLD
    target = Target("R_exposed", {}, "expose", "R_interface_ohm_cm2", 120.0, 0.01, "log")
    res = calibrate(None, [FitParameter("degraded_layer.beta", lower=3.0, upper=60.0)],
                    [target], comm, progress=False, max_nfev=15,
                    out=shared_tmp / "cal")
    t = res.targets[0]
    assert res.success
    assert abs(t["residual"]) < 0.1                      # within 0.1 σ = 0.1 %
    assert t["model"] == pytest.approx(120.0, rel=1e-3)
    assert abs(t["residual_initial"]) > 10               # it started far away (≈ 136)
    p = res.parameters[0]
    from fem_cell.config import load_config

    beta0 = load_config(None).chemistry.degraded_layer.beta
    assert p["unit"] == "1" and p["initial"] == pytest.approx(beta0)   # the cell file's
    assert 3.0 < p["value"] < beta0                       # fewer Ω cm² ⇒ a flatter law
    assert res.dof == 0 and "exactly determined" in res.error_basis
    assert 0 < p["stderr"] < 0.1 * p["value"]
    assert len(res.evaluations) < 30
    # identical on every rank, written by rank 0
    assert comm.allgather(p["value"]) == [p["value"]] * comm.size
    if comm.rank == 0:
        d = json.loads((shared_tmp / "cal" / "parameters.json").read_text())
        assert d["parameters"][0]["value"] == p["value"]
    # the fitted value reproduces the target when run through the ordinary config path
    from fem_cell.studies.calibration import evaluate_targets

    m = evaluate_targets(None, [target], res.overrides(), comm)
    assert m["R_exposed"] == pytest.approx(t["model"], rel=1e-12)


def test_calibration_script_is_well_posed():
    """At most as many free parameters as equal (informative) targets, every target
    names a case, and the free parameters exist in the default configuration."""
    sys.path.insert(0, str(SCRIPTS))
    try:
        import calibrate as script
    finally:
        sys.path.remove(str(SCRIPTS))
    from fem_cell.config import load_config

    targets = script.targets()
    equal = [t for t in targets if t.kind == "equal"]
    cfg = load_config(None)
    for mechanism, overrides in script.MECHANISMS.items():
        params = script.free_parameters(mechanism)
        # the kept mechanism is not under-determined by its equal targets
        if mechanism == "trapping":
            assert len(params) <= len(equal)
        for p in params:
            assert p.key in cfg.settings, p.key
        for key in overrides:
            assert key.split(".")[0] in ("transport", "exposure_model"), key
    # the cell file's fitted values are the calibration record's (the reproduction reads it)
    from fem_cell.config.calibration_record import record_for

    rec = record_for(cfg)
    assert rec is not None and rec.mechanism == "trapping"
    assert set(rec.keys) == {p.key for p in script.free_parameters("trapping")}
