"""The 2-D small-signal film mesh refined at the Li pad edges (fem_cell/meshing/refine_2d.py):
tags and names kept, every film node kept, the proton field transferred exactly, the
through-thickness rows equal to the 1-D model's, graded pad-edge columns.

The ``mpi`` tests compare only global quantities (also run under ``mpirun -n 2``).
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.errors import MeshError
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.cross_section import build_cross_section_mesh
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.refine import REFINE_1D, refined_line_domain
from fem_cell.meshing.refine_2d import (
    PAD_EDGE_2D,
    film_grid,
    grid_levels,
    nearest_level,
    pad_edge_columns,
    refined_pad_edge_domain,
    small_signal_film_domain,
)
from fem_cell.meshing.settings import MeshSettings

FILM = ("LiCoO2", "degraded", "Li3PO4")
W, PAD = 3e-3, 1e-3      # the default cell: 1 mm Li pad centred on 3 mm films
SETTINGS = MeshSettings(dim=2, cells_per_layer=4, growth=1.5, lateral_cells=30,
                        lateral_growth=1.3, max_cell_size=100e-6)


def geometry(pad: float | None = PAD) -> StackGeometry:
    return StackGeometry((LayerSpec("substrate", "substrate", 500e-6),
                          LayerSpec("LiCoO2", "LiCoO2", 90e-9),
                          LayerSpec("degraded", "LiCoO2", 10e-9),
                          LayerSpec("Li3PO4", "Li3PO4", 1e-6),
                          LayerSpec("Li", "Li", 0.5e-6, pad)), W)


def film_of(comm, pad: float | None = PAD, settings: MeshSettings = SETTINGS):
    return build_cross_section_mesh(geometry(pad), settings, comm).submesh(*FILM)


def proton_field(film):
    """A steep erfc-like profile in z, varying in x too (P1 on the film)."""
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    x = fem.Function(V, name="xH_LiCoO2")
    z_if = 500.09   # LiCoO2|degraded (µm)
    x.interpolate(lambda X: 0.3 * np.exp(-np.abs(X[1] - z_if) / 2e-3) * (1 + 1e-4 * X[0]))
    return x


@pytest.fixture(scope="module")
def film():
    return film_of(MPI.COMM_WORLD)


@pytest.fixture(scope="module")
def refined(film):
    x = proton_field(film)
    dom, xr = refined_pad_edge_domain(film, x)
    return x, dom, xr


def _glob(comm, v):
    return comm.allreduce(v, op=MPI.SUM)


def measure(dom, kind: str, name: str, f=None) -> float:
    """∫ f over a region (``dx``) or a facet group (``ds``/``dS``), mesh units, global."""
    one = fem.Constant(dom.mesh, 1.0) if f is None else f
    if kind == "dx":
        m = ufl.Measure("dx", domain=dom.mesh, subdomain_data=dom.cell_tags,
                        metadata={"quadrature_degree": 6})(dom.cell_tag(name))
    else:
        m = ufl.Measure(kind, domain=dom.mesh, subdomain_data=dom.facet_tags)(
            dom.facet_tag(name))
        if kind == "dS":
            one = ufl.avg(one)
    return _glob(dom.comm, fem.assemble_scalar(fem.form(one * m)))


@pytest.mark.mpi
def test_names_and_tags_kept(film, refined):
    _, dom, _ = refined
    assert dom.cell_names == film.cell_names
    assert dom.facet_names == film.facet_names
    assert dom.cell_tags.name == film.cell_tags.name
    assert dom.facet_tags.name == film.facet_tags.name
    assert dom.length_scale == film.length_scale


#: The film sits 500 µm above the origin: each cell's Jacobian carries ≈ eps·500 µm of
#: round-off, ≈ 1e-13 µm on each of ~200 rows, i.e. ~1e-10 of the 90 nm LiCoO2 layer's
#: area.  Integrals over regions agree to this round-off floor, not to 1e-12.
ROUND_OFF = 1e-9


@pytest.mark.mpi
def test_regions_and_facet_groups_cover_the_same_sets(film, refined):
    """Every region has the film's area and every facet group its length; the contact is
    the pad (1 mm), the free top the rest (2 mm)."""
    _, dom, _ = refined
    for name in FILM:
        assert measure(dom, "dx", name) == pytest.approx(measure(film, "dx", name),
                                                         rel=ROUND_OFF)
    for name in ("substrate|LiCoO2", "Li3PO4|Li", "exposed_top", "left", "right"):
        assert measure(dom, "ds", name) == pytest.approx(measure(film, "ds", name), rel=1e-12)
    for name in ("LiCoO2|degraded", "degraded|Li3PO4"):
        assert measure(dom, "dS", name) == pytest.approx(measure(film, "dS", name), rel=1e-12)
    assert measure(dom, "ds", "Li3PO4|Li") == pytest.approx(PAD / dom.length_scale, rel=1e-12)
    assert measure(dom, "ds", "exposed_top") == pytest.approx((W - PAD) / dom.length_scale,
                                                             rel=1e-12)
    assert measure(dom, "ds", "left") == pytest.approx(1.1, rel=1e-12)   # film height, µm


@pytest.mark.mpi
def test_every_film_node_is_kept_and_only_added_to(film, refined):
    _, dom, _ = refined
    ux, uz, _ = film_grid(film, None)
    rx, rz, _ = film_grid(dom, None)
    for old, new in ((ux, rx), (uz, rz)):
        assert np.max(np.abs(new[nearest_level(new, old)] - old)) < 1e-12 * np.max(old)
    assert rx.size > ux.size and rz.size > uz.size


@pytest.mark.mpi
def test_bilinear_field_transferred_exactly(film):
    """A field bilinear in (x, z) — a Q1 function on any tensor grid — arrives nodally
    exact."""
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    x = fem.Function(V, name="f")

    def f(X):
        return 0.2 + 3e-4 * X[0] - 0.7 * (X[1] - 500) + 1e-3 * X[0] * (X[1] - 500)

    x.interpolate(f)
    dom, xr = refined_pad_edge_domain(film, x)
    C = xr.function_space.tabulate_dof_coordinates()
    assert np.max(np.abs(xr.x.array - f(C.T))) < 1e-12 * np.max(np.abs(xr.x.array))
    assert xr.name == "f"


def interpolated(film, x, dom):
    """``x`` (on ``film``) evaluated at the DOFs of a P1 space on ``dom`` by dolfinx's
    point location (an independent evaluation of the film function)."""
    V = fem.functionspace(dom.mesh, ("Lagrange", 1))
    u = fem.Function(V)
    tdim = dom.mesh.topology.dim
    cmap = dom.mesh.topology.index_map(tdim)
    cells = np.arange(cmap.size_local + cmap.num_ghosts, dtype=np.int32)
    data = fem.create_interpolation_data(V, x.function_space, cells, padding=1e-9)
    u.interpolate_nonmatching(x, cells, data)
    u.x.scatter_forward()
    return u


@pytest.mark.mpi
def test_proton_field_is_the_same_function(film, refined):
    """The steep profile, evaluated on the film at every refined node, equals the
    transferred field; ∫x and ∫x² over each region agree to the round-off floor."""
    x, dom, xr = refined
    u = interpolated(film, x, dom)
    n = xr.function_space.dofmap.index_map.size_local
    err = MPI.COMM_WORLD.allreduce(float(np.max(np.abs(u.x.array[:n] - xr.x.array[:n]),
                                                initial=0.0)), op=MPI.MAX)
    # point location at z ≈ 500 µm in 5e-8 µm rows: round-off ≈ 1e-10 of the values
    assert err < 1e-9 * 0.3
    for name in ("LiCoO2", "degraded"):
        for g in (lambda v: v, lambda v: v * v):
            a, b = measure(film, "dx", name, g(x)), measure(dom, "dx", name, g(xr))
            assert b == pytest.approx(a, rel=1e-8)   # steep in nm cells: see ROUND_OFF
    assert measure(dom, "dx", "LiCoO2", xr) > 0


def test_random_q1_field_is_the_same_function(film):
    """Random nodal values (not smooth): the film function at every refined node."""
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    x = fem.Function(V, name="r")
    C = V.tabulate_dof_coordinates()
    x.x.array[:] = np.sin(7.3 * C[:, 0]) + np.cos(1e4 * C[:, 1])   # same on shared nodes
    dom, xr = refined_pad_edge_domain(film, x, pad_edge=(0.2e-6, 1.3))
    u = interpolated(film, x, dom)
    assert np.max(np.abs(u.x.array - xr.x.array)) < 1e-10


@pytest.mark.mpi
def test_rows_equal_the_1d_models_nodes(film, refined):
    """The refined rows are the nodes of the 1-D small-signal film of the same [mesh]
    settings (REFINE_1D): a 2-D spectrum and its 1-D twin share the through-thickness
    discretisation."""
    _, dom, _ = refined
    line = build_line_mesh(geometry(), MeshSettings(
        dim=1, cells_per_layer=SETTINGS.cells_per_layer, growth=SETTINGS.growth,
        max_cell_size=SETTINGS.max_cell_size), MPI.COMM_WORLD).submesh(*FILM)
    d1, _ = refined_line_domain(line, None, interface_cell=REFINE_1D[0], growth=REFINE_1D[1])
    z1 = np.unique(np.concatenate(MPI.COMM_WORLD.allgather(d1.mesh.geometry.x[:, 0])))
    _, rz, _ = film_grid(dom, None)
    assert rz.size == z1.size
    assert np.max(np.abs(rz - z1)) < 1e-12 * rz.max()


@pytest.mark.mpi
def test_pad_edge_columns_graded(film, refined):
    """First column at each pad edge ≤ the edge cell; sizes grow smoothly to the film's."""
    _, dom, _ = refined
    rx, _, _ = film_grid(dom, None)
    h = np.diff(rx) * dom.length_scale
    edge_cell, growth = PAD_EDGE_2D
    for e in (W - PAD) / 2, (W + PAD) / 2:
        k = int(np.argmin(np.abs(rx * dom.length_scale - e)))
        assert h[k - 1] <= edge_cell * (1 + 1e-9) and h[k] <= edge_cell * (1 + 1e-9)
        assert h[k - 1] >= 0.9 * edge_cell and h[k] >= 0.9 * edge_cell
        right = h[k:k + 10]
        assert np.all(right[1:] / right[:-1] <= growth * (1 + 1e-6))
        assert np.all(right[1:] / right[:-1] >= 1.1)
    # where the graded cells meet the film's columns an interval split in two (cells <= 1/2)
    # meets an unsplit one: neighbours differ by at most twice the film's own ratio
    ux, _, _ = film_grid(film, None)
    g = np.diff(ux)
    film_ratio = np.max(np.maximum(g[1:] / g[:-1], g[:-1] / g[1:]))
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= 2 * film_ratio * 1.01


def test_pad_edge_columns_keep_nodes_and_follow_the_field():
    ux = np.linspace(0.0, 20.0, 21)
    out = pad_edge_columns(ux, [4.0], 0.01, 1.2)
    assert set(ux) <= set(out)
    h = np.diff(out)
    k = int(np.searchsorted(out, 4.0))
    assert 0.009 <= h[k - 1] <= 0.01 and 0.009 <= h[k] <= 0.01
    grow = h[k:k + 15]
    assert np.all(grow[1:] / grow[:-1] <= 1.2 * (1 + 1e-6))
    assert np.all(grow[1:] / grow[:-1] > 1.15)
    # h0 + ln(1.2)·d reaches the spacing 1 at d ≈ 5.4: intervals beyond 10 are untouched
    far = out[1:] > 10.0 + 1e-12
    assert np.allclose(h[far], 1.0)
    assert np.max(np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])) <= 2.2
    assert np.array_equal(pad_edge_columns(ux, [], 0.01, 1.2), ux)


def test_grid_levels_merge_round_off():
    v = np.array([500.0, 500.0 + 1e-13, 500.5, 500.5 - 2e-13, 501.0])
    lev, idx = grid_levels(v, 1e-12 * 501)
    assert lev.size == 3 and list(idx) == [0, 0, 1, 1, 2]


def test_full_width_pad_adds_no_columns():
    film = film_of(MPI.COMM_WORLD, pad=None)
    dom, _ = refined_pad_edge_domain(film, None)
    a, b = film_grid(dom, None)[0], film_grid(film, None)[0]
    assert a.size == b.size and np.max(np.abs(a - b)) < 1e-12 * b.max()


def test_dispatch_and_errors(film):
    line = build_line_mesh(geometry(), MeshSettings(dim=1, cells_per_layer=4),
                           MPI.COMM_WORLD).submesh(*FILM)
    d1, _ = small_signal_film_domain(line, None)
    d0, _ = refined_line_domain(line, None)
    assert d1.mesh.topology.index_map(0).size_global == d0.mesh.topology.index_map(0).size_global
    d2, _ = small_signal_film_domain(film, None, pad_edge=None)
    assert d2.dim == 2
    assert film_grid(d2, None)[0].size == film_grid(film, None)[0].size
    with pytest.raises(MeshError, match="2-D"):
        refined_pad_edge_domain(line, None)
    tri = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 3, 3,
                                          diagonal=dolfinx.mesh.DiagonalType.crossed)
    from fem_cell.domain import Domain

    tags = dolfinx.mesh.meshtags(tri, 2, np.arange(0, dtype=np.int32), np.zeros(0, np.int32))
    with pytest.raises(MeshError, match="tensor grid"):
        film_grid(Domain(tri, tags, tags, {}, {}, 1.0), None)


@pytest.mark.parametrize("refine", [True, (1e-12, 1.3), False])
def test_the_small_signal_model_solves_on_the_mesh_film_mesh_makes(refine):
    """``film_mesh`` (build_small_signal, CellModel.small_signal): the refinement the
    small-signal model solves on, given the grading asked for; unused without one."""
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    made = []

    def spy(film, x, grading):
        made.append(grading)
        dom, xr = refined_line_domain(film, x, interface_cell=(grading or REFINE_1D)[0],
                                      growth=(grading or REFINE_1D)[1])
        made.append(dom)
        return dom, xr

    cell = CellModel(load_config(overrides={"mesh": {"dim": 1}}), MPI.COMM_SELF)
    try:
        op = cell.operating_point()
        cm = cell.small_signal(op, 298.15, prefix=f"spy_{len(str(refine))}_",
                               refine_electrode=refine, film_mesh=spy)
        mesh = cm.model.problem.fields[0].space.mesh
        if refine is False:
            assert made == [] and mesh is op.film.mesh
        else:
            assert made[0] == (None if refine is True else refine)
            assert mesh is made[1].mesh and mesh is not op.film.mesh
    finally:
        cell.destroy()
