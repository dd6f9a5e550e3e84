"""Coupled Li⁺/H⁺ transport: the same run on 1 rank (COMM_SELF) and on all ranks
(COMM_WORLD) gives the same inventories (mobile + trapped, trapped), fluxes and
resistance (relative 1e-8), from an explicit exposure-like profile with the test
chemistry of tests/helpers.py (independent of the cell's fitted numbers).
Run under ``mpirun -n 2 python -m pytest -m mpi``; serially it is a smoke test."""

from __future__ import annotations

import numpy as np
import pytest
from helpers import set_exposed_profile, with_test_chemistry

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.model import build_transport_problem, transport_block
from fem_cell.model.transport import interface_resistance
from fem_cell.solvers.time_stepping import TimeStepper

HOLD = 150.0 + 273.15


def run(comm, dim, t_end):
    cfg = with_test_chemistry(load_config(None))
    if dim == 1:
        d = build_line_mesh(cfg.geometry, cfg.mesh, comm)
    else:
        from fem_cell.meshing.cross_section import build_cross_section_mesh

        s = MeshSettings(dim=2, cells_per_layer=4, lateral_cells=12, lateral_growth=1.5,
                         growth=2.0,
                         max_cell_size=100e-6)
        d = build_cross_section_mesh(cfg.geometry, s, comm)
    film = d.submesh("LiCoO2", "degraded", "Li3PO4")
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = HOLD
    blk = transport_block(cfg, film, T)
    set_exposed_profile(blk, mobile=0.02, trapped=0.05)
    R = interface_resistance(cfg, film, blk, T)
    prob = build_transport_problem(blk, cfg.solver)
    hist = []

    def on_step(info):
        hist.append([info.t, blk.inventory("LiCoO2"), blk.inventory("Li3PO4"),
                     blk.interface_flux(), blk.sink_flux(), R.at_reference(),
                     blk.trapped_inventory("LiCoO2")])

    TimeStepper(prob, t_end=t_end, dt_initial=1.0, dt_max=300.0, dt_min=1e-6).run(on_step)
    return np.array(hist)


@pytest.mark.mpi
@pytest.mark.parametrize(("dim", "t_end"), [(1, 1800.0), (2, 300.0)])
def test_transport_same_on_any_rank_count(dim, t_end):
    a = run(MPI.COMM_SELF, dim, t_end)
    b = run(MPI.COMM_WORLD, dim, t_end)
    assert a.shape == b.shape
    scale = np.maximum(np.abs(a).max(axis=0), 1e-300)
    assert np.max(np.abs(a - b) / scale) < 1e-8
    assert a[-1, 1] < 0.5 * a[0, 1]  # protons left LiCoO2
