"""Checkpoints and --restart: a restarted run reproduces the uninterrupted history
(same ranks, 1e-10 relative, including the BDF2 history and the step size); a run
folder given as a state means its last checkpoint; a state is refused with a
configuration that did not produce it.  N → M ranks: tests/parallel/test_checkpoint_mpi.py."""

import json
import textwrap

import numpy as np
import pytest
from helpers import run_cli as cli

from fem_cell.jobs.anneal import checkpoint_name
from fem_cell.outputs.history import read_history
from fem_cell.solvers.checkpoint import read_checkpoint_meta

pytestmark = pytest.mark.serial




@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    d = tmp_path_factory.mktemp("restart")
    out = d / "full"
    r = cli("anneal", "--dim", "1", "--out", out, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    return d, out


def _same_from(a, b, t0):
    m = a["time_s"] >= t0 - 1e-9
    assert b["time_s"][0] == pytest.approx(t0, abs=1e-9)
    for k in a:
        x, y = a[k][m], b[k]
        assert len(x) == len(y), k
        assert np.allclose(y, x, rtol=1e-10, atol=1e-10 * np.abs(x).max()), k


def test_checkpoints_written_at_output_times(full_run):
    _, out = full_run
    meta = json.loads((out / "run.json").read_text())
    cks = sorted(f for f in meta["files"] if f.startswith("checkpoints/"))
    assert len(cks) == len(meta["output_times_s"])
    for f in cks:
        assert (out / f).stat().st_size > 0


@pytest.mark.parametrize("t0", [3000.0, 1500.0])
def test_restart_from_checkpoint_reproduces_history(full_run, t0):
    """3000 s is inside the 150 °C hold: BDF2 with a grown step (not a fresh start);
    1500 s is the end of the ramp, a kink of the program: the transport's smooth restart
    (its kept derivative) and the heat's own restarted history are in the state."""
    d, out = full_run
    ck = out / checkpoint_name(t0)
    info = read_checkpoint_meta(ck)
    assert info["lead"] is not None and info["lead"]["fields"] == ["T"]
    assert info["has_slope"] == (t0 == 1500.0)
    new = d / f"continued_{t0:g}"
    r = cli("anneal", "--restart", ck, "--out", new, "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    a, b = read_history(out / "history.csv"), read_history(new / "history.csv")
    assert b["dt_s"][1] > 10.0  # the restored step size, not dt_initial (0.01 s)
    _same_from(a, b, t0)
    assert json.loads((new / "run.json").read_text())["restart"] == str(ck)


def test_restart_from_run_folder_means_last_state(full_run, tmp_path):
    d, out = full_run
    part = tmp_path / "partial"
    part.mkdir()
    (part / "checkpoints").mkdir()
    for name in ("t000000300.000s.h5", "t000001500.000s.h5"):  # a run stopped after 1500 s
        (part / "checkpoints" / name).write_bytes((out / "checkpoints" / name).read_bytes())
    new = tmp_path / "continued"
    r = cli("anneal", "--restart", part, "--out", new, "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _same_from(read_history(out / "history.csv"), read_history(new / "history.csv"), 1500.0)


def test_restart_refuses_other_configuration(full_run, tmp_path):
    _, out = full_run
    cfg = tmp_path / "other.toml"
    cfg.write_text(textwrap.dedent("""
        [layers.Li3PO4]
        thickness = "2 um"
    """))
    r = cli("anneal", cfg, "--restart", out, "--out", tmp_path / "x", "-q", cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "another configuration" in lines[0], r.stderr
    assert not (tmp_path / "x").exists()


def test_restart_missing_checkpoint(tmp_path):
    r = cli("anneal", "--restart", tmp_path / "nope.h5", "--out", tmp_path / "x", cwd=tmp_path)
    assert r.returncode == 2
    assert "no such checkpoint" in r.stderr and "Traceback" not in r.stderr
