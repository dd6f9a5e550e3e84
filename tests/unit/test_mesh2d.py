"""2-D cross-section mesh: regions, facet groups, grading, cell type, size.

Every ``mpi`` test compares only globally reduced quantities, so it holds for any
number of ranks (``mpirun -n 2 python -m pytest -m mpi``).
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.cross_section import (
    LATERAL_SIZE_RATIO,
    build_cross_section_mesh,
    create_gmsh_model,
    lateral_node_coordinates,
)
from fem_cell.meshing.line import layer_node_coordinates
from fem_cell.meshing.settings import MeshSettings

W = 2e-3  # cross-section width (m)
PAD = 1e-3  # Li pad width (m)
THICK = {"substrate": 500e-6, "LiCoO2": 90e-9, "degraded": 10e-9, "Li3PO4": 1e-6, "Li": 0.5e-6}
EXTERIOR = ("bottom", "top", "exposed_top", "left", "right")


def stack() -> StackGeometry:
    """Representative stack: 0.5 mm substrate … 1 mm wide Li pad on a 2 mm section."""
    return StackGeometry((
        LayerSpec("substrate", "substrate", THICK["substrate"]),
        LayerSpec("LiCoO2", "LiCoO2", THICK["LiCoO2"]),
        LayerSpec("degraded", "degraded", THICK["degraded"]),
        LayerSpec("Li3PO4", "Li3PO4", THICK["Li3PO4"]),
        LayerSpec("Li", "Li", THICK["Li"], width=PAD),
    ), W)


SETTINGS = MeshSettings(dim=2, lateral_cells=60)
FILMS = sum(t for n, t in THICK.items() if n != "substrate")  # film stack above the substrate (m)
#: no pad-edge refinement (edge size = the whole width): the ``lateral_cells`` scale only
NO_EDGE = {"lateral_edge_size": W}


#: the films balanced over the ranks in lateral strips (fem_cell.meshing.partition), or
#: dolfinx's default partitioner: every test holds for both distributions
BALANCE = {"default": (), "strips": ("LiCoO2", "degraded", "Li3PO4")}


@pytest.fixture(scope="module", params=list(BALANCE))
def domain(request):
    return build_cross_section_mesh(stack(), SETTINGS, MPI.COMM_WORLD,
                                    balance=BALANCE[request.param])


def facet_measure(d, name: str) -> float:
    one = fem.Constant(d.mesh, 1.0)
    return d.integrate(one, d.ds(name) if name in EXTERIOR else d.dS(name))


def global_unique(comm, values: np.ndarray, decimals: int = 9) -> np.ndarray:
    """Sorted distinct values over all ranks (rounded to ``decimals``)."""
    local = np.unique(np.round(values, decimals))
    return np.unique(np.concatenate(comm.allgather(local)))


@pytest.mark.mpi
def test_names_and_tags(domain):
    g = stack()
    assert domain.cell_names == {n: i + 1 for i, n in enumerate(g.layer_names)}
    expected = {"bottom": 1, "top": 2, "exposed_top": 3, "left": 4, "right": 5}
    expected.update({n: 10 + i for i, n in enumerate(g.interface_names)})
    assert domain.facet_names == expected
    assert domain.length_scale == SETTINGS.length_scale


@pytest.mark.mpi
def test_layer_areas(domain):
    for name, t in THICK.items():
        width = PAD if name == "Li" else W
        assert domain.volume(name) == pytest.approx(t * width, rel=1e-10), name
    assert domain.volume() == pytest.approx(sum(THICK.values()) * W - THICK["Li"] * (W - PAD),
                                            rel=1e-10)


@pytest.mark.mpi
def test_facet_group_lengths(domain):
    full = sum(t for n, t in THICK.items() if n != "Li")
    expected = {
        "bottom": W,
        "top": PAD,
        "exposed_top": (W - PAD) + 2 * THICK["Li"],
        "left": full,
        "right": full,
        "substrate|LiCoO2": W,
        "LiCoO2|degraded": W,
        "degraded|Li3PO4": W,
        "Li3PO4|Li": PAD,
    }
    for name, length in expected.items():
        assert facet_measure(domain, name) == pytest.approx(length, rel=1e-10), name


@pytest.mark.mpi
def test_facet_groups_disjoint_and_on_the_right_side(domain):
    msh = domain.mesh
    tdim = msh.topology.dim
    ft = domain.facet_tags
    assert len(np.unique(ft.indices)) == len(ft.indices)  # at most one group per facet
    n_own = msh.topology.index_map(tdim - 1).size_local
    exterior = set(dolfinx.mesh.exterior_facet_indices(msh.topology).tolist())
    for name in domain.facet_names:
        own = [f for f in domain.facets(name) if f < n_own]
        on_boundary = [f in exterior for f in own]
        if name in EXTERIOR:
            assert all(on_boundary), name
        else:
            assert not any(on_boundary), name
    # every owned exterior facet is in exactly one outer group
    outer = set(domain.facets(*EXTERIOR).tolist())
    assert exterior <= outer


@pytest.mark.mpi
def test_quadrilateral_cells(domain):
    assert domain.mesh.topology.cell_type == dolfinx.mesh.CellType.quadrilateral
    assert domain.mesh.geometry.dim == 2


@pytest.mark.mpi
def test_vertical_grading_equals_1d(domain):
    ell = domain.length_scale
    z1d = layer_node_coordinates(stack(), SETTINGS)
    # the node rows are exactly the 1-D nodes
    rows = global_unique(domain.comm, domain.mesh.geometry.x[:, 1] * ell / 1e-9, 6) * 1e-9
    expected = np.unique(np.round(np.concatenate(z1d) / 1e-9, 6)) * 1e-9
    assert rows.shape == expected.shape
    assert np.allclose(rows, expected, rtol=0, atol=1e-15)

    # smallest vertical cell size in the nm layer, from the cells themselves
    msh = domain.mesh
    dofs = msh.geometry.dofmaps[0][domain.cells("degraded")]
    y = msh.geometry.x[:, 1][dofs] * ell
    local = float(np.min(np.ptp(y, axis=1))) if len(y) else np.inf
    h2d = domain.comm.allreduce(local, op=MPI.MIN)
    h1d = np.diff(z1d[2]).min()
    assert h2d <= 2 * h1d
    assert h2d == pytest.approx(h1d, rel=1e-6)


@pytest.mark.mpi
def test_lateral_grading():
    g, s = stack(), MeshSettings(dim=2, lateral_cells=60, **NO_EDGE)
    x = lateral_node_coordinates(g, s)
    h = np.diff(x)
    assert x[0] == 0.0 and x[-1] == pytest.approx(W, rel=1e-15)
    assert abs(len(h) - s.lateral_cells) <= 4
    edges = g.lateral_extent("Li")
    for e in edges:  # pad edges are nodes, flanked by the smallest cells
        i = int(np.argmin(np.abs(x - e)))
        assert x[i] == pytest.approx(e, rel=1e-14)
        assert min(h[i - 1], h[i]) == pytest.approx(h.min(), rel=1e-6)
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= s.lateral_growth * (1 + 1e-6)
    assert h.max() / h.min() <= LATERAL_SIZE_RATIO * (1 + 1e-6)


@pytest.mark.mpi
@pytest.mark.parametrize("n", [1000, 4000])
def test_lateral_grading_fine_meshes_stay_sane(n):
    """Many lateral cells refine everywhere; edge cells do not collapse."""
    h = np.diff(lateral_node_coordinates(stack(), MeshSettings(dim=2, lateral_cells=n, **NO_EDGE)))
    assert len(h) == pytest.approx(n, abs=4)
    assert h.min() >= W / n / LATERAL_SIZE_RATIO
    assert h.max() <= W / n * LATERAL_SIZE_RATIO


@pytest.mark.mpi
def test_node_columns_are_lateral_nodes(domain):
    x = lateral_node_coordinates(stack(), SETTINGS)
    cols = global_unique(domain.comm, domain.mesh.geometry.x[:, 0] * domain.length_scale / 1e-9, 6)
    assert np.allclose(cols * 1e-9, x, rtol=0, atol=1e-15)


@pytest.mark.mpi
def test_p1_dofs_scale_with_lateral_cells():
    comm = MPI.COMM_WORLD
    g = stack()
    rows = sum(len(z) - 1 for z in layer_node_coordinates(g, SETTINGS)) + 1
    sizes = {}
    for n in (40, 80):
        d = build_cross_section_mesh(g, MeshSettings(dim=2, lateral_cells=n, **NO_EDGE), comm)
        V = fem.functionspace(d.mesh, ("Lagrange", 1))
        sizes[n] = V.dofmap.index_map.size_global
        cols = len(lateral_node_coordinates(g, MeshSettings(dim=2, lateral_cells=n, **NO_EDGE)))
        assert cols == pytest.approx(n + 1, abs=4)
        # full tensor grid minus the nodes of the Li rows outside the pad
        assert sizes[n] < rows * cols
        assert sizes[n] > (rows - len(layer_node_coordinates(g, SETTINGS)[-1])) * cols
    assert sizes[80] / sizes[40] == pytest.approx(2.0, rel=0.06)


def test_gmsh_model_groups():
    import gmsh

    g = stack()
    gmsh.initialize(interruptible=False)
    try:
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("test")
        create_gmsh_model(g, SETTINGS)
        groups = {gmsh.model.getPhysicalName(d, t): (d, t)
                  for d, t in gmsh.model.getPhysicalGroups()}
        gmsh.model.mesh.generate(2)
        # only quadrilaterals (gmsh type 3) in 2-D
        types = gmsh.model.mesh.getElementTypes(2)
        n_nodes = len(gmsh.model.mesh.getNodes()[0])
    finally:
        gmsh.finalize()
    for i, name in enumerate(g.layer_names):
        assert groups[name] == (2, i + 1)
    for i, name in enumerate(g.interface_names):
        assert groups[name] == (1, 10 + i)
    for name, tag in {"bottom": 1, "top": 2, "exposed_top": 3, "left": 4, "right": 5}.items():
        assert groups[name] == (1, tag)
    assert list(types) == [3]
    rows = sum(len(z) - 1 for z in layer_node_coordinates(g, SETTINGS)) + 1
    assert n_nodes <= rows * len(lateral_node_coordinates(g, SETTINGS))


def test_no_narrow_layer_has_empty_exposed_top():
    g = StackGeometry((LayerSpec("a", "a", 10e-6), LayerSpec("b", "b", 1e-9)), 100e-6)
    d = build_cross_section_mesh(g, MeshSettings(dim=2, lateral_cells=10), MPI.COMM_WORLD)
    assert d.facet_tag("exposed_top") == 3
    assert facet_measure(d, "exposed_top") == 0.0
    assert facet_measure(d, "top") == pytest.approx(100e-6, rel=1e-12)
    assert facet_measure(d, "a|b") == pytest.approx(100e-6, rel=1e-12)


def test_large_mesh_builds():
    """A 1000-column cross-section (> 90k nodes) builds (timing: scripts/bench_heat.py)."""
    d = build_cross_section_mesh(stack(), MeshSettings(dim=2, lateral_cells=1000),
                                 MPI.COMM_WORLD)
    assert d.mesh.topology.index_map(0).size_global > 90_000


# ---------------------------------------------------------------------------------
# pad-edge lateral refinement (hardening: 10.6 µm wide cells over a 1.6 µm film stack)
# ---------------------------------------------------------------------------------
def edge_cells(x: np.ndarray, edges) -> list[float]:
    """Widths of the two cells flanking every edge."""
    h = np.diff(x)
    out = []
    for e in edges:
        i = int(np.argmin(np.abs(x - e)))
        assert x[i] == pytest.approx(e, rel=1e-14)
        out += [h[i - 1], h[i]]
    return out


@pytest.mark.mpi
def test_pad_edge_cells_resolve_the_film_stack():
    g = stack()
    x = lateral_node_coordinates(g, SETTINGS)
    h = np.diff(x)
    widths = edge_cells(x, g.lateral_extent("Li"))
    assert max(widths) <= FILMS * (1 + 1e-9)  # no wider than the film stack
    assert min(widths) >= 0.5 * FILMS  # ... and not needlessly finer
    assert h.min() == pytest.approx(min(widths), rel=1e-9)
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= SETTINGS.lateral_growth * (1 + 1e-6)
    # the size cap is still set by lateral_cells (20 x its scale); refinement only adds cells
    plain = lateral_node_coordinates(g, MeshSettings(dim=2, lateral_cells=60, **NO_EDGE))
    assert h.max() <= LATERAL_SIZE_RATIO * np.diff(plain).min() * (1 + 1e-9)
    assert len(h) > len(plain) - 1


@pytest.mark.mpi
@pytest.mark.parametrize("edge", [0.2e-6, 5e-6])
def test_lateral_edge_size_setting(edge):
    g = stack()
    s = MeshSettings(dim=2, lateral_cells=60, lateral_edge_size=edge)
    x = lateral_node_coordinates(g, s)
    widths = edge_cells(x, g.lateral_extent("Li"))
    assert max(widths) <= edge * (1 + 1e-9)
    assert min(widths) >= 0.9 * edge
    h = np.diff(x)
    assert np.max(np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])) <= s.lateral_growth * (1 + 1e-6)


def test_lateral_edge_size_must_be_positive():
    with pytest.raises(ValueError, match="lateral_edge_size"):
        MeshSettings(dim=2, lateral_edge_size=0.0)


@pytest.mark.mpi
def test_pad_edge_cells_in_the_mesh(domain):
    """From the mesh itself: the Li cells at the pad edges are film-thickness wide."""
    msh = domain.mesh
    ell = domain.length_scale
    dofs = msh.geometry.dofmaps[0][domain.cells("Li")]
    x = msh.geometry.x[:, 0][dofs] * ell
    lo, hi = stack().lateral_extent("Li")
    at_edge = np.any(np.isclose(x, lo, rtol=0, atol=1e-12) | np.isclose(x, hi, rtol=0, atol=1e-12),
                     axis=1)
    local = np.ptp(x[at_edge], axis=1)
    widest = domain.comm.allreduce(float(local.max()) if len(local) else 0.0, op=MPI.MAX)
    count = domain.comm.allreduce(int(len(local)), op=MPI.SUM)
    assert count > 0
    assert 0.5 * FILMS <= widest <= FILMS * (1 + 1e-9)


# ---------------------------------------------------------------------------------
# growth = largest neighbouring-cell size ratio through the thickness (2-D rows)
# ---------------------------------------------------------------------------------
@pytest.mark.mpi
@pytest.mark.parametrize("growth", [1.1, 1.25, 2.0, 10.0])
def test_vertical_growth_is_the_largest_neighbour_ratio(growth):
    s = MeshSettings(dim=2, lateral_cells=10, growth=growth, **NO_EDGE)
    d = build_cross_section_mesh(stack(), s, MPI.COMM_WORLD)
    y = d.mesh.geometry.x[:, 1]
    rows = np.unique(np.concatenate(d.comm.allgather(np.unique(y))))
    h = np.diff(rows)
    assert h.min() > 0
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= growth * (1 + 1e-6)
    assert len(h) == sum(len(z) - 1 for z in layer_node_coordinates(stack(), s))
