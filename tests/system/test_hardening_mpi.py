"""The hardening list (tests/system/test_hardening.py) under ``mpirun -n 2`` (issue 12).

Each case re-runs, through the real ``fem-cell`` entry point under the venv's
``mpirun -n 2``, a command line of a serial test of test_hardening.py, with the same
assertions: the same exit status; on stderr the same single line (each rank may print
it: the set of non-empty lines has one element), never a traceback; a refused command
creates no output folder and keeps the user's files.  Every run has a timeout: a rank
left spinning fails the test (its process group killed) instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import LONG_HOLD, corrupt_checkpoint

pytestmark = [pytest.mark.serial, pytest.mark.system]

BIN = Path(sys.executable).parent
MPIRUN = BIN / "mpirun"
FEM_CELL = BIN / "fem-cell"
ENV = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")


def mpirun(*args, cwd: Path, timeout: float = 240.0) -> subprocess.CompletedProcess:
    """``mpirun -n 2 fem-cell ARGS``; a run that does not exit within ``timeout`` fails."""
    if not MPIRUN.exists():  # pragma: no cover - the set-up installs mpich with the wheel
        pytest.skip(f"no mpirun next to {sys.executable}")
    cmd = [str(MPIRUN), "-n", "2", str(FEM_CELL), *map(str, args)]
    p = subprocess.Popen(cmd, cwd=cwd, env=ENV, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, errors="backslashreplace",
                         start_new_session=True)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"`mpirun -n 2 fem-cell {' '.join(map(str, args))}` did not exit within "
                    f"{timeout:g} s (process group killed)\nstdout:\n{out}\nstderr:\n{err}")
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)


def one_line(r: subprocess.CompletedProcess, code: int = 2, *, drop_warnings=False) -> str:
    """The run's exit status is ``code`` and its stderr one distinct line (no traceback)."""
    assert r.returncode == code, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    lines = {ln for ln in r.stderr.splitlines() if ln.strip()}
    if drop_warnings:
        lines = {ln for ln in lines if "warning:" not in ln}
    assert len(lines) == 1, r.stderr
    return lines.pop()


def _completed_on_two_ranks(out: Path) -> None:
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "completed" and info["mpi_size"] == 2, info


@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    """An exposed state (run folder) made once, under ``mpirun -n 2``."""
    d = tmp_path_factory.mktemp("exposed_mpi")
    r = mpirun("expose", "--dim", "1", "--out", "e", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    _completed_on_two_ranks(d / "e")
    return d / "e"


# ------------------------------------------------------------------ data lost -----------
def test_foreign_run_json_is_not_trusted(tmp_path):
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    (d / "data.csv").write_text("1,2\n")
    (d / "sub" / "raw.dat").write_text("raw")
    (d / "run.json").write_text(json.dumps({"job": "expose", "status": "completed",
                                            "files": ["data.csv", "sub/raw.dat"]}))
    r = mpirun("expose", "--dim", "1", "--out", d, "--overwrite", "-q", cwd=tmp_path)
    assert "run.json exists and was not written by fem-cell" in one_line(r)
    assert (d / "data.csv").read_text() == "1,2\n" and (d / "sub" / "raw.dat").exists()


@pytest.mark.parametrize("cmd", [["anneal", "--restart"], ["impedance", "--state"]])
def test_an_output_folder_holding_the_input_is_refused(exposed, tmp_path, cmd):
    before = sorted(p.name for p in (exposed / "checkpoints").iterdir())
    r = mpirun(*cmd, exposed, "--out", exposed, "--overwrite", "-q", cwd=tmp_path)
    assert "an input of this run" in one_line(r)
    assert sorted(p.name for p in (exposed / "checkpoints").iterdir()) == before
    assert json.loads((exposed / "run.json").read_text())["status"] == "completed"


def test_a_folder_in_use_is_refused(tmp_path):
    """The first run is serial (it only has to hold the folder); the second is mpirun's."""
    (tmp_path / "long.toml").write_text(LONG_HOLD)
    p = subprocess.Popen([str(FEM_CELL), "anneal", "long.toml", "--dim", "1", "--out", "busy",
                          "-q"], cwd=tmp_path, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, start_new_session=True, env=ENV)
    try:
        t0 = time.monotonic()
        while not (tmp_path / "busy" / "history.csv").exists():
            assert p.poll() is None, f"the first run ended (exit {p.returncode})"
            assert time.monotonic() - t0 < 120, "the first run wrote no history.csv in 120 s"
            time.sleep(0.05)
        r = mpirun("expose", "--dim", "1", "--out", tmp_path / "busy", "--overwrite", "-q",
                   cwd=tmp_path)
        assert "another fem-cell run is writing" in one_line(r)
        assert p.poll() is None  # the refused run did not disturb the one writing
    finally:
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()


# ------------------------------------------------------------------ one line, right status
@pytest.mark.parametrize("n", [2, 3, 5])
def test_short_sweep_skips_fit_and_kk(tmp_path, n):
    r = mpirun("impedance", "--dim", "1", "--frequencies", "0.01", "1e6", n,
               "--out", tmp_path / "i", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr and "Warning" not in r.stderr
    text = (tmp_path / "i" / "summary.json").read_text()
    assert "Infinity" not in text and "NaN" not in text
    s = json.loads(text)
    assert s["fit_error"].startswith(f"{n} frequencies") and s["kk_residual_max"] is None
    assert len((tmp_path / "i" / "impedance.csv").read_text().splitlines()) == n + 1
    _completed_on_two_ranks(tmp_path / "i")


@pytest.mark.parametrize("args,words", [
    (["--temperature-C=-273"], "validity range"),
    (["--frequencies", "1e-308", "1e308", "5"], "frequencies"),
    (["--frequencies", "1", "10", "20000"], "at most 10000"),
], ids=["below-validity", "frequency-range", "too-many-frequencies"])
def test_impedance_bad_inputs(tmp_path, args, words):
    r = mpirun("impedance", "--dim", "1", *args, "--out", tmp_path / "i", cwd=tmp_path)
    assert words in one_line(r)
    assert not (tmp_path / "i").exists()


@pytest.mark.parametrize("how", ["bytes", "nan"])
def test_corrupt_checkpoint(exposed, tmp_path, how):
    ck = next((exposed / "checkpoints").glob("t*.h5"))
    bad = corrupt_checkpoint(ck, tmp_path / "bad.h5", how)
    r = mpirun("anneal", "--restart", bad, "--out", tmp_path / "o", "-q", cwd=tmp_path)
    assert str(bad) in one_line(r)
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("out", ["x" * 300, os.fsdecode(b"bad\xffname")],
                         ids=["too-long", "non-utf8"])
def test_out_names_the_file_system_refuses(tmp_path, out):
    """(A non-UTF-8 byte in argv used to end in exit 3 in any fresh process: import
    dolfinx handed sys.argv to its C++ logger, which rejects it; fem_cell._dolfinx now
    gives the libraries a sanitised copy.)"""
    words = "longer than the file system allows" if out.startswith("x") else "not valid UTF-8"
    r = mpirun("expose", "--dim", "1", "--out", tmp_path / out, cwd=tmp_path)
    for log in re.findall(r"traceback in (\S+\.txt)", r.stderr):  # leave none in /tmp
        Path(log).unlink(missing_ok=True)
    assert words in one_line(r)


# ------------------------------------------------------------------ wrong results --------
@pytest.mark.parametrize("temp,words", [("4000", "critical point"),
                                        ("300", "deeper than the exposed LiCoO2 film")])
def test_exposure_outside_its_validity_is_refused(tmp_path, temp, words):
    """One error line (after the warning, per rank, that the vapour pressure is
    extrapolated: the warning lines are left out of the count, as serially)."""
    r = mpirun("expose", "--dim", "1", "--temperature-C", temp, "--out", tmp_path / "o",
               cwd=tmp_path)
    assert words in one_line(r, drop_warnings=True)


def test_exposure_flags_with_a_state_are_refused(exposed, tmp_path):
    r = mpirun("anneal", "--gas", "air", "--restart", exposed, "--out", tmp_path / "o",
               cwd=tmp_path)
    assert "exposure is fixed" in one_line(r)


# ------------------------------------------------------------------- solver failure ------
FAILING = """
[anneal]
segments = [{ ramp_to = "150 degC", rate = "50 K/min" }]
[solver]
newton_max_it = 1
dt_min = "0.01 s"
[output]
fields = false
plots = false
render = false
"""


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_solver_failure_is_exit_3_with_its_reason(tmp_path, mpi):
    """A real solver failure (Newton limited to one iteration, so the exposure's first
    step fails even at dt_min): exit 3, one line naming the solver, the time, dt and the
    SNES reason; run.json "failed" with the same reason."""
    (tmp_path / "bad.toml").write_text(FAILING)
    args = ("anneal", "bad.toml", "--dim", "1", "-q", "--out", tmp_path / "o")
    if mpi:
        r = mpirun(*args, cwd=tmp_path)
    else:
        r = subprocess.run([str(FEM_CELL), *map(str, args)], cwd=tmp_path, env=ENV,
                           capture_output=True, text=True, timeout=240,
                           start_new_session=True)
    line = one_line(r, 3)
    assert line.startswith("fem-cell: run failed:") and "Newton failed" in line, line
    assert "SNES reason" in line and "dt_min" in line
    info = json.loads((tmp_path / "o" / "run.json").read_text())
    assert info["status"] == "failed" and "Newton failed" in info["reason"]


def test_restart_records_the_states_exposure(tmp_path):
    """``anneal --restart`` of an air-exposed state records the state's gas (air), as
    serially (test_hardening.py)."""
    r = mpirun("expose", "--dim", "1", "--gas", "air", "--out", "air", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    r = mpirun("anneal", "--restart", "air", "--out", "a", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    _completed_on_two_ranks(tmp_path / "a")
    info = json.loads((tmp_path / "a" / "run.json").read_text())
    assert info["config"]["physics"]["exposure"]["gas"] == "air"


def _popen(args, cwd: Path, mpi: bool) -> subprocess.Popen:
    pre = [str(MPIRUN), "-n", "2"] if mpi else []
    return subprocess.Popen([*pre, str(FEM_CELL), *map(str, args)], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _stop(p: subprocess.Popen, sig: int, mpi: bool, timeout: float = 120) -> str:
    """Send ``sig`` (to the whole process group under mpirun, as a terminal's Ctrl-C or a
    batch system's SIGTERM does) and return stderr; a run that does not exit fails."""
    os.killpg(p.pid, sig) if mpi else p.send_signal(sig)
    try:
        _, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        p.communicate()
        pytest.fail(f"no exit within {timeout} s of {signal.Signals(sig).name}")
    return err


def _wait_for_line(p: subprocess.Popen, prefix: str, timeout: float = 300) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if line.startswith(prefix):
            return
        if not line and p.poll() is not None:
            pytest.fail(f"exited ({p.returncode}) before {prefix!r}: {p.stderr.read()}")
    os.killpg(p.pid, signal.SIGKILL)
    pytest.fail(f"no line {prefix!r} within {timeout} s")


def _wait_for_running(p: subprocess.Popen, run_json: Path, timeout: float = 120) -> None:
    """Poll (every 5 ms) until ``run_json`` exists with status 'running'."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        try:
            if json.loads(run_json.read_text())["status"] == "running":
                return
        except (OSError, ValueError, KeyError):
            pass
        if p.poll() is not None:
            pytest.fail(f"exited ({p.returncode}) before {run_json} said 'running'")
        time.sleep(0.005)
    os.killpg(p.pid, signal.SIGKILL)
    pytest.fail(f"{run_json} did not say 'running' within {timeout} s")


@pytest.mark.parametrize("mpi,sig", [(False, signal.SIGTERM), (True, signal.SIGINT)],
                         ids=["serial-SIGTERM", "mpirun-2-SIGINT"])
def test_signal_in_reproduces_7_day_hold_then_rerun(tmp_path, mpi, sig):
    """A signal during reproduce's 7-day hold keeps the eight rows computed before it
    (reproduction.csv, run.json 'interrupted' listing every file written so far, the
    hold's own sub-run 'interrupted'); a rerun with --overwrite is accepted (the record
    lists what the stopped run wrote, so nothing is taken for a user's file) and a second
    signal stops it the same way."""
    p = _popen(["reproduce", "--dim", "1", "--out", "rep"], tmp_path, mpi)
    _wait_for_line(p, "[reproduce] H2O_7days_25C:")
    # signal as soon as the hold's own run has started (its run.json says so): the 1-D
    # hold takes well under a second, so a fixed delay could miss it
    _wait_for_running(p, tmp_path / "rep" / "hold_7days_25C" / "run.json")
    err = _stop(p, sig, mpi)
    assert p.returncode == 128 + sig, err
    assert "Traceback" not in err
    lines = {ln for ln in err.splitlines() if ln.strip()}
    assert len(lines) == 1, err
    line = lines.pop()
    # "at t = …" when the stop came inside the hold's time loop on the rank that reports
    assert re.fullmatch(rf"fem-cell: interrupted( at t = [^()]+)? "
                        rf"\({signal.Signals(sig).name}\); partial results in rep", line), line
    rep = tmp_path / "rep"
    rows = (rep / "reproduction.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["pristine", "N2", "O2", "CO2", "H2", "H2O",
                                                   "air", "H2O_annealed_150C_1h"]
    info = json.loads((rep / "run.json").read_text())
    assert info["status"] == "interrupted" and info["mpi_size"] == (2 if mpi else 1)
    assert "reproduction.csv" in info["files"]
    assert all((rep / f).exists() for f in info["files"] if "*" not in f)
    hold = json.loads((rep / "hold_7days_25C" / "run.json").read_text())
    assert hold["status"] == "interrupted"
    # the rerun into the same folder with --overwrite is accepted and starts again
    p = _popen(["reproduce", "--dim", "1", "--out", "rep", "--overwrite"], tmp_path, mpi)
    _wait_for_line(p, "[reproduce] N2:", timeout=120)
    info = json.loads((rep / "run.json").read_text())
    assert info["status"] == "running"
    assert not (rep / "hold_7days_25C").exists()      # the stopped run's outputs replaced
    err = _stop(p, sig, mpi)
    assert p.returncode == 128 + sig and "not written by fem-cell" not in err, err
    assert json.loads((rep / "run.json").read_text())["status"] == "interrupted"
