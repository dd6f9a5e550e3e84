"""Field time series that ParaView *and* pyvista open.

dolfinx's ``VTKFile`` writes a ``.pvd`` collection of (parallel) ``.vtu`` pieces, one
per output time; pyvista reads it with ``pyvista.get_reader(path)`` and ParaView opens
the ``.pvd`` directly.  (pyvista from PyPI cannot read VTX ``.bp`` folders and crashes
on dolfinx XDMF, so neither is the default.)  Mesh coordinates are in mesh units
(µm by default, see :mod:`fem_cell.domain`).
"""

from __future__ import annotations

from pathlib import Path

from fem_cell._dolfinx import fem, io


class FieldSeriesWriter:
    """Write a set of fields on one mesh at chosen times; a context manager.

    Args:
        comm: the mesh communicator (collective: every rank must call write/close).
        path: ``.pvd`` file path (same on every rank).
        functions: P1 and/or DG0 functions on the same mesh; their names become the
            VTK array names.
    """

    def __init__(self, comm, path: str | Path, functions: list[fem.Function]):
        path = Path(path)
        if path.suffix != ".pvd":
            raise ValueError(f"field series path must end in .pvd, got {path}")
        self.path = path
        self.functions = list(functions)
        self._file = io.VTKFile(comm, str(path), "w")
        self.times: list[float] = []

    def write(self, t: float) -> None:
        self._file.write_function(self.functions, float(t))
        self.times.append(float(t))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
