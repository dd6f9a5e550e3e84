"""Mesh files: write/read round trips (1-D and 2-D; .msh, .vtu, .xdmf) and errors.

The ``mpi`` tests compare globally reduced quantities only and share one temporary
folder across ranks, so they hold for any number of ranks.
"""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem
from fem_cell.errors import MeshError
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing import MeshSettings, build_line_mesh
from fem_cell.meshing.cross_section import build_cross_section_mesh
from fem_cell.meshing.io import check_domain_against_geometry, read_mesh, write_mesh

W, PAD = 2e-3, 1e-3
THICK = {"substrate": 500e-6, "LiCoO2": 90e-9, "degraded": 10e-9, "Li3PO4": 1e-6, "Li": 0.5e-6}
EXTERIOR = ("bottom", "top", "exposed_top", "left", "right")
SUFFIXES = (".msh", ".vtu", ".xdmf")


def stack() -> StackGeometry:
    return StackGeometry(tuple(
        LayerSpec(n, n, t, width=PAD if n == "Li" else None) for n, t in THICK.items()), W)


def shared_dir(tmp_path):
    """The same temporary folder on every rank (rank 0's)."""
    return MPI.COMM_WORLD.bcast(tmp_path, root=0)


def build(dim: int):
    if dim == 1:
        return build_line_mesh(stack(), MeshSettings(), MPI.COMM_WORLD)
    return build_cross_section_mesh(stack(), MeshSettings(dim=2, lateral_cells=30),
                                    MPI.COMM_WORLD)


def expected_measures(dim: int) -> dict[str, float]:
    """Exact SI region sizes and facet-group measures of :func:`stack`."""
    if dim == 1:  # per unit area: thicknesses (m); facet groups are single points
        out = dict(THICK)
        out.update({n: 1.0 for n in ("bottom", "top", *stack().interface_names)})
        return out
    full = sum(t for n, t in THICK.items() if n != "Li")
    out = {n: t * (PAD if n == "Li" else W) for n, t in THICK.items()}
    out.update({"bottom": W, "top": PAD, "exposed_top": W - PAD + 2 * THICK["Li"],
                "left": full, "right": full, "substrate|LiCoO2": W, "LiCoO2|degraded": W,
                "degraded|Li3PO4": W, "Li3PO4|Li": PAD})
    return out


def measures(d) -> dict[str, float]:
    """Volume of every region and measure of every facet group (SI, global)."""
    out = {n: d.volume(n) for n in d.cell_names}
    one = fem.Constant(d.mesh, 1.0)
    for n in d.facet_names:
        out[n] = d.integrate(one, d.ds(n) if n in EXTERIOR else d.dS(n))
    return out


def n_cells(d) -> int:
    return d.mesh.topology.index_map(d.dim).size_global


@pytest.mark.mpi
@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("dim", [1, 2])
def test_round_trip(tmp_path, dim, suffix):
    folder = shared_dir(tmp_path)
    original = build(dim)
    path = folder / f"stack{dim}d{suffix}"
    write_mesh(original, path)
    back = read_mesh(path, MPI.COMM_WORLD, length_scale=original.length_scale)

    assert back.dim == dim and back.mesh.geometry.dim == dim
    assert back.mesh.topology.cell_type == original.mesh.topology.cell_type
    assert n_cells(back) == n_cells(original)
    assert back.cell_names == original.cell_names
    names = dict(original.facet_names)
    if dim == 2:  # empty groups are not written; this stack has none
        assert set(names) == set(EXTERIOR) | set(stack().interface_names)
    assert back.facet_names == names
    exact = expected_measures(dim)
    before, after = measures(original), measures(back)
    assert set(before) == set(after) == set(exact)
    for name, value in exact.items():
        assert before[name] == pytest.approx(value, rel=1e-10), name
        assert after[name] == pytest.approx(value, rel=1e-10), name
    check_domain_against_geometry(back, stack())


@pytest.mark.mpi
def test_file_is_in_mesh_units(tmp_path):
    import meshio

    folder = shared_dir(tmp_path)
    d = build(2)
    path = folder / "units.vtu"
    write_mesh(d, path)
    m = meshio.read(path)  # read-only, every rank
    assert m.points[:, 0].max() == pytest.approx(W / 1e-6, rel=1e-12)  # µm
    assert m.points[:, 1].max() == pytest.approx(sum(THICK.values()) / 1e-6, rel=1e-12)
    assert set(m.field_data) == set(d.cell_names) | set(d.facet_names)
    assert m.field_data["Li3PO4|Li"].tolist() == [13, 1]
    # a different length scale rescales every SI measure
    back = read_mesh(path, MPI.COMM_WORLD, length_scale=1e-3)
    assert back.volume("Li") == pytest.approx(THICK["Li"] * PAD * 1e6, rel=1e-10)


def _write_with_meshio(path, **kwargs) -> None:
    """Write a two-triangle mesh on rank 0 (kwargs go to ``meshio.Mesh``)."""
    import meshio

    if MPI.COMM_WORLD.rank == 0:
        pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=float)
        cells = [("triangle", np.array([[0, 1, 3], [0, 3, 2]]))]
        fmt = "gmsh22" if str(path).endswith(".msh") else None
        meshio.write(path, meshio.Mesh(pts, cells, **kwargs), file_format=fmt,
                     **({"binary": False} if fmt else {}))
    MPI.COMM_WORLD.Barrier()


@pytest.mark.mpi
@pytest.mark.parametrize("suffix", [".msh", ".vtu"])
def test_no_physical_groups_is_an_error(tmp_path, suffix):
    path = shared_dir(tmp_path) / f"plain{suffix}"
    _write_with_meshio(path)
    with pytest.raises(MeshError, match="physical") as err:
        read_mesh(path)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_unnamed_groups_are_an_error(tmp_path):
    path = shared_dir(tmp_path) / "unnamed.vtu"
    _write_with_meshio(path, cell_data={"gmsh:physical": [np.array([1, 1])]})
    with pytest.raises(MeshError, match="names") as err:
        read_mesh(path)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_untagged_cells_are_an_error(tmp_path):
    path = shared_dir(tmp_path) / "partial.msh"
    tags = [np.array([1, 0], dtype=np.int32)]
    _write_with_meshio(path, cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
                       field_data={"a": np.array([1, 2])})
    with pytest.raises(MeshError, match="1 of 2 cells") as err:
        read_mesh(path)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_unreadable_and_missing_files(tmp_path):
    folder = shared_dir(tmp_path)
    garbage = folder / "garbage.msh"
    if MPI.COMM_WORLD.rank == 0:
        garbage.write_text("this is not a mesh\n")
    MPI.COMM_WORLD.Barrier()
    with pytest.raises(MeshError, match="garbage.msh"):
        read_mesh(garbage)
    with pytest.raises(MeshError, match="no such mesh file"):
        read_mesh(folder / "missing.vtu")


@pytest.mark.mpi
def test_unknown_suffix_is_an_error(tmp_path):
    d = build(1)
    with pytest.raises(MeshError, match=r"\.stl"):
        write_mesh(d, shared_dir(tmp_path) / "mesh.stl")


@pytest.mark.mpi
def test_check_domain_against_geometry():
    d = build(1)
    check_domain_against_geometry(d, stack())
    extra = StackGeometry(stack().layers + (LayerSpec("cap", "cap", 1e-6, width=PAD),), W)
    with pytest.raises(MeshError, match="cap"):
        check_domain_against_geometry(d, extra)
