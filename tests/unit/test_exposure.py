"""Exposure → initial proton profile: water saturation pressure, calibration to the
paper's case, dry gases, humidity and dose dependence, and the initial fields."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_cell._dolfinx import fem
from fem_cell.config import load_config
from fem_cell.meshing.line import build_line_mesh
from fem_cell.model import transport_block
from fem_cell.physics.exposure import apply_exposure, exposure_profile, surface_fraction
from fem_cell.physics.water import saturation_pressure as water_saturation_pressure

CFG = load_config(None)
MODEL = CFG.chemistry.exposure_model


def Exposure(gas, **changes):  # noqa: N802 - the cell's exposure with changes
    import dataclasses

    return dataclasses.replace(CFG.exposure, gas=gas, **changes)


def profile(ex):
    return exposure_profile(ex, MODEL)


def test_water_saturation_pressure():
    assert water_saturation_pressure(298.15) == pytest.approx(3169.9, rel=1e-3)  # Buck 1996
    assert water_saturation_pressure(373.15) == pytest.approx(101325.0, rel=5e-3)
    assert water_saturation_pressure(273.15) == pytest.approx(611.21, rel=1e-12)


def test_paper_case_gives_feasible_profile():
    p = profile(Exposure("H2O"))  # 30 min, 25 °C
    assert p.surface_fraction == pytest.approx(0.6, rel=1e-12)
    assert p.depth_scale == pytest.approx(3e-9, rel=1e-12)
    z = np.array([0.0, 1e-9, 3e-9, 1e-8])
    expected = [0.6 * math.erfc(v / 3e-9) for v in z]
    assert np.allclose(p(z), expected, rtol=1e-12)


@pytest.mark.parametrize("gas", ["N2", "O2", "CO2", "H2", "vacuum"])
def test_dry_gases_leave_no_protons(gas):
    p = profile(Exposure(gas, duration=3600.0, temperature=350.0))
    assert p.surface_fraction == 0.0
    assert np.all(p(np.linspace(0, 1e-8, 5)) == 0.0)


def test_air_degrades_through_its_water():
    assert profile(Exposure("air", relative_humidity=0.0)).surface_fraction == 0.0
    dry = profile(Exposure("air", relative_humidity=0.3))
    wet = profile(Exposure("air", relative_humidity=0.6))
    h2o = profile(Exposure("H2O"))
    assert 0 < dry.surface_fraction < wet.surface_fraction < h2o.surface_fraction
    assert 0 < dry.depth_scale < wet.depth_scale < h2o.depth_scale
    # same water dose → same profile
    same = profile(Exposure("air", relative_humidity=0.5, duration=3600.0))
    assert same.surface_fraction == pytest.approx(h2o.surface_fraction, rel=1e-12)


def test_dose_monotone_and_bounded():
    m = MODEL
    xs = [surface_fraction(m, Exposure("H2O", duration=t)) for t in (60, 600, 1800, 36000, 1e7)]
    assert all(a < b for a, b in zip(xs, xs[1:], strict=False))
    assert xs[-1] <= m.saturation_fraction
    with pytest.raises(ValueError):
        Exposure("Ar")
    with pytest.raises(ValueError):
        Exposure("air", relative_humidity=1.5)


def test_apply_exposure_sets_fields(comm):
    cfg = load_config(None)
    d = build_line_mesh(cfg.geometry, cfg.mesh, comm)
    film = d.submesh("LiCoO2", "degraded", "Li3PO4")
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 298.15
    blk = transport_block(cfg, film, T)
    p = profile(Exposure("H2O"))
    apply_exposure(blk, p)
    b = blk.fraction_bounds()
    assert b["LiCoO2"][1] == pytest.approx(0.6, rel=1e-12)  # surface node
    assert b["Li3PO4"] == (0.0, 0.0)
    # P1 interpolant of a convex profile: inventory a little above c x_s δ/√π
    inv = blk.inventory("LiCoO2")
    assert p.inventory(5.16e4) < inv < 1.05 * p.inventory(5.16e4)
    blk.set_uniform("LiCoO2", 0.0)
    apply_exposure(blk, profile(Exposure("N2")))
    assert blk.inventory() == 0.0


def test_out_of_range_fractions_are_reported_not_clipped(comm):
    from fem_cell.physics.transport import FractionOutOfRangeError

    cfg = load_config(None)
    d = build_line_mesh(cfg.geometry, cfg.mesh, comm)
    film = d.submesh("LiCoO2", "degraded", "Li3PO4")
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 298.15
    blk = transport_block(cfg, film, T)
    blk.set_uniform("LiCoO2", 1.2)
    rep = blk.check_fractions(raise_error=False)
    assert not rep["ok"] and rep["bounds"]["LiCoO2"][1] == pytest.approx(1.2)
    with pytest.raises(FractionOutOfRangeError, match="LiCoO2"):
        blk.check_fractions()
    assert np.max(blk.x["LiCoO2"].x.array) == pytest.approx(1.2)  # untouched
    blk.set_uniform("LiCoO2", -1e-12)
    assert blk.check_fractions(tol=1e-9)["ok"]  # round-off level passes
