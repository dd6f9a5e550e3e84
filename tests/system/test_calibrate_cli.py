"""``fem-cell calibrate``: a posterior calibration of the real model through the command
line — under ``mpirun -n 2`` (two groups of one rank), interrupted with SIGINT after its
first step and resumed by running the same command again — and its refusals.

The chains are deliberately tiny (4 walkers, 4 steps, coarse mesh): this checks the
command, its files and its resume, not the posterior (tests/verification/
test_posterior_toy.py checks the sampler against closed forms)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]

BIN = Path(sys.executable).parent
SPEC = """
[study]
name = "tiny_posterior"
kind = "calibration"
[config]
mesh = { cells_per_layer = 8 }
[calibration]
method = "posterior"
walkers = 4
steps = 4
burn = 1
[[parameters]]
key = "transport.LiCoO2.trapping.detrapping_activation_energy"
log = false
[[parameters]]
key = "exposure_model.surface_fraction"
[[targets]]
name = "R150"
overrides = { "program.hold_temperature" = "150 degC", "program.hold_time" = "1 h" }
value = 10.3
sigma = 0.1
[[targets]]
name = "exposed"
job = "expose"
kind = "at_least"
value = 136.0
sigma = 0.05
"""


def _cmd(*args, mpi: bool = False) -> list[str]:
    cmd = [str(BIN / "fem-cell"), *map(str, args)]
    return [str(BIN / "mpirun"), "-n", "2", *cmd] if mpi else cmd


def _env():
    return dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def test_posterior_interrupted_and_resumed_under_mpirun(tmp_path):
    if not (BIN / "mpirun").exists():  # pragma: no cover
        pytest.skip("no mpirun in the venv")
    (tmp_path / "spec.toml").write_text(SPEC)
    out = tmp_path / "post"
    p = subprocess.Popen(_cmd("calibrate", "spec.toml", "--out", "post", mpi=True),
                         cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.time()
    lines = []
    for line in p.stdout:  # wait for the first finished step
        lines.append(line)
        if "step 1/4" in line:
            break
        assert time.time() - t0 < 300, "".join(lines)
    p.send_signal(signal.SIGINT)
    try:
        _, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        p.kill()
        pytest.fail("the interrupted calibration did not exit")
    assert p.returncode == 130, err
    assert "Traceback" not in err
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "interrupted"
    with np.load(out / "checkpoints" / "posterior_chain.npz") as ck:
        done = ck["chain"].shape[0]
    assert 1 <= done < 4
    # the same command again continues the chain
    r = subprocess.run(_cmd("calibrate", "spec.toml", "--out", "post", mpi=True), cwd=tmp_path,
                       env=_env(), capture_output=True, text=True, timeout=400,
                       start_new_session=True)
    assert r.returncode == 0, r.stderr
    assert f"step {done + 1}/4" in r.stdout and "step 1/4" not in r.stdout
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["mpi_size"] == 2 and info["resumed"]
    post = pd.read_csv(out / "posterior.csv")
    assert len(post) == 4 * 3  # walkers x kept steps
    assert {"transport.LiCoO2.trapping.detrapping_activation_energy",
            "exposure_model.surface_fraction", "log_posterior", "model:R150"} <= set(post)
    assert post["transport.LiCoO2.trapping.detrapping_activation_energy"].between(1.0, 1.4).all()
    ident = pd.read_csv(out / "identifiability.csv")
    assert list(ident.columns[:5]) == ["parameter", "unit", "form", "log", "prior"]
    assert {"prior_low", "prior_high", "p05", "p50", "p95", "shrinkage", "constrained"} <= set(
        ident.columns)
    assert ident.loc[0, "prior_low"] == 1.0 and ident.loc[0, "prior_high"] == 1.4  # plausible
    diag = json.loads((out / "posterior_diagnostics.json").read_text())
    assert diag["converged"] is False and diag["warnings"]  # 4 steps cannot be converged
    assert "NOT converged" in r.stdout
    for f in ("corner.png", "chains.png", "posterior_targets.csv", "summary.json"):
        assert (out / f).is_file(), f
    s = json.loads((out / "summary.json").read_text())
    assert s["method"] == "posterior" and s["calibration"]["evaluations"] >= 4


SURROGATE_SPEC = SPEC.replace("walkers = 4\nsteps = 4\nburn = 1",
                              "walkers = 4\nsteps = 400\nburn = 100\nsurrogate = \"gp\"\n"
                              "surrogate_points = 6\nsurrogate_rounds = 1\n"
                              "surrogate_refine = 2\nsurrogate_check = 3")


def test_surrogate_calibration_interrupted_and_resumed_under_mpirun(tmp_path):
    """``surrogate = "gp"`` through the command line on 2 ranks: stopped (SIGINT) once the
    design's model runs are saved, the same command replays them and finishes; the
    folder holds the check against held-out model runs (surrogate_check.csv, the
    summary's surrogate record) and 11 model runs in all."""
    if not (BIN / "mpirun").exists():  # pragma: no cover
        pytest.skip("no mpirun in the venv")
    assert "surrogate_refine = 2" in SURROGATE_SPEC
    (tmp_path / "spec.toml").write_text(SURROGATE_SPEC)
    out = tmp_path / "post"
    p = subprocess.Popen(_cmd("calibrate", "spec.toml", "--out", "post", mpi=True),
                         cwd=tmp_path, env=_env(), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    t0 = time.time()
    lines = []
    for line in p.stdout:  # the design's 6 runs are saved before the refinement starts
        lines.append(line)
        if "refinement 1/1" in line:
            break
        assert time.time() - t0 < 300, "".join(lines)
    os.killpg(p.pid, signal.SIGINT)
    try:
        _, err = p.communicate(timeout=240)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        pytest.fail("the interrupted calibration did not exit")
    assert p.returncode == 130 and "Traceback" not in err, err
    with np.load(out / "checkpoints" / "surrogate_runs.npz") as ck:
        assert ck["z"].shape[0] >= 6
    r = subprocess.run(_cmd("calibrate", "spec.toml", "--out", "post", mpi=True), cwd=tmp_path,
                       env=_env(), capture_output=True, text=True, timeout=400,
                       start_new_session=True)
    assert r.returncode == 0, r.stderr
    assert "model runs replayed from the checkpoint" in r.stdout
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["mpi_size"] == 2
    assert "checkpoints/surrogate_runs.npz" in info["files"]
    assert all((out / f).exists() for f in info["files"])    # no chain file promised
    check = pd.read_csv(out / "surrogate_check.csv")
    assert len(check) == 3
    assert {"model:R150", "surrogate:R150", "error_sigma:R150",
            "error_sigma:exposed"} <= set(check)
    s = json.loads((out / "summary.json").read_text())["calibration"]
    assert s["evaluations"] == 11
    sc = s["surrogate"]
    assert sc["training_runs"] == 8 and sc["check_runs"] == 3
    assert [c["target"] for c in sc["check"]] == ["R150", "exposed"]
    assert len(pd.read_csv(out / "posterior.csv")) == 4 * 300


@pytest.mark.parametrize("case", ["sweep", "bad method", "too few walkers", "no range"])
def test_calibrate_refuses_bad_specs(tmp_path, case):
    spec = {
        "sweep": '[study]\njob = "expose"\n[[parameters]]\nkey = "exposure.gas"\n'
                 'values = ["N2"]\n',
        "bad method": SPEC.replace('method = "posterior"', 'method = "mcmc"'),
        "too few walkers": SPEC.replace("walkers = 4", "walkers = 2"),
        "no range": SPEC.replace('key = "exposure_model.surface_fraction"',
                                 'key = "degraded_layer.pristine_resistance"'),
    }[case]
    (tmp_path / "s.toml").write_text(spec)
    r = subprocess.run(_cmd("calibrate", "s.toml", "--out", "o"), cwd=tmp_path, env=_env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
