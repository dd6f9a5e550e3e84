"""A sweep of more model runs than ``LARGE_STUDY_RUNS`` (cases × posterior samples) is
refused in a second, before its cases are validated, with one line naming ``--yes`` and no
folder — for ``study``, ``study --posterior`` and ``design``, serially and under
``mpirun -n 2``; with ``--yes`` it starts (its validation progress appears)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fem_cell.cli import main
from fem_cell.limits import LARGE_STUDY_RUNS

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent


def spec(num_a: int, num_b: int, design: bool = False) -> str:
    text = f"""
[study]
name = "big"
job = "expose"

[[parameters]]
key = "exposure.duration"
range = {{ start = 1, stop = 60, num = {num_a}, unit = "min" }}

[[parameters]]
key = "exposure.temperature"
range = {{ start = 20, stop = 40, num = {num_b}, unit = "degC" }}

[record]
summary = ["R_interface_ohm_cm2"]
"""
    if design:
        text += """
[design]
measure = "R_interface_ohm_cm2"
sigma = 0.05
prediction = { overrides = { "exposure.duration" = "30 min" } }
"""
    return text


def one_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("command,text,extra,words", [
    ("study", spec(60, 100), [], "6000 cases = 6000 model runs"),
    ("study", spec(30, 10), ["--posterior", "nowhere", "--samples", "20"],
     "300 cases × 20 posterior samples = 6000 model runs"),
    ("design", spec(30, 10, design=True), ["--posterior", "nowhere", "--samples", "20"],
     "300 cases × 20 posterior samples = 6000 model runs"),
], ids=["study", "posterior-study", "design"])
def test_large_sweep_needs_yes(tmp_path, capsys, monkeypatch, command, text, extra, words):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "big.toml").write_text(text)
    t = time.perf_counter()
    code = main([command, "big.toml", *extra, "--out", "o", "-q"])
    _, err = capsys.readouterr()
    line = one_line(err)
    assert code == 2 and words in line and "--yes" in line
    assert f"more than the {LARGE_STUDY_RUNS}" in line
    assert time.perf_counter() - t < 10                # refused before the validation
    assert not (tmp_path / "o").exists()


def test_at_the_limit_no_yes_needed(tmp_path, capsys, monkeypatch):
    """5000 model runs (250 cases × 20 samples) pass the size check: the error is the next
    one, the missing posterior folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "s.toml").write_text(spec(25, 10))
    code = main(["study", "s.toml", "--posterior", "nowhere", "--samples", "20", "--out", "o"])
    line = one_line(capsys.readouterr().err)
    assert code == 2 and "nowhere" in line and "--yes" not in line


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_refused_and_with_yes_started(tmp_path, mpi):
    """In a fresh process: refused on every rank (exit 2, one line); with --yes the
    validation starts (its progress line names 6000 cases) and Ctrl-C stops it."""
    (tmp_path / "big.toml").write_text(spec(60, 100))
    pre = [str(BIN / "mpirun"), "-n", "2"] if mpi else []
    cmd = [*pre, str(BIN / "fem-cell"), "study", "big.toml", "--out", "o"]
    r = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "--yes" in one_line(r.stderr), r.stderr
    assert not (tmp_path / "o").exists()
    if mpi:
        return
    p = subprocess.Popen([*cmd, "--yes"], cwd=tmp_path, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 60
    line = ""
    while time.time() < deadline:
        line = p.stdout.readline()
        if "validating the cases" in line or not line:
            break
    assert "validating the cases:" in line and "/6000" in line, line
    p.send_signal(signal.SIGINT)
    _, err = p.communicate(timeout=60)
    assert p.returncode == 130 and one_line(err) == "fem-cell: interrupted (SIGINT)"
