"""``fem-cell fit-spectrum``: a spectrum computed by the model with the pristine interface
resistance set to 12 Ω cm² (instead of the cell's 9.75) is fitted by the model from the
cell's value — serially and under ``mpirun -n 2`` — and the files a user gets; bad data
files give one line and exit 2 with nothing written."""

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
KEY = "degraded_layer.pristine_resistance"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    from fem_cell._dolfinx import MPI
    from fem_cell.config import load_config
    from fem_cell.jobs.impedance import model_spectrum
    from fem_cell.outputs.impedance_tables import write_spectrum_csv

    d = tmp_path_factory.mktemp("fit")
    cfg = load_config(overrides={"degraded_layer": {"pristine_resistance": {
        "value": 12.0, "unit": "Ohm cm2"}}})
    f = np.logspace(-2, 6, 21)
    write_spectrum_csv(d / "measured.csv", f, model_spectrum(cfg, MPI.COMM_SELF, f))
    return d


def _run(cwd, *args, mpi=False, timeout=600):
    cmd = [str(BIN / "fem-cell"), "fit-spectrum", *map(str, args)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, start_new_session=True)


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_fit_recovers_the_interface_resistance(data, mpi):
    out = f"fit_{'mpi' if mpi else 'serial'}"
    r = _run(data, "measured.csv", "--free", KEY, "--out", out, mpi=mpi)
    assert r.returncode == 0, r.stderr
    fit = json.loads((data / out / "fit.json").read_text())
    p = fit["parameters"][0]
    assert p["key"] == KEY and p["unit"] == "Ohm cm2"
    assert p["value"] == pytest.approx(12.0, rel=1e-3)
    assert p["initial"] == pytest.approx(9.75)
    assert fit["kramers_kronig"][0]["consistent"] is True
    overlay = (data / out / "fitted.toml").read_text()
    assert "[degraded_layer]" in overlay and "pristine_resistance = { value = 12" in overlay
    for f in ("nyquist_fit.png", "bode_fit.png", "residuals.png", "fit_spectrum.csv",
              "summary.json"):
        assert (data / out / f).is_file(), f
    info = json.loads((data / out / "run.json").read_text())
    assert info["status"] == "completed" and info["mpi_size"] == (2 if mpi else 1)
    # the overlay is a user config the model accepts
    from fem_cell.config import load_config

    assert load_config(data / out / "fitted.toml").settings[KEY].value == pytest.approx(
        12.0, rel=1e-3)


def _mpt(path: Path, sweeps) -> None:
    """A BioLogic EC-Lab export (freq/Hz, Re(Z)/Ohm, -Im(Z)/Ohm), sweeps one after the
    other, high to low frequency."""
    rows = ["EC-Lab ASCII FILE", "Nb header lines : 3", "freq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm"]
    for f, z in sweeps:
        rows += [f"{a:.9e}\t{b.real:.9e}\t{-b.imag:.9e}"
                 for a, b in zip(f[::-1], z[::-1], strict=True)]
    path.write_text("\n".join(rows) + "\n", encoding="latin1")


def test_fit_of_an_instrument_file(data):
    """The same spectrum as a two-sweep BioLogic file in Ω of a 0.01 cm² pad (the first
    sweep a different cell): --spectrum 1 --area-cm2 0.01 fits it to the same value."""
    from fem_cell.analysis.measured import read_spectrum

    s = read_spectrum(data / "measured.csv")
    _mpt(data / "two.mpt", [(s.frequencies, 2 * s.Z_ohm_cm2 / 0.01),
                            (s.frequencies, s.Z_ohm_cm2 / 0.01)])
    r = _run(data, "two.mpt", "--area-cm2", "0.01", "--spectrum", "1", "--free", KEY,
             "--out", "fit_mpt")
    assert r.returncode == 0, r.stderr
    fit = json.loads((data / "fit_mpt" / "fit.json").read_text())
    assert fit["parameters"][0]["value"] == pytest.approx(12.0, rel=1e-3)
    assert "spectrum 1" in " ".join(fit["spectra"][0]["notes"])


@pytest.mark.parametrize("case", ["no frequency column", "ohm without area", "bad key",
                                  "two configs", "two spectra, no choice"])
def test_bad_inputs(data, tmp_path, case):
    args = {"no frequency column": ["x.csv"], "ohm without area": ["y.csv"],
            "bad key": [str(data / "measured.csv"), "--free", "no.such.key"],
            "two configs": [str(data / "measured.csv"), "a.toml", "b.toml"],
            "two spectra, no choice": ["two.mpt", "--area-cm2", "0.01"]}[case]
    f = np.logspace(0, 5, 6)
    _mpt(tmp_path / "two.mpt", [(f, 100 / (1 + 1j * f / 1e3)), (f, 90 / (1 + 1j * f / 1e3))])
    (tmp_path / "x.csv").write_text("z_re_ohm_cm2,z_im_ohm_cm2\n1,-1\n2,-1\n")
    (tmp_path / "y.csv").write_text("frequency_hz,z_re_ohm,z_im_ohm\n" + "\n".join(
        f"{10**k},{100 - k},{-k - 1}" for k in range(6)))
    r = _run(tmp_path, *args, "--out", "o", timeout=120)
    assert r.returncode == 2, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "o").exists()
    if case == "two spectra, no choice":
        assert "holds 2 spectra" in r.stderr and "--spectrum" in r.stderr
