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
from fem_cell.meshing.cross_section import build_cross_section_mesh
from fem_cell.meshing.io import check_domain_against_geometry, read_mesh, write_mesh
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings

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
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_unnamed_groups_are_an_error(tmp_path):
    path = shared_dir(tmp_path) / "unnamed.vtu"
    _write_with_meshio(path, cell_data={"gmsh:physical": [np.array([1, 1])]})
    with pytest.raises(MeshError, match="names") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_untagged_cells_are_an_error(tmp_path):
    path = shared_dir(tmp_path) / "partial.msh"
    tags = [np.array([1, 0], dtype=np.int32)]
    _write_with_meshio(path, cell_data={"gmsh:physical": tags, "gmsh:geometrical": tags},
                       field_data={"a": np.array([1, 2])})
    with pytest.raises(MeshError, match="1 of 2 cells") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in str(err.value)


@pytest.mark.mpi
def test_unreadable_and_missing_files(tmp_path):
    folder = shared_dir(tmp_path)
    garbage = folder / "garbage.msh"
    if MPI.COMM_WORLD.rank == 0:
        garbage.write_text("this is not a mesh\n")
    MPI.COMM_WORLD.Barrier()
    with pytest.raises(MeshError, match="garbage.msh"):
        read_mesh(garbage, MPI.COMM_WORLD)
    with pytest.raises(MeshError, match="no such mesh file"):
        read_mesh(folder / "missing.vtu", MPI.COMM_WORLD)


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


# ---------------------------------------------------------------------------------
# validation of user meshes (hardening): one-line MeshErrors naming file and group
# ---------------------------------------------------------------------------------
def _write(path, points, cells, phys, names) -> None:
    """Write a gmsh 2.2 / meshio file on rank 0: cells [(type, conn)], phys tags per
    block, names {name: (tag, dim)}."""
    import meshio

    if MPI.COMM_WORLD.rank == 0:
        phys = [np.asarray(p, dtype=np.int32) for p in phys]
        m = meshio.Mesh(np.asarray(points, dtype=float),
                        [(t, np.asarray(c)) for t, c in cells],
                        cell_data={"gmsh:physical": phys, "gmsh:geometrical": phys},
                        field_data={n: np.array(v) for n, v in names.items()})
        if str(path).endswith(".msh"):
            meshio.write(path, m, file_format="gmsh22", binary=False)
        else:
            meshio.write(path, m)
    MPI.COMM_WORLD.Barrier()


def _one_line(err) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


@pytest.mark.mpi
def test_facet_not_on_any_cell_1d(tmp_path):
    """A tagged vertex that no cell uses used to end in an MPI error stack (exit 6)."""
    path = shared_dir(tmp_path) / "orphan1d.msh"
    pts = [[0, 0, 0], [1, 0, 0], [2, 0, 0], [5, 0, 0]]
    _write(path, pts, [("line", [[0, 1], [1, 2]]), ("vertex", [[0], [3]])],
           [[1, 1], [2, 3]], {"a": (1, 1), "bottom": (2, 0), "top": (3, 0)})
    with pytest.raises(MeshError, match="not a side of any cell") as err:
        read_mesh(path, MPI.COMM_WORLD)
    msg = _one_line(err)
    assert str(path) in msg and "'top'" in msg


@pytest.mark.mpi
def test_facet_not_on_any_cell_2d(tmp_path):
    path = shared_dir(tmp_path) / "orphan2d.msh"
    pts = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]
    # the diagonal 1-2 is not an edge of the two triangles (0 1 3) and (0 3 2)
    _write(path, pts, [("triangle", [[0, 1, 3], [0, 3, 2]]), ("line", [[0, 1], [1, 2]])],
           [[1, 1], [2, 2]], {"a": (1, 2), "bottom": (2, 1)})
    with pytest.raises(MeshError, match="'bottom'.*1 of 2 facet") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_unnamed_cell_tag_is_an_error(tmp_path):
    path = shared_dir(tmp_path) / "unnamed_region.msh"
    pts = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]]
    _write(path, pts, [("triangle", [[0, 1, 3], [0, 3, 2]])], [[1, 2]], {"a": (1, 2)})
    with pytest.raises(MeshError, match=r"tag\(s\) \[2\] have no name") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_three_dimensional_mesh_is_refused(tmp_path):
    path = shared_dir(tmp_path) / "tet.msh"
    pts = [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]]
    _write(path, pts, [("tetra", [[0, 1, 2, 3]])], [[1]], {"a": (1, 3)})
    with pytest.raises(MeshError, match="3-D") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_line_mesh_off_the_x_axis_is_refused(tmp_path):
    path = shared_dir(tmp_path) / "vertical1d.msh"
    _write(path, [[0, 0, 0], [0, 1, 0], [0, 2, 0]], [("line", [[0, 1], [1, 2]])],
           [[1, 1]], {"a": (1, 1)})
    with pytest.raises(MeshError, match="along x") as err:
        read_mesh(path, MPI.COMM_WORLD)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_extra_region_is_refused(tmp_path):
    """A region that is no layer of the cell used to fail later ('no thermal properties')."""
    folder = shared_dir(tmp_path)
    g = StackGeometry(stack().layers + (LayerSpec("holder", "holder", 1e-6, width=PAD),), W)
    path = folder / "holder.msh"
    write_mesh(build_line_mesh(g, MeshSettings(), MPI.COMM_WORLD), path)
    d = read_mesh(path, MPI.COMM_WORLD)
    with pytest.raises(MeshError, match=r"\['holder'\].*not layers") as err:
        check_domain_against_geometry(d, stack(), path=path)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_missing_boundary_group_is_refused(tmp_path):
    path = shared_dir(tmp_path) / "notop.msh"
    d = build(1)
    keep = d.facet_tags.values != d.facet_names["top"]
    from fem_cell._dolfinx import dolfinx
    ft = dolfinx.mesh.meshtags(d.mesh, 0, d.facet_tags.indices[keep], d.facet_tags.values[keep])
    names = {n: t for n, t in d.facet_names.items() if n != "top"}
    from fem_cell.domain import Domain
    write_mesh(Domain(d.mesh, d.cell_tags, ft, d.cell_names, names, d.length_scale), path)
    back = read_mesh(path, MPI.COMM_WORLD)
    with pytest.raises(MeshError, match="facet group 'top' is missing") as err:
        check_domain_against_geometry(back, stack(), path=path)
    assert str(path) in _one_line(err)


@pytest.mark.mpi
def test_mesh_in_metres_without_length_scale_is_refused(tmp_path):
    """Coordinates in metres read as µm used to run on a 0.5 nm stack."""
    path = shared_dir(tmp_path) / "metres.msh"
    write_mesh(build_line_mesh(stack(), MeshSettings(length_scale=1.0), MPI.COMM_WORLD), path)
    d = read_mesh(path, MPI.COMM_WORLD)  # default length_scale: 1 µm
    with pytest.raises(MeshError, match=r"region 'substrate': thickness") as err:
        check_domain_against_geometry(d, stack(), path=path)
    msg = _one_line(err)
    assert str(path) in msg and "length_scale" in msg
    assert "0.0005 m" in msg and "5e-10 m" in msg  # configured vs mesh value
    assert "length_scale = 1 m would match" in msg
    # with the right length scale it is accepted
    check_domain_against_geometry(read_mesh(path, MPI.COMM_WORLD, length_scale=1.0), stack(),
                                  path=path)


@pytest.mark.mpi
def test_pad_width_mismatch_is_refused(tmp_path):
    """A 1.5 mm pad in the mesh against a configured 1 mm pad."""
    path = shared_dir(tmp_path) / "widepad.msh"
    wide = StackGeometry(tuple(LayerSpec(n, n, t, width=1.5e-3 if n == "Li" else None)
                               for n, t in THICK.items()), W)
    write_mesh(build_cross_section_mesh(wide, MeshSettings(dim=2, lateral_cells=20),
                                        MPI.COMM_WORLD), path)
    d = read_mesh(path, MPI.COMM_WORLD)
    check_domain_against_geometry(d, wide, path=path)
    with pytest.raises(MeshError, match=r"region 'Li': width in the mesh 0\.0015 m") as err:
        check_domain_against_geometry(d, stack(), path=path)
    msg = _one_line(err)
    assert str(path) in msg and "configured 0.001 m" in msg and "1%" in msg


@pytest.mark.mpi
def test_thickness_within_tolerance_is_accepted():
    d = build(1)
    near = stack().with_thicknesses({"Li3PO4": THICK["Li3PO4"] * 1.009})
    check_domain_against_geometry(d, near)
    far = stack().with_thicknesses({"Li3PO4": THICK["Li3PO4"] * 1.02})
    with pytest.raises(MeshError, match="'Li3PO4': thickness"):
        check_domain_against_geometry(d, far)


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_mesh_file_dimension(tmp_path, dim):
    from fem_cell.meshing.io import mesh_file_dimension

    folder = shared_dir(tmp_path)
    for suffix in (".msh", ".vtu"):
        path = folder / f"dim{dim}{suffix}"
        write_mesh(build(dim), path)
        assert mesh_file_dimension(path) == dim  # no collectives: any rank alone
    with pytest.raises(MeshError, match="no such mesh file"):
        mesh_file_dimension(folder / "missing.msh")


@pytest.mark.mpi
def test_mesh_file_dimension_3d(tmp_path):
    from fem_cell.meshing.io import mesh_file_dimension

    path = shared_dir(tmp_path) / "tet3.msh"
    _write(path, [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], [("tetra", [[0, 1, 2, 3]])],
           [[1]], {"a": (1, 3)})
    assert mesh_file_dimension(path) == 3


@pytest.mark.mpi
def test_build_domain_validates_the_file(tmp_path):
    from fem_cell.config import load_config
    from fem_cell.model import build_domain

    folder = shared_dir(tmp_path)
    cfg = load_config()
    for dim in (1, 2):
        path = folder / f"default{dim}d.msh"
        write_mesh(build_domain(cfg.with_mesh(dim=dim, lateral_cells=20), MPI.COMM_WORLD), path)
        d = build_domain(cfg.with_mesh(dim=dim, file=str(path)), MPI.COMM_WORLD)
        assert d.dim == dim
    with pytest.raises(MeshError, match=r"2-D.*\[mesh\] dim = 1") as err:
        build_domain(cfg.with_mesh(dim=1, file=str(folder / "default2d.msh")), MPI.COMM_WORLD)
    assert "default2d.msh" in _one_line(err)
    with pytest.raises(MeshError, match="length_scale") as err:
        build_domain(cfg.with_mesh(dim=1, file=str(folder / "default1d.msh"), length_scale=1e-3),
                     MPI.COMM_WORLD)
    assert "default1d.msh" in _one_line(err)
