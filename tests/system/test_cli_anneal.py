"""The CLI end to end: outputs exist, are complete and re-read with meshio and pyvista;
bad input exits non-zero with a one-line message and writes nothing."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fem_cell.cli import main
from fem_cell.outputs.history import read_history

REQUIRED = ["time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C"]


def _check_history(out, program_end_min=110.0):
    h = read_history(out / "history.csv")
    for c in REQUIRED:
        assert c in h
    t = h["time_s"]
    assert t[0] == 0.0 and t[-1] == pytest.approx(program_end_min * 60)
    assert np.all(np.diff(t) > 0)
    for bp in (0.0, 1500.0, 5100.0, 6600.0):  # program breakpoints are hit exactly
        assert np.any(t == bp)
    plate = h["T_plate_C"]
    assert plate.max() == pytest.approx(150.0) and plate[-1] == pytest.approx(25.0)
    assert np.all(h["T_min_C"] <= h["T_mean_C"] + 1e-12)
    assert np.all(h["T_mean_C"] <= h["T_max_C"] + 1e-12)
    # the films follow the plate closely (thin stack on a hot plate: lag << 1 K)
    assert np.abs(h["T_mean_C"] - plate).max() < 0.5
    return h


@pytest.mark.serial
def test_anneal_1d_default(tmp_path):
    out = tmp_path / "run1d"
    assert main(["anneal", "--out", str(out), "--quiet"]) == 0
    h = _check_history(out)
    # hold at 150 degC: the film sits below the plate by the top losses through the
    # substrate, q·L/k with q = h(T-Ta) + eps·sigma(T^4-Ta^4) (series resistance check)
    sigma = 5.670374419e-8
    T, Ta = 423.15, 298.15
    q = 10 * (T - Ta) + 0.5 * sigma * (T**4 - Ta**4)
    dT_sub = q * 0.5e-3 / 11.5
    hold = (h["time_s"] > 4000) & (h["time_s"] < 5000)
    assert (h["T_plate_C"] - h["T_mean_C"])[hold].mean() == pytest.approx(dT_sub, rel=0.02)
    for f in ("history.png", "run.json", "fields/temperature.pvd"):
        assert (out / f).exists(), f
    meta = json.loads((out / "run.json").read_text())
    assert meta["mpi_size"] == 1 and meta["dim"] == 1
    assert meta["config"]["cell"]["name"] == "kobayashi2022"
    assert "dolfinx" in meta["versions"]

    import meshio
    import pyvista

    pyvista.OFF_SCREEN = True
    reader = pyvista.get_reader(str(out / "fields" / "temperature.pvd"))
    times = np.asarray(reader.time_values)
    assert times[0] == 0 and times[-1] == pytest.approx(6600)
    assert np.all(np.isin([1500.0, 5100.0], times))
    reader.set_active_time_value(3000.0)
    grid = reader.read().combine()
    T = np.asarray(grid.point_data["T_K"])
    assert np.all(np.abs(T - 423.15) < 0.2)
    assert np.allclose(np.asarray(grid.point_data["T_C"]), T - 273.15)
    assert set(np.unique(grid.cell_data["layer"]).astype(int)) == {1, 2, 3, 4, 5}
    # the run's mesh, written by `fem-cell mesh`, re-reads with meshio
    msh = tmp_path / "mesh1d.vtu"
    assert main(["mesh", "--dim", "1", "--out", str(msh)]) == 0
    m = meshio.read(msh)
    assert m.points.shape[0] == grid.n_points


@pytest.mark.serial
def test_anneal_2d_coarse(tmp_path):
    pytest.importorskip("fem_cell.meshing.cross_section")
    cfg = tmp_path / "coarse.toml"
    cfg.write_text(textwrap.dedent("""
        [mesh]
        cells_per_layer = 2
        lateral_cells = 16
        lateral_growth = 1.5
        growth = 2.0
        max_cell_size = "100 um"
        [output]
        field_interval = "0 min"
    """))
    out = tmp_path / "run2d"
    assert main(["anneal", str(cfg), "--dim", "2", "--out", str(out), "--quiet"]) == 0
    _check_history(out)
    assert (out / "temperature_2d.png").stat().st_size > 10_000
    import pyvista

    reader = pyvista.get_reader(str(out / "fields" / "temperature.pvd"))
    reader.set_active_time_value(5100.0)
    grid = reader.read().combine()
    assert grid.bounds[3] == pytest.approx(501.6, rel=1e-9)  # µm: 0.5 mm + films
    assert grid.bounds[1] == pytest.approx(3000.0)


def _cli(*args, cwd):
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.run([sys.executable, "-m", "fem_cell", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


BAD_CONFIGS = {
    "huge_thickness": '[layers.Li3PO4]\nthickness = "1e308 um"',
    "huge_hold": ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "5 K/min" }, '
                  '{ hold = "1e308 s" }]'),
    "shorter_than_a_step": '[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "1e308 K/min" }]',
    "melting": ('[anneal]\nsegments = [{ ramp_to = "200 degC", rate = "5 K/min" }, '
                '{ hold = "1 h" }]'),
    "thickness": '[layers.Li3PO4]\nthickness = "-2 um"',
    "unknown": '[mesh]\nresolution = "fine"',
    "units": '[layers.Li3PO4]\nthickness = "2 s"',
    "order": ('[anneal]\nbreakpoints = [["0 min", "25 degC"], ["10 min", "100 degC"], '
              '["9 min", "25 degC"]]'),
}


@pytest.mark.serial
@pytest.mark.parametrize("case", sorted(BAD_CONFIGS))
def test_bad_config_exits_cleanly(tmp_path, case):
    cfg = tmp_path / f"{case}.toml"
    cfg.write_text(BAD_CONFIGS[case])
    out = tmp_path / "never"
    r = _cli("anneal", str(cfg), "--out", str(out), cwd=tmp_path)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"fem-cell: error: {cfg}: "), r.stderr
    assert not out.exists()  # nothing half-written


@pytest.mark.serial
def test_config_and_mesh_commands(tmp_path, capsys):
    assert main(["config", "--json"]) == 0
    meta = json.loads(capsys.readouterr().out)
    th = meta["settings"]["layers.Li3PO4.thickness"]
    assert th["si_value"] == 1e-6 and th["unit"] == "um" and "kobayashi2022" in th["origin"]
    # text listing: a user-set value shows the user's file as its origin, defaults say so
    user = tmp_path / "user.toml"
    user.write_text('[layers.Li3PO4]\nthickness = "0.9 um"\n[solver]\ndt_max = "2 min"\n')
    assert main(["config", str(user)]) == 0
    text = capsys.readouterr().out
    line = [ln for ln in text.splitlines() if ln.startswith("layers.Li3PO4.thickness")][0]
    assert "0.9" in line and "9e-07" in line and line.endswith("user")
    assert f"user = {user}" in " ".join(text.split())
    line = [ln for ln in text.splitlines() if ln.startswith("solver.dt_max")][0]
    assert "120" in line and line.endswith("user")
    line = [ln for ln in text.splitlines() if ln.startswith("solver.dt_min")][0]
    assert "default" in line
    assert "000000001" not in text  # no float noise
    assert main(["config", "--list-cells"]) == 0
    assert "kobayashi2022" in capsys.readouterr().out
    pytest.importorskip("fem_cell.meshing.io")
    out = tmp_path / "stack1d.msh"
    assert main(["mesh", "--dim", "1", "--out", str(out)]) == 0
    import meshio

    m = meshio.read(out)
    assert {"substrate", "LiCoO2", "degraded", "Li3PO4", "Li", "Li3PO4|Li"} <= set(m.field_data)
    assert main(["mesh", "--dim", "1", "--out", str(tmp_path / "x.stl")]) == 2


@pytest.mark.serial
def test_non_utf8_config_one_line(tmp_path):
    cfg = tmp_path / "b.toml"
    cfg.write_bytes(bytes(range(128, 256)) + b"\x00\xff" * 50)
    for cmd in (["config", str(cfg)], ["anneal", str(cfg), "--out", str(tmp_path / "o")]):
        r = _cli(*cmd, cwd=tmp_path)
        assert r.returncode == 2
        assert "Traceback" not in r.stderr
        lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
        assert len(lines) == 1 and str(cfg) in lines[0] and "UTF-8" in lines[0], r.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.serial
def test_cell_file_as_config_hints_cell_key(tmp_path):
    import fem_cell
    from fem_cell.config import available_cells  # noqa: F401 - the data file exists

    cell = tmp_path / "mycell.toml"
    src = fem_cell.__file__.replace("__init__.py", "data/cells/kobayashi2022.toml")
    cell.write_text(open(src, encoding="utf-8").read())
    r = _cli("config", str(cell), cwd=tmp_path)
    assert r.returncode == 2 and 'cell = ' in r.stderr and "Traceback" not in r.stderr


@pytest.mark.serial
def test_li_material_override_warns(tmp_path):
    cfg = tmp_path / "w.toml"
    cfg.write_text('[materials.Li]\nmelting_point = { value = 300, unit = "degC", source = "x" }\n')
    r = _cli("config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0
    warn = [ln for ln in r.stderr.splitlines() if ln.startswith("fem-cell: warning:")]
    assert warn and "melting" in warn[0]


@pytest.mark.serial
def test_mesh_file_dimension_drives_the_run(tmp_path):
    """A 2-D mesh file without [mesh] dim runs as 2-D (banner, run.json); --dim 1 with it
    is refused with one line naming the file."""
    from pathlib import Path

    msh = Path(__file__).resolve().parents[2] / "meshes" / "kobayashi2022_2d.msh"
    cfg = tmp_path / "file.toml"
    cfg.write_text(textwrap.dedent(f"""
        [mesh]
        file = "{msh}"
        [anneal]
        initial_temperature = "25 degC"
        segments = [{{ ramp_to = "60 degC", rate = "20 K/min" }}]
        [output]
        render = false
    """))
    r = _cli("anneal", str(cfg), "--heat-only", "--out", str(tmp_path / "o"), "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2-D (mesh file" in r.stdout
    meta = json.loads((tmp_path / "o" / "run.json").read_text())
    assert meta["dim"] == 2 and meta["config"]["mesh"]["dim"] == 2
    r = _cli("anneal", str(cfg), "--dim", "1", "--out", str(tmp_path / "p"), cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and str(msh) in lines[0] and "--dim 1" in lines[0], r.stderr
    assert not (tmp_path / "p").exists()
