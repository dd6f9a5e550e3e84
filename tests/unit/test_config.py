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
    # chemistry: every quantity (choices such as gas / mode are plain strings)
    choices = {"gas", "mode", "lithium_diffusivity_from"}
    tables = [raw["exposure"], raw["degraded_layer"], raw["exposure_model"],
              *raw["transport"].values()]
    tables += [t["trapping"] for t in raw["transport"].values() if "trapping" in t]
    entries += [v for t in tables for k, v in t.items() if k not in choices and k != "trapping"]
    assert len(entries) > 40
    for e in entries:
        # a value or (Arrhenius rates) a prefactor, a unit, a source; optionally the
        # plausible range of the value/prefactor
        assert {"unit", "source"} <= set(e) <= {"value", "prefactor", "unit", "source",
                                               "plausible"}, e
        assert len({"value", "prefactor"} & set(e)) == 1, e
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
        breakpoints = [["0 min", "25 degC"], ["25 min", "150 degC"], ["85 min", "150 degC"],
                       ["110 min", "25 degC"]]
    """)
    cfg = load_config(p)
    assert cfg.anneal.times.tolist() == pytest.approx([0, 1500, 5100, 6600])


BAD = [
    # (toml text, key in message, words expected in message)
    ('foo = 1', "foo", "known keys"),
    ('[mesh]\nresolution = 3', "mesh.resolution", "known keys"),
    ('[materials.Li3PO4]\nviscosity = "1 Pa s"', "materials.Li3PO4.viscosity",
     "known material properties"),
    ('[layers.LPO]\nthickness = "1 um"', "layers.LPO", "cell's layers"),
    ('[layers.Li3PO4]\nthickness = "-1 um"', "layers.Li3PO4.thickness", "positive"),
    ('[layers.Li3PO4]\nthickness = "0 um"', "layers.Li3PO4.thickness", "positive"),
    ('[layers.Li3PO4]\nthickness = 1.0', "layers.Li3PO4.thickness", "bare number has no unit"),
    ('[layers.Li3PO4]\nthickness = "1"', "layers.Li3PO4.thickness", "has no unit"),
    ('[layers.Li3PO4]\nthickness = "1 K"', "layers.Li3PO4.thickness", "expected a length"),
    ('[layers.Li3PO4]\nthickness = "1 parsec"', "layers.Li3PO4.thickness", "unknown unit"),
    ('[layers.Li3PO4]\nthickness = { value = "1", unit = "um" }', "layers.Li3PO4.thickness.value",
     "a number"),
    ('[layers.Li3PO4]\nthickness = { value = 1 }', "layers.Li3PO4.thickness",
     "both value and unit"),
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
    ('[anneal]\nbreakpoints = [["0 min", "25 degC"], ["10 min", "100 degC"], '
     '["10 min", "50 degC"]]',
     "anneal.breakpoints[2][0]", "increase strictly"),
    ('[anneal]\nbreakpoints = [["1 min", "25 degC"], ["10 min", "100 degC"]]',
     "anneal.breakpoints[0][0]", "start at time 0"),
    ('[anneal]\nbreakpoints = [["0 min", "25"], ["10 min", "100 degC"]]',
     "anneal.breakpoints[0][1]", "no unit"),
    ('[anneal]\nsegments = [{ ramp_to = "200 degC", rate = "5 K/min" }, { hold = "1 h" }]',
     "anneal", "melting point of Li (180.5 degC)"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "-5 K/min" }]',
     "anneal.segments[0].rate", "positive"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC" }]', "anneal.segments[0]", "ramp/hold"),
    ('[anneal]\nsegments = [{ hold = "0 min" }]', "anneal.segments[0].hold", "positive"),
    ('[anneal]\nsegments = [{ hold = "1 h" }]\n'
     'breakpoints = [["0 s", "25 degC"], ["1 h", "25 degC"]]',
     "anneal", "not both"),
    # chemistry and exposure
    ('[exposure]\ngas = "Ar"', "exposure.gas",
     "one of ['air', 'N2', 'O2', 'CO2', 'H2', 'H2O', 'vacuum']"),
    ('[exposure]\nrelative_humidity = "150 %"', "exposure.relative_humidity", "from 0 to 100 %"),
    ('[exposure]\nrelative_humidity = 1.5', "exposure.relative_humidity", "from 0 to 100 %"),
    ('[exposure]\nduration = "30 degC"', "exposure.duration", "expected a time"),
    ('[exposure]\nduration = "-1 min"', "exposure.duration", "from 0 s to 100 years"),
    ('[exposure]\nduration = "2 fortnights"', "exposure.duration", "unknown unit"),
    ('[exposure]\nduration = "101 a"', "exposure.duration", "from 0 s to 100 years"),
    ('[exposure]\ntemperature = "0 K"', "exposure.temperature", "> 0 K and at most 373.9"),
    ('[exposure]\nwater_pressure = "-3 Pa"', "exposure.water_pressure", "from 0 to 1e7 Pa"),
    ('[exposure]\nwater_pressure = "3 m"', "exposure.water_pressure", "expected a pressure"),
    ('[exposure]\nhumidity = "30 %"', "exposure.humidity", "known keys"),
    ('[transport.LiCoO2]\nproton_diffusivity = "-1e-26 m2/s"',
     "transport.LiCoO2.proton_diffusivity", "a diffusivity > 0 and < 1 m2/s"),
    ('[transport.LiCoO2]\nproton_diffusivity = "2 m2/s"', "transport.LiCoO2.proton_diffusivity",
     "a diffusivity > 0 and < 1 m2/s"),
    ('[transport.LiCoO2]\nproton_diffusivity = "1e-26 m/s"', "transport.LiCoO2.proton_diffusivity",
     "expected a diffusivity"),
    ('[transport.LiCoO2]\nproton_diffusivity = 1e-26', "transport.LiCoO2.proton_diffusivity",
     "bare number has no unit"),
    ('[transport.Li3PO4]\nproton_diffusivity_activation_energy = "6 eV"',
     "transport.Li3PO4.proton_diffusivity_activation_energy", "from 0 to 5 eV"),
    ('[transport.Li3PO4]\nproton_diffusivity_activation_energy = "-0.1 eV"',
     "transport.Li3PO4.proton_diffusivity_activation_energy", "from 0 to 5 eV"),
    ('[transport.Li3PO4]\nlithium_diffusivity_from = "magic"',
     "transport.Li3PO4.lithium_diffusivity_from",
     "'li_chemical_diffusivity', 'ionic_conductivity'"),
    ('[transport.Li3PO4]\nlithium_diffusivity = "1e-16 m2/s"',
     "transport.Li3PO4.lithium_diffusivity", "known keys"),
    ('[transport.Li3PO4]\nlithium_diffusivity_from = "li_chemical_diffusivity"',
     "materials.Li3PO4.li_chemical_diffusivity", "(missing)"),
    ('[transport.LiPON]\nproton_diffusivity = "1e-20 m2/s"', "transport.LiPON", "known keys"),
    ('[transport]\ntemperature = "25 degC"', "transport.temperature", "known keys"),
    ('[transport.exchange]\nvelocity = "0 m/s"', "transport.exchange.velocity", "> 0 and <= 1 m/s"),
    ('[transport.exchange]\npartition = 0', "transport.exchange.partition", "> 0 and <= 1e12"),
    ('[transport.exchange]\npartition_activation_energy = "-6 eV"',
     "transport.exchange.partition_activation_energy", "from -5 to 5 eV"),
    ('[transport.sink]\nmode = "leaky"', "transport.sink.mode", "'sink', 'rate', 'blocking'"),
    ('[degraded_layer]\npristine_share = 1', "degraded_layer.pristine_share", "> 0 and < 1"),
    ('[degraded_layer]\nbeta = 1000', "degraded_layer.beta", "from 0 to 100"),
    ('[degraded_layer]\npristine_resistance = "9.75 Ohm"', "degraded_layer.pristine_resistance",
     "area-specific resistance"),
    ('[degraded_layer]\nR0 = "1 Ohm cm2"', "degraded_layer.R0", "known keys"),
    ('[degraded_layer]\nsigma0 = "1e-5 S/m"', "degraded_layer.sigma0", "known keys"),
    ('[exposure_model]\nsurface_fraction = 1.2', "exposure_model.surface_fraction",
     "> 0 and <= 1"),
    ('[exposure_model]\nsurface_fraction = { prefactor = 3, unit = "1" }',
     "exposure_model.surface_fraction", "a prefactor giving a value at 25 °C > 0 and <= 1"),
    ('[exposure_model]\ndepth_ref = "3 nm"', "exposure_model.depth_ref", "known keys"),
    ('[transport.LiCoO2.trapping]\ndensity = 0', "transport.LiCoO2.trapping.density",
     "> 0 and <= 1"),
    ('[transport.LiCoO2.trapping]\nspacing = "3 s"', "transport.LiCoO2.trapping.spacing",
     "expected a length"),
    ('[transport.LiCoO2.trapping]\ndetrapping_rate = "1e13 m/s"',
     "transport.LiCoO2.trapping.detrapping_rate", "frequency"),
    ('[transport.LiCoO2]\ntrapping = 3', "transport.LiCoO2.trapping", "\"none\""),
    ('[transport.LiCoO2]\nproton_diffusivity = { value = 1e-26, prefactor = 1e-7, unit = "m2/s" }',
     "transport.LiCoO2.proton_diffusivity", "either value or prefactor"),
    ('[transport.LiCoO2]\nproton_diffusivity = '
     '{ value = 1e-26, unit = "m2/s", plausible = [2, 1] }',
     "transport.LiCoO2.proton_diffusivity.plausible", "lo <= hi"),
    ('[exposure]\nwater_pressure = "5 kPa"', "exposure", "water activity"),
    ('[materials.LiCoO2]\nli_chemical_diffusivity = "2e4 cm2/s"',
     "materials.LiCoO2.li_chemical_diffusivity", "between 0 and 1 m2/s"),
    ('[materials.Li3PO4]\nionic_conductivity_activation_energy = "7 eV"',
     "materials.Li3PO4.ionic_conductivity_activation_energy", "between"),
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


# ---------------------------------------------------------------- unreadable files --
def test_binary_file_is_one_clear_error(tmp_path):
    """A file that is not UTF-8 text (random bytes) gives a ConfigError naming it."""
    import os

    p = tmp_path / "b.toml"
    p.write_bytes(b"\xff\xfe\x80" + os.urandom(300))
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    msg = str(exc.value)
    assert msg.startswith(f"{p}: <file> = "), msg
    assert "UTF-8" in msg and "\n" not in msg


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not a directory") as exc:
        load_config(tmp_path)
    assert str(exc.value).startswith(str(tmp_path))
    with pytest.raises(ConfigError, match="an existing TOML file"):
        load_config(tmp_path / "nope.toml")


def test_utf8_bom_is_accepted(tmp_path):
    p = tmp_path / "bom.toml"
    p.write_bytes(b"\xef\xbb\xbf[solver]\ndt_max = \"1 min\"\n")
    assert load_config(p).solver.dt_max == 60


def test_quantity_without_space_and_huge_integer(tmp_path):
    cfg = load_config(write(tmp_path, '[layers.Li3PO4]\nthickness = "0.8um"'))
    assert cfg.geometry.layer("Li3PO4").thickness == pytest.approx(0.8e-6)
    p = write(tmp_path, "[layers.Li3PO4]\nthickness = { value = 1" + "0" * 400 + ', unit = "um" }')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.key == "layers.Li3PO4.thickness"


# ---------------------------------------------------------------- bounds ------------
BOUNDS = [
    ('[layers.Li3PO4]\nthickness = "1e308 um"', "layers.Li3PO4.thickness", "between 1e-12 and 1 m"),
    ('[layers.Li3PO4]\nthickness = "1e-20 m"', "layers.Li3PO4.thickness", "between 1e-12 and 1 m"),
    ('[layers.Li]\nwidth = "1e308 um"', "layers.Li.width", "between 1e-12 and 1 m"),
    ('[geometry]\nwidth = "2 m"', "geometry.width", "between 1e-12 and 1 m"),
    ('[layers.substrate]\nthickness = "0.9 m"\n[layers.Li3PO4]\nthickness = "0.5 m"', "layers",
     "at most 1 m thick"),
    ('[mesh]\nmax_cell_size = "1e308 um"', "mesh.max_cell_size", "from 1 pm to 1 m"),
    ('[mesh]\ncells_per_layer = 1000000000', "mesh.cells_per_layer", "from 1 to 10000"),
    ('[mesh]\nlateral_cells = 1000000000', "mesh.lateral_cells", "from 2 to 100000"),
    ('[solver]\nnewton_max_it = 100000', "solver.newton_max_it", "from 1 to 1000"),
    ('[solver]\ndt_max = "1e308 s"', "solver.dt_max", "at most 100 years"),
    ('[materials.Li]\ndensity = "1e308 kg/m3"', "materials.Li.density", "between 1 and 100000"),
    ('[thermal]\nambient_temperature = "1e308 K"', "thermal.ambient_temperature",
     "> 0 and <= 5000 K"),
    ('[thermal]\ncontact_conductance = "1e308 W/(m2 K)"', "thermal.contact_conductance", "between"),
    ('[thermal]\ntop_heat_transfer_coefficient = "-1 W/(m2 K)"',
     "thermal.top_heat_transfer_coefficient", ">= 0"),
    ('[output]\nfield_interval = "1e308 s"', "output.field_interval", "at most 100 years"),
    # a hold of 1e308 s: more steps than can be represented
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "5 K/min" }, { hold = "1e308 s" }]',
     "anneal.segments[1].hold", "at most 100 years"),
    # a ramp at an absurd rate lasts ~0 s: the run would do 0 steps and "succeed"
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "1e308 K/min" }]',
     "anneal.segments[0]", "solver.dt_min"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "5 K/min" }, { hold = "1 ns" }]',
     "anneal.segments[1]", "solver.dt_min"),
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", duration = "1e-9 s" }]',
     "anneal.segments[0]", "solver.dt_min"),
    # a ramp so slow that it outlasts the maximum duration
    ('[anneal]\nsegments = [{ ramp_to = "150 degC", rate = "1e-300 K/min" }]',
     "anneal.segments[0]", "at most 100 years"),
    ('[anneal]\nbreakpoints = [["0 s", "25 degC"], ["1e-9 s", "30 degC"], ["1 h", "30 degC"]]',
     "anneal.breakpoints[1][0]", "solver.dt_min"),
    ('[anneal]\nbreakpoints = [["0 s", "25 degC"], ["2 d", "1e308 degC"]]',
     "anneal.breakpoints[1][1]", "between 0 and 5000 K"),
    ('[anneal]\nsegments = [{ ramp_to = "100 degC", rate = "5 K/min" }, { hold = "60 a" },'
     ' { hold = "60 a" }]\n[solver]\ndt_min = "1 s"\ndt_initial = "1 s"', "anneal.segments",
     "at most 100 years"),
]


@pytest.mark.parametrize(("text", "key", "words"), BOUNDS)
def test_bounds(tmp_path, text, key, words):
    test_bad_input(tmp_path, text, key, words)


def test_long_program_is_allowed(tmp_path):
    """A year at 25 °C (shelf life) is a real question: no cap tied to solver.dt_min."""
    p = write(tmp_path, """
        [anneal]
        segments = [{ ramp_to = "100 degC", rate = "5 K/min" }, { hold = "300 d" }]
    """)
    assert load_config(p).anneal.duration == pytest.approx(900 + 300 * 86400)
    p = write(tmp_path, """
        [anneal]
        initial_temperature = "25 degC"
        segments = [{ hold = "5 a" }]
    """)
    assert load_config(p).anneal.duration == pytest.approx(5 * 365.25 * 86400)


def test_adiabatic_top_is_allowed(tmp_path):
    """docs: top_heat_transfer_coefficient >= 0; 0 (and emissivity 0) = adiabatic top."""
    p = write(tmp_path, """
        [thermal]
        top_heat_transfer_coefficient = "0 W/(m2 K)"
        top_emissivity = 0
    """)
    cfg = load_config(p)
    assert cfg.thermal.top_heat_transfer_coefficient == 0.0
    assert cfg.thermal.top_emissivity == 0.0


# ---------------------------------------------------------------- Li guard ----------
def test_default_li_layer_and_no_warnings():
    cfg = load_config()
    assert cfg.warnings == ()
    assert cfg.li_layers == ("Li",)
    assert cfg.li_melting_point == pytest.approx(453.65)


def test_changing_li_layer_material_warns(tmp_path):
    p = write(tmp_path, '[layers.Li]\nmaterial = "Li3PO4"')
    cfg = load_config(p)
    assert cfg.li_layers == () and cfg.li_melting_point is None
    assert len(cfg.warnings) == 1
    w = cfg.warnings[0]
    assert str(p) in w and "layers.Li.material" in w and "Li-melting guard" in w


def test_changing_li_melting_point_warns(tmp_path):
    p = write(tmp_path, '[materials.Li]\nmelting_point = "170 degC"')
    cfg = load_config(p)
    assert cfg.li_melting_point == pytest.approx(443.15)
    assert len(cfg.warnings) == 1
    assert "materials.Li.melting_point" in cfg.warnings[0] and "180.5" in cfg.warnings[0]
    # the same value as the cell: nothing to warn about
    same = write(tmp_path, '[materials.Li]\nmelting_point = "180.5 degC"')
    assert load_config(same).warnings == ()


def test_melting_guard_blames_the_user_melting_point(tmp_path):
    p = write(tmp_path, '[materials.Li]\nmelting_point = "100 degC"')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.source == str(p)
    assert exc.value.key == "materials.Li.melting_point"
    assert "melting point of Li (100.0 degC)" in str(exc.value)


def _custom_cell(tmp_path, transform, name="custom_cell.toml"):
    text = (resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text()
    return write(tmp_path, transform(text), name)


def test_cell_without_li_melting_point_warns(tmp_path):
    cell = _custom_cell(tmp_path, lambda t: "\n".join(
        ln for ln in t.splitlines() if not ln.startswith("melting_point")))
    cfg = load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert cfg.li_layers == ("Li",) and cfg.li_melting_point is None
    assert any("melting_point is missing" in w for w in cfg.warnings)


def test_cell_without_li_layer_warns(tmp_path):
    cell = _custom_cell(tmp_path, lambda t: t.replace('material = "Li"\n', 'material = "Li3PO4"\n'))
    cfg = load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert cfg.li_layers == ()
    assert any("no layer is Li metal" in w and str(cell) in w for w in cfg.warnings)


# ---------------------------------------------------------------- blame the right file
def test_incomplete_user_material_blames_user_file(tmp_path):
    p = write(tmp_path, """
        [materials.Foo]
        thermal_conductivity = "1 W/(m K)"
        specific_heat_capacity = "800 J/(kg K)"
        [layers.Li3PO4]
        material = "Foo"
    """)
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.source == str(p)
    assert exc.value.key == "materials.Foo.density"
    assert "(missing)" in str(exc.value) and "needed by layer 'Li3PO4'" in str(exc.value)


def test_cell_file_given_as_user_config_hints_at_cell_key(tmp_path):
    cell = _custom_cell(tmp_path, lambda t: t)
    with pytest.raises(ConfigError) as exc:
        load_config(cell)
    msg = str(exc.value)
    assert exc.value.source == str(cell) and exc.value.key == "cell"
    assert 'cell = "path/to/cell.toml"' in msg and "\n" not in msg


def test_user_config_given_as_cell_file_is_explained(tmp_path):
    other = write(tmp_path, '[solver]\ndt_max = "1 min"', "other.toml")
    p = write(tmp_path, f'cell = "{other.name}"')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.source == str(p) and exc.value.key == "cell"
    assert "looks like a user config" in str(exc.value)


# ---------------------------------------------------------------- provenance --------
def test_origins_distinguish_user_cell_and_default(tmp_path):
    p = write(tmp_path, '[layers.Li3PO4]\nthickness = "0.8 um"\n[solver]\ndt_max = "2 min"')
    cfg = load_config(p)
    o = cfg.origins
    assert o["layers.Li3PO4.thickness"] == str(p)
    assert o["layers.LiCoO2.thickness"] == "<built-in cell kobayashi2022>"
    assert o["solver.dt_max"] == str(p) and o["solver.dt_min"] == "default"
    assert o["mesh.dim"] == "default" and o["output.fields"] == "default"
    s = cfg.settings["solver.dt_max"]
    assert (s.value, s.unit, s.si_value, s.si_unit) == (2.0, "min", 120.0, "s")
    assert cfg.with_mesh(dim=2).origins["mesh.dim"] == "command line"


def test_to_dict_is_clean_and_has_origins():
    import json

    d = load_config().to_dict()
    text = json.dumps(d)
    assert "9.000000000000001e-08" not in text and "0.08333333333333333" not in text
    assert d["layers"][1]["thickness_m"] == 9e-08
    assert d["settings"]["layers.LiCoO2.thickness"]["origin"] == "<built-in cell kobayashi2022>"
    assert d["settings"]["mesh.dim"]["origin"] == "default"
    assert d["warnings"] == [] and d["li_layers"] == ["Li"]


# ---------------------------------------------------------------- chemistry ---------
def _cell_raw() -> dict:
    return tomllib.loads((resources.files("fem_cell") / "data/cells/kobayashi2022.toml")
                         .read_text())


def _si(item: dict, unit: str | None = None) -> float:
    from fem_cell.config.reader import dimension_of
    from fem_cell.units import to_si

    v = item["value"] if "value" in item else item["prefactor"]
    return to_si(v, item["unit"], dimension_of(item["unit"])) if item["unit"] != "1" else v


def test_chemistry_defaults_in_si():
    """Every chemistry value in SI is the cell file's value (no code-side default can
    disagree); rates written as prefactors are stored by their value at 25 °C."""
    import math

    from fem_cell.params import K_B, T_REF

    cfg = load_config()
    raw = _cell_raw()
    chem, ex = cfg.chemistry, cfg.exposure
    eV = 1.602176634e-19
    assert chem.phase_names == ("LiCoO2", "Li3PO4")
    lco, lpo = (p for _, p in chem.phases)
    t = raw["transport"]["LiCoO2"]
    Ea = _si(t["proton_diffusivity_activation_energy"])
    assert lco.proton_diffusivity.activation_energy == pytest.approx(Ea)
    assert lco.proton_diffusivity.prefactor == pytest.approx(_si(t["proton_diffusivity"]))
    assert lco.proton_diffusivity.value == pytest.approx(
        _si(t["proton_diffusivity"]) * math.exp(-Ea / (K_B * T_REF)))
    tr = raw["transport"]["LiCoO2"]["trapping"]
    trap = lco.trapping
    assert trap.density == pytest.approx(_si(tr["density"]))
    assert trap.spacing == pytest.approx(_si(tr["spacing"]))
    assert trap.detrapping_rate.prefactor == pytest.approx(_si(tr["detrapping_rate"]))
    assert trap.detrapping_rate.activation_energy == pytest.approx(
        _si(tr["detrapping_activation_energy"]))
    assert lpo.trapping is None
    # D_Li of LiCoO2 is the material's li_chemical_diffusivity (not repeated in [transport])
    d_li = cfg.materials["LiCoO2"]["li_chemical_diffusivity"]
    assert lco.lithium_diffusivity.value == pytest.approx(d_li)
    assert lco.lithium_diffusivity.activation_energy == pytest.approx(0.45 * eV)
    assert lco.site_density == pytest.approx(5.16e4)
    # Li3PO4: Nernst-Einstein from sigma = 3e-7 S/cm
    assert lpo.lithium_diffusivity.value == pytest.approx(1.2482e-16, rel=1e-4)
    assert chem.exchange.partition.value == _si(raw["transport"]["exchange"]["partition"])
    assert chem.sink.mode == "sink"
    dl = raw["degraded_layer"]
    assert chem.degraded_layer.pristine_resistance.value == pytest.approx(
        _si(dl["pristine_resistance"]))
    assert chem.degraded_layer.pristine_share == pytest.approx(_si(dl["pristine_share"]))
    assert chem.degraded_layer.beta == pytest.approx(_si(dl["beta"]))
    assert chem.exposure_model.surface_fraction.value == pytest.approx(
        _si(raw["exposure_model"]["surface_fraction"]))
    assert (ex.gas, ex.duration, ex.relative_humidity) == ("H2O", 1800.0, 0.5)
    assert ex.water_pressure is None
    assert ex.temperature == pytest.approx(298.15)


def test_plausible_ranges_from_the_cell_file(tmp_path):
    """The plausible range written next to a value stays its range when a user file
    overrides the value alone; leaving it warns (naming the range and the prefactor)."""
    cfg = load_config()
    assert not [w for w in cfg.warnings if "plausible" in w]
    p = write(tmp_path, '[transport.LiCoO2.trapping]\ndetrapping_rate = "1e3 s-1"\n')
    w = [w for w in load_config(p).warnings if "plausible" in w]
    assert len(w) == 1 and "transport.LiCoO2.trapping.detrapping_rate" in w[0], w
    assert "1e+12-1e+14" in w[0] or "1e12-1e14" in w[0], w
    p = write(tmp_path, '[transport.LiCoO2]\nproton_diffusivity = "1e-26 m2/s"\n'
                        'proton_diffusivity_activation_energy = "1.4 eV"\n')
    w = [w for w in load_config(p).warnings if "plausible" in w]
    assert len(w) == 1 and "implied prefactor" in w[0], w


def test_trapping_can_be_turned_off(tmp_path):
    cfg = load_config(write(tmp_path, '[transport.LiCoO2]\ntrapping = "none"\n'))
    assert cfg.chemistry.phase("LiCoO2").trapping is None


def test_chemistry_user_overrides_and_origins(tmp_path):
    p = write(tmp_path, """
        [exposure]
        gas = "air"
        relative_humidity = "30 %"
        duration = "2 h"
        [transport.exchange]
        velocity = "2e-17 m/s"
        [transport.sink]
        mode = "rate"
        [transport.LiCoO2]
        proton_diffusivity = { value = 3e-18, unit = "m2/s", source = "my fit" }
        [transport.LiCoO2.trapping]
        density = 0.3
        [materials.LiCoO2]
        li_chemical_diffusivity = "2e-12 cm2/s"
        [degraded_layer]
        beta = 8
        [exposure_model]
        surface_fraction = 2e-4
    """)
    cfg = load_config(p)
    chem, ex = cfg.chemistry, cfg.exposure
    assert (ex.gas, ex.relative_humidity, ex.duration) == ("air", pytest.approx(0.3), 7200.0)
    assert chem.exchange.velocity.value == pytest.approx(2e-17)
    assert chem.sink.mode == "rate"
    assert chem.phase("LiCoO2").proton_diffusivity.value == pytest.approx(3e-18)
    assert chem.phase("LiCoO2").lithium_diffusivity.value == pytest.approx(2e-16)
    assert chem.phase("LiCoO2").trapping.density == 0.3
    assert chem.degraded_layer.beta == 8.0
    assert chem.exposure_model.surface_fraction.value == pytest.approx(2e-4)
    o = cfg.origins
    assert o["exposure.gas"] == str(p)
    assert o["exposure.temperature"] == "<built-in cell kobayashi2022>"
    assert o["transport.exchange.velocity"] == str(p)
    assert o["transport.exchange.velocity_activation_energy"] == "<built-in cell kobayashi2022>"
    assert o["transport.LiCoO2.trapping.density"] == str(p)
    assert o["transport.LiCoO2.trapping.spacing"] == "<built-in cell kobayashi2022>"
    assert o["transport.LiCoO2.lithium_diffusivity"] == "derived"
    assert cfg.settings["transport.LiCoO2.proton_diffusivity"].source == "my fit"
    s = cfg.settings["exposure.relative_humidity"]
    assert (s.value, s.unit, s.si_value, s.si_unit) == (30.0, "%", 0.3, "1")


def test_water_pressure_and_saturated(tmp_path):
    cfg = load_config(write(tmp_path, '[exposure]\nwater_pressure = "1.5 kPa"'))
    assert cfg.exposure.water_pressure == pytest.approx(1500.0)
    cfg = load_config(write(tmp_path, '[exposure]\nwater_pressure = "saturated"'))
    assert cfg.exposure.water_pressure is None


def test_with_exposure_validates_like_a_file():
    cfg = load_config()
    c2 = cfg.with_exposure(gas="N2", duration=2700.0, temperature="40 degC",
                           relative_humidity="30 %")
    e = c2.exposure
    assert (e.gas, e.duration, e.relative_humidity) == ("N2", 2700.0, pytest.approx(0.3))
    assert e.temperature == pytest.approx(313.15)
    s = c2.settings["exposure.duration"]
    assert (s.value, s.unit, s.si_value, s.origin) == (45.0, "min", 2700.0, "command line")
    assert cfg.exposure.gas == "H2O"  # the original is unchanged
    assert c2.with_exposure(water_pressure=None).exposure.water_pressure is None
    for kw, key, words in ((dict(gas="Ar"), "exposure.gas", "one of"),
                           (dict(relative_humidity=1.5), "exposure.relative_humidity", "100 %"),
                           (dict(relative_humidity="150 %"), "exposure.relative_humidity", "100 %"),
                           (dict(duration=-60.0), "exposure.duration", "from 0 s to 100 years"),
                           (dict(temperature="25 m"), "exposure.temperature", "temperature")):
        with pytest.raises(ConfigError) as exc:
            cfg.with_exposure(**kw)
        msg = str(exc.value)
        assert msg.startswith("command line: ") and exc.value.key == key and words in msg, msg
        assert "\n" not in msg
    with pytest.raises(TypeError, match="unknown exposure field"):
        cfg.with_exposure(minutes=3)


def test_heat_only_cell_has_no_chemistry(tmp_path):
    """A custom cell without the chemistry sections still loads (heat only)."""
    def strip(text):
        return text.split("# " + "-" * 64 + " exposure", 1)[0]
    cell = _custom_cell(tmp_path, strip)
    cfg = load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert cfg.chemistry is None and cfg.exposure is None
    assert cfg.to_dict()["physics"]["chemistry"] is None
    # a user config that brings only part of the chemistry is refused, naming the user file
    p = write(tmp_path, f'cell = "{cell.name}"\n[transport.sink]\nmode = "blocking"')
    with pytest.raises(ConfigError) as exc:
        load_config(p)
    assert exc.value.source == str(p) and exc.value.key.startswith("transport.")
    assert "(missing)" in str(exc.value) and "needed together" in str(exc.value)


def test_partial_chemistry_in_cell_blames_cell(tmp_path):
    cell = _custom_cell(tmp_path, lambda t: t.replace("\nbeta = { value", "\nbetta = { value"))
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert exc.value.source == str(cell) and exc.value.key == "degraded_layer.betta"
    cell = _custom_cell(tmp_path, lambda t: t.replace("\nbeta = { value", "\n# beta = {"))
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert exc.value.source == str(cell) and exc.value.key == "degraded_layer.beta"
    assert "(missing)" in str(exc.value)


def test_to_dict_has_chemistry_and_exposure():
    d = load_config().to_dict()["physics"]
    assert d["exposure"]["gas"] == "H2O" and d["exposure"]["water_pressure"] is None
    cfg = load_config()
    lco = cfg.chemistry.phase("LiCoO2")
    assert d["chemistry"]["phases"]["LiCoO2"]["proton_diffusivity"]["value"] == pytest.approx(
        lco.proton_diffusivity.value)
    assert d["chemistry"]["phases"]["LiCoO2"]["trapping"]["density"] == lco.trapping.density
    K = cfg.chemistry.exchange.partition.value
    assert d["chemistry"]["exchange"]["partition"]["value"] == K
    d = load_config().to_dict()
    assert d["settings"]["transport.sink.mode"]["origin"] == "<built-in cell kobayashi2022>"


def test_mesh_lateral_edge_size(tmp_path):
    from fem_cell.config import load_config

    cfg = load_config(overrides={"mesh": {"lateral_edge_size": "0.5 um"}})
    assert cfg.mesh.lateral_edge_size == pytest.approx(5e-7)
    assert load_config().mesh.lateral_edge_size is None
    with pytest.raises(ConfigError, match="mesh.lateral_edge_size"):
        load_config(overrides={"mesh": {"lateral_edge_size": "2 s"}})
