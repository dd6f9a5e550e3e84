"""The 2-D film sub-mesh refined at the Li pad edges for the small-signal model.

The anneal's cross-section resolves heat and proton transport: its first lateral cell at
a Li pad edge is as wide as the film stack (1.6 µm in the default cell), and its LiCoO2
bulk rows are graded for the proton profile.  On it (plus the LiCoO2 rows of
:func:`~fem_cell.meshing.refine.refined_section_domain`) the impedance's pad-edge effect
— the 2-D spectrum per pad area minus the 1-D one, ≈ 0.1–0.2 % of |Z|: current fringing
beyond the pad in the 1 µm Li3PO4, with a square-root singularity of the current density
at the pad edge — comes out 24–62 % too large (docs/impedance.md, "2-D mesh convergence").

:func:`refined_pad_edge_domain` builds, from the anneal's film sub-mesh (a tensor grid of
quadrilaterals), a finer tensor grid for the small-signal solve only: every node line of
the film mesh is kept; node columns are added around each pad edge, graded from
``edge_cell`` with ratio ``growth`` (:data:`PAD_EDGE_2D`), and node rows in the LiCoO2
bulk graded for the Li diffusion exactly as the 1-D small-signal model's
(:data:`GRADING_2D`), so that the 2-D model and its 1-D twin share the through-thickness
discretisation.  With both the pad-edge effect is within 1 % of the mesh-converged one.
A Q1 field on the film mesh is bilinear on every old cell, hence *the same function* on
the refined grid: it is transferred exactly.  Facet groups keep their names and tags.
The anneal's mesh and cost do not change.
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.meshing.film import layer_nodes
from fem_cell.meshing.refine import (
    REFINE_1D,
    _gather_level,
    _p1,
    refined_line_domain,
    section_grid_domain,
)

#: pad-edge refinement of the 2-D small-signal mesh: first lateral cell at a pad edge (m)
#: and the growth ratio of the cells away from it (docs/impedance.md, "2-D mesh convergence")
PAD_EDGE_2D = (25e-9, 1.2)
#: LiCoO2-bulk grading (interface cell m, growth) of the 2-D small-signal mesh: the 1-D
#: model's, so that a 2-D spectrum and its 1-D twin share the through-thickness error
GRADING_2D = REFINE_1D


def grid_levels(values: np.ndarray, tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Distinct levels of ``values`` (coordinates equal to within ``tol`` are one level).

    Returns:
        (levels sorted, index of each value's level)
    """
    v = np.asarray(values, float)
    order = np.argsort(v)
    vs = v[order]
    start = np.concatenate([[True], np.diff(vs) > tol])
    group = np.cumsum(start) - 1
    levels = vs[start]
    idx = np.empty(v.size, dtype=np.int64)
    idx[order] = group
    return levels, idx


def nearest_level(levels: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Index of the level nearest to each value."""
    j = np.clip(np.searchsorted(levels, values), 1, levels.size - 1)
    return np.where(np.abs(values - levels[j - 1]) <= np.abs(levels[j] - values), j - 1, j)


def film_grid(film: Domain, x: fem.Function | None
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tensor grid of a 2-D film mesh on every rank (collective).

    Coordinates that differ by round-off (1e-12 of the largest) are one grid line.

    Returns:
        (x-levels, z-levels (mesh units), nodal values of ``x`` (zeros if None), shape
        (x-levels, z-levels))

    Raises:
        MeshError: the film mesh is not a tensor grid.
    """
    comm = film.comm
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    XY = np.concatenate(comm.allgather(V.tabulate_dof_coordinates()[:n_own, :2]))
    vals = np.concatenate(comm.allgather(np.zeros(n_own) if x is None
                                         else np.asarray(x.x.array[:n_own], float)))
    ux, ix = grid_levels(XY[:, 0], 1e-12 * max(1.0, float(np.abs(XY[:, 0]).max())))
    uz, iz = grid_levels(XY[:, 1], 1e-12 * max(1.0, float(np.abs(XY[:, 1]).max())))
    filled = np.zeros((ux.size, uz.size), dtype=bool)
    filled[ix, iz] = True
    if ux.size * uz.size != XY.shape[0] or not filled.all():
        raise MeshError("the 2-D film mesh is not a tensor grid of quadrilaterals; cannot "
                        "refine it for the small-signal model")
    grid = np.zeros((ux.size, uz.size))
    grid[ix, iz] = vals
    return ux, uz, grid


def merge_levels(old: np.ndarray, new: np.ndarray, tol: float) -> np.ndarray:
    """``old`` plus the levels of ``new`` farther than ``tol`` from every old level."""
    old = np.sort(np.asarray(old, float))
    new = np.asarray(new, float)
    new = new[(new > old[0]) & (new < old[-1])]
    if new.size:
        new = new[np.abs(new - old[nearest_level(old, new)]) > tol]
    return np.unique(np.concatenate([old, new]))


def _subdivide(a: float, b: float, size) -> np.ndarray:
    """Interior nodes of [a, b] at equal steps of ∫ dx / size(x) of at most one unit (no
    split where the integral is below 1.5: the field is only slightly below the interval)."""
    H = b - a
    s = np.unique(np.concatenate([np.linspace(a, b, 257),
                                  a + np.geomspace(1e-6 * H, H, 400),
                                  b - np.geomspace(1e-6 * H, H, 400)]))
    s = s[(s >= a) & (s <= b)]
    inv = 1.0 / size(s)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s))])
    n = 1 if cum[-1] < 1.5 else int(np.ceil(cum[-1] - 1e-9))
    return np.interp(np.linspace(0.0, cum[-1], n + 1), cum, s)[1:-1]


def pad_edge_columns(ux: np.ndarray, edges, edge_cell: float, growth: float) -> np.ndarray:
    """``ux`` with extra nodes near the ``edges`` (same units throughout).

    Inside every interval of ``ux`` the new nodes sit at unit steps of ∫ dx / h with the
    size field h(x) = min(interval, h0 + ln(``growth``)·distance to the nearest edge),
    h0 = ``edge_cell``·ln g/(g − 1): the first cell at an edge is ``edge_cell`` wide and
    each next one ``growth`` times wider (at most: the cell count per interval is rounded
    up), until they reach the old spacing; an interval holding less than 1.5 cells of the
    field is left whole, so where the new cells meet the old columns two neighbours differ
    by at most about a factor 2.  Every node of ``ux`` is kept.
    """
    ux = np.asarray(ux, float)
    edges = np.asarray(list(edges), float)
    if edges.size == 0 or not growth > 1.0 or not edge_cell > 0:
        return ux
    slope = float(np.log(growth))
    h0 = edge_cell * slope / np.expm1(slope)

    def target(s):
        return h0 + slope * np.min(np.abs(s[:, None] - edges[None, :]), axis=1)

    extra = []
    for a, b in zip(ux[:-1], ux[1:], strict=True):
        H = b - a
        gap = float(np.min(np.maximum(0.0, np.maximum(a - edges, edges - b))))
        if h0 + slope * gap >= H:   # the field is nowhere below the interval
            continue
        extra.append(_subdivide(a, b, lambda s, H=H: np.minimum(H, target(s))))
    return np.unique(np.concatenate([ux, *extra])) if extra else ux


def pad_edges(film: Domain, ux: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """x of the ``Li3PO4|Li`` vertices and the pad edges inside the section (mesh units)."""
    pad_x = _gather_level(film, "Li3PO4|Li", 0)
    if pad_x.size == 0:
        raise MeshError("the film mesh has no Li3PO4|Li contact facets")
    tol = 1e-9 * (ux[-1] - ux[0])
    edges = [float(e) for e in (pad_x.min(), pad_x.max()) if ux[0] + tol < e < ux[-1] - tol]
    return pad_x, edges


def refined_pad_edge_domain(film: Domain, x: fem.Function | None = None, *,
                            pad_edge: tuple[float, float] = PAD_EDGE_2D,
                            grading: tuple[float, float] = GRADING_2D,
                            cells_per_layer: int = 32) -> tuple[Domain, fem.Function | None]:
    """2-D film sub-mesh refined at the Li pad edges and in the LiCoO2 bulk (collective).

    Args:
        film: the anneal's 2-D film sub-mesh (LiCoO2, degraded, Li3PO4; a tensor grid).
        x: a P1 field on ``film`` (the proton fraction) to transfer, or None.
        pad_edge: (first lateral cell at a pad edge in m, growth ratio away from it);
            ``None`` = no lateral refinement.
        grading: (LiCoO2 interface cell in m, growth) of the LiCoO2-bulk rows; ``None`` =
            none.  Rows are graded to the LiCoO2|degraded interface from
            L/``cells_per_layer`` (L the LiCoO2 bulk thickness).

    Returns:
        (domain with the film's cell and facet names and tags, ``x`` on it or None).
        Every node of ``film`` is a node of the domain; ``x`` is transferred exactly
        (bilinear on every film cell).

    Raises:
        MeshError: not a 2-D tensor-grid film mesh with a ``Li3PO4|Li`` contact.
    """
    if film.dim != 2:
        raise MeshError(f"refined_pad_edge_domain needs a 2-D film mesh, got {film.dim}-D")
    ell = film.length_scale
    ux, uz, grid = film_grid(film, x)
    z_bot, z_if, z_d = (float(_gather_level(film, n, 1)[0])
                        for n in ("substrate|LiCoO2", "LiCoO2|degraded", "degraded|Li3PO4"))
    z_top = float(uz[-1])
    pad_x, edges = pad_edges(film, ux)
    uxn = ux if pad_edge is None else pad_edge_columns(ux, edges, pad_edge[0] / ell, pad_edge[1])
    zn = uz
    if grading is not None:
        L = (z_if - z_bot) * ell
        extra = z_bot + layer_nodes(L, L / cells_per_layer, grading[0], L / cells_per_layer,
                                     grading[1]) / ell
        zn = merge_levels(uz, extra, 1e-3 * grading[0] / ell)
    dom, _ = section_grid_domain(film, uxn, zn, (z_bot, z_if, z_d, z_top), pad_x)
    xr = None if x is None else transfer_grid_field(dom, x.name, (ux, uz), grid, (uxn, zn))
    return dom, xr


def transfer_grid_field(dom: Domain, name: str, old: tuple[np.ndarray, np.ndarray],
                        grid: np.ndarray, new: tuple[np.ndarray, np.ndarray]) -> fem.Function:
    """P1 function ``name`` on ``dom`` (the tensor grid ``new`` = (x-levels, z-levels))
    of the bilinear interpolant of ``grid`` on the tensor grid ``old`` (exact for a Q1
    field on ``old`` when every old level is a new level)."""
    (ux, uz), (uxn, zn) = old, new
    gz = np.array([np.interp(zn, uz, grid[i]) for i in range(ux.size)])
    gnew = np.array([np.interp(uxn, ux, gz[:, k]) for k in range(zn.size)]).T
    xr = _p1(dom, name)
    C = xr.function_space.tabulate_dof_coordinates()
    xr.x.array[:] = gnew[nearest_level(uxn, C[:, 0]), nearest_level(zn, C[:, 1])]
    return xr


def small_signal_film_domain(film: Domain, x: fem.Function | None = None, grading=None,
                             pad_edge: tuple[float, float] | None = PAD_EDGE_2D
                             ) -> tuple[Domain, fem.Function | None]:
    """The film mesh of the small-signal solve, refined from the anneal's ``film``.

    1-D: :func:`~fem_cell.meshing.refine.refined_line_domain` with ``grading`` (default
    :data:`~fem_cell.meshing.refine.REFINE_1D`).  2-D: :func:`refined_pad_edge_domain`
    with ``grading`` (default :data:`GRADING_2D`) and ``pad_edge``.  Returns (domain,
    ``x`` transferred onto it or None); ``x`` is the same function on both meshes.
    """
    ic, g = grading or (REFINE_1D if film.dim == 1 else GRADING_2D)
    if film.dim == 1:
        return refined_line_domain(film, x, interface_cell=ic, growth=g)
    return refined_pad_edge_domain(film, x, pad_edge=pad_edge, grading=(ic, g))


__all__ = ["GRADING_2D", "PAD_EDGE_2D", "film_grid", "grid_levels", "merge_levels",
           "nearest_level", "pad_edge_columns", "pad_edges", "refined_pad_edge_domain",
           "small_signal_film_domain", "transfer_grid_field"]
