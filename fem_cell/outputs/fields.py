"""Field time series that ParaView *and* pyvista open.

A series is a ``.pvd`` collection of parallel ``.vtu`` pieces, one ``.pvtu`` per output
time, in the layout of dolfinx's ``VTKFile`` (ghost cells and points marked,
:mod:`fem_cell.outputs.vtu_write`) but with binary, zlib-compressed arrays and classic
linear cells; pyvista reads it with ``pyvista.get_reader(path)``
(:mod:`fem_cell.outputs.vtk_read`) and ParaView opens the ``.pvd`` directly.  (pyvista
from PyPI cannot read VTX ``.bp`` folders and crashes on dolfinx XDMF, so neither is
used.)  Mesh coordinates are in mesh units (µm by default, see :mod:`fem_cell.domain`).

dolfinx's ``VTKFile`` writes the same layout in ASCII, the mesh again at every time: on
the default 2-D anneal (2 ranks) one output time of both series took 0.62 s and the
run's series 504 MB; written here, 0.028 s and 150 MB (docs/architecture.md).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.errors import on_root
from fem_cell.outputs.rundir import OutputError, atomic_write
from fem_cell.outputs.vtu_write import Piece, pvd_text, pvtu_text

#: dolfinx cell name → classic linear VTK cell type
VTK_LINEAR = {"interval": 3, "triangle": 5, "quadrilateral": 9, "tetrahedron": 10,
              "hexahedron": 12}
#: dolfinx node order → VTK node order of the linear cells (VTK numbers a quad's and a
#: hexahedron's corners around each face; dolfinx in tensor-product order)
VTK_ORDER = {"interval": [0, 1], "triangle": [0, 1, 2], "quadrilateral": [0, 1, 3, 2],
             "tetrahedron": [0, 1, 2, 3], "hexahedron": [0, 1, 3, 2, 4, 5, 7, 6]}


def _kind(f: fem.Function) -> str:
    """"point" (continuous degree-1 Lagrange) or "cell" (degree-0 discontinuous)."""
    e = f.function_space.ufl_element()
    if e.family_name == "P" and e.embedded_superdegree == 1 and not e.discontinuous:
        return "point"
    if e.embedded_superdegree == 0 and e.discontinuous:
        return "cell"
    raise ValueError(f"field {f.name!r}: only continuous degree-1 Lagrange and degree-0 "
                     f"discontinuous fields are written, got {e}")


def _cannot_write(path: Path, e: OSError) -> str:
    return f"{path}: cannot write the field series ({e.strerror or e})"


class FieldSeriesWriter:
    """Write a set of fields on one mesh at chosen times; a context manager.

    Args:
        comm: the mesh communicator (collective: every rank must call write/close).
        path: ``.pvd`` file path (same on every rank).  A series already there is
            replaced (its ``.pvd`` is rewritten from the first time on).
        functions: continuous P1 and/or DG0 functions (scalars, or vectors of up to 3
            components: 2 or 3 written as 3-vectors, 1 as a scalar) on the same
            degree-1 mesh; their names become the VTK array names.
    """

    def __init__(self, comm, path: str | Path, functions: list[fem.Function]):
        path = Path(path)
        if path.suffix != ".pvd":
            raise ValueError(f"field series path must end in .pvd, got {path}")
        if not functions:
            raise ValueError("a field series needs at least one function")
        self.path = path
        self.comm = comm
        self.functions = list(functions)
        names = [f.name for f in self.functions]
        if len(set(names)) != len(names):
            raise ValueError(f"field names must differ, got {names}")
        msh = self.functions[0].function_space.mesh
        for f in self.functions[1:]:
            if not np.shares_memory(f.function_space.mesh.geometry.x, msh.geometry.x):
                raise ValueError(f"field {f.name!r} is not on the mesh of "
                                 f"{self.functions[0].name!r}")
        self._kinds = [_kind(f) for f in self.functions]
        self._piece, self._maps = self._mesh_piece(msh)
        self._components = {}
        for f in self.functions:
            bs = f.function_space.dofmap.index_map_bs
            shape = f.function_space.ufl_element().reference_value_shape
            if len(shape) > 1 or bs > 3:
                raise ValueError(f"field {f.name!r}: scalars and vectors of up to 3 "
                                 f"components are written, got value shape {shape}")
            # a vector of 2 or 3 components as VTK's 3-vector (which ParaView draws as
            # arrows); one of 1 component as a scalar, as dolfinx's VTKFile writes them
            self._components[f.name] = 1 if bs == 1 else 3
        self.times: list[float] = []
        self._closed = False

        def start() -> None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(path, pvd_text([]))
            except OSError as e:
                raise OutputError(_cannot_write(path, e)) from None

        on_root(comm, start)

    @staticmethod
    def _mesh_piece(msh):
        tdim = msh.topology.dim
        cell = msh.topology.cell_type.name
        if msh.geometry.cmaps[0].degree != 1:
            raise ValueError("field series are written on degree-1 meshes only")
        cimap = msh.topology.index_map(tdim)
        nc = cimap.size_local + cimap.num_ghosts
        gdm = msh.geometry.dofmaps[0][:nc]
        gimap = msh.geometry.index_map()
        x = msh.geometry.x
        npts = x.shape[0]
        point_ghost = np.zeros(npts, np.uint8)
        point_ghost[gimap.size_local:] = 1
        cell_ghost = np.zeros(nc, np.uint8)
        cell_ghost[cimap.size_local:] = 1
        piece = Piece(x, gdm[:, VTK_ORDER[cell]], VTK_LINEAR[cell], point_ghost, cell_ghost,
                      gimap.local_to_global(np.arange(npts, dtype=np.int32)),
                      cimap.local_to_global(np.arange(nc, dtype=np.int32)))
        # geometry node of each cell's local node (the P1 DOFs follow the same order)
        return piece, (nc, gdm.ravel())

    def _values(self, f: fem.Function, kind: str) -> np.ndarray:
        nc, nodes = self._maps
        bs = f.function_space.dofmap.index_map_bs
        arr = f.x.array.reshape(-1, bs)
        dm = f.function_space.dofmap.list[:nc]
        if kind == "point":
            out = np.empty((self._piece.num_points, bs))
            out[nodes] = arr[dm.ravel()]
        else:
            out = arr[dm[:, 0]]
        if self._components[f.name] == 1:
            return out[:, 0]
        return np.hstack([out, np.zeros((out.shape[0], 3 - bs))]) if bs < 3 else out

    def write(self, t: float) -> None:
        """Write every field at time ``t`` (collective)."""
        if self._closed:
            raise RuntimeError(f"{self.path}: the series is closed")
        k = len(self.times)
        stem = self.path.stem
        point, cell = {}, {}
        for f, kind in zip(self.functions, self._kinds, strict=True):
            (point if kind == "point" else cell)[f.name] = self._values(f, kind)
        piece = self.path.with_name(f"{stem}_p{self.comm.rank}_{k:06d}.vtu")
        try:
            atomic_write(piece, self._piece.text(point, cell))
            failed = None
        except OSError as e:
            failed = _cannot_write(piece, e)
        # every rank's piece is complete before the .pvtu names it; a failure on any
        # rank stops every rank here
        failures = [m for m in self.comm.allgather(failed) if m]
        if failures:
            raise OutputError(failures[0])
        times = [*self.times, float(t)]

        def index() -> None:
            try:
                pieces = [f"{stem}_p{r}_{k:06d}.vtu" for r in range(self.comm.size)]
                atomic_write(self.path.with_name(f"{stem}{k:06d}.pvtu"), pvtu_text(
                    pieces, {n: self._components[n] for n in point},
                    {n: self._components[n] for n in cell}))
                atomic_write(self.path, pvd_text(
                    [(s, f"{stem}{i:06d}.pvtu") for i, s in enumerate(times)]))
            except OSError as e:
                raise OutputError(_cannot_write(self.path, e)) from None

        on_root(self.comm, index)
        self.times = times

    def close(self) -> None:
        self._closed = True

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
