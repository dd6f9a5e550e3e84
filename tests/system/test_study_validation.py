"""A large study's validation (rank 0 builds every case's configuration) shows progress and
stops at once on Ctrl-C — serially and under ``mpirun -n 2`` — with exit 130, one line, and
no folder (it used to validate 10,000 cases silently for 95 s and honour the signal only
afterwards)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent
SPEC = """
[study]
name = "big"
job = "expose"

[[parameters]]
key = "exposure.duration"
range = { start = 1, stop = 60, num = 40, unit = "min" }

[[parameters]]
key = "exposure.temperature"
range = { start = 20, stop = 40, num = 50, unit = "degC" }

[record]
summary = ["R_interface_ohm_cm2"]
"""


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_ctrl_c_during_validation(tmp_path, mpi):
    (tmp_path / "big.toml").write_text(SPEC)          # 2000 cases: ~20 s to validate
    cmd = [str(BIN / "fem-cell"), "study", "big.toml", "--out", "o"]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    p = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    deadline = time.time() + 60
    line = ""
    while time.time() < deadline:                     # wait for the first progress line
        line = p.stdout.readline()
        if "validating the cases" in line:
            break
    assert "validating the cases:" in line and "/2000" in line
    os.killpg(p.pid, signal.SIGINT) if mpi else p.send_signal(signal.SIGINT)
    t = time.time()
    out, err = p.communicate(timeout=60)
    assert p.returncode == 130, (out, err)
    assert time.time() - t < 10
    assert err.strip().splitlines() == ["fem-cell: interrupted (SIGINT)"]
    assert not (tmp_path / "o").exists()
