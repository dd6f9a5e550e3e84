"""A measured impedance spectrum as a calibration target (``[[targets]] job =
"impedance"``, ``data = "spectrum.csv"``): the spec expands it into Z′ and Z″ targets per
frequency (σ = sigma·|Z|), and a least-squares calibration of the Li3PO4 conductivity
recovers the value a synthetic spectrum was made with — serially and under
``mpirun -n 2`` (``fem-cell calibrate``).  The synthetic spectrum is the model's own, at
σ = 3.9e-7 S/cm (the cell file: 3e-7) and 60 °C: a recovery check, not a validation."""

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
KEY = "materials.Li3PO4.ionic_conductivity"
TRUE = 3.9e-7


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from fem_cell._dolfinx import MPI
    from fem_cell.config import load_config
    from fem_cell.jobs.impedance import model_spectrum
    from fem_cell.outputs.impedance_tables import write_spectrum_csv

    d = tmp_path_factory.mktemp("spectrum_target")
    cfg = load_config(overrides={"materials": {"Li3PO4": {"ionic_conductivity": {
        "value": TRUE, "unit": "S/cm"}}}})
    f = np.logspace(-1, 6, 15)
    write_spectrum_csv(d / "spectrum.csv", f,
                       model_spectrum(cfg, MPI.COMM_SELF, f, temperature=333.15))
    (d / "spec.toml").write_text(f'''
[study]
name = "spectrum_fit"
kind = "calibration"

[[parameters]]
key = "{KEY}"
lower = "1e-8 S/cm"
upper = "1e-5 S/cm"

[[targets]]
name = "EIS 60 degC"
job = "impedance"
data = "spectrum.csv"
temperature = "60 degC"
sigma = 0.01
''')
    return d


def test_spec_expands_two_targets_per_frequency(folder):
    from fem_cell.studies.spec import load_spec

    ts = load_spec(folder / "spec.toml").fit.targets
    assert len(ts) == 30
    assert ts[0]["quantity"] == "Z_real_ohm_cm2@0.1Hz"
    assert ts[1]["quantity"] == "Z_imag_ohm_cm2@0.1Hz"
    assert all(t["transform"] == "linear" and t["job"] == "impedance" for t in ts)
    assert ts[0]["case"] == {"state": "pristine", "temperature": pytest.approx(333.15)}
    z = abs(complex(ts[0]["value"], ts[1]["value"]))
    assert ts[0]["sigma"] == pytest.approx(0.01 * z)


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_least_squares_recovers_the_conductivity(folder, mpi):
    out = folder / f"cal_{'mpi' if mpi else 'serial'}"
    cmd = [str(BIN / "fem-cell"), "calibrate", "spec.toml", "--out", str(out)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    r = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=900,
                       start_new_session=True)
    assert r.returncode == 0, r.stderr
    p = json.loads(next(out.rglob("parameters.json")).read_text())["parameters"][0]
    assert p["key"] == KEY and p["initial"] == pytest.approx(3e-7)
    assert p["value"] == pytest.approx(TRUE, rel=1e-5)


@pytest.mark.parametrize(("extra", "match"), [
    ('temperature = "60"', "a temperature with a unit"),
    ('state = "nowhere"', "'pristine', 'exposed' or a checkpoint"),
    ('quantity = "Z_real_ohm_cm2@1Hz"', "file gives the quantities"),
    ('units = "kohm"', "'ohm' or 'ohm_cm2'"),
])
def test_bad_spectrum_targets_one_line(folder, extra, match):
    from fem_cell.studies.spec import load_spec
    from fem_cell.studies.spec_keys import SpecError

    text = (folder / "spec.toml").read_text().replace('temperature = "60 degC"\n', "")
    bad = folder / "bad.toml"
    bad.write_text(text + extra + "\n")
    with pytest.raises(SpecError, match=match):
        load_spec(bad)


def test_spectrum_of_an_instrument_file(folder):
    """The same spectrum in an Ivium .ids file in Ω of a 0.01 cm² pad, beside a second
    data set: ``spectrum = "60 degC"`` and ``area_cm2`` give the CSV's targets; without
    the choice the spec is refused naming the data sets."""
    from fem_cell.analysis.measured import read_spectrum
    from fem_cell.studies.spec import SpecError, load_spec

    s = read_spectrum(folder / "spectrum.csv")
    lines = []
    for title, z in (("25 degC", 3 * s.Z_ohm_cm2), ("60 degC", s.Z_ohm_cm2)):
        z = z / 0.01
        lines += [f"Title={title}", "primary_data", "3", str(s.frequencies.size)]
        lines += [f"{b.real:.12e} {b.imag:.12e} {a:.12e}"
                  for a, b in zip(s.frequencies, z, strict=True)]
        lines += ["Notes="]
    (folder / "two.ids").write_text("\n".join(lines) + "\n")
    text = (folder / "spec.toml").read_text().replace(
        'data = "spectrum.csv"', 'data = "two.ids"\narea_cm2 = 0.01\nspectrum = "60 degC"')
    (folder / "spec_ids.toml").write_text(text)
    ref = load_spec(folder / "spec.toml").fit.targets
    got = load_spec(folder / "spec_ids.toml").fit.targets
    assert [t["quantity"] for t in got] == [t["quantity"] for t in ref]
    assert np.allclose([t["value"] for t in got], [t["value"] for t in ref], rtol=1e-10)
    (folder / "spec_ids2.toml").write_text(text.replace('spectrum = "60 degC"\n', ""))
    with pytest.raises(SpecError, match="holds 2 spectra"):
        load_spec(folder / "spec_ids2.toml")
