"""Reading and inspecting tagged stack meshes (any gmsh version; other formats via meshio).

The file layout (``gmsh:physical`` cell data and physical names) is described in
:mod:`fem_cell.meshing.io`.  ``.msh`` files go to gmsh directly; every other file is
converted with meshio into a temporary gmsh 2.2 file first, so any meshio-readable
format carrying ``gmsh:physical`` cell data and ``field_data`` names works.  Everything
dolfinx would choke on is refused on rank 0 with a :class:`~fem_cell.errors.MeshError`
naming the file and the group involved.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.meshing.partition import model_partitioner


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
    """meshio.read, quiet: meshio prints its complaints and calls ``sys.exit`` on a file
    it cannot read (a header-only .msh, a truncated .vtu); that becomes one MeshError."""
    import contextlib
    import io as _io

    buf = _io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            return _meshio_read_loud(path)
    except SystemExit:
        why = " ".join(buf.getvalue().split()) or "meshio gave up"
        raise MeshError(f"{path}: cannot read the mesh file ({why})") from None


def _meshio_read_loud(path: Path):
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


def _topological_dimension(path: Path, model) -> int:
    """Largest dimension of the elements of the gmsh model; refuses no cells and 3-D."""
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
    return tdim


def _named_physical_groups(path: Path, model) -> list[tuple[int, int]]:
    """The (dim, tag) of every physical group; refuses a mesh with none or none named."""
    groups = model.getPhysicalGroups()
    if not groups:
        raise MeshError(f"{path}: the mesh has no physical groups; name every region "
                        "(and the interfaces/boundaries) with a gmsh physical group")
    if not any(model.getPhysicalName(d, t) for d, t in groups):
        raise MeshError(f"{path}: the mesh has no named physical groups; give the physical "
                        "groups names (gmsh $PhysicalNames / meshio field_data)")
    return groups


def _linear_cells(path: Path, model, tdim: int) -> tuple[int, np.ndarray, np.ndarray]:
    """The cells of dimension ``tdim``; refuses mixed and non-linear cell types.

    Returns:
        (gmsh element type, element tags, node tags with one row per cell)
    """
    supported = dolfinx.io.gmsh._gmsh_to_cells
    types, elem_tags, elem_nodes = model.mesh.getElements(tdim)
    if len(types) != 1:
        raise MeshError(f"{path}: mixed {tdim}-D cell types are not supported")
    if int(types[0]) not in supported or supported[int(types[0])][1] != 1:
        name = model.mesh.getElementProperties(types[0])[0]
        raise MeshError(f"{path}: cell type {name!r} is not supported (linear cells only)")
    all_cells = np.asarray(elem_tags[0])
    cell_nodes = np.asarray(elem_nodes[0], dtype=np.int64).reshape(len(all_cells), -1)
    return int(types[0]), all_cells, cell_nodes


def _check_cell_regions(path: Path, model, tdim: int, groups: list[tuple[int, int]],
                        all_cells: np.ndarray) -> None:
    """Refuse cells in no region, in more than one, or regions without a name."""
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


def _check_facets_on_cells(path: Path, model, tdim: int, groups: list[tuple[int, int]],
                           ctype: int, cell_nodes: np.ndarray, node_tags: np.ndarray) -> None:
    """Refuse tagged facets that are not a side of some cell.

    dolfinx aborts with an MPI error stack on such facets.
    """
    supported = dolfinx.io.gmsh._gmsh_to_cells
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


def _geometric_dimension(path: Path, coords: np.ndarray, tdim: int) -> int:
    """Dimension spanned by the node coordinates; refuses lines off x, sections off x-y."""
    coords = np.asarray(coords).reshape(-1, 3)
    used = [c for c in range(3) if np.any(coords[:, c] != 0.0)]
    gdim = max(tdim, (max(used) + 1) if used else 0)
    if gdim > tdim:
        where = "along x (y = z = 0)" if tdim == 1 else "in the x-y plane (z = 0)"
        raise MeshError(f"{path}: the mesh is {tdim}-D but its nodes do not lie {where}; "
                        f"{'the height is x' if tdim == 1 else 'x is lateral, y the height'}")
    return gdim


def _inspect_gmsh_model(path: Path) -> tuple[int, int]:
    """Check the current gmsh model (rank 0); return (tdim, gdim).

    Everything dolfinx would choke on (or that would only fail much later) is refused
    here with a :class:`MeshError` naming the file and the group involved.
    """
    import gmsh

    model = gmsh.model
    tdim = _topological_dimension(path, model)
    groups = _named_physical_groups(path, model)
    ctype, all_cells, cell_nodes = _linear_cells(path, model, tdim)
    _check_cell_regions(path, model, tdim, groups, all_cells)
    node_tags, coords, _ = model.mesh.getNodes()
    _check_facets_on_cells(path, model, tdim, groups, ctype, cell_nodes, node_tags)
    return tdim, _geometric_dimension(path, coords, tdim)


def _load_on_root(path: Path) -> tuple[str | None, tuple[int, int] | None, bool, str | None]:
    """Rank 0: convert ``path`` if needed, merge it into a new gmsh model and inspect it.

    Returns:
        (error message or None, (tdim, gdim) or None, whether gmsh was initialised
        here, temporary folder of the converted file or None); the last two are what
        :func:`_release_gmsh` needs, also after an error.
    """
    import gmsh

    error, dims, own_session, tmpdir = None, None, False, None
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
    return error, dims, own_session, tmpdir


def _release_gmsh(own_session: bool, tmpdir: str | None) -> None:
    """Rank 0: drop the model read, or end the gmsh session started for it.

    Also removes the temporary folder of a converted file.
    """
    import gmsh

    if gmsh.isInitialized():
        if own_session:
            gmsh.finalize()
        else:
            gmsh.model.remove()
    if tmpdir is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)


def _domain_from_mesh_data(data: dolfinx.io.gmsh.MeshData, tdim: int,
                           length_scale: float) -> Domain:
    """The :class:`Domain` of dolfinx's ``model_to_mesh`` result, named groups only."""
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


def _group_band(names: Sequence[str]) -> tuple[float, float] | None:
    """(lowest, highest) node height (file units) of the named 2-D physical groups of
    the loaded gmsh model (rank 0), None if there are none."""
    import gmsh

    lo, hi = np.inf, -np.inf
    for d, tag in gmsh.model.getPhysicalGroups(2):
        if gmsh.model.getPhysicalName(d, tag) in names:
            _, coords = gmsh.model.mesh.getNodesForPhysicalGroup(d, tag)
            y = np.asarray(coords, dtype=float).reshape(-1, 3)[:, 1]
            if y.size:
                lo, hi = min(lo, float(y.min())), max(hi, float(y.max()))
    return (lo, hi) if lo <= hi else None


def read_mesh(path: str | os.PathLike, comm: MPI.Comm,
              length_scale: float = 1e-6, dim: int | None = None,
              balance: Sequence[str] = ()) -> Domain:
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
        balance: 2-D, several ranks: names of regions whose cells every rank gets an
            equal share of, in vertical strips
            (:func:`fem_cell.meshing.partition.strip_partitioner`; the height band is
            those regions' nodes'); else dolfinx's default partitioner.

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
    error, dims, own_session, tmpdir, band = None, None, False, None, None
    if comm.rank == 0:
        error, dims, own_session, tmpdir = _load_on_root(path)
        if error is None and balance and comm.size > 1 and dims[0] == 2:
            try:
                band = _group_band(balance)
            except Exception:  # noqa: BLE001 - no balance then; every rank must go on
                band = None
    error, dims, band = comm.bcast((error, dims, band), root=0)
    try:
        if error is not None:
            raise MeshError(error)
        tdim, gdim = dims
        gdim = dim if dim is not None else gdim
        partitioner = model_partitioner(comm, band)
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, rank=0, gdim=gdim,
                                             partitioner=partitioner)
    finally:
        if comm.rank == 0:
            _release_gmsh(own_session, tmpdir)
    return _domain_from_mesh_data(data, tdim, length_scale)


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


__all__ = ["mesh_file_dimension", "read_mesh"]
