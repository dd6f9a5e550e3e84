"""The 2-D exposure through the film's 1-D column (fem_cell.model.exposure,
fem_cell.meshing.column).

On the coarse 2-D cross-section (the films a tensor product of lateral positions and
heights) the exposure is laterally uniform; its discrete solution is the 1-D one on the
film's heights.  Compared in the same process against the exposure solved on the 2-D
film mesh itself: the same step sequence, the exposed fields of the anneal's block to
1e-10 (measured 1.2e-12: below the Newton tolerance 1e-9; 6e-13 with 1e-11), and every
history column to 1e-9 relative (measured 7.5e-12; 3e-12 with 1e-11).  Marked ``mpi``:
under ``mpirun -n 2`` the 2-D solve is
distributed, the column one runs on every rank, and every rank compares its own DOFs.

Unit checks of :func:`film_column`: the column of the coarse film (its heights and
named interfaces), refusals (1-D, triangles, a layer that is not one full-width band),
and :func:`column_index`.
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.config import load_config
from fem_cell.domain import Domain
from fem_cell.meshing.column import column_index, film_column
from fem_cell.model import CellModel
from fem_cell.model import exposure as exposure_module
from fem_cell.model.chemistry import clear_exposure_cache

COARSE_2D = {"dim": 2, "cells_per_layer": 3, "growth": 1.5, "max_cell_size": "50 um",
             "lateral_cells": 30, "lateral_growth": 1.2}


def _config(mesh=COARSE_2D):
    return load_config(overrides={"mesh": mesh, "output": {"fields": False}})


def _exposed(cfg, comm, *, column: bool, monkeypatch):
    if not column:
        monkeypatch.setattr(exposure_module, "film_column", lambda film: None)
    clear_exposure_cache()
    model = CellModel(cfg, comm)
    try:
        chem = model.chemistry(expose=True)
        b = chem.transport
        name = b.phases[0].name
        res = chem.exposure_result
        return {"x": b.x[name].x.array.copy(), "xt": b.trapped[name].x.array.copy(),
                "rows": {k: np.array(v) for k, v in res.rows.items()},
                "dts": list(res.stats.dts), "column_nodes": res.column_nodes,
                "solver": res.solver}
    finally:
        model.destroy()
        monkeypatch.undo()


@pytest.mark.mpi
def test_column_exposure_equals_the_2d_exposure(monkeypatch):
    comm = MPI.COMM_WORLD
    cfg = _config()
    col = _exposed(cfg, comm, column=True, monkeypatch=monkeypatch)
    full = _exposed(cfg, comm, column=False, monkeypatch=monkeypatch)
    assert col["column_nodes"] == 24 and full["column_nodes"] is None
    assert col["solver"]["linear_solver"] == "direct" and col["solver"]["column_nodes"] == 24
    assert col["dts"] == full["dts"]                  # the same step sequence
    for k in ("x", "xt"):
        assert np.abs(col[k] - full[k]).max() < 1e-10, k
    assert col["xt"].max() > 0.1                       # traps filled near the surface
    for k, v in full["rows"].items():
        if k == "mass_balance_rel":                    # round-off on both sides
            assert np.abs(col["rows"][k]).max() < 1e-10
            continue
        scale = np.abs(v).max()
        assert np.abs(col["rows"][k] - v).max() <= 1e-9 * max(scale, 1e-300), k
    # every rank the same history (the column runs on each; the 2-D one is all-reduced)
    mine = col["rows"]["R_interface_ohm_cm2"].tobytes()
    assert all(o == mine for o in comm.allgather(mine))


def test_iterative_runs_use_the_direct_column():
    cfg = load_config(overrides={"mesh": COARSE_2D, "output": {"fields": False},
                                 "solver": {"linear_solver": "iterative"}})
    clear_exposure_cache()
    model = CellModel(cfg, MPI.COMM_WORLD)
    try:
        chem = model.chemistry(expose=True)
        assert chem.exposure_result.solver["linear_solver"] == "direct"
        assert chem.transport_problem.linear_solver == "iterative"
    finally:
        model.destroy()


def test_the_column_of_the_coarse_film():
    model = CellModel(_config(), MPI.COMM_WORLD)
    try:
        film = model.film
        col = film_column(film)
        assert col is not None and col.dim == 1 and col.comm.size == 1
        y = film.mesh.geometry.x[:, 1]
        z = col.mesh.geometry.x[:, 0]
        # the column's nodes are the film's heights, the film's own coordinates
        assert np.all(np.min(np.abs(y[:, None] - z[None, :]), axis=1) == 0.0)
        assert set(col.cell_names) == {"LiCoO2", "degraded", "Li3PO4"}
        # full-width horizontal facet groups only ("Li3PO4|Li" lies under the pad alone)
        assert set(col.facet_names) == {"substrate|LiCoO2", "LiCoO2|degraded",
                                        "degraded|Li3PO4"}
        for name, t in (("LiCoO2", 90e-9), ("degraded", 10e-9), ("Li3PO4", 1e-6)):
            cells = col.cells(name)
            x = col.mesh.geometry.x[dolfinx.mesh.entities_to_geometry(col.mesh, 1, cells), 0]
            assert (x.max() - x.min()) * col.length_scale == pytest.approx(t, rel=1e-9)
    finally:
        model.destroy()


def test_no_column_for_1d_triangles_or_a_partial_layer():
    comm = MPI.COMM_WORLD
    model = CellModel(_config({"dim": 1, "cells_per_layer": 4}), comm)
    try:
        assert film_column(model.film) is None
    finally:
        model.destroy()
    # a unit square of triangles, and of quadrilaterals whose "layer" is half its width
    for cell in (dolfinx.mesh.CellType.triangle, dolfinx.mesh.CellType.quadrilateral):
        msh = dolfinx.mesh.create_unit_square(comm, 4, 4, cell)
        tdim = msh.topology.dim
        n = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
        mid = dolfinx.mesh.compute_midpoints(msh, tdim, np.arange(n, dtype=np.int32))
        values = np.where(mid[:, 0] < 0.5, 1, 2).astype(np.int32)
        tags = dolfinx.mesh.meshtags(msh, tdim, np.arange(n, dtype=np.int32), values)
        msh.topology.create_connectivity(tdim - 1, tdim)
        facets = dolfinx.mesh.locate_entities(msh, tdim - 1, lambda x: np.isclose(x[1], 0.0))
        ftags = dolfinx.mesh.meshtags(msh, tdim - 1, facets, np.full(len(facets), 1, np.int32))
        dom = Domain(msh, tags, ftags, {"a": 1, "b": 2}, {"bottom": 1}, 1e-6)
        assert film_column(dom) is None, cell


def test_column_index():
    column = np.array([0.0, 3.0, 1.0, 2.0])
    film = np.array([2.0, 2.0 + 1e-12, 0.0, 3.0])
    idx = column_index(film, column, 3.0)
    assert list(idx) == [3, 3, 0, 1]
    assert column_index(np.array([1.5]), column, 3.0) is None
