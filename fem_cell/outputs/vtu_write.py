"""Binary VTK XML files of a field series: ``.vtu`` pieces, their ``.pvtu`` and the ``.pvd``.

Pure numpy and text (no dolfinx, no files): :mod:`fem_cell.outputs.fields` takes the
arrays from the mesh and the functions and writes the files.  The layout is the one
dolfinx's ``VTKFile`` writes — per output time ``<stem>NNNNNN.pvtu`` naming one
``<stem>_p<rank>_NNNNNN.vtu`` piece per rank, every piece carrying its ghost cells and
points marked by ``vtkGhostType`` = 1, with ``vtkOriginalPointIds``/``vtkOriginalCellIds``
(global indices) — so ParaView, pyvista and :mod:`fem_cell.outputs.vtk_read` read both
alike.  The difference is the encoding:

* arrays are **binary** (base64 inside the XML, ``format="binary"``), compressed with
  zlib (``compressor="vtkZLibDataCompressor"``, 32 KiB blocks as VTK writes them), with
  64-bit headers (``header_type="UInt64"``): values are the exact doubles, not 16-digit
  text;
* cells are the classic linear VTK types (line 3, triangle 5, quad 9, tetra 10,
  hexahedron 12; file version 1.0), which meshio reads as well as VTK;
* the mesh arrays of a piece are encoded once and reused at every time;
* names (arrays, files) are escaped for XML: any field name or series name is kept.

Encoding reference: VTK's XML file formats ("binary" inline data: for compressed data
a base64 header ``[#blocks, block size, last block size, compressed sizes…]`` followed
by the base64 of the concatenated compressed blocks).
"""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from html import escape

import numpy as np

#: uncompressed block size of VTK's zlib compressor
BLOCK = 32768
#: zlib level: 1 is the fastest; the field arrays compress little at any level
ZLIB_LEVEL = 1
#: numpy dtype → VTK XML type name
VTK_TYPES = {np.dtype(np.float64): "Float64", np.dtype(np.float32): "Float32",
             np.dtype(np.int64): "Int64", np.dtype(np.int32): "Int32",
             np.dtype(np.uint8): "UInt8"}


def encode(values: np.ndarray) -> str:
    """``values`` (C order, little-endian) as the text of a compressed binary DataArray."""
    data = np.ascontiguousarray(values)
    if data.dtype.byteorder == ">":
        data = data.astype(data.dtype.newbyteorder("<"))
    raw = data.tobytes()
    blocks = [zlib.compress(raw[i:i + BLOCK], ZLIB_LEVEL) for i in range(0, len(raw), BLOCK)]
    last = len(raw) - (len(blocks) - 1) * BLOCK if blocks else 0
    header = np.array([len(blocks), BLOCK, last, *(len(b) for b in blocks)], dtype="<u8")
    return (base64.b64encode(header.tobytes()).decode("ascii")
            + base64.b64encode(b"".join(blocks)).decode("ascii"))


def data_array(name: str | None, values: np.ndarray, *, components: int = 1,
               id_type: bool = False) -> str:
    """One ``<DataArray>`` element of ``values`` (:func:`encode` d)."""
    attrs = [f'type="{VTK_TYPES[np.dtype(values.dtype)]}"']
    if name is not None:
        attrs.append(f'Name="{escape(name)}"')
    if id_type:
        attrs.append('IdType="1"')
    if components != 1:
        attrs.append(f'NumberOfComponents="{components}"')
    return f'<DataArray {" ".join(attrs)} format="binary">{encode(values)}</DataArray>\n'


class Piece:
    """One rank's mesh, its arrays encoded once.

    Args:
        points: (n, 3) coordinates.
        connectivity: (cells, nodes per cell) point indices in VTK's node order.
        cell_type: the VTK cell type of every cell.
        point_ghost, cell_ghost: 1 where another rank owns the point / cell, else 0.
        point_ids, cell_ids: global indices (``vtkOriginalPointIds``/``…CellIds``).
    """

    def __init__(self, points: np.ndarray, connectivity: np.ndarray, cell_type: int,
                 point_ghost: np.ndarray, cell_ghost: np.ndarray,
                 point_ids: np.ndarray, cell_ids: np.ndarray):
        points = np.asarray(points, dtype=np.float64)
        conn = np.asarray(connectivity, dtype=np.int64)
        if points.ndim != 2 or points.shape[1] != 3:
            raise ValueError(f"points must be (n, 3), got {points.shape}")
        if conn.ndim != 2:
            raise ValueError(f"connectivity must be (cells, nodes), got {conn.shape}")
        self.num_points, self.num_cells = points.shape[0], conn.shape[0]
        for what, a, n in (("point_ghost", point_ghost, self.num_points),
                           ("cell_ghost", cell_ghost, self.num_cells),
                           ("point_ids", point_ids, self.num_points),
                           ("cell_ids", cell_ids, self.num_cells)):
            if len(a) != n:
                raise ValueError(f"{what} has {len(a)} entries, expected {n}")
        nodes = conn.shape[1]
        offsets = np.arange(1, self.num_cells + 1, dtype=np.int64) * nodes
        types = np.full(self.num_cells, cell_type, dtype=np.uint8)
        self._points = data_array(None, points, components=3)
        self._cells = (data_array("connectivity", conn) + data_array("offsets", offsets)
                       + data_array("types", types))
        self._point_meta = (
            data_array("vtkOriginalPointIds", np.asarray(point_ids, np.int64), id_type=True)
            + data_array("vtkGhostType", np.asarray(point_ghost, np.uint8)))
        self._cell_meta = (
            data_array("vtkGhostType", np.asarray(cell_ghost, np.uint8))
            + data_array("vtkOriginalCellIds", np.asarray(cell_ids, np.int64), id_type=True))

    def text(self, point_data: dict[str, np.ndarray], cell_data: dict[str, np.ndarray]) -> str:
        """The piece's ``.vtu`` file text with these arrays (name → (n,) or (n, 3))."""
        def arrays(data: dict[str, np.ndarray], n: int) -> str:
            out = []
            for name, v in data.items():
                v = np.asarray(v, dtype=np.float64)
                if v.shape[0] != n:
                    raise ValueError(f"{name!r}: {v.shape[0]} values for {n} entities")
                out.append(data_array(name, v, components=1 if v.ndim == 1 else v.shape[1]))
            return "".join(out)

        return ('<?xml version="1.0"?>\n'
                '<VTKFile type="UnstructuredGrid" version="1.0" byte_order="LittleEndian" '
                'header_type="UInt64" compressor="vtkZLibDataCompressor">\n'
                '<UnstructuredGrid>\n'
                f'<Piece NumberOfPoints="{self.num_points}" NumberOfCells="{self.num_cells}">\n'
                f'<Points>\n{self._points}</Points>\n'
                f'<Cells>\n{self._cells}</Cells>\n'
                f'<PointData>\n{self._point_meta}{arrays(point_data, self.num_points)}'
                '</PointData>\n'
                f'<CellData>\n{self._cell_meta}{arrays(cell_data, self.num_cells)}</CellData>\n'
                '</Piece>\n</UnstructuredGrid>\n</VTKFile>\n')


def pvtu_text(pieces: Sequence[str], point_arrays: dict[str, int],
              cell_arrays: dict[str, int]) -> str:
    """The ``.pvtu`` naming ``pieces`` (file names) with the arrays (name → components)."""
    def declare(arrays: dict[str, int]) -> str:
        return "".join(f'<PDataArray type="Float64" Name="{escape(n)}" '
                       f'NumberOfComponents="{c}"/>\n' for n, c in arrays.items())

    return ('<?xml version="1.0"?>\n'
            '<VTKFile type="PUnstructuredGrid" version="1.0" byte_order="LittleEndian" '
            'header_type="UInt64" compressor="vtkZLibDataCompressor">\n'
            '<PUnstructuredGrid GhostLevel="1">\n'
            '<PPointData>\n<PDataArray type="Int64" Name="vtkOriginalPointIds" IdType="1"/>\n'
            f'<PDataArray type="UInt8" Name="vtkGhostType"/>\n{declare(point_arrays)}'
            '</PPointData>\n'
            '<PCellData>\n<PDataArray type="UInt8" Name="vtkGhostType"/>\n'
            '<PDataArray type="Int64" Name="vtkOriginalCellIds" IdType="1"/>\n'
            f'{declare(cell_arrays)}</PCellData>\n'
            '<PPoints>\n<PDataArray type="Float64" NumberOfComponents="3"/>\n</PPoints>\n'
            + "".join(f'<Piece Source="{escape(p)}"/>\n' for p in pieces)
            + '</PUnstructuredGrid>\n</VTKFile>\n')


def pvd_text(entries: Sequence[tuple[float, str]]) -> str:
    """The ``.pvd`` collection of ``(time, file)`` entries."""
    rows = "".join(f'    <DataSet timestep="{float(t)!r}" part="0" file="{escape(f)}"/>\n'
                   for t, f in entries)
    return ('<?xml version="1.0"?>\n<VTKFile type="Collection" version="1.0">\n'
            f'  <Collection>\n{rows}  </Collection>\n</VTKFile>\n')
