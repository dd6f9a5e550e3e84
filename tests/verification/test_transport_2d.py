"""2-D cross-section transport with a laterally uniform stack (Li over the full width)
equals the 1-D solution: the cross-section uses the 1-D vertical grading, Q1 elements
with a lateral-invariant state reduce to the 1-D P1 equations, so inventories (per unit
width), fluxes and R_interface agree to Newton tolerance (checked 1e-7 relative).
Checks the 2-D path: quadrilateral lumped mass, interface ``dS`` along a line, the sink
on a facet group, the Φ gauge at one node, the trap reaction on quadrilaterals, the
lateral mean of R.  Explicit exposure-like profile and test chemistry (tests/helpers.py):
independent of the cell's fitted numbers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from helpers import set_exposed_profile, with_test_chemistry

from fem_cell._dolfinx import fem
from fem_cell.config import load_config
from fem_cell.geometry import StackGeometry
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.model import build_transport_problem, transport_block
from fem_cell.model.transport import interface_resistance
from fem_cell.solvers.time_stepping import TimeStepper


def run(comm, dim):
    cfg = with_test_chemistry(load_config(None))
    geo = StackGeometry(tuple(replace(layer, width=None) for layer in cfg.geometry.layers),
                        width=20e-6)
    s = MeshSettings(dim=dim, cells_per_layer=8, lateral_cells=4, lateral_growth=1.0,
                     max_cell_size=100e-6)
    if dim == 1:
        d = build_line_mesh(geo, s, comm)
    else:
        from fem_cell.meshing.cross_section import build_cross_section_mesh

        d = build_cross_section_mesh(geo, s, comm)
    film = d.submesh("LiCoO2", "degraded", "Li3PO4")
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    T.x.array[:] = 423.15
    blk = transport_block(cfg, film, T)
    set_exposed_profile(blk, mobile=0.02, trapped=0.05)
    R = interface_resistance(cfg, film, blk, T)
    prob = build_transport_problem(blk, cfg.solver)
    width = 1.0 if dim == 1 else geo.width
    out = []

    def on_step(info):
        out.append([info.t, blk.inventory("LiCoO2") / width, blk.inventory("Li3PO4") / width,
                    blk.interface_flux() / width, blk.sink_flux() / width, R.at_reference(),
                    blk.trapped_inventory("LiCoO2") / width])

    TimeStepper(prob, t_end=1200.0, dt_initial=1.0, dt_max=300.0, dt_min=1e-6,
                adaptive=False).run(on_step)
    return np.array(out)


@pytest.mark.mpi
def test_laterally_uniform_2d_equals_1d(comm):
    a, b = run(comm, 1), run(comm, 2)
    assert a.shape == b.shape
    scale = np.abs(a).max(axis=0)
    assert np.max(np.abs(a - b) / scale) < 1e-7, np.abs(a - b) / scale
