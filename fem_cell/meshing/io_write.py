"""Writing tagged stack meshes (``.msh``, ``.vtu``, ``.xdmf``) with their physical names.

The file layout (``gmsh:physical`` cell data and physical names) is described in
:mod:`fem_cell.meshing.io`.  meshio does not store ``field_data`` in VTU or XDMF files,
so :func:`write_mesh` adds it itself, in the layout meshio's readers expect (a VTU
``<FieldData>`` block, an XDMF ``<Information>`` element).
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import dolfinx
from fem_cell.domain import Domain
from fem_cell.errors import MeshError

#: Suffixes :func:`write_mesh` and :func:`~fem_cell.meshing.io_read.read_mesh` understand
#: (others: read only, through meshio).
MESH_SUFFIXES = (".msh", ".vtu", ".xdmf")

_MESHIO_CELL = {
    "point": "vertex",
    "interval": "line",
    "triangle": "triangle",
    "quadrilateral": "quad",
    "tetrahedron": "tetra",
    "hexahedron": "hexahedron",
}
_FACET_TYPE = {"interval": "point", "triangle": "interval", "quadrilateral": "interval",
               "tetrahedron": "triangle", "hexahedron": "quadrilateral"}


def _to_vtk_order(nodes: np.ndarray, cell_type: str) -> np.ndarray:
    """Permute dolfinx-ordered linear cell nodes to gmsh/VTK order."""
    if cell_type in ("point", "interval", "triangle", "tetrahedron"):
        return nodes
    ct = dolfinx.mesh.to_type(cell_type)
    perm = np.asarray(dolfinx.io.gmsh.cell_perm_array(ct, nodes.shape[1]))
    out = np.empty_like(nodes)
    out[:, perm] = nodes  # a_dolfinx[i] = a_gmsh[perm[i]]
    return out


def _gather(domain: Domain) -> dict | None:
    """Gather nodes, cells and tags to rank 0 in input order (collective)."""
    msh = domain.mesh
    comm = msh.comm
    tdim = msh.topology.dim
    if msh.geometry.cmaps[0].degree != 1:
        raise MeshError("write_mesh: only affine (degree-1) mesh geometries are supported")
    cell_type = msh.topology.cell_type.name

    inp = np.asarray(msh.geometry.input_global_indices, dtype=np.int64)
    n_own_nodes = msh.geometry.index_map().size_local
    x = msh.geometry.x

    cmap = msh.topology.index_map(tdim)
    n_own_cells = cmap.size_local
    n_cells = n_own_cells + cmap.num_ghosts
    cell_nodes = inp[msh.geometry.dofmaps[0][:n_own_cells]]
    cell_vals = np.zeros(n_cells, dtype=np.int32)
    cell_vals[domain.cell_tags.indices] = domain.cell_tags.values
    orig = np.asarray(msh.topology.original_cell_index, dtype=np.int64)[:n_own_cells]

    msh.topology.create_connectivity(tdim - 1, tdim)
    n_own_facets = msh.topology.index_map(tdim - 1).size_local
    ft = domain.facet_tags
    own = ft.indices < n_own_facets
    facets = ft.indices[own].astype(np.int32)
    facet_vals = ft.values[own].astype(np.int32)
    facet_nodes = inp[dolfinx.mesh.entities_to_geometry(msh, tdim - 1, facets)]
    facet_nodes = facet_nodes.reshape(len(facets), -1)

    parts = comm.gather((inp[:n_own_nodes], x[:n_own_nodes].copy(), orig, cell_nodes,
                         cell_vals[:n_own_cells], facet_nodes, facet_vals), root=0)
    if comm.rank != 0:
        return None
    node_inp = np.concatenate([p[0] for p in parts])
    points = np.concatenate([p[1] for p in parts])
    order = np.argsort(node_inp)
    node_inp, points = node_inp[order], points[order]
    if np.any(np.diff(node_inp) == 0):
        raise MeshError("write_mesh: a mesh node is owned by two ranks (internal error)")

    def renumber(a: np.ndarray) -> np.ndarray:
        return np.searchsorted(node_inp, a).astype(np.int64)

    orig = np.concatenate([p[2] for p in parts])
    order = np.argsort(orig, kind="stable")
    cells = renumber(np.concatenate([p[3] for p in parts]))[order]
    cvals = np.concatenate([p[4] for p in parts])[order]
    fnodes = renumber(np.concatenate([p[5] for p in parts]))
    fvals = np.concatenate([p[6] for p in parts])
    forder = np.lexsort((*np.sort(fnodes, axis=1).T[::-1], fvals))
    fnodes, fvals = fnodes[forder], fvals[forder]

    facet_type = _FACET_TYPE[cell_type]
    return {
        "points": points,
        "cells": _to_vtk_order(cells, cell_type),
        "cell_type": _MESHIO_CELL[cell_type],
        "cell_values": cvals,
        "facets": _to_vtk_order(fnodes, facet_type),
        "facet_type": _MESHIO_CELL[facet_type],
        "facet_values": fvals,
        "tdim": tdim,
    }


def _meshio_mesh(data: dict, domain: Domain):
    import meshio

    tdim = data["tdim"]
    blocks = [meshio.CellBlock(data["cell_type"], data["cells"])]
    phys = [data["cell_values"]]
    if len(data["facets"]):
        blocks.append(meshio.CellBlock(data["facet_type"], data["facets"]))
        phys.append(data["facet_values"])
    field_data = {n: np.array([t, tdim], dtype=np.int64) for n, t in domain.cell_names.items()}
    field_data.update({n: np.array([t, tdim - 1], dtype=np.int64)
                       for n, t in domain.facet_names.items()})
    phys = [np.asarray(p, dtype=np.int32) for p in phys]
    cell_data = {"gmsh:physical": phys, "gmsh:geometrical": [p.copy() for p in phys]}
    return meshio.Mesh(data["points"], blocks, cell_data=cell_data, field_data=field_data)


def _add_vtu_field_data(path: Path, field_data: dict[str, np.ndarray]) -> None:
    """Insert a ``<FieldData>`` block (meshio's layout) into a VTU file."""
    tree = ET.parse(path)
    grid = tree.getroot().find("UnstructuredGrid")
    fd = ET.Element("FieldData")
    for name, value in field_data.items():
        da = ET.SubElement(fd, "DataArray", type="Int64", Name=name, NumberOfTuples="2",
                           format="ascii")
        da.text = " ".join(str(int(v)) for v in value)
    grid.insert(0, fd)
    tree.write(path, xml_declaration=True, encoding="utf-8")


def _add_xdmf_information(path: Path, field_data: dict[str, np.ndarray]) -> None:
    """Insert the physical names as an ``<Information>`` element (meshio's layout)."""
    tree = ET.parse(path)
    grid = tree.getroot().find("Domain").find("Grid")
    main = ET.Element("main")
    for name, (tag, dim) in field_data.items():
        ET.SubElement(main, "map", key=name, dim=str(int(dim))).text = str(int(tag))
    info = ET.Element("Information", Name="Information", Value=str(len(field_data)))
    info.text = ET.tostring(main, encoding="unicode")
    grid.append(info)
    tree.write(path, xml_declaration=True, encoding="utf-8")


def write_mesh(domain: Domain, path: str | os.PathLike) -> None:
    """Write a tagged mesh with its region and facet-group names (collective).

    The format follows the suffix: ``.msh`` (gmsh 2.2 ASCII), ``.vtu`` or ``.xdmf``.
    Nodes and cells are written in the order of the mesh's original input (so the
    file does not depend on the number of ranks); only tagged facets are written.

    Args:
        domain: the mesh with cell/facet tags and names (coordinates in units of
            ``domain.length_scale`` m; written unscaled).
        path: output file; its suffix picks the format.

    Raises:
        MeshError: unsupported suffix, higher-order geometry, or the write failed.
    """
    import meshio

    comm = domain.comm
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in MESH_SUFFIXES:
        raise MeshError(f"{path}: cannot write mesh files of type {suffix!r}; "
                        f"use one of {', '.join(MESH_SUFFIXES)}")
    data = _gather(domain)
    error = None
    if comm.rank == 0:
        try:
            m = _meshio_mesh(data, domain)
            path.parent.mkdir(parents=True, exist_ok=True)
            if suffix == ".msh":
                meshio.write(path, m, file_format="gmsh22", binary=False)
            elif suffix == ".vtu":
                meshio.write(path, m, file_format="vtu")
                _add_vtu_field_data(path, m.field_data)
            else:
                meshio.write(path, m, file_format="xdmf")
                _add_xdmf_information(path, m.field_data)
        except Exception as exc:  # noqa: BLE001 - reported on every rank
            error = f"{path}: could not write mesh: {exc}"
    error = comm.bcast(error, root=0)
    if error is not None:
        raise MeshError(error)


__all__ = ["MESH_SUFFIXES", "write_mesh"]
