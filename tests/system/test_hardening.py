"""The holes an adversarial user found (issue: no data lost, no traceback, no rank left
spinning), each closed and tested.  Commands run in-process through
:func:`fem_cell.cli.main` where a fresh process adds nothing (one error line), in a
fresh process where the process itself is the point (signals, locks, kill -9).  The MPI
variants (no rank left spinning) are in tests/system/test_mpirun_commands.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from helpers import LONG_HOLD, corrupt_checkpoint, wait_for_handlers

from fem_cell.cli import main

pytestmark = pytest.mark.serial
ROOT = Path(__file__).resolve().parents[2]
FEM_CELL = Path(sys.executable).parent / "fem-cell"


def cli(capsys, *args):
    """``fem-cell ARGS`` in-process: (exit status, stdout, stderr)."""
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def start(*args, cwd) -> subprocess.Popen:
    return subprocess.Popen([str(FEM_CELL), *map(str, args)], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))


def wait_for(pred, timeout=120.0):
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError("timed out")
        time.sleep(0.05)


@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    """An exposed state (run folder) made once."""
    d = tmp_path_factory.mktemp("exposed")
    assert main(["expose", "--dim", "1", "--out", str(d / "e"), "-q"]) == 0
    return d / "e"


# ------------------------------------------------------------------ data lost -----------
def test_foreign_run_json_is_not_trusted(tmp_path, capsys):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "data.csv").write_text("1,2\n")
    (d / "sub" / "raw.dat").write_text("raw")
    (d / "run.json").write_text(json.dumps({"job": "expose", "status": "completed",
                                            "files": ["data.csv", "sub/raw.dat"]}))
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", d, "--overwrite", "-q")
    assert code == 2
    assert "run.json exists and was not written by fem-cell" in one_line(err)
    assert (d / "data.csv").read_text() == "1,2\n" and (d / "sub" / "raw.dat").exists()


def test_forged_file_list_only_reaches_files_the_job_writes(tmp_path, capsys):
    """Even a signed fem-cell record only removes files that job writes."""
    from fem_cell.outputs.rundir import signature

    d = tmp_path / "d"
    d.mkdir()
    (d / "data.csv").write_text("mine")
    started = "2026-01-01T00:00:00+00:00"
    (d / "run.json").write_text(json.dumps({
        "job": "expose", "status": "completed", "generator": "fem_cell", "started": started,
        "signature": signature("expose", started), "files": ["run.json", "data.csv"]}))
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", d, "--overwrite", "-q")
    assert code == 0, err
    assert (d / "data.csv").read_text() == "mine"


@pytest.mark.parametrize("cmd", [["anneal", "--restart"], ["impedance", "--state"]])
def test_an_output_folder_holding_the_input_is_refused(exposed, tmp_path, capsys, cmd):
    before = sorted(p.name for p in (exposed / "checkpoints").iterdir())
    code, _, err = cli(capsys, *cmd, exposed, "--out", exposed, "--overwrite", "-q")
    assert code == 2
    assert "an input of this run" in one_line(err)
    assert sorted(p.name for p in (exposed / "checkpoints").iterdir()) == before
    assert json.loads((exposed / "run.json").read_text())["status"] == "completed"


def test_a_folder_in_use_is_refused(tmp_path, capsys):
    (tmp_path / "long.toml").write_text(LONG_HOLD)
    p = start("anneal", "long.toml", "--dim", "1", "--out", "busy", "-q", cwd=tmp_path)
    try:
        wait_for(lambda: (tmp_path / "busy" / "history.csv").exists())
        code, _, err = cli(capsys, "expose", "--dim", "1", "--out", tmp_path / "busy",
                           "--overwrite", "-q")
        assert code == 2 and "another fem-cell run is writing" in one_line(err)
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_rerun_after_kill_9(tmp_path, capsys):
    """Every file is recorded as it is created: a run killed with -9 can be replaced."""
    (tmp_path / "long.toml").write_text(LONG_HOLD)
    out = tmp_path / "killed"
    p = start("anneal", "long.toml", "--dim", "1", "--out", "killed", "-q", cwd=tmp_path)
    wait_for(lambda: (out / "history.csv").exists()
             and len((out / "history.csv").read_text().splitlines()) > 5)
    os.killpg(p.pid, signal.SIGKILL)
    p.wait()
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "running" and "history.csv" in info["files"]
    (out / "mine.txt").write_text("keep")
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", out, "--overwrite", "-q")
    assert code == 0, err
    assert (out / "mine.txt").read_text() == "keep" and not (out / "history.csv").exists()


# ------------------------------------------------------------------ one line, right status
@pytest.mark.parametrize("n", [2, 3, 5])
def test_short_sweep_skips_fit_and_kk(tmp_path, capsys, n):
    code, _, err = cli(capsys, "impedance", "--dim", "1", "--frequencies", "0.01", "1e6", n,
                       "--out", tmp_path / "i", "-q")
    assert code == 0, err
    assert "Traceback" not in err and "Warning" not in err
    text = (tmp_path / "i" / "summary.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    s = json.loads(text)
    assert s["fit_error"].startswith(f"{n} frequencies") and s["kk_residual_max"] is None
    assert len((tmp_path / "i" / "impedance.csv").read_text().splitlines()) == n + 1


def test_long_sweep_fits_a_thinned_subset(tmp_path, capsys):
    """Above FIT_FREQUENCIES the fit and Lin-KK run on 1000 frequencies evenly in log f
    (10,000 took 40 s to fit and check on all of them); the spectrum keeps every point and
    the fitted R_interface is the one of the default 61-point sweep."""
    from fem_cell.jobs.impedance import FIT_FREQUENCIES, fit_subset

    k = fit_subset(10_000)
    assert k.size == FIT_FREQUENCIES == 1000 and k[0] == 0 and k[-1] == 9999
    assert set(np.diff(k)) <= {10, 11, 9} and np.all(np.diff(k) > 0)
    assert np.array_equal(fit_subset(999), np.arange(999))
    runs = {}
    for n in (3000, 61):
        code, _, err = cli(capsys, "impedance", "--dim", "1", "--frequencies", "0.01", "1e6",
                           n, "--out", tmp_path / f"i{n}", "-q")
        assert code == 0, err
        runs[n] = json.loads((tmp_path / f"i{n}" / "summary.json").read_text())
    s = runs[3000]
    assert s["fit_frequencies"] == 1000 and runs[61]["fit_frequencies"] == 61
    assert len((tmp_path / "i3000" / "impedance.csv").read_text().splitlines()) == 3001
    assert s["kk_residual_max"] < 1e-3 and (tmp_path / "i3000" / "bode.png").stat().st_size
    assert s["R_interface_fit_ohm_cm2"] == pytest.approx(runs[61]["R_interface_fit_ohm_cm2"],
                                                         rel=1e-3)


@pytest.mark.parametrize("args,words", [
    (["--temperature-C=-273"], "validity range"),
    (["--temperature-C=-250"], "validity range"),
    (["--temperature-C", "200"], "Li melting point"),
    (["--frequencies", "1e-308", "1e308", "5"], "frequencies"),
    (["--frequencies", "1", "10", "20000"], "at most 10000"),
])
def test_impedance_bad_inputs(tmp_path, capsys, args, words):
    code, _, err = cli(capsys, "impedance", "--dim", "1", *args, "--out", tmp_path / "i")
    assert code == 2 and words in one_line(err)
    assert not (tmp_path / "i").exists()


def test_unexpected_error_is_one_line_and_exit_3(tmp_path, capsys, monkeypatch):
    import fem_cell.jobs.expose as ex

    def boom(*a, **k):
        raise ZeroDivisionError("something nobody expected")

    monkeypatch.setattr(ex, "_write_state", boom)
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", tmp_path / "o", "-q")
    assert code == 3
    line = one_line(err)
    assert "internal error" in line and "ZeroDivisionError" in line
    log = tmp_path / "o" / "error_log.txt"
    assert "Traceback" in log.read_text()
    info = json.loads((tmp_path / "o" / "run.json").read_text())
    assert info["status"] == "failed" and "ZeroDivisionError" in info["reason"]


@pytest.mark.parametrize("how", ["bytes", "json", "levels", "nan"])
def test_corrupt_checkpoint(exposed, tmp_path, capsys, how):
    ck = next((exposed / "checkpoints").glob("t*.h5"))
    bad = corrupt_checkpoint(ck, tmp_path / "bad.h5", how)
    code, _, err = cli(capsys, "anneal", "--restart", bad, "--out", tmp_path / "o", "-q")
    assert code == 2, err
    assert str(bad) in one_line(err)
    assert not (tmp_path / "o").exists()


def test_out_names_the_file_system_refuses(tmp_path, capsys):
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", tmp_path / ("x" * 300))
    assert code == 2 and "longer than the file system allows" in one_line(err)
    bad = os.fsdecode(b"bad\xffname")
    code, _, err = cli(capsys, "expose", "--dim", "1", "--out", tmp_path / bad)
    assert code == 2 and "not valid UTF-8" in one_line(err)


def test_config_path_with_a_non_utf8_byte(tmp_path, capsys):
    name = os.fsdecode(b"cfg\xff.toml")
    (tmp_path / name).write_text("[mesh]\ndim = 1\n")
    code, out, err = cli(capsys, "config", tmp_path / name)
    assert code == 0 and "Traceback" not in err and "[mesh]" in out


def test_fifo_config_is_refused_at_once(tmp_path, capsys):
    fifo = tmp_path / "cfg.toml"
    os.mkfifo(fifo)
    code, _, err = cli(capsys, "config", fifo)
    assert code == 2 and "regular TOML file" in one_line(err)


# ------------------------------------------------------------------ wrong results --------
@pytest.mark.parametrize("temp,words", [("4000", "critical point"), ("1000", "critical point"),
                                        ("300", "deeper than the exposed LiCoO2 film")])
def test_exposure_outside_its_validity_is_refused(tmp_path, capsys, temp, words):
    """Refused in one error line (above the critical point: by the configuration; at
    300 °C: by the simulated exposure, its protons through the whole film), after the
    warning that the vapour pressure is extrapolated."""
    code, _, err = cli(capsys, "expose", "--dim", "1", "--temperature-C", temp,
                       "--out", tmp_path / "o")
    errors = "\n".join(ln for ln in err.splitlines() if "warning:" not in ln)
    assert code == 2 and words in one_line(errors)


def test_exposure_near_its_limits_warns(tmp_path, capsys):
    code, _, err = cli(capsys, "expose", "--dim", "1", "--temperature-C", "60", "--out",
                       tmp_path / "o", "-q")
    assert code == 0
    assert "extrapolated" in err and "warning" in err


def test_humidity_for_pure_water_is_refused(tmp_path, capsys):
    code, _, err = cli(capsys, "expose", "--dim", "1", "--gas", "H2O",
                       "--relative-humidity", "40", "--out", tmp_path / "o")
    assert code == 2 and "air" in one_line(err)


def test_exposure_flags_with_a_state_are_refused(exposed, tmp_path, capsys):
    code, _, err = cli(capsys, "anneal", "--gas", "air", "--restart", exposed,
                       "--out", tmp_path / "o")
    assert code == 2 and "exposure is fixed" in one_line(err)


def test_restart_records_the_states_exposure(tmp_path, capsys):
    assert cli(capsys, "expose", "--dim", "1", "--gas", "air", "--out", tmp_path / "air",
               "-q")[0] == 0
    code, _, err = cli(capsys, "anneal", "--restart", tmp_path / "air", "--out",
                       tmp_path / "a", "-q")
    assert code == 0, err
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert info["config"]["physics"]["exposure"]["gas"] == "air"


# ------------------------------------------------------------------ signals --------------
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
@pytest.mark.parametrize("delay", [0.0, 0.05, 0.15, 0.3, 0.6])
def test_sigint_at_start_up(tmp_path, delay):
    """SIGINT ``delay`` s after fem-cell's first line ran (while dolfinx, PETSc and the
    CLI import).  Timed from that line, not from the launch: a signal while the
    interpreter itself still starts (its site import: 50 ms or more on a slow machine)
    reaches no code of ours -- Python reports a fatal error and exits 1 -- see
    fem_cell/_entry.py."""
    p = start("anneal", "--dim", "1", "--out", "o", cwd=tmp_path)
    wait_for_handlers(p.pid)
    time.sleep(delay)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "Fatal" not in err
    assert err.strip().splitlines()[-1].startswith("fem-cell: interrupted")


def test_sigint_during_reproduce_keeps_the_cases(tmp_path):
    p = start("reproduce", "--dim", "1", "--out", "rep", cwd=tmp_path)
    seen = []

    def h2o_done():
        line = p.stdout.readline()
        seen.append(line)
        return line.startswith("[reproduce] H2O_annealed_150C_1h:")

    wait_for(h2o_done, timeout=300)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    rows = (tmp_path / "rep" / "reproduction.csv").read_text().splitlines()
    # the seven exposure rows computed before the stop are kept (nothing after them)
    assert [r.split(",")[0] for r in rows[1:]] == ["pristine", "N2", "O2", "CO2", "H2", "H2O",
                                                   "air"]
    assert "stopped early" in (tmp_path / "rep" / "report.html").read_text()
    info = json.loads((tmp_path / "rep" / "run.json").read_text())
    assert info["status"] == "interrupted" and "reproduction.csv" in info["files"]


def test_sigint_during_an_impedance_sweep(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[mesh]\ndim = 2\nlateral_cells = 60\ncells_per_layer = 12\n")
    p = start("impedance", cfg, "--method", "direct", "--out", "i", cwd=tmp_path)
    wait_for(lambda: "sweeping" in p.stdout.readline(), timeout=300)
    time.sleep(0.5)
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=300)
    assert p.returncode == 130, err
    assert json.loads((tmp_path / "i" / "run.json").read_text())["status"] == "interrupted"


def test_numbers_in_summaries_are_json(exposed):
    """No Infinity/NaN tokens: JSON readers other than Python's choke on them."""
    for f in ("summary.json", "run.json"):
        text = (exposed / f).read_text()
        json.loads(text)
        assert "Infinity" not in text and "NaN" not in text
    assert np.isfinite(json.loads((exposed / "summary.json").read_text())
                       ["R_interface_ohm_cm2"])


def test_signal_after_completion_agrees_with_run_json(tmp_path, capsys):
    """A signal that arrives after the job recorded "completed" (the last moment of a
    command) ends with exit 0 and says the results are complete; one before that is the
    usual 130 with "interrupted" (run.json and the exit status never disagree)."""
    from fem_cell.cli import _interrupted
    from fem_cell.jobs.interrupts import Interrupted

    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"status": "completed"}))
    assert _interrupted(Interrupted(signal.SIGINT, collective=True), None, out) == 0
    assert "arrived after the run completed" in one_line(capsys.readouterr().err)
    (out / "run.json").write_text(json.dumps({"status": "interrupted"}))
    assert _interrupted(Interrupted(signal.SIGINT, collective=True), None, out) == 130
    assert "interrupted" in one_line(capsys.readouterr().err)


@pytest.mark.parametrize("args", [["expose", "--dim", "1", "-q", "--out"], ["config"]],
                         ids=["--out", "config path"])
def test_non_utf8_argument_in_a_fresh_process(tmp_path, args):
    """A non-UTF-8 byte in argv, in a new process (dolfinx not yet imported): one line,
    exit 2 — not exit 3 from dolfinx's C++ logger, which rejected such an argv."""
    bad = os.fsdecode(b"bad\xffname")
    r = subprocess.run([str(FEM_CELL), *args, bad], cwd=tmp_path, capture_output=True,
                       text=True, errors="backslashreplace", timeout=120,
                       start_new_session=True)
    assert r.returncode == 2, r.stderr
    line = one_line(r.stderr)
    assert line.startswith("fem-cell: error:") and "internal error" not in line
