"""Domain.submesh: film sub-meshes of the default cell keep names, tags, measures and
the length scale, on 1-D and 2-D meshes and on any number of ranks (``-m mpi``)."""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import fem
from fem_cell.config import load_config
from fem_cell.domain import SubmeshTransfer
from fem_cell.errors import MeshError
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings

FILMS = ("LiCoO2", "degraded", "Li3PO4")


def parent(comm, dim):
    cfg = load_config(None)
    if dim == 1:
        return build_line_mesh(cfg.geometry, cfg.mesh, comm)
    from fem_cell.meshing.cross_section import build_cross_section_mesh

    s = MeshSettings(dim=2, cells_per_layer=2, lateral_cells=16, lateral_growth=1.5, growth=2.0,
                     max_cell_size=100e-6)
    return build_cross_section_mesh(cfg.geometry, s, comm)


def one(d):
    return fem.Constant(d.mesh, 1.0)


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_film_submesh_tags_and_measures(comm, dim):
    d = parent(comm, dim)
    f = d.submesh(*FILMS)
    assert f.parent is d and f.entity_map is not None
    assert f.length_scale == d.length_scale and f.dim == d.dim
    assert f.cell_names == {n: d.cell_names[n] for n in FILMS}
    for n in FILMS:
        assert f.volume(n) == pytest.approx(d.volume(n), rel=1e-12)
    # interfaces inside the film stay interior, the cut interfaces become outer groups
    for n in ("LiCoO2|degraded", "degraded|Li3PO4"):
        ref = d.integrate(one(d), d.dS(n))
        assert f.integrate(one(f), f.dS(n)) == pytest.approx(ref, rel=1e-12)
        assert f.integrate(one(f), f.ds(n)) == 0.0
    for n in ("substrate|LiCoO2", "Li3PO4|Li"):
        assert f.facet_names[n] == d.facet_names[n]
        ref = d.integrate(one(d), d.dS(n))
        assert f.integrate(one(f), f.ds(n)) == pytest.approx(ref, rel=1e-12)
    assert "bottom" not in f.facet_names and "top" not in f.facet_names
    if dim == 2:
        for n in ("left", "right", "exposed_top"):
            assert f.integrate(one(f), f.ds(n)) > 0.0
    # every cell keeps its parent's tag
    pc = f.parent_cells()
    ptag = dict(zip(d.cell_tags.indices, d.cell_tags.values, strict=True))
    pairs = zip(pc[f.cell_tags.indices], f.cell_tags.values, strict=True)
    assert all(ptag[int(p)] == int(v) for p, v in pairs)


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_temperature_transfer(comm, dim):
    d = parent(comm, dim)
    f = d.submesh(*FILMS)
    Tp = fem.Function(fem.functionspace(d.mesh, ("Lagrange", 1)))
    Tp.interpolate(lambda x: 300.0 + 7.0 * x[0] + 3.0 * x[1])
    Ts = fem.Function(fem.functionspace(f.mesh, ("Lagrange", 1)))
    SubmeshTransfer(Tp, Ts, f)()
    X = Ts.function_space.tabulate_dof_coordinates()
    assert np.allclose(Ts.x.array, 300.0 + 7.0 * X[:, 0] + 3.0 * X[:, 1], rtol=0, atol=1e-10)
    ex = f.integrate(Ts, f.dx("degraded"))
    assert ex == pytest.approx(d.integrate(Tp, d.dx("degraded")), rel=1e-12)


def test_submesh_errors(comm):
    d = parent(comm, 1)
    with pytest.raises(MeshError):
        d.submesh()
    with pytest.raises(MeshError):
        d.submesh("nope")
    with pytest.raises(MeshError):
        d.parent_cells()
