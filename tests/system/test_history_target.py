"""A measured R(t) history as a calibration target (``[[targets]] data = "file.csv"``):
the spec expands it into one target per point, and a least-squares calibration of the
detrapping energy recovers the value a synthetic history was made with — serially and
under ``mpirun -n 2`` (``fem-cell calibrate``).

The synthetic history: the model's own R_interface at 25 °C at four times of the default
program with E_d = 1.29 eV (the cell file: 1.278 eV) — a recovery check of the machinery,
not a validation.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent
KEY = "transport.LiCoO2.trapping.detrapping_activation_energy"
TIMES = (1200.0, 1500.0, 2400.0, 6600.0)
TRUE_ED = 1.29


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    from fem_cell._dolfinx import MPI
    from fem_cell.studies.calibration import Target, evaluate_targets

    d = tmp_path_factory.mktemp("history_target")
    targets = [Target(f"t{t:g}", {}, "anneal", f"R_interface_ohm_cm2@{t:g}s", 1.0, 1.0)
               for t in TIMES]
    m = evaluate_targets(None, targets, {KEY: {"value": TRUE_ED, "unit": "eV"}}, MPI.COMM_SELF)
    rows = "".join(f"{t / 60:.10g},{m[f't{t:g}']:.12g}\n" for t in TIMES)
    (d / "history.csv").write_text("# synthetic, E_d = 1.29 eV\ntime_min,R_25C_ohm_cm2\n" + rows)
    (d / "spec.toml").write_text(f'''
[study]
name = "history_fit"
kind = "calibration"

[[parameters]]
key = "{KEY}"
lower = "1.2 eV"
upper = "1.4 eV"
log = false

[[targets]]
name = "annealed cell"
job = "anneal"
data = "history.csv"
sigma = 0.05
''')
    return d


def test_spec_expands_one_target_per_point(folder):
    from fem_cell.studies.spec import load_spec

    spec = load_spec(folder / "spec.toml")
    ts = spec.fit.targets
    assert [t["quantity"] for t in ts] == [f"R_interface_ohm_cm2@{t:g}s" for t in TIMES]
    assert all(t["transform"] == "log" and t["sigma"] == 0.05 for t in ts)
    assert ts[0]["name"] == "annealed cell @ 1200 s"


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_least_squares_recovers_the_detrapping_energy(folder, mpi):
    out = folder / f"cal_{'mpi' if mpi else 'serial'}"
    cmd = [str(BIN / "fem-cell"), "calibrate", "spec.toml", "--out", str(out)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    r = subprocess.run(cmd, cwd=folder, env=env, capture_output=True, text=True, timeout=900,
                       start_new_session=True)
    assert r.returncode == 0, r.stderr
    files = sorted(p.name for p in out.rglob("parameters.json"))
    assert files, sorted(p.name for p in out.rglob("*"))
    d = json.loads(next(out.rglob("parameters.json")).read_text())
    p = d["parameters"][0]
    assert p["key"] == KEY and p["initial"] == pytest.approx(1.278)
    assert p["value"] == pytest.approx(TRUE_ED, abs=1e-4)


@pytest.mark.parametrize(("target", "match"), [
    ('data = "history.csv"\nsigma = 0.05\nvalue = 3.0', "with data the file gives"),
    ('data = "missing.csv"\nsigma = 0.05', "no such file"),
    ('data = "history.csv"', "relative uncertainty"),
    ('data = "history.csv"\nsigma = 0.05\njob = "expose"', "'anneal' for a measured"),
])
def test_bad_history_targets_one_line(folder, target, match):
    from fem_cell.studies.spec import load_spec
    from fem_cell.studies.spec_keys import SpecError

    text = (folder / "spec.toml").read_text().split("[[targets]]")[0]
    bad = folder / "bad.toml"
    bad.write_text(text + "[[targets]]\nname = \"x\"\n" + target + "\n")
    with pytest.raises(SpecError, match=match):
        load_spec(bad)
