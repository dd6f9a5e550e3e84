"""Parameters are data, declared once: the physics' parameter types have no defaults
(the cell file is their only source), every declared value the model uses is a
setting of the loaded configuration with the value the cell file (or the user) gave,
and user overrides reach the physics objects."""

import dataclasses
import subprocess
import sys
import textwrap
from importlib import resources

import pytest

from fem_cell.config import load_config
from fem_cell.config.settings import OutputSettings, SolverSettings
from fem_cell.meshing.settings import MeshSettings
from fem_cell.params import EV, Arrhenius, defaults, key_of, specs, walk
from fem_cell.physics import parameters as P
from fem_cell.physics.exposure import surface_fraction
from fem_cell.units import from_si

CELL_CLASSES = [P.ThermalBoundary, P.PhaseTransport, P.Trapping, P.Exchange, P.Sink,
                P.DegradedLayerLaw, P.ExposureModel, P.Exposure, P.ElectrochemSettings]
#: class → section of the cell file it is read from
SECTIONS = {"thermal": "thermal", "exchange": "transport.exchange", "sink": "transport.sink",
            "degraded_layer": "degraded_layer", "exposure_model": "exposure_model",
            "electrochemistry": "electrochemistry", "exposure": "exposure"}


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def write(tmp_path, text):
    p = tmp_path / "user.toml"
    p.write_text(textwrap.dedent(text))
    return p


def test_cell_parameter_types_have_no_defaults():
    """No physics-side default can disagree with the cell file: there is none."""
    for cls in CELL_CLASSES:
        assert specs(cls), cls
        assert defaults(cls) == {}, (cls.__name__, defaults(cls))


def _objects(cfg):
    chem = cfg.chemistry
    yield "thermal", cfg.thermal
    for name, p in chem.phases:
        yield f"transport.{name}", p
        if p.trapping is not None:  # a derived field of the phase, its own table
            yield f"transport.{name}.trapping", p.trapping
    for attr in ("exchange", "sink", "degraded_layer", "exposure_model"):
        yield SECTIONS[attr], getattr(chem, attr)
    yield "electrochemistry", cfg.electrochemistry
    yield "exposure", cfg.exposure


def test_every_parameter_comes_from_the_cell_file(cfg):
    """Walk every declared parameter the model uses: each is a setting of the loaded
    configuration whose origin is the cell file and whose SI value is the object's."""
    raw = (resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text()
    import tomllib

    cell = tomllib.loads(raw)
    n = 0
    for section, obj in _objects(cfg):
        for name, spec, value in walk(obj):
            if name == "trapping":  # a sub-table, walked as its own section above
                continue
            key = f"{section}.{key_of(name, spec)}"
            s = cfg.settings[key]
            if spec.kind == "derived":
                assert s.origin == "derived", key
                continue
            table = cell
            for part in section.split("."):
                table = table[part]
            if spec.optional and value is None:
                assert key_of(name, spec) not in table, key
                continue
            assert key_of(name, spec) in table, f"{key} is not in the cell file"
            assert s.origin == "<built-in cell kobayashi2022>", key
            si = value.value if isinstance(value, Arrhenius) else value
            raw_entry = table[key_of(name, spec)]
            if isinstance(raw_entry, dict) and "prefactor" in raw_entry:  # written as k(T → ∞)
                assert isinstance(value, Arrhenius), key
                si = value.prefactor
            assert s.si_value == (pytest.approx(si, rel=1e-12) if isinstance(si, float) else si)
            if isinstance(value, Arrhenius):
                e = cfg.settings[f"{section}.{spec.energy_key}"]
                assert e.si_value == pytest.approx(value.activation_energy, rel=1e-12)
                assert e.origin == s.origin
                n += 1
            n += 1
    for mat in cfg.materials.values():  # declared in MATERIAL_PROPERTIES
        for k, p in mat.properties.items():
            assert k in P.MATERIAL_PROPERTIES
            s = cfg.settings[f"materials.{mat.name}.{k}"]
            assert s.origin == "<built-in cell kobayashi2022>"
            assert s.si_value == pytest.approx(p.value, rel=1e-12)
            assert k in cell["materials"][mat.name]
            n += 1
    assert n >= 66  # every declared parameter and material property of the cell


def test_settings_defaults_are_the_declared_ones(cfg):
    """Run settings (not cell data) have one default each: the declaration's."""
    for section, cls in (("mesh", MeshSettings), ("solver", SolverSettings),
                         ("output", OutputSettings)):
        obj = getattr(cfg, section)
        for name, value in defaults(cls).items():
            assert getattr(obj, name) == value, (section, name)
            assert cfg.settings[f"{section}.{name}"].origin == "default"


def test_every_setting_has_a_meaning(cfg):
    for section, obj in _objects(cfg):
        for name, spec, _ in walk(obj):
            if name == "trapping":  # a sub-table, walked as its own section
                continue
            assert spec.doc, f"{section}.{name} has no meaning declared"
            assert cfg.settings[f"{section}.{key_of(name, spec)}"].doc == spec.doc


def test_user_overrides_reach_the_physics(tmp_path):
    cfg = load_config(write(tmp_path, """
        [exposure]
        gas = "air"
        relative_humidity = "30 %"
        duration = "45 min"
        temperature = "30 degC"
        [transport.exchange]
        velocity = "2e-17 m/s"
        partition_activation_energy = "-0.2 eV"
        [transport.sink]
        mode = "rate"
        velocity = "1e-8 m/s"
        [transport.Li3PO4]
        proton_diffusivity = "2e-20 m2/s"
        [materials.Li3PO4]
        ionic_conductivity = "6e-7 S/cm"
        [materials.LiCoO2]
        li_diffusivity_activation_energy = "0.5 eV"
        [transport.LiCoO2.trapping]
        detrapping_activation_energy = "1.1 eV"
        [degraded_layer]
        pristine_share = 0.4
        pristine_resistance = "10 Ohm cm2"
        [exposure_model]
        surface_fraction = 2e-4
        surface_fraction_activation_energy = "0.1 eV"
    """))
    base = load_config()
    e = cfg.exposure
    assert (e.gas, e.duration) == ("air", 2700.0)
    assert e.relative_humidity == pytest.approx(0.3) and e.temperature == pytest.approx(303.15)
    chem = cfg.chemistry
    assert chem.exchange.velocity.value == pytest.approx(2e-17)
    assert chem.exchange.partition.activation_energy == pytest.approx(-0.2 * EV)
    assert chem.sink.mode == "rate" and chem.sink.velocity.value == pytest.approx(1e-8)
    lpo = chem.phase("Li3PO4")
    assert lpo.proton_diffusivity.value == pytest.approx(2e-20)
    # D_Li follows the material: twice the conductivity, twice the diffusivity
    assert lpo.lithium_diffusivity.value == pytest.approx(
        2 * base.chemistry.phase("Li3PO4").lithium_diffusivity.value, rel=1e-12)
    assert chem.phase("LiCoO2").lithium_diffusivity.activation_energy == pytest.approx(0.5 * EV)
    trap = chem.phase("LiCoO2").trapping
    assert trap.detrapping_rate.activation_energy == pytest.approx(1.1 * EV)
    base_trap = base.chemistry.phase("LiCoO2").trapping
    # the cell file writes k_d by its prefactor ν: a new E_d keeps ν, not k_d(25 °C)
    assert trap.detrapping_rate.prefactor == pytest.approx(base_trap.detrapping_rate.prefactor,
                                                           rel=1e-12)
    law = chem.degraded_layer
    assert law.pristine_share == pytest.approx(0.4)
    assert law.pristine_resistance.value == pytest.approx(1e-3)
    m = chem.exposure_model
    assert m.surface_fraction.value == pytest.approx(2e-4)
    assert m.surface_fraction.activation_energy == pytest.approx(0.1 * EV)
    assert cfg.settings["transport.exchange.velocity"].origin == str(tmp_path / "user.toml")


def test_with_exposure_reaches_the_physics(cfg):
    e = cfg.with_exposure(gas="N2", duration="10 min", temperature="40 degC").exposure
    assert (e.gas, e.duration) == ("N2", 600.0) and e.temperature == pytest.approx(313.15)
    assert surface_fraction(cfg.chemistry.exposure_model, e) == 0.0  # a dry gas: no water
    e = cfg.with_exposure(water_pressure="1000 Pa").exposure
    assert e.water_pressure == pytest.approx(1000.0)


def test_python_construction_checks_the_declared_bounds(cfg):
    """A Python user gets the same bounds as a cell file."""
    with pytest.raises(ValueError, match="Exposure.gas"):
        dataclasses.replace(cfg.exposure, gas="Ar")
    with pytest.raises(ValueError, match="relative_humidity"):
        dataclasses.replace(cfg.exposure, relative_humidity=1.5)
    with pytest.raises(ValueError, match="proton_diffusivity"):
        dataclasses.replace(cfg.chemistry.phase("LiCoO2"), proton_diffusivity=Arrhenius(2.0, 0.0))
    with pytest.raises(ValueError, match="activation"):
        dataclasses.replace(cfg.chemistry.exchange, velocity=Arrhenius(1e-17, 9 * EV))


def test_sink_boundary_follows_the_stack(tmp_path):
    from fem_cell.model.chemistry import sink_boundary

    cfg = load_config(write(tmp_path, '[transport.sink]\nmode = "blocking"'))
    assert cfg.chemistry.sink.mode == "blocking"
    assert sink_boundary(cfg, cfg.chemistry) == "Li3PO4|Li"


def test_heat_only_cell_has_no_chemistry(tmp_path):
    text = (resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text()
    cell = tmp_path / "heat_only.toml"
    cell.write_text(text.split("# -------------------------------------------------------"
                               "--------- exposure", 1)[0])
    cfg = load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert cfg.chemistry is None and cfg.exposure is None and cfg.electrochemistry is None


def test_arrhenius_law():
    d = Arrhenius(1e-26, 1.3 * EV)
    k_b = 8.617333262e-5
    import math

    assert d(423.15) == pytest.approx(1e-26 * math.exp(-1.3 / k_b * (1 / 423.15 - 1 / 298.15)),
                                      rel=1e-12)
    assert d(298.15) == pytest.approx(1e-26, rel=1e-15)
    assert d.inverse(298.15) == pytest.approx(1e-26)
    assert d.prefactor == pytest.approx(1e-26 * math.exp(1.3 / (k_b * 298.15)), rel=1e-12)
    assert Arrhenius(2.0, 0.0)(500.0) == 2.0


def test_config_does_not_import_dolfinx():
    """Loading a configuration never imports dolfinx (the CLI's config and error paths
    stay fast), and importing the package does not either."""
    code = ("import sys, fem_cell.config, fem_cell.config.display; "
            "fem_cell.config.load_config(); "
            "bad = [m for m in sys.modules if m.startswith('dolfinx')]; "
            "print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    code = "import sys, fem_cell; assert 'dolfinx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_phases_from_config(cfg, tmp_path):
    from fem_cell._dolfinx import MPI
    from fem_cell.meshing.line import build_line_mesh
    from fem_cell.model.chemistry import phases

    domain = build_line_mesh(cfg.geometry, cfg.mesh, MPI.COMM_WORLD)
    film = domain.submesh("LiCoO2", "degraded", "Li3PO4")
    for d in (domain, film):
        ph = phases(cfg, cfg.chemistry, d)
        assert [p.name for p in ph] == ["LiCoO2", "Li3PO4"]
        assert ph[0].regions == ("LiCoO2", "degraded") and ph[1].regions == ("Li3PO4",)
        assert ph[0].properties == cfg.chemistry.phase("LiCoO2")
    lco_only = domain.submesh("LiCoO2", "degraded")
    assert [p.name for p in phases(cfg, cfg.chemistry, lco_only)] == ["LiCoO2"]
    # the degraded layer made of Li3PO4 moves to the Li3PO4 phase
    cfg2 = load_config(write(tmp_path, '[layers.degraded]\nmaterial = "Li3PO4"'))
    ph = phases(cfg2, cfg2.chemistry, build_line_mesh(cfg2.geometry, cfg2.mesh, MPI.COMM_WORLD))
    assert ph[0].regions == ("LiCoO2",) and ph[1].regions == ("degraded", "Li3PO4")
    with pytest.raises(ValueError, match="no transport phase"):
        phases(cfg, cfg.chemistry, domain.submesh("substrate"))


def test_docs_chemistry_example_loads(tmp_path):
    """The example of docs/configuration.md ("Chemistry: example ...") is valid."""
    import re
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text()
    section = doc.split("### Chemistry: example", 1)[1]
    block = re.search(r"```toml\n(.*?)```", section, re.S).group(1)
    p = tmp_path / "example.toml"
    p.write_text(block)
    cfg = load_config(p)
    assert cfg.exposure.gas == "air" and cfg.chemistry.sink.mode == "blocking"
    assert cfg.chemistry.phase("LiCoO2").proton_diffusivity.value == pytest.approx(3e-26)
    assert cfg.settings["transport.LiCoO2.proton_diffusivity"].source == "my fit"


def test_percent_and_pressure_units():
    from fem_cell.errors import UnitError
    from fem_cell.units import parse_quantity, to_si

    assert to_si(50, "%") == 0.5
    assert parse_quantity("30%", "dimensionless") == pytest.approx(0.3)
    assert parse_quantity("1.5 kPa", "pressure") == pytest.approx(1500.0)
    assert to_si(1.3, "eV", "energy") == pytest.approx(1.3 * 1.602176634e-19)
    with pytest.raises(UnitError):
        to_si(1, "%", "pressure")
    assert from_si(0.5, "%") == pytest.approx(50.0)


def test_run_config_pickles(cfg):
    import pickle

    c2 = pickle.loads(pickle.dumps(cfg.with_exposure(gas="air")))
    assert c2.chemistry == cfg.chemistry and c2.exposure.gas == "air"
    assert c2.settings["exposure.gas"].origin == "command line"
