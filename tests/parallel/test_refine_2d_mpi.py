"""The pad-edge refined 2-D small-signal mesh is the same on 1 rank and on all ranks.

Run: ``mpirun -n 2 python -m pytest -q -m mpi tests/parallel/test_refine_2d_mpi.py``.
Every rank builds the refined film of a coarse 2-D cell (exposed proton profile) on
COMM_SELF (the serial answer) and, collectively, on COMM_WORLD: the same grid, the same
transferred field, and the same impedance of the small-signal model on it (1e-8).
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.config import load_config
from fem_cell.meshing.refine_2d import film_grid, small_signal_film_domain
from fem_cell.model import CellModel
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies

pytestmark = pytest.mark.mpi

MESH = {"dim": 2, "cells_per_layer": 2, "growth": 2.0, "lateral_cells": 16,
        "lateral_growth": 1.5, "max_cell_size": "100 um"}
FREQS = log_frequencies(1e-2, 1e6, 9)


def _integral(dom, f, region: str) -> float:
    dx = ufl.Measure("dx", domain=dom.mesh, subdomain_data=dom.cell_tags,
                     metadata={"quadrature_degree": 4})
    return dom.comm.allreduce(fem.assemble_scalar(fem.form(f * dx(dom.cell_tag(region)))),
                              op=MPI.SUM)


def _case(comm, tag: str) -> dict:
    cfg = load_config(overrides={"mesh": MESH})
    cell = CellModel(cfg, comm)
    try:
        op = cell.operating_point(proton_fraction="exposed")
        dom, xr = small_signal_film_domain(op.film, op.x_lco)
        ux, uz, grid = film_grid(dom, xr)
        out = {"ux": ux, "uz": uz, "grid": grid,
               "vertices": dom.mesh.topology.index_map(0).size_global,
               "facets": {n: dom.comm.allreduce(int(np.count_nonzero(
                   dom.facet_tags.indices[dom.facet_tags.values == t]
                   < dom.mesh.topology.index_map(1).size_local)), op=MPI.SUM)
                   for n, t in dom.facet_names.items()},
               "xH": [_integral(dom, xr, r) for r in ("LiCoO2", "degraded")]}
        cm = cell.small_signal(op, 298.15, prefix=f"r2d_{tag}_",
                               film_mesh=small_signal_film_domain)
        s = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix=f"r2d_{tag}_s_")
        try:
            r = s.sweep(FREQS, "direct")
            out["Z"], out["residual"], out["dofs"] = r.impedance, r.residuals.max(), s.n_dofs()
        finally:
            s.destroy()
    finally:
        cell.destroy()
    return out


@pytest.fixture(scope="module")
def results():
    return _case(MPI.COMM_SELF, "self"), _case(MPI.COMM_WORLD, "world")


def test_same_grid_and_field_on_all_ranks(results):
    one, all_ = results
    for k in ("ux", "uz"):
        assert one[k].shape == all_[k].shape
        assert np.max(np.abs(one[k] - all_[k])) < 1e-12 * np.max(np.abs(one[k]))
    assert np.max(np.abs(one["grid"] - all_["grid"])) < 1e-12 * np.max(np.abs(one["grid"]))
    assert one["vertices"] == all_["vertices"] == one["ux"].size * one["uz"].size
    assert one["ux"].size > 2 * 16     # pad-edge columns were added


def test_facet_groups_complete_on_all_ranks(results):
    """Each facet group holds as many (owned) facets in total on all ranks as on one."""
    one, all_ = results
    assert one["facets"] == all_["facets"]
    nx = one["ux"].size - 1
    assert one["facets"]["substrate|LiCoO2"] == nx
    assert one["facets"]["Li3PO4|Li"] + one["facets"]["exposed_top"] == nx


def test_transferred_integrals_equal(results):
    one, all_ = results
    assert np.allclose(all_["xH"], one["xH"], rtol=1e-12)
    assert one["xH"][1] > 0


def test_impedance_same_on_all_ranks(results):
    one, all_ = results
    assert one["residual"] < 1e-8 and all_["residual"] < 1e-8
    assert one["dofs"] == all_["dofs"]
    assert np.max(np.abs(all_["Z"] / one["Z"] - 1)) < 1e-8
