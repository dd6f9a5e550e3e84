"""The 1-D column of a laterally uniform 2-D film mesh.

The built-in 2-D cross-section meshes the films as a tensor product: every vertical
line of vertices has the same heights, and every film layer is a horizontal band over
the whole width.  A problem whose data do not vary laterally (the exposure: a uniform
surface condition on the top of the LiCoO2, no-flux sides) then has a laterally uniform
discrete solution, equal to the solution of the same equations on the 1-D mesh of those
heights (Q1 on rectangles: a function constant in x integrates column by column to the
1-D P1 form).  :func:`film_column` builds that 1-D mesh, or says the film is not such a
tensor product (e.g. a user's unstructured mesh).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.domain import Domain
from fem_cell.meshing.io_check import _extents
from fem_cell.meshing.line import mesh_from_root, tag_line_vertices

#: heights (and lateral positions) closer than this fraction of the film's thickness are
#: the same
_SAME = 1e-9


def film_column(film: Domain) -> Domain | None:
    """The 1-D mesh (on ``MPI.COMM_SELF``, the same on every rank) of the heights of a 2-D
    tensor-product film mesh, with its layers and the interfaces between them named as in
    ``film``; None if ``film`` is not 2-D, not made of quadrilaterals, not a tensor
    product of lateral positions and heights, or a layer is not one full-width band
    (collective on the film's communicator).

    Heights are the film's vertical coordinate, in its mesh units (``length_scale``).
    """
    msh = film.mesh
    if film.dim != 2 or msh.topology.cell_type != dolfinx.mesh.CellType.quadrilateral:
        return None
    comm = film.comm
    n_owned = msh.geometry.index_map().size_local
    xyz = np.concatenate(comm.allgather(np.ascontiguousarray(msh.geometry.x[:n_owned, :2])))
    span = float(np.ptp(xyz[:, 1])) or 1.0
    tol = _SAME * span
    heights = _distinct(xyz[:, 1], tol)
    laterals = _distinct(xyz[:, 0], tol)
    if len(heights) < 2 or len(heights) * len(laterals) != len(xyz):
        return None
    # every layer: one band of heights over the whole width
    bands = {}
    n_cells_owned = msh.topology.index_map(film.dim).size_local
    for name in film.cell_names:
        count = comm.allreduce(int(np.sum(film.cells(name) < n_cells_owned)), op=MPI.SUM)
        if count == 0:
            continue
        lo, hi = (float(v) for v in _extents(film, name)[1])   # heights of its cells
        inside = int(np.sum((heights > lo + tol) & (heights < hi - tol))) + 1
        if count != inside * (len(laterals) - 1):
            return None
        bands[name] = (lo, hi)
    order = sorted(bands, key=lambda n: bands[n][0])
    for a, b in zip(order, order[1:], strict=False):
        if abs(bands[a][1] - bands[b][0]) > tol:
            return None
    mid = 0.5 * (heights[1:] + heights[:-1])
    tags = np.zeros(len(mid), dtype=np.int32)
    for name in order:
        lo, hi = bands[name]
        tags[(mid > lo) & (mid < hi)] = film.cell_names[name]
    if np.any(tags == 0):
        return None
    cells = np.stack([np.arange(len(heights) - 1), np.arange(1, len(heights))],
                     axis=1).astype(np.int64)
    line, cell_tags = mesh_from_root(MPI.COMM_SELF, "interval", heights[:, None], cells, tags)
    locations = _full_width_facets(film, len(laterals) - 1, tol)
    names = {k: film.facet_names[k] for k in locations}
    facet_tags = tag_line_vertices(line, locations, 0.25 * float(np.diff(heights).min()), names)
    cell_tags.name = "layers"
    return Domain(line, cell_tags, facet_tags, {n: film.cell_names[n] for n in order}, names,
                  film.length_scale)


def _distinct(values: np.ndarray, tol: float) -> np.ndarray:
    """The distinct values (the first, sorted, of every run closer than ``tol``): the
    mesh's own coordinates, not rounded ones."""
    v = np.sort(values)
    return v[np.concatenate([[True], np.diff(v) > tol])]


def _full_width_facets(film: Domain, n_lateral: int, tol: float) -> dict[str, float]:
    """Facet groups of ``film`` that are one horizontal line over the whole width: name →
    height (collective)."""
    msh, comm = film.mesh, film.comm
    fdim = film.dim - 1
    msh.topology.create_connectivity(fdim, film.dim)
    n_owned = msh.topology.index_map(fdim).size_local
    out = {}
    for name in film.facet_names:
        facets = film.facets(name)
        facets = facets[facets < n_owned]
        h = (msh.geometry.x[dolfinx.mesh.entities_to_geometry(msh, fdim, facets), 1]
             if len(facets) else np.zeros((0, 2)))
        lo = comm.allreduce(float(h.min()) if h.size else np.inf, op=MPI.MIN)
        hi = comm.allreduce(float(h.max()) if h.size else -np.inf, op=MPI.MAX)
        count = comm.allreduce(len(facets), op=MPI.SUM)
        if count == n_lateral and hi - lo <= tol:
            out[name] = 0.5 * (lo + hi)
    return out


def column_index(film_heights: np.ndarray, column_heights: np.ndarray,
                 span: float) -> np.ndarray | None:
    """For each film DOF (its height), the index of the column DOF at the same height
    (heights in mesh units, ``span`` the film's thickness); None if one has no partner."""
    order = np.argsort(column_heights)
    z = column_heights[order]
    pos = np.clip(np.searchsorted(z, film_heights), 1, len(z) - 1)
    pick = np.where(np.abs(z[pos - 1] - film_heights) <= np.abs(z[pos] - film_heights),
                    pos - 1, pos)
    if len(film_heights) and np.abs(z[pick] - film_heights).max() > 10 * _SAME * span:
        return None
    return order[pick]


__all__ = ["column_index", "film_column"]
