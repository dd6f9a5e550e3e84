"""The exposure as a boundary condition of the transport (:mod:`fem_cell.physics.exposure`):
water saturation pressure and activity, x_s = S(T) a_w, the validity checks (a_w > 1
refused, Buck's range warned), the sharp-front (Stefan) limit, and what a dry exposure
leaves in a transport block.  The simulated exposure itself is verified in
tests/verification (test_exposure_inventory.py, test_exposure_limits.py)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from fem_cell._dolfinx import fem
from fem_cell.config import load_config
from fem_cell.constants import BOLTZMANN_EV, ZERO_CELSIUS
from fem_cell.errors import ConfigError
from fem_cell.meshing.line import build_line_mesh
from fem_cell.model import transport_block
from fem_cell.params import EV, Arrhenius
from fem_cell.physics.exposure import (
    stefan_front,
    surface_fraction,
    validity,
    water_activity,
    water_dose,
)
from fem_cell.physics.parameters import ExposureModel
from fem_cell.physics.water import saturation_pressure as water_saturation_pressure

CFG = load_config(None)
DRY = ["N2", "O2", "CO2", "H2", "vacuum"]
#: an exposure model of these tests (not the cell's, which is being fitted): S 1e-4 at
#: a_w = 1 and 25 °C, activated by 0.2 eV
MODEL = ExposureModel(surface_fraction=Arrhenius(1e-4, 0.2 * EV, 298.15),
                      reference_temperature=298.15)


def Exposure(gas, **changes):  # noqa: N802 - the cell's exposure with changes
    return dataclasses.replace(CFG.exposure, gas=gas, **changes)


def buck(T):
    """Buck (1996) over liquid water (Pa), written here from the formula."""
    tc = T - ZERO_CELSIUS
    return 611.21 * math.exp((18.678 - tc / 234.5) * tc / (257.14 + tc))


def write(tmp_path, text):
    p = tmp_path / "user.toml"
    p.write_text(text)
    return p


def test_water_saturation_pressure():
    assert water_saturation_pressure(298.15) == pytest.approx(3169.9, rel=1e-3)  # Buck 1996
    assert water_saturation_pressure(373.15) == pytest.approx(101325.0, rel=5e-3)
    assert water_saturation_pressure(273.15) == pytest.approx(611.21, rel=1e-12)
    for T in (250.0, 298.15, 320.0):
        assert water_saturation_pressure(T) == pytest.approx(buck(T), rel=1e-12)


@pytest.mark.parametrize("T", [283.15, 298.15, 318.15])
def test_water_activity_of_the_gases(T):
    # H2O: saturated vapour when no pressure is given, else p / p_sat(T)
    assert water_activity(Exposure("H2O", temperature=T)) == pytest.approx(1.0, rel=1e-14)
    p = 0.5 * buck(T)
    assert water_activity(Exposure("H2O", temperature=T, water_pressure=p)) == pytest.approx(
        p / buck(T), rel=1e-12)
    # air: its relative humidity, whatever the temperature
    for rh in (0.0, 0.3, 0.75):
        assert water_activity(Exposure("air", temperature=T, relative_humidity=rh)) == (
            pytest.approx(rh, rel=1e-12, abs=0.0))
    # dry gases and vacuum: no water, whatever the humidity field says
    for gas in DRY:
        assert water_activity(Exposure(gas, temperature=T, relative_humidity=0.9)) == 0.0


def test_surface_fraction_is_S_times_the_activity():
    kb = BOLTZMANN_EV
    for T, rh in ((298.15, 0.4), (318.15, 0.4), (283.15, 0.8)):
        S = 1e-4 * math.exp(-0.2 / kb * (1 / T - 1 / 298.15))
        ex = Exposure("air", temperature=T, relative_humidity=rh)
        assert surface_fraction(MODEL, ex) == pytest.approx(S * rh, rel=1e-12)
        assert surface_fraction(MODEL, Exposure("H2O", temperature=T)) == pytest.approx(
            S, rel=1e-12)
    for gas in DRY:
        assert surface_fraction(MODEL, Exposure(gas)) == 0.0
    # the cell's own model, read from the configuration: x_s = S(25 °C) in saturated vapour
    S_cell = CFG.chemistry.exposure_model.surface_fraction
    assert surface_fraction(CFG.chemistry.exposure_model, CFG.exposure) == pytest.approx(
        S_cell(CFG.exposure.temperature) * water_activity(CFG.exposure), rel=1e-14)


def test_water_dose():
    ex = Exposure("H2O", water_pressure=1000.0, duration=600.0)
    assert water_dose(ex) == pytest.approx(6e5, rel=1e-14)
    ex = Exposure("air", relative_humidity=0.5, duration=1800.0, temperature=298.15)
    assert water_dose(ex) == pytest.approx(0.5 * buck(298.15) * 1800.0, rel=1e-12)
    assert water_dose(Exposure("N2", duration=1800.0)) == 0.0


@pytest.mark.parametrize("gas", DRY)
def test_dry_gases_leave_no_protons(gas):
    ex = Exposure(gas, duration=3600.0, temperature=350.0)
    assert surface_fraction(CFG.chemistry.exposure_model, ex) == 0.0
    # no water: nothing to check against Buck's range either
    assert validity(ex) == ([], [])


def test_air_degrades_through_its_water():
    m = CFG.chemistry.exposure_model
    xs = [surface_fraction(m, Exposure("air", relative_humidity=rh)) for rh in (0.0, 0.3, 0.6)]
    h2o = surface_fraction(m, Exposure("H2O"))
    assert xs[0] == 0.0
    assert 0 < xs[1] < xs[2] < h2o
    # linear in the activity: humid air at 60 % is 60 % of saturated vapour
    assert xs[2] == pytest.approx(0.6 * h2o, rel=1e-12)


def test_water_above_saturation_is_refused(tmp_path):
    """a_w > 1 (liquid water condenses) is refused by the loader and by with_exposure;
    the same pressure where it is below saturation is accepted."""
    p_sat = buck(298.15)
    assert validity(Exposure("H2O", water_pressure=1.2 * p_sat))[1]
    assert validity(Exposure("H2O", water_pressure=0.9 * p_sat)) == ([], [])
    with pytest.raises(ConfigError, match="above its saturation pressure"):
        load_config(write(tmp_path, '[exposure]\ngas = "H2O"\nwater_pressure = "5000 Pa"\n'
                                    'temperature = "25 degC"\n'))
    with pytest.raises(ConfigError, match="water activity"):
        CFG.with_exposure(gas="H2O", water_pressure="5000 Pa")
    # 5000 Pa at 40 °C (p_sat ≈ 7.4 kPa) is vapour
    cfg = load_config(write(tmp_path, '[exposure]\ngas = "H2O"\nwater_pressure = "5000 Pa"\n'
                                      'temperature = "40 degC"\n'))
    assert water_activity(cfg.exposure) == pytest.approx(5000.0 / buck(313.15), rel=1e-12)


def test_outside_bucks_range_warns(tmp_path):
    assert not [w for w in CFG.warnings if "extrapolated" in w]
    cfg = load_config(write(tmp_path, '[exposure]\ntemperature = "60 degC"\n'))
    w = [w for w in cfg.warnings if "extrapolated" in w]
    assert len(w) == 1 and "Buck" in w[0] and "exposure.temperature" in w[0], cfg.warnings
    w = [w for w in CFG.with_exposure(temperature="-50 degC").warnings if "extrapolated" in w]
    assert len(w) == 1, w
    # a dry gas has no water pressure to extrapolate
    assert not [w for w in CFG.with_exposure(gas="N2", temperature="60 degC").warnings
                if "extrapolated" in w]


def _stefan_lhs(g):
    return math.sqrt(math.pi) * g * math.exp(g * g) * math.erf(g)


@pytest.mark.parametrize("ratio", [1e-6, 1e-3, 0.05, 0.5, 2.0, 20.0])
def test_stefan_front_solves_its_equation(ratio):
    """√π γ exp(γ²) erf(γ) = x_s/n_t, for any trap density (only the ratio enters)."""
    for n_t in (0.01, 0.15):
        g = stefan_front(ratio * n_t, n_t)
        assert g > 0
        assert _stefan_lhs(g) == pytest.approx(ratio, rel=1e-10)


def test_stefan_front_small_surface_fraction_limit():
    """x_s ≪ n_t: γ² = x_s/(2 n_t) (1 − x_s/(3 n_t) + O((x_s/n_t)²)) — from
    √π γ e^{γ²} erf γ = 2γ² (1 + 2γ²/3 + O(γ⁴))."""
    n_t = 0.15
    for st in (1e-6, 1e-4, 1e-3):
        g2 = stefan_front(st * n_t, n_t) ** 2
        assert g2 == pytest.approx(st / 2, rel=2 * st)  # leading order
        assert g2 / (st / 2) - 1 == pytest.approx(-st / 3, abs=st**2)  # the next term
    # monotone, and no front without protons at the surface
    gs = [stefan_front(x, n_t) for x in (1e-5, 1e-4, 1e-3, 1e-2)]
    assert all(a < b for a, b in zip(gs, gs[1:], strict=False))
    assert stefan_front(0.0, n_t) == 0.0


def _film(cfg, comm):
    d = build_line_mesh(cfg.geometry, cfg.mesh, comm)
    film = d.submesh("LiCoO2", "degraded", "Li3PO4")
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 298.15
    return film, transport_block(cfg, film, T)


def test_dry_or_instant_exposure_leaves_no_protons(comm):
    """A dry gas (a_w = 0) or a zero duration: no solve, and the block it is copied into
    is proton-free (whatever it held), trapped protons included."""
    from fem_cell.model.chemistry import expose_block
    from fem_cell.model.exposure import ExposureSimulation, lower_phase_top

    cfg = CFG.with_mesh(cells_per_layer=8)
    film, blk = _film(cfg, comm)
    assert lower_phase_top(cfg, film) == "degraded|Li3PO4"
    for ex in (Exposure("N2", duration=3600.0), Exposure("H2O", duration=0.0)):
        blk.set_uniform("LiCoO2", 0.01)
        blk.set_uniform("LiCoO2", 0.02, trapped=True)
        sim = ExposureSimulation(cfg, film, ex)
        assert not sim.active and sim.problem is None
        sim.destroy()
        res = expose_block(cfg, film, ex, blk)
        assert res.stats is None and res.summary()["steps"] == 0
        assert blk.inventory() == 0.0 and blk.trapped_inventory() == 0.0
        assert res.rows["H_LiCoO2_mol_m2"] == [0.0]


def test_out_of_range_fractions_are_reported_not_clipped(comm):
    from fem_cell.physics.transport import FractionOutOfRangeError

    _, blk = _film(CFG, comm)
    blk.set_uniform("LiCoO2", 1.2)
    rep = blk.check_fractions(raise_error=False)
    assert not rep["ok"] and rep["bounds"]["LiCoO2"][1] == pytest.approx(1.2)
    with pytest.raises(FractionOutOfRangeError, match="LiCoO2"):
        blk.check_fractions()
    assert np.max(blk.x["LiCoO2"].x.array) == pytest.approx(1.2)  # untouched
    blk.set_uniform("LiCoO2", -1e-12)
    assert blk.check_fractions(tol=1e-9)["ok"]  # round-off level passes
    # trapped protons: bounded by the trap density n_t (not 1)
    n_t = CFG.chemistry.phase("LiCoO2").trapping.density
    blk.set_uniform("LiCoO2", 0.0)
    blk.set_uniform("LiCoO2", 1.5 * n_t, trapped=True)
    rep = blk.check_fractions(raise_error=False)
    assert not rep["ok"]
    assert rep["bounds"]["LiCoO2 trapped"][1] == pytest.approx(1.5 * n_t)
    blk.set_uniform("LiCoO2", n_t, trapped=True)
    assert blk.check_fractions()["ok"]
