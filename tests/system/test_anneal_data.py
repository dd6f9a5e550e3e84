"""``fem-cell anneal --data HISTORY``: a measured R(t) history (the paper's two numbers at
25 °C: > 136 after the exposure, 10.3 after 150 °C / 1 h, as a two-point history) is
overlaid and compared, serially and under ``mpirun -n 2``; a bad history gives one line,
exit 2 and no folder."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent
QUIET = "[output]\nfields = false\nrender = false\n"


def _run(cwd, *args, mpi=False, timeout=600):
    cmd = [str(BIN / "fem-cell"), "anneal", *map(str, args)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    d = tmp_path_factory.mktemp("anneal_data")
    (d / "quiet.toml").write_text(QUIET)
    return d


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_history_overlay_and_comparison(folder, mpi):
    out = folder / f"run_{'mpi' if mpi else 'serial'}"
    # the program of the built-in cell: exposure state at t = 0, the anneal's end at t_end
    probe = _run(folder, "quiet.toml", "--dim", "1", "--out", out, mpi=mpi)
    assert probe.returncode == 0, probe.stderr
    s = json.loads((out / "summary.json").read_text())
    t_end = s["t_end_s"]
    (folder / "paper.csv").write_text(
        f"# Kobayashi 2022, at 25 degC\ntime_s,R_25C_ohm_cm2\n0,136\n{t_end},10.3\n")
    r = _run(folder, "quiet.toml", "--dim", "1", "--data", "paper.csv", "--out", out,
             "--overwrite", mpi=mpi)
    assert r.returncode == 0, r.stderr
    assert "measured history paper.csv: 2 points" in r.stdout
    s = json.loads((out / "summary.json").read_text())
    d = s["data_comparison"]
    # the same numbers from the model's own summary, independently of the comparison
    rel = [s["R_interface_ohm_cm2_initial"] / 136 - 1, s["R_interface_ohm_cm2_final"] / 10.3 - 1]
    assert d["points"] == 2 and d["outside_model_time"] == 0
    assert d["model_column"] == "R_interface_ohm_cm2"
    assert d["rms_relative_difference"] == pytest.approx(
        (0.5 * (rel[0] ** 2 + rel[1] ** 2)) ** 0.5, rel=1e-6)
    rows = list(csv.DictReader((out / "data_comparison.csv").open()))
    assert [float(x["R_data_ohm_cm2"]) for x in rows] == [136.0, 10.3]
    assert float(rows[1]["relative_difference"]) == pytest.approx(rel[1], rel=1e-6)
    assert (out / "R_interface.png").stat().st_size > 10_000
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "completed"


@pytest.mark.parametrize(("text", "match"), [
    ("time_s,R\n0,136\n3600,10.3\n", "does not say where it was measured"),
    ("time_s,R_25C_ohm_cm2\n0,136\n", "at least 2"),
])
def test_bad_history_one_line_nothing_written(folder, text, match):
    (folder / "bad.csv").write_text(text)
    out = folder / "refused"
    r = _run(folder, "quiet.toml", "--dim", "1", "--data", "bad.csv", "--out", out)
    assert r.returncode == 2, r.stderr
    assert match in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not out.exists()
