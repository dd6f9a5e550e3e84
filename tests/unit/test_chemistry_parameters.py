"""Transport / exposure / degraded-layer parameters are data: the built-in cell gives
exactly the physics modules' documented defaults, and user overrides reach the physics
objects (fem_cell.physics.parameters)."""

import dataclasses
import subprocess
import sys
import textwrap

import pytest

from fem_cell.config import EXPOSURE_GASES, load_config
from fem_cell.errors import ConfigError
from fem_cell.physics import parameters as P
from fem_cell.physics.degraded import DegradedLayerLaw
from fem_cell.physics.exposure import GASES, Exposure, ExposureModel, exposure_profile
from fem_cell.physics.transport import (
    LI3PO4_TRANSPORT,
    LICOO2_TRANSPORT,
    Arrhenius,
    ExchangeParameters,
    SinkBC,
)

REL = 1e-12


def same(a, b):
    """Equal dataclasses, floats to round-off, ``source`` strings ignored."""
    assert type(a) is type(b), (a, b)
    for f in dataclasses.fields(a):
        if f.name == "source":
            continue
        x, y = getattr(a, f.name), getattr(b, f.name)
        if dataclasses.is_dataclass(x):
            same(x, y)
        elif isinstance(x, float) and y is not None:
            assert x == pytest.approx(y, rel=REL, abs=0.0), (f.name, x, y)
        else:
            assert x == y, (f.name, x, y)


@pytest.fixture(scope="module")
def cfg():
    return load_config()


def test_builtin_cell_equals_module_defaults(cfg):
    props = P.transport_phase_properties(cfg)
    assert list(props) == ["LiCoO2", "Li3PO4"]
    same(props["LiCoO2"], LICOO2_TRANSPORT)
    same(props["Li3PO4"], LI3PO4_TRANSPORT)
    same(P.exchange_parameters(cfg), ExchangeParameters())
    same(P.sink_bc(cfg), SinkBC())
    same(P.degraded_law(cfg), DegradedLayerLaw())
    same(P.exposure_model(cfg), ExposureModel())
    same(P.exposure(cfg), Exposure())


def test_results_do_not_change(cfg):
    """Same profile and same rates as the hard-coded defaults, to round-off."""
    a = exposure_profile(P.exposure(cfg), P.exposure_model(cfg))
    b = exposure_profile(Exposure(), ExposureModel())
    assert a.surface_fraction == pytest.approx(b.surface_fraction, rel=REL)
    assert a.depth_scale == pytest.approx(b.depth_scale, rel=REL)
    law, ref = P.degraded_law(cfg), DegradedLayerLaw()
    for T in (298.15, 423.15):
        assert law.excess_resistivity(0.6, T) == pytest.approx(ref.excess_resistivity(0.6, T),
                                                               rel=1e-12)
        assert law.pristine(T) == pytest.approx(ref.pristine(T), rel=1e-12)
        ex = P.exchange_parameters(cfg)
        assert ex.velocity(T) == pytest.approx(ExchangeParameters().velocity(T), rel=1e-12)
        d = P.transport_phase_properties(cfg)["Li3PO4"].lithium_diffusivity
        assert d(T) == pytest.approx(LI3PO4_TRANSPORT.lithium_diffusivity(T), rel=1e-12)


def test_sources_are_carried(cfg):
    props = P.transport_phase_properties(cfg)
    assert props["LiCoO2"].proton_diffusivity.source.startswith("C:")
    assert "li_chemical_diffusivity" in props["LiCoO2"].lithium_diffusivity.source
    assert "Nernst-Einstein" in props["Li3PO4"].lithium_diffusivity.source


def write(tmp_path, text):
    p = tmp_path / "user.toml"
    p.write_text(textwrap.dedent(text))
    return p


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
        [degraded_layer]
        sigma0 = "2e-5 S/m"
        pristine_resistance = "10 Ohm cm2"
        [exposure_model]
        depth_ref = "4 nm"
        activation_energy = "0.1 eV"
    """))
    e = P.exposure(cfg)
    assert (e.gas, e.duration) == ("air", 2700.0)
    assert e.relative_humidity == pytest.approx(0.3) and e.temperature == pytest.approx(303.15)
    ex = P.exchange_parameters(cfg)
    assert ex.velocity.value == pytest.approx(2e-17)
    assert ex.partition.activation_energy == pytest.approx(-0.2)
    sk = P.sink_bc(cfg)
    assert (sk.mode, sk.boundary) == ("rate", "Li3PO4|Li")
    assert sk.velocity.value == pytest.approx(1e-8)
    props = P.transport_phase_properties(cfg)
    assert props["Li3PO4"].proton_diffusivity.value == pytest.approx(2e-20)
    # D_Li follows the material: twice the conductivity, twice the diffusivity
    assert props["Li3PO4"].lithium_diffusivity.value == pytest.approx(
        2 * LI3PO4_TRANSPORT.lithium_diffusivity.value, rel=1e-12)
    assert props["LiCoO2"].lithium_diffusivity.activation_energy == pytest.approx(0.5)
    law = P.degraded_law(cfg)
    assert law.sigma0 == pytest.approx(2e-5) and law.pristine_resistance == pytest.approx(1e-3)
    m = P.exposure_model(cfg)
    assert m.depth_ref == pytest.approx(4e-9) and m.activation_energy == pytest.approx(0.1)


def test_with_exposure_reaches_the_physics(cfg):
    e = P.exposure(cfg.with_exposure(gas="N2", duration="10 min", temperature="40 degC"))
    assert (e.gas, e.duration) == ("N2", 600.0) and e.temperature == pytest.approx(313.15)
    assert exposure_profile(e).surface_fraction == 0.0
    e = P.exposure(cfg.with_exposure(water_pressure="1000 Pa"))
    assert e.water_pressure == pytest.approx(1000.0)


def test_sink_boundary_follows_the_stack(tmp_path):
    cfg = load_config(write(tmp_path, '[transport.sink]\nmode = "blocking"'))
    assert P.sink_bc(cfg) == SinkBC(mode="blocking", velocity=P.sink_bc(cfg).velocity)
    assert P.sink_boundary(cfg) == "Li3PO4|Li"


def test_heat_only_config_gives_a_clear_error(tmp_path):
    from importlib import resources

    text = (resources.files("fem_cell") / "data/cells/kobayashi2022.toml").read_text()
    cell = tmp_path / "heat_only.toml"
    cell.write_text(text.split("# -------------------------------------------------------"
                               "--------- exposure", 1)[0])
    cfg = load_config(write(tmp_path, f'cell = "{cell.name}"'))
    assert cfg.chemistry is None
    for fn in (P.transport_phase_properties, P.exchange_parameters, P.sink_bc, P.degraded_law,
               P.exposure_model, P.exposure):
        with pytest.raises(ConfigError,
                           match="expected a cell or user config with|an \\[exposure\\]"):
            fn(cfg)


def test_gases_match_the_physics():
    assert EXPOSURE_GASES == GASES


def test_arrhenius_temperature_dependence_uses_ev(cfg):
    d_h = P.transport_phase_properties(cfg)["LiCoO2"].proton_diffusivity
    ref = Arrhenius(1e-26, 1.3)
    assert d_h(423.15) == pytest.approx(ref(423.15), rel=1e-12)


def test_config_does_not_import_physics():
    """config.py must not pull the physics modules in (they need dolfinx/ufl), and
    importing the package must not import dolfinx."""
    code = ("import sys, fem_cell.config, fem_cell.config_display; "
            "bad = [m for m in sys.modules if m.startswith('fem_cell.physics')]; "
            "print(bad); assert not bad")
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    code = "import sys, fem_cell; assert 'dolfinx' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_phases_from_config(cfg, tmp_path):
    from fem_cell._dolfinx import MPI
    from fem_cell.meshing.line import build_line_mesh

    domain = build_line_mesh(cfg.geometry, cfg.mesh, MPI.COMM_WORLD)
    film = domain.submesh("LiCoO2", "degraded", "Li3PO4")
    for d in (domain, film):
        ph = P.phases(cfg, d)
        assert [p.name for p in ph] == ["LiCoO2", "Li3PO4"]
        assert ph[0].regions == ("LiCoO2", "degraded") and ph[1].regions == ("Li3PO4",)
        same(ph[0].properties, LICOO2_TRANSPORT)
        same(ph[1].properties, LI3PO4_TRANSPORT)
    lco_only = domain.submesh("LiCoO2", "degraded")
    assert [p.name for p in P.phases(cfg, lco_only)] == ["LiCoO2"]
    # the degraded layer made of Li3PO4 moves to the Li3PO4 phase
    cfg2 = load_config(write(tmp_path, '[layers.degraded]\nmaterial = "Li3PO4"'))
    ph = P.phases(cfg2, build_line_mesh(cfg2.geometry, cfg2.mesh, MPI.COMM_WORLD))
    assert ph[0].regions == ("LiCoO2",) and ph[1].regions == ("degraded", "Li3PO4")
    with pytest.raises(ValueError, match="no transport phase"):
        P.phases(cfg, domain.submesh("substrate"))


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
    assert P.exposure(cfg).gas == "air" and P.sink_bc(cfg).mode == "blocking"
    d_h = P.transport_phase_properties(cfg)["LiCoO2"].proton_diffusivity
    assert d_h.value == pytest.approx(3e-26)
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


def test_run_config_pickles(cfg):
    import pickle

    c2 = pickle.loads(pickle.dumps(cfg.with_exposure(gas="air")))
    assert c2.chemistry == cfg.chemistry and c2.exposure.gas == "air"
    assert c2.settings["exposure.gas"].origin == "command line"
