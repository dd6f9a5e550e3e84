"""`fem-cell expose` and the anneal's exposure flags: the exposed state, its summary,
annealing it by --restart equals the one-command anneal, dry gases leave the cell
pristine, bad flags give one line, --heat-only skips the chemistry."""

import json

import numpy as np
import pytest
from helpers import run_cli as cli

from fem_cell.outputs.history import read_history

pytestmark = pytest.mark.serial




@pytest.fixture(scope="module")
def exposed(tmp_path_factory):
    d = tmp_path_factory.mktemp("expose")
    r = cli("expose", "--out", d / "h2o", "-q", cwd=d)
    assert r.returncode == 0, r.stderr
    return d


def test_expose_writes_state_and_summary(exposed):
    out = exposed / "h2o"
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "completed"
    for k in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2"):
        assert k in s
    assert s["R_interface_ohm_cm2"] >= 136.0
    assert s["H_Li3PO4_mol_m2"] == 0.0 and s["H_LiCoO2_mol_m2"] > 0
    e = s["exposure"]
    assert e["gas"] == "H2O" and e["duration_min"] == 30.0
    assert e["water_activity"] == pytest.approx(1.0)
    from fem_cell.config import load_config
    from fem_cell.physics.exposure import stefan_front

    chem = load_config().chemistry
    lco = chem.phase("LiCoO2")
    x_s = chem.exposure_model.surface_fraction.value
    assert e["surface_mobile_fraction"] == pytest.approx(x_s)
    # almost every proton is trapped, behind a front near the Stefan solution's depth
    # s = 2γ√(D t) (γ from x_s/n_t; the finite capture rate widens the front)
    assert s["H_trapped_mol_m2"] > 0.99 * s["H_LiCoO2_mol_m2"]
    depth = 2 * stefan_front(x_s, lco.trapping.density) * np.sqrt(
        lco.proton_diffusivity.value * 1800.0)
    assert e["loaded_depth_nm"] == pytest.approx(depth * 1e9, rel=0.1)
    meta = json.loads((out / "run.json").read_text())
    assert meta["status"] == "completed" and meta["job"] == "expose"
    for f in ("checkpoints/t000000000.000s.h5", "fields/films.pvd", "proton_profiles.csv",
              "exposure_history.csv"):
        assert f in meta["files"] and (out / f).exists()


def test_anneal_of_exposed_state_equals_one_command_anneal(exposed):
    a = cli("anneal", "--restart", exposed / "h2o", "--out", exposed / "from_state", "-q",
            cwd=exposed)
    b = cli("anneal", "--out", exposed / "direct", "-q", cwd=exposed)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    ha = read_history(exposed / "from_state" / "history.csv")
    hb = read_history(exposed / "direct" / "history.csv")
    for k in ("time_s", "T_mean_C", "R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2"):
        assert np.allclose(ha[k], hb[k], rtol=1e-10, atol=1e-14), k
    s = json.loads((exposed / "direct" / "summary.json").read_text())
    assert s["R_interface_ohm_cm2"] == pytest.approx(10.3, rel=0.1)
    assert s["R_interface_ohm_cm2_initial"] >= 136.0
    assert "R_interface_ohm_cm2" in ha and "R_interface_T_ohm_cm2" in ha
    assert (exposed / "direct" / "R_interface.png").stat().st_size > 10_000


@pytest.mark.parametrize("flags", [["--gas", "N2"], ["--gas", "air", "--relative-humidity", "0"]])
def test_dry_exposure_is_pristine(tmp_path, flags):
    r = cli("expose", *flags, "--out", tmp_path / "o", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert 8.6 <= s["R_interface_ohm_cm2"] <= 10.3 and s["H_LiCoO2_mol_m2"] == 0.0


def test_humid_air_flags_reach_the_profile(tmp_path):
    r = cli("expose", "--gas", "air", "--relative-humidity", "30", "--minutes", "60",
            "--temperature-C", "30", "--out", tmp_path / "o", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    e = json.loads((tmp_path / "o" / "summary.json").read_text())["exposure"]
    assert e["relative_humidity_percent"] == pytest.approx(30.0)
    assert e["duration_min"] == 60.0 and e["temperature_C"] == pytest.approx(30.0)
    meta = json.loads((tmp_path / "o" / "run.json").read_text())
    assert meta["config"]["physics"]["exposure"]["gas"] == "air"


def test_bad_exposure_flag_one_line(tmp_path):
    r = cli("expose", "--gas", "air", "--relative-humidity", "150", "--out", tmp_path / "o",
            cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "relative_humidity" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


def test_heat_only(tmp_path):
    r = cli("anneal", "--heat-only", "--out", tmp_path / "o", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    h = read_history(tmp_path / "o" / "history.csv")
    assert "R_interface_ohm_cm2" not in h
    assert json.loads((tmp_path / "o" / "run.json").read_text())["provenance"]["chemistry"] is False
