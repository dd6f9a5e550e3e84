"""The simulated exposure loads exactly what enters through its surface condition.

With backward Euler the discrete proton balance of a step is exact: the lumped mass term
c (x_n − x_{n−1})/dt of every free node plus the consistent reaction flux at the
Dirichlet (x = x_s) surface nodes sum to zero, and the inventory of a P1 field integrates
the same nodal weights.  So after every step

    inventory(t_n) = Σ_k dt_k · surface_flux(t_k)            (mobile + trapped)

to the Newton tolerance — the check that ``surface_flux()`` is the flux the exposure
really applies (the histories' ``H_surface_flux_mol_m2_s``).  Fixed steps, the explicit
test chemistry of tests/helpers.py with a surface fraction that loads the top nanometres
in 30 min at 90 °C (independent of the cell's fitted numbers).  The
closed-form limits of the exposure (erfc, Stefan front) are in test_exposure_limits.py.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from helpers import with_test_chemistry

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.meshing.line import build_line_mesh
from fem_cell.model.exposure import ExposureSimulation
from fem_cell.params import Arrhenius
from fem_cell.physics.parameters import ExposureModel

#: x_s = S a_w = 1e-2 (saturated vapour): after 30 min at 90 °C (D_H ≈ 6.5e-19 m²/s,
#: √(D t) ≈ 34 nm; the traps, n_t = 0.1, partly reversible there) protons fill the
#: degraded layer's depth
MODEL = ExposureModel(Arrhenius(1e-2, 0.0), 298.15)


@pytest.mark.mpi
@pytest.mark.parametrize("steps", [10, 40])
def test_inventory_is_the_time_integral_of_the_surface_flux(steps):
    cfg = with_test_chemistry(load_config(None).with_mesh(cells_per_layer=32),
                              exposure_model=MODEL)
    ex = dataclasses.replace(cfg.exposure, gas="H2O", water_pressure=None,
                             temperature=363.15, duration=1800.0)
    dt = ex.duration / steps
    settings = dataclasses.replace(cfg.solver, scheme="backward_euler", adaptive=False,
                                   dt_max=dt, dt_initial=dt, dt_min=dt)
    film = build_line_mesh(cfg.geometry, cfg.mesh, MPI.COMM_WORLD).submesh(
        "LiCoO2", "degraded", "Li3PO4")
    sim = ExposureSimulation(cfg, film, ex)
    try:
        assert sim.x_s == pytest.approx(1e-2, rel=1e-14)
        seen = []
        res = sim.run(settings, on_step=lambda info, row: seen.append(info.dt))
    finally:
        sim.destroy()
    assert seen == pytest.approx([dt] * steps, rel=1e-12)  # fixed steps, as asked
    t = np.array(res.rows["t_s"])
    inv = np.array(res.rows["H_LiCoO2_mol_m2"])
    flux = np.array(res.rows["H_surface_flux_mol_m2_s"])
    assert t[-1] == pytest.approx(ex.duration, rel=1e-12) and inv[0] == 0.0
    # backward Euler: the flux of each step is the one at its end
    integral = np.concatenate([[0.0], np.cumsum(np.diff(t) * flux[1:])])
    # exact up to the free nodes' Newton residuals (measured ~1e-15 relative, 1 and 2 ranks)
    err = np.abs(inv - integral).max() / inv[-1]
    assert err < 1e-12, err
    # the step balance the run reports agrees, to what the Newton tolerance leaves
    # (1e-9 on the fractions: measured 2.0e-12 with 10 steps, 1.4e-12 with 40 on 1 and
    # 2 ranks; below 1e-12 with 1e-11)
    assert np.abs(res.rows["mass_balance_rel"]).max() < 1e-11
    # nontrivial: protons entered throughout, mostly into the traps, and loaded nanometres
    # (inventory / (c n_t), the depth of filled traps holding it: ~9 nm here)
    assert np.all(flux[1:] > 0)
    trapped = np.array(res.rows["H_trapped_mol_m2"])
    assert 0.5 * inv[-1] < trapped[-1] < inv[-1]
    assert res.rows["loaded_depth_nm"][-1] > 5.0
