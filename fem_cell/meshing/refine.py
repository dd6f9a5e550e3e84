"""The film sub-mesh refined for the small-signal model.

The anneal's film mesh resolves the proton profile; the impedance also needs the Li
diffusion in the LiCoO2 bulk resolved up to the highest frequency (√(D̃/ω) ≈ pm at MHz).
These builders keep every node of the film mesh (so a P1 field on it is *the same
function* on the refined mesh: transferred exactly) and add graded node lines inside
the LiCoO2 bulk only.  Facet groups keep their names and tags.
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx, fem
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.meshing.film import layer_nodes
from fem_cell.meshing.line import mesh_from_root, tag_line_vertices


def _p1(domain: Domain, name: str) -> fem.Function:
    return fem.Function(fem.functionspace(domain.mesh, ("Lagrange", 1)), name=name)


def refined_line_domain(film: Domain, x: fem.Function | None = None,
                        interface_cell: float = 5e-14, growth: float = 1.1,
                        cells_per_layer: int = 32) -> tuple[Domain, fem.Function | None]:
    """1-D: the film sub-mesh with extra nodes in the LiCoO2 bulk, graded to
    ``interface_cell`` (m) at its interface with the degraded layer (collective).

    Every node of the film sub-mesh is kept (so a P1 field on it is *the same function*
    on the refined mesh: transferred exactly, no interpolation error), the degraded and
    Li3PO4 cells are unchanged; only LiCoO2 bulk cells are split, so that the Li
    diffusion resolves √(D̃/ω) up to 1 MHz (the anneal mesh's ≈ 0.6 nm cells there leave
    the Warburg 0.3 % of |Z| off near 500 Hz, enough to spoil the interface fit).
    Facet groups keep their names and tags.

    Returns:
        (domain, x transferred onto it or None)
    """
    comm = film.comm
    ell = film.length_scale
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    X = V.tabulate_dof_coordinates()[:n_own, 0]
    vals = (np.zeros(n_own) if x is None else x.x.array[:n_own])
    allX = np.concatenate(comm.allgather(X))
    allV = np.concatenate(comm.allgather(vals))
    order = np.argsort(allX)
    z, xv = allX[order] * ell, allV[order]
    z, keep = np.unique(z, return_index=True)
    levels = {n: float(_gather_level(film, n, 0)[0]) * ell
              for n in ("substrate|LiCoO2", "LiCoO2|degraded", "degraded|Li3PO4", "Li3PO4|Li")}
    return line_domain(comm, z, xv[keep], levels, film, interface_cell=interface_cell,
                       growth=growth, cells_per_layer=cells_per_layer,
                       name=None if x is None else x.name)


def section_column_domain(film: Domain, x: fem.Function | None = None, column: int = 0):
    """1-D film domain whose nodes are the z-levels of a 2-D tensor-grid film mesh (its
    ``column``-th vertical line), with x_H there: the 1-D twin of a laterally uniform
    cross-section (same through-thickness discretisation).  Collective."""
    comm = film.comm
    ell = film.length_scale
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    XY = np.concatenate(comm.allgather(V.tabulate_dof_coordinates()[:n_own, :2]))
    vals = np.concatenate(comm.allgather(np.zeros(n_own) if x is None else x.x.array[:n_own]))
    ux = np.unique(np.round(XY[:, 0], 9))
    sel = np.isclose(XY[:, 0], ux[column], rtol=0, atol=1e-9)
    o = np.argsort(XY[sel, 1])
    z, xv = XY[sel, 1][o] * ell, vals[sel][o]
    levels = {n: float(_gather_level(film, n, 1)[0]) * ell
              for n in ("substrate|LiCoO2", "LiCoO2|degraded", "degraded|Li3PO4", "Li3PO4|Li")}
    dom, xr = line_domain(comm, z, xv, levels, film, refine=False,
                          name="xH_LiCoO2" if x is None else x.name)
    return dom, xr


def line_domain(comm, z, xv, levels, film, *, refine: bool = True, interface_cell=5e-14,
                growth=1.1, cells_per_layer=32, name=None):
    """A tagged 1-D film Domain on nodes ``z`` (m) (+ graded LiCoO2-bulk nodes with
    ``refine``), the P1 field of nodal values ``xv`` on it, facet groups at ``levels``
    (name → z in m) named and tagged as in ``film``.  Collective."""
    ell = film.length_scale
    z_bot, z_if = levels["substrate|LiCoO2"], levels["LiCoO2|degraded"]
    L = z_if - z_bot
    extra = (z_bot + layer_nodes(L, L / cells_per_layer, interface_cell, L / cells_per_layer,
                                  growth)) if refine else z[:0]
    znew = np.unique(np.concatenate([z, extra]))
    # merge nodes closer than 1e-6 of the smallest intended cell (round-off duplicates)
    dz = np.diff(znew)
    znew = np.concatenate([[znew[0]], znew[1:][dz > 1e-3 * interface_cell]])
    xnew = np.interp(znew, z, xv)
    names = film.cell_names
    tags_at = np.full(len(znew) - 1, names["Li3PO4"], dtype=np.int32)
    mid = 0.5 * (znew[1:] + znew[:-1])
    z_d = levels["degraded|Li3PO4"]
    tags_at[mid < z_d] = names["degraded"]
    tags_at[mid < z_if] = names["LiCoO2"]
    if comm.rank == 0:
        pts = (znew / ell)[:, None]
        cells = np.stack([np.arange(len(znew) - 1), np.arange(1, len(znew))], 1).astype(np.int64)
    else:
        pts = np.zeros((0, 1))
        cells = np.zeros((0, 2), dtype=np.int64)
    msh, ctags = mesh_from_root(comm, "interval", pts, cells, tags_at)
    tol = 0.25 * float(np.min(np.diff(znew))) / ell
    ftags = tag_line_vertices(msh, {n: zz / ell for n, zz in levels.items()}, tol,
                              film.facet_names)
    ctags.name, ftags.name = film.cell_tags.name, film.facet_tags.name
    dom = Domain(msh, ctags, ftags, dict(names),
                 {n: film.facet_names[n] for n in levels}, ell)
    xr = None
    if name is not None:
        xr = _p1(dom, name)
        Xr = xr.function_space.tabulate_dof_coordinates()[:, 0] * ell
        xr.x.array[:] = np.interp(Xr, znew, xnew)
    return dom, xr


def _gather_level(film: Domain, name: str, axis: int) -> np.ndarray:
    """Coordinates (mesh units) along ``axis`` of the vertices of a facet group, all ranks."""
    fac = film.facets(name).astype(np.int32)
    fdim = film.dim - 1
    nodes = (dolfinx.mesh.entities_to_geometry(film.mesh, fdim, fac).ravel() if len(fac)
             else np.zeros(0, dtype=np.int32))
    loc = film.mesh.geometry.x[nodes, axis]
    return np.concatenate(film.comm.allgather(np.asarray(loc, float)))


def _film_tensor_grid(film: Domain, x: fem.Function | None
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The tensor grid of a 2-D film mesh on every rank (collective).

    Returns:
        (distinct x-levels, distinct z-levels (mesh units), nodal values of ``x`` (zeros
        if None) on the grid, shape (x-levels, z-levels))

    Raises:
        MeshError: the film mesh is not a tensor grid.
    """
    comm = film.comm
    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    n_own = V.dofmap.index_map.size_local
    XY = V.tabulate_dof_coordinates()[:n_own, :2]
    vals = np.zeros(n_own) if x is None else x.x.array[:n_own]
    XY = np.concatenate(comm.allgather(XY))
    vals = np.concatenate(comm.allgather(vals))
    ux = np.unique(np.round(XY[:, 0], 9))
    uz = np.unique(np.round(XY[:, 1], 9))
    if ux.size * uz.size != XY.shape[0]:
        raise MeshError("the 2-D film mesh is not a tensor grid; cannot add LiCoO2 "
                        "node lines (use refine_electrode=False)")
    ix = np.searchsorted(ux, np.round(XY[:, 0], 9))
    iz = np.searchsorted(uz, np.round(XY[:, 1], 9))
    grid = np.zeros((ux.size, uz.size))
    grid[ix, iz] = vals
    return ux, uz, grid


def _quad_grid_mesh(comm: MPI.Comm, ux: np.ndarray, zn: np.ndarray, row_tag: np.ndarray
                    ) -> tuple[dolfinx.mesh.Mesh, dolfinx.mesh.MeshTags]:
    """Quadrilateral mesh of the tensor grid ``ux`` × ``zn`` (mesh units; collective).

    Built on rank 0 and distributed; the cells of row k are tagged ``row_tag[k]``.

    Returns:
        (mesh, cell tags)
    """
    nx, nz = ux.size, zn.size
    if comm.rank == 0:
        ci, ck = np.meshgrid(np.arange(nx - 1), np.arange(nz - 1), indexing="ij")
        ci, ck = ci.ravel(), ck.ravel()

        def vid(i, k):
            return i * nz + k
        cells = np.stack([vid(ci, ck), vid(ci + 1, ck), vid(ci, ck + 1), vid(ci + 1, ck + 1)],
                         1).astype(np.int64)
        PX, PZ = np.meshgrid(ux, zn, indexing="ij")
        pts = np.stack([PX.ravel(), PZ.ravel()], 1)
        ctag_all = row_tag[ck]
    else:
        cells = np.zeros((0, 4), dtype=np.int64)
        pts = np.zeros((0, 2))
        ctag_all = None
    return mesh_from_root(comm, "quadrilateral", pts, cells, ctag_all)


def _section_facet_tags(msh: dolfinx.mesh.Mesh, film: Domain, ux: np.ndarray,
                        levels: tuple[float, float, float, float], pad_x: np.ndarray,
                        tol: float) -> tuple[dolfinx.mesh.MeshTags, dict[str, int]]:
    """Locate the film's facet groups on the refined grid mesh (collective).

    Args:
        msh: the refined quadrilateral mesh.
        film: the film domain whose facet groups (names and tags) are kept.
        ux: x-levels of the grid (mesh units).
        levels: heights of ``substrate|LiCoO2``, ``LiCoO2|degraded``,
            ``degraded|Li3PO4`` and of the top (mesh units).
        pad_x: x-coordinates of the ``Li3PO4|Li`` vertices (the pad, mesh units).
        tol: height tolerance (mesh units).

    Returns:
        (facet tags, group name -> tag of every group of ``film`` located)
    """
    z_bot, z_if, z_d, z_top = levels
    x0, x1 = ux[0], ux[-1]
    p0, p1 = pad_x.min(), pad_x.max()
    tolx = 1e-6 * (x1 - x0)
    msh.topology.create_connectivity(1, 2)
    markers = {
        "substrate|LiCoO2": lambda p: np.abs(p[1] - z_bot) < tol,
        "LiCoO2|degraded": lambda p: np.abs(p[1] - z_if) < tol,
        "degraded|Li3PO4": lambda p: np.abs(p[1] - z_d) < tol,
        "Li3PO4|Li": lambda p: (np.abs(p[1] - z_top) < tol) & (p[0] > p0 - tolx)
        & (p[0] < p1 + tolx),
        "exposed_top": lambda p: (np.abs(p[1] - z_top) < tol)
        & ((p[0] < p0 + tolx) | (p[0] > p1 - tolx)),
        "left": lambda p: np.abs(p[0] - x0) < tolx,
        "right": lambda p: np.abs(p[0] - x1) < tolx,
    }
    idx, tv, fnames = [], [], {}
    for name, mk in markers.items():
        if name not in film.facet_names:
            continue
        f = dolfinx.mesh.locate_entities(msh, 1, mk)
        if name == "exposed_top":   # facets inside the pad span belong to the contact
            mid = dolfinx.mesh.compute_midpoints(msh, 1, f)[:, 0] if len(f) else np.zeros(0)
            f = f[(mid < p0) | (mid > p1)]
        idx.append(f)
        tv.append(np.full(len(f), film.facet_names[name], dtype=np.int32))
        fnames[name] = film.facet_names[name]
    idx = np.concatenate(idx).astype(np.int32)
    tv = np.concatenate(tv)
    idx, first = np.unique(idx, return_index=True)
    return dolfinx.mesh.meshtags(msh, 1, idx, tv[first]), fnames


def _transfer_grid_field(dom: Domain, name: str, ux: np.ndarray, uz: np.ndarray,
                         grid: np.ndarray, zn: np.ndarray, tol: float) -> fem.Function:
    """P1 function ``name`` on ``dom`` (grid ``ux`` × ``zn``) of the film's grid values.

    ``grid`` holds the values on ``ux`` × ``uz``; they are interpolated linearly in z
    onto the levels ``zn``.
    """
    gnew = np.array([np.interp(zn, uz, grid[i]) for i in range(ux.size)])
    xr = _p1(dom, name)
    C = xr.function_space.tabulate_dof_coordinates()
    jx = np.clip(np.searchsorted(ux, np.round(C[:, 0], 9)), 0, ux.size - 1)
    jz = np.clip(np.searchsorted(zn, C[:, 1] - 0.5 * tol), 0, zn.size - 1)
    xr.x.array[:] = gnew[jx, jz]
    return xr


def section_grid_domain(film: Domain, ux: np.ndarray, zn: np.ndarray,
                        levels: tuple[float, float, float, float],
                        pad_x: np.ndarray) -> tuple[Domain, float]:
    """The tensor grid ``ux`` × ``zn`` (mesh units) as a film domain with ``film``'s cell
    and facet names and tags (collective): rows below ``levels[1]`` (LiCoO2|degraded)
    are LiCoO2, then degraded up to ``levels[2]``, then Li3PO4; ``levels`` = the
    substrate|LiCoO2, LiCoO2|degraded, degraded|Li3PO4 and top heights, ``pad_x`` the
    lateral nodes of the Li3PO4|Li contact.  Returns (domain, the height tolerance
    that located its facets: a quarter of the thinnest row)."""
    _, z_if, z_d, _ = levels
    names = film.cell_names
    zm = 0.5 * (zn[1:] + zn[:-1])
    row_tag = np.where(zm < z_if, names["LiCoO2"],
                       np.where(zm < z_d, names["degraded"], names["Li3PO4"])).astype(np.int32)
    msh, ctags = _quad_grid_mesh(film.comm, ux, zn, row_tag)
    tol = 0.25 * float(np.min(np.diff(zn)))
    ftags, fnames = _section_facet_tags(msh, film, ux, levels, pad_x, tol)
    ctags.name, ftags.name = film.cell_tags.name, film.facet_tags.name
    return Domain(msh, ctags, ftags, dict(names), fnames, film.length_scale), tol


def refined_section_domain(film: Domain, x: fem.Function | None = None,
                           interface_cell: float = 1e-11, growth: float = 1.2,
                           cells_per_layer: int = 32) -> tuple[Domain, fem.Function | None]:
    """2-D: the cross-section film sub-mesh (a tensor grid of quadrilaterals) with extra
    horizontal node lines in the LiCoO2 bulk, graded to ``interface_cell`` (m) at the
    LiCoO2|degraded interface (collective).

    All vertices of the film mesh are kept and only LiCoO2 bulk cells are split, so a Q1
    field on the film mesh is the same function on this one (transferred exactly; the
    degraded and Li3PO4 cells are unchanged).  Facet groups keep names and tags.  The
    default grading (1e-11 m, 1.2) changes the 1-D spectrum by 1.2e-4 relative to the
    finest (5e-14 m, 1.1) at half the added cells.

    Raises:
        MeshError: the film mesh is not a tensor grid.
    """
    ell = film.length_scale
    ux, uz, grid = _film_tensor_grid(film, x)
    z_bot = float(_gather_level(film, "substrate|LiCoO2", 1)[0])
    z_if = float(_gather_level(film, "LiCoO2|degraded", 1)[0])
    z_d = float(_gather_level(film, "degraded|Li3PO4", 1)[0])
    top = _gather_level(film, "Li3PO4|Li", 1)
    pad_x = _gather_level(film, "Li3PO4|Li", 0)
    z_top = float(top[0])
    L = (z_if - z_bot) * ell
    extra = z_bot + layer_nodes(L, L / cells_per_layer, interface_cell, L / cells_per_layer,
                                 growth) / ell
    zn = np.unique(np.concatenate([uz, extra]))
    zn = np.concatenate([[zn[0]], zn[1:][np.diff(zn) > 1e-3 * interface_cell / ell]])
    dom, tol = section_grid_domain(film, ux, zn, (z_bot, z_if, z_d, z_top), pad_x)
    xr = None
    if x is not None:
        xr = _transfer_grid_field(dom, x.name, ux, uz, grid, zn, tol)
    return dom, xr


#: LiCoO2-bulk grading (interface cell in m, growth) of the impedance meshes
REFINE_1D = (5e-14, 1.1)
REFINE_2D = (1e-11, 1.2)


def refined_film_domain(film: Domain, x: fem.Function | None = None, grading=None):
    """:func:`refined_line_domain` (1-D) or :func:`refined_section_domain` (2-D) with
    ``grading`` = (interface cell m, growth), default :data:`REFINE_1D` / :data:`REFINE_2D`."""
    if film.dim == 1:
        ic, g = grading or REFINE_1D
        return refined_line_domain(film, x, interface_cell=ic, growth=g)
    ic, g = grading or REFINE_2D
    return refined_section_domain(film, x, interface_cell=ic, growth=g)


__all__ = ["REFINE_1D", "REFINE_2D", "line_domain", "refined_film_domain",
           "refined_line_domain", "refined_section_domain", "section_column_domain",
           "section_grid_domain"]
