"""The run-folder contract (fem_cell.outputs.rundir) through the CLI: bad output paths
are refused before any work, an existing folder is never clobbered, --overwrite
replaces only what an earlier fem-cell run wrote, run.json/summary.json say how the
run ended, and physical guards stop a run with status "failed"."""

import json
import os
import textwrap

import numpy as np
import pytest
from helpers import COARSE_2D_MESH
from helpers import run_cli as cli

from fem_cell.outputs.history import read_history

pytestmark = pytest.mark.serial

FAST = textwrap.dedent("""
    [anneal]
    initial_temperature = "25 degC"
    segments = [{ ramp_to = "60 degC", rate = "10 K/min" }, { hold = "2 min" }]
    [output]
    field_interval = "1 min"
""")

COARSE_2D = COARSE_2D_MESH + FAST


def one_error_line(r, prefix="fem-cell: error: "):
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith(prefix), lines[0]
    return lines[0]


@pytest.fixture
def fast_cfg(tmp_path):
    p = tmp_path / "fast.toml"
    p.write_text(FAST)
    return p


@pytest.mark.parametrize("kind", ["proc", "file", "under_file"])
def test_bad_output_paths_refused_before_work(tmp_path, fast_cfg, kind):
    afile = tmp_path / "afile"
    afile.write_text("user data\n")
    out = {"proc": "/proc/fem_cell_x", "file": afile, "under_file": afile / "sub"}[kind]
    r = cli("anneal", fast_cfg, "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    line = one_error_line(r)
    assert f"--out {out}" in line
    assert r.stdout == ""  # refused before the banner: no work started
    assert afile.read_text() == "user data\n"


def test_existing_folder_refused_without_overwrite(tmp_path, fast_cfg):
    out = tmp_path / "run"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    r = cli("anneal", fast_cfg, "--out", out, cwd=tmp_path)
    assert r.returncode == 2
    assert "--overwrite" in one_error_line(r)
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_overwrite_replaces_only_fem_cell_files(tmp_path, fast_cfg):
    """A 2-D run, then a 1-D run with --overwrite: the 2-D render (stale) is gone, the
    user's files at the top and inside fields/ survive, run.json lists the new files."""
    out = tmp_path / "run"
    c2 = tmp_path / "c2.toml"
    c2.write_text(COARSE_2D)
    assert cli("anneal", c2, "--out", out, "-q", cwd=tmp_path).returncode == 0
    assert (out / "temperature_2d.png").exists()
    (out / "notes.txt").write_text("mine")
    (out / "fields" / "my_slice.csv").write_text("x,y\n")
    old = json.loads((out / "run.json").read_text())
    assert old["status"] == "completed"
    assert "temperature_2d.png" in old["files"]

    r = cli("anneal", fast_cfg, "--dim", "1", "--out", out, "-q", "--overwrite", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert not (out / "temperature_2d.png").exists()
    assert (out / "notes.txt").read_text() == "mine"
    assert (out / "fields" / "my_slice.csv").read_text() == "x,y\n"
    new = json.loads((out / "run.json").read_text())
    assert new["status"] == "completed" and new["dim"] == 1
    for f in new["files"]:
        assert (out / f).exists(), f
    assert "notes.txt" not in new["files"] and "fields/my_slice.csv" not in new["files"]
    # every .vtu/.pvtu piece in fields/ belongs to the new 1-D run
    pieces = {str(p.relative_to(out)) for p in (out / "fields").glob("temperature*")}
    assert pieces <= set(new["files"])


def test_overwrite_refuses_to_replace_a_users_file(tmp_path, fast_cfg):
    out = tmp_path / "run"
    out.mkdir()
    (out / "history.csv").write_text("my measurements\n")
    r = cli("anneal", fast_cfg, "--out", out, "-q", "--overwrite", cwd=tmp_path)
    assert r.returncode == 2
    assert "history.csv" in one_error_line(r)
    assert (out / "history.csv").read_text() == "my measurements\n"


def test_completed_run_writes_status_and_summary(tmp_path, fast_cfg):
    out = tmp_path / "run"
    r = cli("anneal", fast_cfg, "--out", out, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed" and meta["job"] == "anneal"
    summ = json.loads((out / "summary.json").read_text())
    assert summ["status"] == "completed"
    h = read_history(out / "history.csv")
    d = (h["T_mean_C"] - h["T_plate_C"]) * 1e3
    assert summ["film_mean_minus_plate_min_mK"] == pytest.approx(d.min())
    assert summ["film_mean_minus_plate_max_mK"] == pytest.approx(d.max())
    # sane first ETA: unknown until a rate has been measured (it was 61588 s for a 6 s run)
    progress = [ln for ln in r.stdout.splitlines() if ln.startswith("[anneal] t =")]
    assert progress and progress[0].endswith("ETA --")
    # the simulated exposure is announced before the program starts
    assert "[anneal] exposure: H2O, 30 min at 25 °C (simulated" in r.stdout


HOT_AMBIENT = textwrap.dedent("""
    [thermal]
    bottom = "contact"
    ambient_temperature = "{ambient}"
    [anneal]
    initial_temperature = "25 degC"
    segments = [{{ ramp_to = "{plate}", rate = "5 K/min" }}, {{ hold = "30 min" }}]
""")


def test_melting_guard_on_computed_temperature(tmp_path):
    """Contact mode, 300 °C ambient, 180 °C plate: the plate program passes validation
    (below 180.5 °C) but the Li layer heats above its melting point."""
    cfg = tmp_path / "hot.toml"
    cfg.write_text(HOT_AMBIENT.format(ambient="300 degC", plate="180 degC"))
    out = tmp_path / "run"
    r = cli("anneal", cfg, "--dim", "1", "--out", out, "-q", cwd=tmp_path)
    assert r.returncode == 3
    line = one_error_line(r, "fem-cell: run failed: ")
    assert "Li melted" in line and "180.5" in line
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "failed" and "Li melted" in meta["reason"]
    h = read_history(out / "history.csv")  # a consistent prefix, ending at the violation
    assert h["T_Li_max_C"][-1] > 180.5 and np.all(h["T_Li_max_C"][:-1] <= 180.5)
    assert json.loads((out / "summary.json").read_text())["status"] == "failed"


def test_summary_line_is_signed(tmp_path):
    """Film hotter than the plate (hot surroundings): the end line says '+', not a lag."""
    cfg = tmp_path / "warm.toml"
    cfg.write_text(HOT_AMBIENT.format(ambient="170 degC", plate="100 degC"))
    out = tmp_path / "run"
    r = cli("anneal", cfg, "--dim", "1", "--out", out, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    h = read_history(out / "history.csv")
    hi = 1e3 * (h["T_mean_C"] - h["T_plate_C"]).max()
    assert hi > 1000  # > 1 K hotter than the plate
    done = [ln for ln in r.stdout.splitlines() if "done in" in ln][0]
    assert f"to {hi:+.1f} mK" in done
    assert "lags" not in done


def test_two_d_run_is_quiet(tmp_path):
    """No VTK 'bad X server connection' (or any other) warning on a headless machine."""
    c2 = tmp_path / "c2.toml"
    c2.write_text(COARSE_2D)
    env_display = os.environ.pop("DISPLAY", None)
    try:
        r = cli("anneal", c2, "--out", tmp_path / "run", "-q", cwd=tmp_path)
    finally:
        if env_display is not None:
            os.environ["DISPLAY"] = env_display
    assert r.returncode == 0
    assert r.stderr == "", r.stderr
    assert (tmp_path / "run" / "temperature_2d.png").stat().st_size > 10_000
