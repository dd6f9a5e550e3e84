"""``fem-cell impedance --data SPECTRUM``: the shipped example spectrum (Ω for 0.01 cm²,
−Z″ column) is overlaid and compared at its own frequencies, serially and under
``mpirun -n 2``; the comparison is recomputed here from impedance.csv and the raw file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent
EXAMPLE = Path(__file__).resolve().parents[2] / "docs" / "examples" / "spectrum_circuit.csv"


def _run(cwd, *args, mpi=False, timeout=600):
    cmd = [str(BIN / "fem-cell"), "impedance", *map(str, args)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_overlay_and_comparison_at_the_data_frequencies(tmp_path, mpi):
    out = tmp_path / "imp"
    r = _run(tmp_path, "--dim", "1", "--data", EXAMPLE, "--ohm", "--area-cm2", "0.01",
             "--out", out, mpi=mpi)
    assert r.returncode == 0, r.stderr
    raw = np.loadtxt(EXAMPLE, delimiter=",", comments="#", skiprows=4)
    f, Zd = raw[:, 0], (raw[:, 1] - 1j * raw[:, 2]) * 0.01          # −Z″ column, Ω → Ω cm²
    model = np.genfromtxt(out / "impedance.csv", delimiter=",", names=True)
    np.testing.assert_allclose(model["frequency_Hz"], f, rtol=1e-9)  # swept at the data's f
    Zm = model[model.dtype.names[1]] + 1j * model[model.dtype.names[2]]
    rel = np.abs(Zm - Zd) / np.abs(Zd)
    d = json.loads((out / "summary.json").read_text())["data_comparison"]
    assert d["points"] == 61
    assert d["rms_relative_residual"] == pytest.approx(np.sqrt(np.mean(rel**2)), rel=1e-6)
    assert d["max_relative_residual"] == pytest.approx(rel.max(), rel=1e-6)
    table = np.genfromtxt(out / "data_comparison.csv", delimiter=",", names=True)
    np.testing.assert_allclose(table["relative_residual"], rel, rtol=1e-5)
    assert "measured spectrum" in r.stdout
    for png in ("nyquist.png", "bode.png"):
        assert (out / png).stat().st_size > 10_000


def test_reading_flags_without_data_and_bad_data_refused(tmp_path):
    r = _run(tmp_path, "--dim", "1", "--ohm", "--out", tmp_path / "a")
    assert r.returncode == 2 and "give --data too" in r.stderr
    assert not (tmp_path / "a").exists()
    r = _run(tmp_path, "--dim", "1", "--data", EXAMPLE, "--out", tmp_path / "b")
    assert r.returncode == 2 and "area" in r.stderr          # Ω without an area
    assert len(r.stderr.strip().splitlines()) == 1 and not (tmp_path / "b").exists()
