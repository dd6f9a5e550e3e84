"""Reading the runs' ``.pvd`` field series back, and handing them to other tools.

A series (:mod:`fem_cell.outputs.fields`) stores each output time as parallel ``.pvtu``
pieces, every rank's piece carrying its **ghost cells** (cell data ``vtkGhostType`` = 1:
cells owned by another rank, copied for the interface integrals).  ParaView and pyvista
read that, and meshio reads one piece; a naive merge of the pieces counts ghost cells
twice.  Series written by dolfinx's ``VTKFile`` (VTU 2.2, Lagrange cells; meshio 5.3
rejects them) read here the same way.

:func:`read_time` gives one time as a single pyvista grid: pieces merged, ghost cells
dropped, shared points merged.  :func:`to_meshio` turns such a grid into a
:class:`meshio.Mesh` of linear cells (line / triangle / quad) with the point and cell data
(names carry their units: ``T_K``, ``T_C``, ``phi_V``, ``sigma_d_S_m``; ``xH`` etc. are
site fractions) and ``field_data["time_s"]``; :func:`export_time` writes it in any format
meshio writes (``.vtu`` XML 1.0, ``.xdmf`` + ``.h5``, ``.msh``, …).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell.errors import InputError

#: VTK cell type → meshio cell type, for degree-1 cells (Lagrange and classic)
LINEAR_CELLS = {3: "line", 68: "line", 5: "triangle", 69: "triangle", 9: "quad", 70: "quad",
                10: "tetra", 71: "tetra", 12: "hexahedron", 72: "hexahedron"}
#: nodes of each meshio cell type
NODES = {"line": 2, "triangle": 3, "quad": 4, "tetra": 4, "hexahedron": 8}


class SeriesError(InputError):
    """A field series that cannot be read or converted."""


def series_times(pvd: str | Path) -> list[float]:
    """The stored times (s; for the impedance maps: Hz) of a ``.pvd`` series."""
    from fem_cell.outputs.plots import offscreen_pyvista

    p = Path(pvd)
    if not p.is_file():
        raise SeriesError(f"{p}: no such field series")
    return [float(t) for t in offscreen_pyvista().get_reader(str(p)).time_values]


def drop_ghosts(grid):
    """The grid without the cells another rank owns (``vtkGhostType`` ≠ 0)."""
    if "vtkGhostType" not in grid.cell_data:
        return grid
    own = np.flatnonzero(np.asarray(grid.cell_data["vtkGhostType"]) == 0)
    return grid.extract_cells(own)


def read_time(pvd: str | Path, time: float | None = None, *, merge_points: bool = True):
    """One stored time (nearest to ``time``; None = the last) of a ``.pvd`` series as one
    pyvista UnstructuredGrid: the ranks' pieces merged, ghost cells dropped, shared points
    merged (``merge_points``: the series' fields are continuous P1 or cell data, so
    coincident points carry the same values); ``field_data["time_s"]`` holds the time
    read.  Rank 0."""
    from fem_cell.outputs.plots import offscreen_pyvista

    p = Path(pvd)
    if not p.is_file():
        raise SeriesError(f"{p}: no such field series")
    pv = offscreen_pyvista()
    reader = pv.get_reader(str(p))
    times = [float(t) for t in reader.time_values]
    t = None
    if times:
        t = times[-1] if time is None else min(times, key=lambda s: abs(s - time))
        reader.set_active_time_value(t)
    data = reader.read()
    blocks = [b for b in data if b is not None] if isinstance(data, pv.MultiBlock) else [data]
    if not blocks:
        raise SeriesError(f"{p}: no data at t = {t}")
    pieces = [drop_ghosts(b.cast_to_unstructured_grid()) for b in blocks]
    grid = pieces[0] if len(pieces) == 1 else pv.merge(pieces, merge_points=False)
    if merge_points:  # the points the ranks' pieces share (coincident to 1e-12 of the box)
        grid = grid.clean(tolerance=1e-12, produce_merge_map=False)
    for k in ("vtkGhostType", "vtkOriginalCellIds"):
        if k in grid.cell_data:
            del grid.cell_data[k]
    for k in ("vtkGhostType", "vtkOriginalPointIds"):
        if k in grid.point_data:
            del grid.point_data[k]
    if t is not None:
        grid.field_data["time_s"] = np.array([t])
    return grid


def to_meshio(grid):
    """A :class:`meshio.Mesh` of the grid's degree-1 cells (one block per cell type), its
    point and cell data and ``field_data`` ``time_s``."""
    import meshio

    types = np.asarray(grid.celltypes)
    conn = np.asarray(grid.cell_connectivity)
    off = np.asarray(grid.cell_offsets)
    blocks, order = [], []
    for vtk_type in sorted(set(types.tolist())):
        kind = LINEAR_CELLS.get(int(vtk_type))
        which = np.flatnonzero(types == vtk_type)
        if kind is None or np.any(off[which + 1] - off[which] != NODES[kind]):
            raise SeriesError(f"VTK cell type {vtk_type}: only degree-1 cells are converted")
        idx = off[which][:, None] + np.arange(NODES[kind])
        blocks.append(meshio.CellBlock(kind, conn[idx]))
        order.append(which)
    cell_data = {}
    for name in grid.cell_data:
        v = np.asarray(grid.cell_data[name])
        cell_data[name] = [v[w] for w in order]
    point_data = {name: np.asarray(grid.point_data[name]) for name in grid.point_data}
    field_data = {k: np.asarray(grid.field_data[k]) for k in grid.field_data}
    return meshio.Mesh(np.asarray(grid.points, dtype=float), blocks, point_data=point_data,
                       cell_data=cell_data, field_data=field_data)


def export_time(pvd: str | Path, path: str | Path, time: float | None = None) -> Path:
    """Write one time of a series (:func:`read_time`) with meshio, format by suffix."""
    import meshio

    mesh = to_meshio(read_time(pvd, time))
    out = Path(path)
    try:
        meshio.write(out, mesh)
    except (KeyError, ValueError, meshio.ReadError, meshio.WriteError) as e:  # its format
        raise SeriesError(f"{out}: meshio cannot write this format ({e})") from None
    return out


__all__ = ["LINEAR_CELLS", "SeriesError", "drop_ghosts", "export_time", "read_time",
           "series_times", "to_meshio"]
