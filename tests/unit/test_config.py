"""Cell file + user config validation: every bad input gives one clear ConfigError
naming the file, the key, the value and what was expected."""

import textwrap
import tomllib
from importlib import resources

import pytest

from fem_cell.config import available_cells, load_config
from fem_cell.errors import ConfigError


def write(tmp_path, text, name="user.toml"):
    p = tmp_path / name
    p.write_text(textwrap.dedent(text))
    return p


def test_default_cell_is_complete():
    cfg = load_config()
    assert "kobayashi2022" in available_cells()
    assert cfg.geometry.layer_names == ("substrate", "LiCoO2", "degraded", "Li3PO4", "Li")
    th = {lay.name: lay.thickness for lay in cfg.geometry.layers}
    assert th["substrate"] == pytest.approx(0.5e-3)
    assert th["LiCoO2"] + th["degraded"] == pytest.approx(100e-9)
    assert th["Li3PO4"] == pytest.approx(1e-6)
    assert cfg.geometry.layer("Li").width == pytest.approx(1e-3)
    # the paper's program: 5 K/min to 150 degC, 1 h hold, back to 25 degC
    assert cfg.anneal.times.tolist() == pytest.approx([0, 1500, 5100, 6600])
    assert cfg.anneal.temperatures.tolist() == pytest.approx([298.15, 423.15, 423.15, 298.15])
    assert cfg.materials["Li"]["melting_point"] == pytest.approx(453.65)
    assert cfg.layer_property("thermal_conductivity")["Li3PO4"] == pytest.approx(1.0)
    assert cfg.materials["Li3PO4"]["ionic_conductivity"] == pytest.approx(3e-5)  # S/m


def test_every_cell_parameter_has_value_unit_source():
    raw = tomllib.loads((resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text())
    entries = [v for m in raw["materials"].values() for v in m.values()]
    entries += [lay["thickness"] for lay in raw["layers"]] + [raw["geometry"]["width"]]
    entries += [v for k, v in raw["thermal"].items() if k != "bottom"]
    for e in entries:
        assert set(e) == {"value", "unit", "source"}, e
        assert e["source"].strip()


def test_user_overrides(tmp_path):
    p = write(tmp_path, """
        [layers.Li3PO4]
        thickness = "0.5 um"
        [materials.Li3PO4]
        thermal_conductivity = { value = 1.2, unit = "W/(m K)", source = "my measurement" }
        [thermal]
        bottom = "contact"
        contact_conductance = "5000 W/(m2 K)"
        [anneal]
        initial_temperature = "20 degC"
        segments = [{ ramp_to = "100 degC", duration = "10 min" }, { hold = "30 min" }]
        [mesh]
        dim = 2
        cells_per_layer = 4
        max_cell_size = "50 um"
        [solver]
        scheme = "backward_euler"
        dt_max = "2 min"
        [output]
        field_interval = "10 min"
    """)
    cfg = load_config(p)
    assert cfg.geometry.layer("Li3PO4").thickness == pytest.approx(0.5e-6)
    assert cfg.materials["Li3PO4"].properties["thermal_conductivity"].source == "my measurement"
    assert cfg.thermal.bottom == "contact"
    assert cfg.thermal.contact_conductance == 5000
    assert cfg.anneal.times.tolist() == pytest.approx([0, 600, 2400])
    assert cfg.anneal.temperatures[0] == pytest.approx(293.15)
    assert cfg.mesh.dim == 2 and cfg.mesh.cells_per_layer == 4
    assert cfg.mesh.max_cell_size == pytest.approx(50e-6)
    assert cfg.solver.scheme == "backward_euler" and cfg.solver.dt_max == 120
    assert cfg.output.field_interval == 600
    assert str(p) in cfg.files


def test_breakpoint_program(tmp_path):
    p = write(tmp_path, """
        [anneal]
        breakpoints = [["0 min", "25 degC"], ["25 min", "150 degC"], ["85 min", "150 degC"], ["110 min", "25 degC"]]
    """)
    cfg = load_config(p)
    assert cfg.anneal.times.tolist() == pytest.approx([0, 1500, 5100, 6600])


BAD = [
    # (toml text, key in message, words expected in message)
    ('foo = 1', "foo", "known keys"),
    ('[mesh]\nresolution = 3', "mesh.resolution", "known keys"),
    ('[materials.Li3PO4]\nviscosity = "1 Pa s"', "materials.Li3PO4.viscosity", "known material properties"),
    ('[layers.LPO]\nthickness = "1 um"', "layers.LPO", "cell's layers"),
    ('[layers.Li3PO4]\nthickness = "-1 um"', "layers.Li3PO4.thickness", "positive"),
    ('[layers.Li3PO4]\nthickness = "0 um"', "layers.Li3PO4.thickness", "positive"),
    ('[layers.Li3PO4]\nthickness = 1.0', "layers.Li3PO4.thickness", "bare number has no unit"),
    ('[layers.Li3PO4]\nthickness = "1"', "layers.Li3PO4.thickness", "has no unit"),
    ('[layers.Li3PO4]\nthickness = "1 K"', "layers.Li3PO4.thickness", "expected a length"),
    ('[layers.Li3PO4]\nthickness = "1 parsec"', "layers.Li3PO4.thickness", "unknown unit"),
    ('[layers.Li3PO4]\nthickness = { value = "1", unit = "um" }', "layers.Li3PO4.thickness.value", "a number"),
    ('[layers.Li3PO4]\nthickness = { value = 1 }', "layers.Li3PO4.thickness", "both value and unit"),
    ('[layers.Li]\nwidth = "5 mm"', "layers", "consistent stack"),
    ('[materials.Li]\ndensity = "1 kg"', "materials.Li.density", "density"),
    ('[thermal]\nbottom = "glued"', "thermal.bottom", "prescribed"),
    ('[thermal]\ntop_emissivity = 1.5', "thermal.top_emissivity", "between 0 and 1"),
    ('[mesh]\ndim = 3', "mesh.dim", "one of [1, 2]"),
    ('[mesh]\ncells_per_layer = 2.5', "mesh.cells_per_layer", "integer"),
    ('[mesh]\ngrowth = "fast"', "mesh.growth", "a number"),
    ('[solver]\nscheme = "rk4"', "solver.scheme", "bdf2"),
    ('[solver]\ndt_max = "1 ms"', "solver", "dt_min <= dt_initial <= dt_max"),
    ('[output]\nfields = "yes"', "output.fields", "true or false"),
    ('cell = "nosuchcell"', "cell", "built-in cell"),
    ('[anneal]\nbreakpoints = [["0 min", "25 degC"], ["10 min", "100 degC"], ["5 min", "50 degC"]]',
     "anneal.breakpoints[2][0]", "increase strictly"),
    ('[anneal]\nbreakpoints = [["0 min", "25 degC"], ["10 min", "100 degC"], ["10 min", "50 degC"]]',
     "anneal.breakpoints[2][0]", "increase strictly"),
    ('[anneal]\nbreakpoints = [["1 min", "25 degC"], ["10 min", "100 degC"]]',
     "anneal.breakpoints[0][0]", "start at time 0"),
    ('[anneal]\nbreakpoints = [["0 min", "25"], ["10 min", "100 degC"]]', "anneal.breakpoints[0][1]", "no unit"),
    ('[anneal]\nsegments = [{ ramp_to = "200 degC", rate = "5 K/min" }, { hold = "1 h" }]',
     "anneal", "melting point of Li (180.5 degC)"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "-5 K/min" }]', "anneal.segments[0].rate", "positive"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC" }]', "anneal.segments", "ramp/hold"),
    ('[anneal]\nsegments = [{ hold = "0 min" }]', "anneal.segments[0].hold", "positive"),
    ('[anneal]\nsegments = [{ hold = "1 h" }]\nbreakpoints = [["0 s", "25 degC"], ["1 h", "25 degC"]]',
     "anneal", "not both"),
]


@pytest.mark.parametrize(("text", "key", "words"), BAD)
def test_bad_input(tmp_path, text, key, words):
    p = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert msg.startswith(str(p) + ": "), msg  # names the file
    assert exc.value.key == key, msg  # names the key
    assert f"{key} = " in msg  # ... and shows the value
    assert words in msg, msg  # ... and what was expected


def test_bad_toml_syntax(tmp_path):
    p = write(tmp_path, "[mesh\ndim = 1")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_config(p)
    with pytest.raises(ConfigError, match="an existing TOML file"):
        load_config(tmp_path / "missing.toml")


def test_melting_point_only_applies_when_li_present(tmp_path):
    """A custom cell without Li may be annealed above 180.5 degC."""
    cell = (resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text()
    raw = tomllib.loads(cell)
    head, _, _ = cell.partition('[[layers]]\nname = "Li"\n')
    rest = cell.split('[materials."Nb:SrTiO3"]', 1)[1]
    no_li = head + '[materials."Nb:SrTiO3"]' + rest
    assert "melting_point" in no_li and 'name = "Li"\n' not in no_li
    cell_path = write(tmp_path, no_li, "no_li.toml")
    user = write(tmp_path, f"""
        cell = "{cell_path}"
        [anneal]
        segments = [{{ ramp_to = "250 degC", rate = "5 K/min" }}]
    """)
    cfg = load_config(user)
    assert cfg.anneal.max_temperature == pytest.approx(523.15)
    assert "Li" not in cfg.geometry.layer_names
    assert raw["cell"]["name"] == "kobayashi2022"


def test_config_error_pickles():
    import pickle

    e = ConfigError("f.toml", "a.b", 3, "something")
    e2 = pickle.loads(pickle.dumps(e))
    assert str(e2) == str(e) and e2.key == "a.b"
