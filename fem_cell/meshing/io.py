"""Reading and writing tagged stack meshes, so users can bring their own meshes.

File contents
-------------
A mesh file holds the cells of one dimension (intervals, triangles or quadrilaterals,
tetrahedra or hexahedra) plus the tagged facets (vertices, lines, …), with

* ``gmsh:physical`` cell data: the region tag of every cell and the group tag of every
  facet (``gmsh:geometrical`` carries the same numbers), and
* the *physical names*: name → (tag, dimension), e.g. ``"Li3PO4" → (4, 2)`` and
  ``"Li3PO4|Li" → (13, 1)``.  In gmsh files these are ``$PhysicalNames``; meshio
  calls them ``field_data``.

Coordinates are in mesh units (``length_scale`` metres, µm by default).

Supported suffixes: ``.msh`` (gmsh 2.2 ASCII is written; any gmsh version is read),
``.vtu`` and ``.xdmf`` (+ ``.h5``).  meshio does not store ``field_data`` in VTU or
XDMF files, so :func:`write_mesh` adds it itself, in the layout meshio's readers
expect (a VTU ``<FieldData>`` block, an XDMF ``<Information>`` element).  Reading
converts every non-gmsh file with meshio into a temporary gmsh 2.2 file first; any
meshio-readable format carrying ``gmsh:physical`` cell data and ``field_data`` names
therefore works.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.geometry import StackGeometry

#: Suffixes :func:`write_mesh` and :func:`read_mesh` understand (others: read only,
#: through meshio).
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


# ----------------------------------------------------------------------------------
# writing
# ----------------------------------------------------------------------------------
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


# ----------------------------------------------------------------------------------
# reading
# ----------------------------------------------------------------------------------
def _translate_mixed_xdmf(data: np.ndarray) -> list:
    """XDMF ``Mixed`` topology → meshio cell blocks.

    Replaces meshio's reader, which misses the node count that the XDMF format (and
    meshio's own writer) puts after every polyvertex (type 1), so 1-D meshes with
    tagged vertices could not be read back.
    """
    import meshio
    from meshio.xdmf.common import xdmf_idx_to_meshio_type

    fixed = {4: 3, 5: 4, 6: 4, 7: 5, 8: 6, 9: 8, 11: 6}
    data = np.asarray(data)
    types, starts, sizes = [], [], []
    r = 0
    while r < len(data):
        t = int(data[r])
        r += 1
        if t in (1, 2):  # polyvertex / polyline: node count follows
            n = int(data[r])
            r += 1
        elif t in fixed:
            n = fixed[t]
        else:
            raise MeshError(f"XDMF mixed topology: unsupported cell type {t}")
        types.append(t)
        starts.append(r)
        sizes.append(n)
        r += n
    blocks = []
    i = 0
    while i < len(types):
        j = i
        while j < len(types) and types[j] == types[i] and sizes[j] == sizes[i]:
            j += 1
        if types[i] == 2 and sizes[i] != 2:
            raise MeshError("XDMF mixed topology: only 2-node lines are supported")
        idx = np.asarray(starts[i:j])[:, None] + np.arange(sizes[i])
        blocks.append(meshio.CellBlock(xdmf_idx_to_meshio_type[types[i]], data[idx]))
        i = j
    return blocks


def _meshio_read(path: Path):
    import meshio

    if path.suffix.lower() not in (".xdmf", ".xmf"):
        return meshio.read(path)
    from unittest import mock

    import meshio.xdmf.main as xdmf_main

    with mock.patch.object(xdmf_main, "translate_mixed_cells", _translate_mixed_xdmf):
        return meshio.read(path)


def _convert_to_msh(path: Path, out: Path) -> None:
    """Convert a meshio-readable file with physical tags/names to gmsh 2.2 (rank 0)."""
    import meshio

    try:
        m = _meshio_read(path)
    except Exception as exc:  # noqa: BLE001
        raise MeshError(f"{path}: cannot read mesh file: {exc}") from exc
    phys = m.cell_data.get("gmsh:physical")
    if phys is None:
        raise MeshError(f"{path}: no 'gmsh:physical' cell data, so the mesh has no named "
                        f"physical groups (regions); cell data present: "
                        f"{sorted(m.cell_data) or 'none'}")
    names = {k: np.asarray(v, dtype=np.int64).ravel() for k, v in m.field_data.items()}
    names = {k: v for k, v in names.items() if v.size == 2}
    if not names:
        raise MeshError(f"{path}: no physical names (meshio field_data name -> [tag, dim]); "
                        "cannot name the regions")
    phys = [np.asarray(p, dtype=np.int32).ravel() for p in phys]
    geo = m.cell_data.get("gmsh:geometrical")
    geo = phys if geo is None else [np.asarray(g, dtype=np.int32).ravel() for g in geo]
    out_mesh = meshio.Mesh(m.points, m.cells,
                           cell_data={"gmsh:physical": phys, "gmsh:geometrical": geo},
                           field_data=names)
    meshio.write(out, out_mesh, file_format="gmsh22", binary=False)


def _group_label(model, dim: int, tag: int) -> str:
    name = model.getPhysicalName(dim, tag)
    return repr(name) if name else f"tag {tag} (unnamed)"


#: Local node numbers of the facets of the linear gmsh cells (gmsh node order).
_GMSH_CELL_FACETS = {
    1: [[0], [1]],                              # 2-node line -> its end points
    2: [[0, 1], [1, 2], [2, 0]],                # 3-node triangle -> edges
    3: [[0, 1], [1, 2], [2, 3], [3, 0]],        # 4-node quadrangle -> edges
}


def _facet_keys(nodes: np.ndarray, base: int) -> np.ndarray:
    """One int64 key per facet (rows of node tags, any order)."""
    nodes = np.sort(np.asarray(nodes, dtype=np.int64), axis=1)
    key = np.zeros(len(nodes), dtype=np.int64)
    for c in range(nodes.shape[1]):
        key = key * base + nodes[:, c]
    return key


def _inspect_gmsh_model(path: Path) -> tuple[int, int]:
    """Check the current gmsh model (rank 0); return (tdim, gdim).

    Everything dolfinx would choke on (or that would only fail much later) is refused
    here with a :class:`MeshError` naming the file and the group involved.
    """
    import gmsh

    supported = dolfinx.io.gmsh._gmsh_to_cells
    model = gmsh.model
    tdim = 0
    for d in (3, 2, 1):
        types, _, _ = model.mesh.getElements(d)
        if len(types):
            tdim = d
            break
    if tdim == 0:
        raise MeshError(f"{path}: the file holds no cells (no line, surface or volume elements)")
    if tdim == 3:
        raise MeshError(f"{path}: the mesh is 3-D (volume cells); only 1-D (through-thickness "
                        "line) and 2-D (cross-section) meshes are supported")
    groups = model.getPhysicalGroups()
    if not groups:
        raise MeshError(f"{path}: the mesh has no physical groups; name every region "
                        "(and the interfaces/boundaries) with a gmsh physical group")
    if not any(model.getPhysicalName(d, t) for d, t in groups):
        raise MeshError(f"{path}: the mesh has no named physical groups; give the physical "
                        "groups names (gmsh $PhysicalNames / meshio field_data)")
    types, elem_tags, elem_nodes = model.mesh.getElements(tdim)
    if len(types) != 1:
        raise MeshError(f"{path}: mixed {tdim}-D cell types are not supported")
    if int(types[0]) not in supported or supported[int(types[0])][1] != 1:
        name = model.mesh.getElementProperties(types[0])[0]
        raise MeshError(f"{path}: cell type {name!r} is not supported (linear cells only)")
    all_cells = np.asarray(elem_tags[0])
    cell_groups = [t for d, t in groups if d == tdim]
    if not cell_groups:
        raise MeshError(f"{path}: no {tdim}-D physical group: the cells belong to no region")
    unnamed = [t for t in cell_groups if not model.getPhysicalName(tdim, t)]
    if unnamed:
        raise MeshError(f"{path}: {tdim}-D physical group(s) with tag(s) {unnamed} have no name; "
                        "every cell must belong to a region named like a layer of the cell")
    tagged = []
    for t in cell_groups:
        for ent in model.getEntitiesForPhysicalGroup(tdim, t):
            for et in model.mesh.getElements(tdim, ent)[1]:
                tagged.append(np.asarray(et))
    tagged = np.concatenate(tagged) if tagged else np.zeros(0, dtype=np.int64)
    if len(np.unique(tagged)) != len(tagged):
        raise MeshError(f"{path}: some cells belong to more than one {tdim}-D physical group")
    missing = np.setdiff1d(all_cells, tagged)
    if len(missing):
        raise MeshError(f"{path}: {len(missing)} of {len(all_cells)} cells belong to no "
                        f"{tdim}-D physical group (every cell needs a region)")

    # every tagged facet must be a side of some cell (dolfinx aborts with an MPI
    # error stack otherwise)
    ctype = int(types[0])
    cell_nodes = np.asarray(elem_nodes[0], dtype=np.int64).reshape(len(all_cells), -1)
    node_tags, coords, _ = model.mesh.getNodes()
    base = int(np.max(node_tags)) + 1 if len(node_tags) else 1
    local = np.asarray(_GMSH_CELL_FACETS[ctype])
    cell_facets = np.unique(_facet_keys(
        cell_nodes[:, local].reshape(-1, local.shape[1]), base))
    for d, t in groups:
        if d != tdim - 1:
            continue
        label = _group_label(model, d, t)
        for ent in model.getEntitiesForPhysicalGroup(d, t):
            ftypes, _, fnodes = model.mesh.getElements(d, ent)
            for ft, fn in zip(ftypes, fnodes, strict=True):
                nn = model.mesh.getElementProperties(ft)[3]
                if int(ft) not in supported or nn != local.shape[1]:
                    raise MeshError(f"{path}: facet group {label} holds "
                                    f"{model.mesh.getElementProperties(ft)[0]!r} elements, "
                                    f"not the sides of the {tdim}-D cells")
                fn = np.asarray(fn, dtype=np.int64).reshape(-1, nn)
                orphan = ~np.isin(_facet_keys(fn, base), cell_facets)
                if np.any(orphan):
                    raise MeshError(
                        f"{path}: facet group {label}: {int(orphan.sum())} of {len(fn)} "
                        f"facet(s) are not a side of any cell (first one has gmsh node tags "
                        f"{fn[orphan][0].tolist()}); tagged facets must lie on the mesh")
    coords = np.asarray(coords).reshape(-1, 3)
    used = [c for c in range(3) if np.any(coords[:, c] != 0.0)]
    gdim = max(tdim, (max(used) + 1) if used else 0)
    if gdim > tdim:
        where = "along x (y = z = 0)" if tdim == 1 else "in the x-y plane (z = 0)"
        raise MeshError(f"{path}: the mesh is {tdim}-D but its nodes do not lie {where}; "
                        f"{'the height is x' if tdim == 1 else 'x is lateral, y the height'}")
    return tdim, gdim


def read_mesh(path: str | os.PathLike, comm: MPI.Comm,
              length_scale: float = 1e-6, dim: int | None = None) -> Domain:
    """Read a tagged mesh file into a :class:`~fem_cell.domain.Domain` (collective).

    ``.msh`` files go to gmsh directly; other formats are converted by meshio (rank
    0) into a temporary gmsh 2.2 file first.  Region and facet-group names come from
    the gmsh physical names; unnamed facet groups keep their tags but get no name
    (unnamed cell groups are refused).  The mesh is distributed with ghosted shared
    facets (needed for ``dS`` in parallel).  Everything is checked on rank 0 before
    dolfinx sees the mesh, and the verdict is broadcast, so every rank raises the same
    error.

    Args:
        path: mesh file (``.msh``, ``.vtu``, ``.xdmf`` or another meshio format).
        comm: communicator to distribute the mesh over.
        length_scale: metres per coordinate unit of the file (1e-6: file in µm).
        dim: geometric dimension of the mesh; ``None`` infers it from the cells and
            the coordinates that are not all zero.

    Returns:
        The domain; ``cell_names`` holds the physical groups of the cell dimension,
        ``facet_names`` those one dimension lower.

    Raises:
        MeshError: the file is missing or unreadable; has no named physical groups;
            is 3-D, or a 1-D/2-D mesh not along x / in the x-y plane; has non-linear
            or mixed cells; some cells belong to no region, to more than one, or to an
            unnamed one; a tagged facet is not a side of any cell.  The message names
            the file and the group.
    """
    import gmsh

    path = Path(path)
    error, dims = None, None
    own_session = False
    tmpdir = None
    if comm.rank == 0:
        try:
            if not path.is_file():
                raise MeshError(f"{path}: no such mesh file")
            msh_path = path
            if path.suffix.lower() != ".msh":
                tmpdir = tempfile.mkdtemp(prefix="fem_cell_mesh_")
                msh_path = Path(tmpdir) / "converted.msh"
                _convert_to_msh(path, msh_path)
            own_session = not gmsh.isInitialized()
            if own_session:
                gmsh.initialize(interruptible=False)
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.add("fem_cell_read_mesh")
            try:
                gmsh.merge(str(msh_path))
            except Exception as exc:  # noqa: BLE001
                raise MeshError(f"{path}: gmsh cannot read the file: {exc}") from exc
            dims = _inspect_gmsh_model(path)
        except MeshError as exc:
            error = str(exc)
        except Exception as exc:  # noqa: BLE001
            error = f"{path}: cannot read mesh: {exc}"
    error, dims = comm.bcast((error, dims), root=0)
    try:
        if error is not None:
            raise MeshError(error)
        tdim, gdim = dims
        gdim = dim if dim is not None else gdim
        partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, rank=0, gdim=gdim,
                                             partitioner=partitioner)
    finally:
        if comm.rank == 0:
            if gmsh.isInitialized():
                if own_session:
                    gmsh.finalize()
                else:
                    gmsh.model.remove()
            if tmpdir is not None:
                shutil.rmtree(tmpdir, ignore_errors=True)

    msh = data.mesh
    cell_names = {n: int(g.tag) for n, g in data.physical_groups.items() if n and g.dim == tdim}
    facet_names = {n: int(g.tag) for n, g in data.physical_groups.items()
                   if n and g.dim == tdim - 1}
    cell_tags, facet_tags = data.cell_tags, data.facet_tags
    if facet_tags is None:
        empty = np.zeros(0, dtype=np.int32)
        facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, empty, empty)
    cell_tags.name, facet_tags.name = "layers", "facets"
    return Domain(msh, cell_tags, facet_tags, cell_names, facet_names, length_scale)


#: Relative tolerance of the geometric checks of a read mesh against the configured
#: stack (layer thicknesses, region widths): 1 %.
GEOMETRY_RTOL = 0.01

#: Facet groups every mesh needs (boundary conditions of the heat problem).
REQUIRED_FACET_GROUPS = ("bottom", "top")


def mesh_file_dimension(path: str | os.PathLike) -> int:
    """Topological dimension of the cells in a mesh file (no MPI, no gmsh session).

    Cheap and rank-independent: every rank may call it on its own (it reads the file
    with meshio and looks at the cell types only).  Vertex-only files give 0; 3-D files
    give 3 (which :func:`read_mesh` then refuses).

    Args:
        path: mesh file (any format meshio reads: ``.msh``, ``.vtu``, ``.xdmf`` …).

    Returns:
        The largest topological dimension of the file's cells (0 … 3).

    Raises:
        MeshError: the file is missing or unreadable, or holds no cells.
    """
    path = Path(path)
    if not path.is_file():
        raise MeshError(f"{path}: no such mesh file")
    try:
        m = _meshio_read(path)
    except MeshError:
        raise
    except Exception as exc:  # noqa: BLE001
        raise MeshError(f"{path}: cannot read mesh file: {exc}") from None
    dims = [int(block.dim) for block in m.cells if len(block.data)]
    if not dims:
        raise MeshError(f"{path}: the file holds no cells")
    return max(dims)


def _extents(domain: Domain, name: str) -> np.ndarray:
    """Global (min, max) of every coordinate over the cells of a region (collective).

    Returns an array of shape (gdim, 2), in mesh units; (inf, -inf) if empty.
    """
    msh = domain.mesh
    gdim = msh.geometry.dim
    cells = domain.cells(name) if name in domain.cell_names else np.zeros(0, dtype=np.int32)
    x = msh.geometry.x[:, :gdim]
    if len(cells):
        pts = x[msh.geometry.dofmaps[0][cells].ravel()]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
    else:
        lo, hi = np.full(gdim, np.inf), np.full(gdim, -np.inf)
    lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    domain.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    domain.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    return np.stack([lo, hi], axis=1)


def check_domain_against_geometry(domain: Domain, geometry: StackGeometry,
                                  path: str | os.PathLike | None = None,
                                  rtol: float = GEOMETRY_RTOL) -> None:
    """Validate a read mesh against the configured stack (collective).

    Checks, in this order (the first failure is raised, identically on every rank):

    1. every layer of the stack has a non-empty region named like it;
    2. every region of the mesh is a layer of the stack (no extra regions);
    3. the facet groups ``bottom`` and ``top`` exist and are not empty;
    4. each region's extent along the thickness axis (x in 1-D, y in 2-D) equals the
       layer's thickness, and in 2-D each region's lateral extent (x) equals the
       layer's width (``width`` or the cross-section width; the Li pad for the top
       layer), both within the relative tolerance ``rtol`` (1 %).  Extents are
       ``length_scale`` × mesh coordinates, so a mesh drawn in the wrong unit fails
       here with a hint at ``[mesh] length_scale``.

    Args:
        domain: the (read) mesh with its region names and length scale (m per unit).
        geometry: the layer stack the physics will be set up for (SI).
        path: the mesh file, named in the messages.
        rtol: relative tolerance of the geometric checks.

    Raises:
        MeshError: one line naming the file, the region/group and what was expected.
    """
    src = f"{path}: " if path is not None else ""
    comm = domain.comm
    msh = domain.mesh
    tdim = msh.topology.dim
    n_own = msh.topology.index_map(tdim).size_local
    ct = domain.cell_tags
    own_vals = ct.values[ct.indices < n_own]
    layers = list(geometry.layer_names)
    regions = sorted(domain.cell_names, key=domain.cell_names.get)

    counts = {}
    for name in sorted(set(layers) | set(regions)):  # same order on every rank
        tag = domain.cell_names.get(name)
        local = 0 if tag is None else int(np.count_nonzero(own_vals == tag))
        counts[name] = comm.allreduce(local, op=MPI.SUM)
    missing = [n for n in layers if counts[n] == 0]
    if missing:
        raise MeshError(f"{src}the mesh has no region for layer(s) {missing}; its regions are "
                        f"{regions}; every layer of the cell needs a non-empty region named "
                        "like it")
    extra = [n for n in regions if n not in layers]
    if extra:
        raise MeshError(f"{src}region(s) {extra} in the mesh are not layers of the cell "
                        f"(layers: {layers}); every region must be one of its layers")

    n_own_f = msh.topology.index_map(tdim - 1).size_local
    ft = domain.facet_tags
    for name in REQUIRED_FACET_GROUPS:
        tag = domain.facet_names.get(name)
        local = 0 if tag is None else int(np.count_nonzero(
            (ft.values == tag) & (ft.indices < n_own_f)))
        if comm.allreduce(local, op=MPI.SUM) == 0:
            raise MeshError(f"{src}facet group {name!r} is missing or empty (groups: "
                            f"{sorted(domain.facet_names)}); the boundary conditions need "
                            f"{' and '.join(repr(g) for g in REQUIRED_FACET_GROUPS)}")

    ell = domain.length_scale
    axis = tdim - 1  # thickness axis: x in 1-D, y in 2-D
    checks = []  # (region, quantity, mesh value in m, configured value in m)
    for layer in geometry.layers:
        ext = _extents(domain, layer.name)
        checks.append((layer.name, "thickness", float(ext[axis, 1] - ext[axis, 0]) * ell,
                       layer.thickness))
        if tdim == 2:
            lo, hi = geometry.lateral_extent(layer.name)
            checks.append((layer.name, "width", float(ext[0, 1] - ext[0, 0]) * ell, hi - lo))
    bad = [c for c in checks if not abs(c[2] - c[3]) <= rtol * c[3]]
    if bad:
        name, what, got, want = bad[0]
        factors = np.array([c[3] / c[2] for c in checks if c[2] > 0])
        hint = "check [mesh] length_scale (metres per mesh-coordinate unit"
        hint += f", now {ell:g} m) and the configured geometry"
        if len(factors) == len(checks) and np.ptp(np.log(factors)) < 2 * rtol:
            hint += (f"; every size is off by the same factor {float(np.median(factors)):.4g}: "
                     f"length_scale = {ell * float(np.median(factors)):.4g} m would match")
        raise MeshError(f"{src}region {name!r}: {what} in the mesh {got:.6g} m "
                        f"({got / ell:.6g} mesh units x length_scale {ell:g} m) differs from "
                        f"the configured {want:.6g} m by more than {rtol:.0%}; {hint}")
