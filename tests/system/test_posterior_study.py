"""``fem-cell study SPEC --posterior DIR``: a sweep run over posterior samples, its bands
(5/50/95 % of each value over the samples, checked against the per-sample tables), the
reach analysis with bands, resume, and refusals.  The posterior folder is written by hand
(three samples of the detrapping energy and the attempt frequency)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]

BIN = Path(sys.executable).parent
SWEEP = """
[study]
name = "bands"
job = "anneal"
[config]
mesh = { cells_per_layer = 8 }
[[parameters]]
key = "program.hold_temperature"
values = ["110 degC", "150 degC"]
[[parameters]]
key = "program.hold_time"
values = ["5 min", "30 min"]
[record]
summary = ["R_interface_ohm_cm2"]
[summary]
reach = { value = "R_interface_ohm_cm2", target = 40.0, along = "program.hold_time" }
"""
ED = "transport.LiCoO2.trapping.detrapping_activation_energy"
NU = "transport.LiCoO2.trapping.detrapping_rate"


def _posterior(folder: Path) -> None:
    folder.mkdir()
    pd.DataFrame({"step": [5, 5, 6], "walker": [0, 1, 0], ED: [1.25, 1.278, 1.31],
                  NU: [1e14, 5e13, 1e14], "log_posterior": [-1.0, -0.5, -0.7]}).to_csv(
        folder / "posterior.csv", index=False)
    pd.DataFrame({"parameter": [ED, NU], "unit": ["eV", "s-1"], "form": ["value", "prefactor"],
                  "log": [False, True]}).to_csv(folder / "identifiability.csv", index=False)
    (folder / "posterior_diagnostics.json").write_text(json.dumps({"converged": False}))


def _run(tmp_path, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run([str(BIN / "fem-cell"), "study", *map(str, args)], cwd=tmp_path,
                          env=env, capture_output=True, text=True, timeout=600)


def test_sweep_over_posterior_samples(tmp_path):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    _posterior(tmp_path / "post")
    r = _run(tmp_path, "sweep.toml", "--posterior", "post", "--samples", "3", "--out", "b")
    assert r.returncode == 0, r.stderr
    assert "posterior NOT converged" in r.stdout
    out = tmp_path / "b"
    bands = pd.read_csv(out / "bands.csv")
    per = [pd.read_csv(out / "samples" / f"s{i:03d}" / "results.csv") for i in range(3)]
    R = np.array([p["R_interface_ohm_cm2"].to_numpy() for p in per])  # (samples, cases)
    assert np.all(bands["n_samples"] == 3)
    for q, col in ((0.05, "p05"), (0.5, "p50"), (0.95, "p95")):
        assert np.allclose(bands[f"R_interface_ohm_cm2_{col}"], np.quantile(R, q, axis=0))
    # the samples differ (E_d 1.25-1.31 eV moves the 110 degC anneal a lot) ...
    assert R[:, 0].max() / R[:, 0].min() > 1.2
    # ... and a slower detrapping (higher E_d) leaves more resistance
    assert R[0, 0] < R[1, 0] < R[2, 0]
    s = json.loads((out / "summary.json").read_text())
    assert s["samples"] == 3 and s["posterior_converged"] is False
    rb = s["reach_bands"]["results"]
    assert [e["program.hold_temperature"] for e in rb] == ["110 degC", "150 degC"]
    assert all(e["samples"] == 3 and 0 <= e["at_first_point"] <= e["reached_in"] for e in rb)
    assert (out / "bands.png").is_file() and (out / "posterior_samples.csv").is_file()
    assert json.loads((out / "run.json").read_text())["status"] == "completed"
    # the same command again: every sample's sweep is reused, nothing recomputed
    r2 = _run(tmp_path, "sweep.toml", "--posterior", "post", "--samples", "3", "--out", "b")
    assert r2.returncode == 0, r2.stderr
    assert json.loads((out / "run.json").read_text())["resumed"] is True
    for i in range(3):
        sub = json.loads((out / "samples" / f"s{i:03d}" / "summary.json").read_text())
        assert sub["computed_now"] == 0 and sub["reused_from_earlier_run"] == 4
    assert pd.read_csv(out / "bands.csv").equals(bands)


@pytest.mark.parametrize("case", ["no posterior", "too many samples", "calibration spec"])
def test_posterior_sweep_refusals(tmp_path, case):
    (tmp_path / "sweep.toml").write_text(SWEEP)
    _posterior(tmp_path / "post")
    spec = "sweep.toml"
    post, n = "post", "3"
    if case == "no posterior":
        post = "nowhere"
    elif case == "too many samples":
        n = "4"
    else:
        spec = str(Path(__file__).resolve().parents[2] / "studies" / "calibration.toml")
    r = _run(tmp_path, spec, "--posterior", post, "--samples", n, "--out", "o")
    assert r.returncode == 2, r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr
    assert not (tmp_path / "o").exists()


def test_posterior_sweep_files_are_study_outputs():
    """--overwrite and resume only touch files the study job may write."""
    from fem_cell.outputs.rundir import OUTPUTS
    from fem_cell.studies.posterior_study import PLANNED

    assert set(PLANNED) <= set(OUTPUTS["study"])


DESIGN = SWEEP.replace('values = ["5 min", "30 min"]', 'values = ["30 min"]').replace(
    "[summary]\nreach = { value = \"R_interface_ohm_cm2\", target = 40.0, "
    "along = \"program.hold_time\" }\n", "") + """
[design]
measure = "R_interface_ohm_cm2"
sigma = 0.05
[design.prediction]
overrides = { "program.hold_temperature" = "120 degC", "program.hold_time" = "1 h" }
"""


def test_design_ranks_candidates(tmp_path):
    (tmp_path / "design.toml").write_text(DESIGN)
    _posterior(tmp_path / "post")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run([str(BIN / "fem-cell"), "design", "design.toml", "--posterior", "post",
                        "--samples", "3", "--out", "d"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "best:" in r.stdout
    d = pd.read_csv(tmp_path / "d" / "design.csv")
    assert list(d["rank"]) == [1, 2]
    assert d["variance_reduction"].between(0, 1).all()
    assert d["variance_reduction"].is_monotonic_decreasing
    # recompute the criterion from the sample sweeps' own tables
    pred = [pd.read_csv(tmp_path / "d" / "prediction" / "samples" / f"s{i:03d}" /
                        "results.csv")["R_interface_ohm_cm2"].iloc[0] for i in range(3)]
    cand = np.array([pd.read_csv(tmp_path / "d" / "candidates" / "samples" / f"s{i:03d}" /
                                 "results.csv")["R_interface_ohm_cm2"].to_numpy()
                     for i in range(3)])
    q, y = np.log(pred), np.log(cand)
    for _, row in d.iterrows():
        c = int(row["case"][-4:])
        vq, vy = np.var(q, ddof=1), np.var(y[:, c], ddof=1)
        cov = np.cov(q, y[:, c], ddof=1)[0, 1]
        assert row["variance_reduction"] == pytest.approx(cov**2 / (vy + 0.05**2) / vq)
    s = json.loads((tmp_path / "d" / "summary.json").read_text())
    assert s["kind"] == "design" and s["prediction_p05"] <= s["prediction_p95"]
    assert (tmp_path / "d" / "design.png").is_file()
