"""The binary field series writer (fem_cell.outputs.fields, fem_cell.outputs.vtu_write).

* the arrays follow VTK's compressed binary encoding (decoded here by hand, by the
  format's definition, not by the writer's code);
* what pyvista reads back is the written function: P1 point data equal to the function
  interpolated at the nodes, DG0 cell data to its value at the cell midpoints (to 1e-14,
  the round-off of the interpolation points; binary arrays add none), on quads,
  triangles and intervals, serially and on 2 ranks (ghost cells marked and dropped);
* the same grids and values as dolfinx's ASCII ``VTKFile`` (to its 16 printed digits);
* meshio reads a piece (classic linear cells); the ``.pvd`` lists every time written so
  far after each write; bad input is refused; a piece that cannot be written on one
  rank is an OutputError on every rank.
"""

import base64
import zlib

import meshio
import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem, io, mesh
from fem_cell.outputs.fields import FieldSeriesWriter
from fem_cell.outputs.rundir import OutputError
from fem_cell.outputs.vtk_read import read_time, series_times
from fem_cell.outputs.vtu_write import BLOCK, encode

pytestmark = pytest.mark.mpi


def _decode(text: str, dtype) -> np.ndarray:
    """VTK's compressed binary DataArray text → values (UInt64 header)."""
    # the header is base64 on its own: 3 + n words, padded to a multiple of 3 bytes
    first = np.frombuffer(base64.b64decode(text[:32]), dtype="<u8")
    n = int(first[0])
    head_len = 4 * -(-(8 * (3 + n)) // 3)
    header = np.frombuffer(base64.b64decode(text[:head_len]), dtype="<u8")
    assert header[1] == BLOCK
    sizes = header[3:]
    raw = base64.b64decode(text[head_len:])
    assert len(raw) == int(sizes.sum())
    out, at = [], 0
    for i, s in enumerate(sizes):
        block = zlib.decompress(raw[at:at + int(s)])
        assert len(block) == (int(header[2]) if i == n - 1 else BLOCK)
        out.append(block)
        at += int(s)
    return np.frombuffer(b"".join(out), dtype=dtype)


@pytest.mark.parametrize("size", [1, BLOCK // 8, BLOCK // 8 + 1, 3 * BLOCK // 8 + 5])
def test_encoding_is_vtk_compressed_binary(size):
    rng = np.random.default_rng(size)
    values = rng.standard_normal(size)
    assert np.array_equal(_decode(encode(values), "<f8"), values)
    ids = np.arange(size, dtype=np.int64)
    assert np.array_equal(_decode(encode(ids), "<i8"), ids)


def _meshes(comm):
    ghost = mesh.GhostMode.shared_facet
    return {
        "quad": mesh.create_rectangle(comm, [[0, 0], [2, 1]], [7, 5],
                                      mesh.CellType.quadrilateral, ghost_mode=ghost),
        "tri": mesh.create_rectangle(comm, [[0, 0], [2, 1]], [7, 5], mesh.CellType.triangle,
                                     ghost_mode=ghost),
        "line": mesh.create_interval(comm, 13, [0.0, 3.0], ghost_mode=ghost),
    }


def _u(x, t):
    return np.sin(x[0] + t) + x[1] ** 2


def _w(x, t):
    return np.cos(3 * x[0]) + t


def _q(x, t, gdim=2):
    return np.vstack([x[0] + t, x[1] * x[0]])[:gdim]


def _functions(m):
    u = fem.Function(fem.functionspace(m, ("Lagrange", 1)), name="u")
    w = fem.Function(fem.functionspace(m, ("DG", 0)), name="w")
    gdim = m.geometry.dim
    # a vector of the mesh's dimension (1 or 2 components)
    return [u, w, fem.Function(fem.functionspace(m, ("DG", 0, (gdim,))), name="q")]


def _fill(fs, t):
    fs[0].interpolate(lambda x: _u(x, t))
    fs[1].interpolate(lambda x: _w(x, t))
    gdim = fs[2].function_space.mesh.geometry.dim
    fs[2].interpolate(lambda x: _q(x, t, gdim))


TIMES = (0.0, 0.25, 1.0 / 3.0)


@pytest.fixture(scope="module")
def series(tmp_path_factory):
    """Every mesh's fields written by our writer and by dolfinx's VTKFile."""
    comm = MPI.COMM_WORLD
    root = comm.bcast(tmp_path_factory.mktemp("series") if comm.rank == 0 else None, root=0)
    out = {}
    for name, m in _meshes(comm).items():
        fs = _functions(m)
        ref = io.VTKFile(comm, str(root / f"{name}_ref.pvd"), "w")
        listed = []
        with FieldSeriesWriter(comm, root / f"{name}.pvd", fs) as w:
            for t in TIMES:
                _fill(fs, t)
                ref.write_function(fs, t)
                w.write(t)
                listed.append(series_times(root / f"{name}.pvd") if comm.rank == 0 else None)
        ref.close()
        cells = m.topology.index_map(m.topology.dim).size_global
        out[name] = (root, listed, cells)
    comm.Barrier()
    return out


def _sorted(points):
    return np.lexsort(np.round(np.asarray(points), 9).T[::-1])


@pytest.mark.parametrize("name", ["quad", "tri", "line"])
def test_values_read_back_exactly(series, name):
    root, listed, cells = series[name]
    if MPI.COMM_WORLD.rank != 0:
        return
    assert listed == [list(TIMES[:k + 1]) for k in range(len(TIMES))]
    for t in TIMES:
        g = read_time(root / f"{name}.pvd", t)
        assert g.field_data["time_s"][0] == t
        assert g.n_cells == cells            # every rank's ghost copies dropped
        assert set(np.asarray(g.celltypes)) == {{"quad": 9, "tri": 5, "line": 3}[name]}
        x = np.asarray(g.points).T
        assert np.allclose(g.point_data["u"], _u(x, t), rtol=0, atol=1e-14)
        mid = np.asarray(g.cell_centers().points).T
        assert np.allclose(g.cell_data["w"], _w(mid, t), rtol=0, atol=1e-14)
        q = np.asarray(g.cell_data["q"])
        if name == "line":  # a vector of one component: a scalar, as dolfinx writes it
            assert q.shape == (cells,)
            assert np.allclose(q, _q(mid, t, 1)[0], rtol=0, atol=1e-14)
        else:               # 2 components: VTK's 3-vector
            assert q.shape == (cells, 3) and not q[:, 2].any()
            assert np.allclose(q[:, :2], _q(mid, t).T, rtol=0, atol=1e-14)


@pytest.mark.parametrize("name", ["quad", "tri", "line"])
def test_same_as_dolfinx_vtkfile(series, name):
    root, _, _ = series[name]
    if MPI.COMM_WORLD.rank != 0:
        return
    for t in TIMES:
        a = read_time(root / f"{name}_ref.pvd", t)
        b = read_time(root / f"{name}.pvd", t)
        assert (a.n_points, a.n_cells) == (b.n_points, b.n_cells)
        ia, ib = _sorted(a.points), _sorted(b.points)
        assert np.allclose(np.asarray(a.points)[ia], np.asarray(b.points)[ib], atol=1e-14)
        assert np.allclose(np.asarray(a.point_data["u"])[ia], np.asarray(b.point_data["u"])[ib],
                           rtol=1e-15, atol=1e-15)
        ca, cb = _sorted(a.cell_centers().points), _sorted(b.cell_centers().points)
        for k in ("w", "q"):
            assert np.allclose(np.asarray(a.cell_data[k])[ca], np.asarray(b.cell_data[k])[cb],
                               rtol=1e-15, atol=1e-15), k


def test_meshio_reads_a_piece(series):
    root, _, _ = series["quad"]
    comm = MPI.COMM_WORLD
    m = meshio.read(root / f"quad_p{comm.rank}_000002.vtu")
    ghost = np.asarray(m.cell_data["vtkGhostType"][0])
    assert [c.type for c in m.cells] == ["quad"]
    assert comm.allreduce(int((ghost == 0).sum())) == 35
    assert np.allclose(m.point_data["u"], _u(m.points.T, TIMES[2]), rtol=0, atol=1e-14)


def test_refusals(tmp_path):
    comm = MPI.COMM_SELF
    m = mesh.create_unit_square(comm, 2, 2)
    u = fem.Function(fem.functionspace(m, ("Lagrange", 1)), name="u")
    with pytest.raises(ValueError, match="must end in .pvd"):
        FieldSeriesWriter(comm, tmp_path / "s.vtu", [u])
    p2 = fem.Function(fem.functionspace(m, ("Lagrange", 2)), name="p2")
    with pytest.raises(ValueError, match="only continuous degree-1"):
        FieldSeriesWriter(comm, tmp_path / "s.pvd", [u, p2])
    other = fem.Function(fem.functionspace(mesh.create_unit_square(comm, 2, 2),
                                           ("Lagrange", 1)), name="v")
    with pytest.raises(ValueError, match="not on the mesh"):
        FieldSeriesWriter(comm, tmp_path / "s.pvd", [u, other])
    tensor = fem.Function(fem.functionspace(m, ("DG", 0, (2, 2))), name="s")
    with pytest.raises(ValueError, match="value shape"):
        FieldSeriesWriter(comm, tmp_path / "s.pvd", [u, tensor])
    with pytest.raises(ValueError, match="names must differ"):
        FieldSeriesWriter(comm, tmp_path / "s.pvd", [u, u])
    w = FieldSeriesWriter(comm, tmp_path / "s.pvd", [u])
    w.close()
    with pytest.raises(RuntimeError, match="closed"):
        w.write(0.0)


def test_names_are_escaped_for_xml_and_kept_in_utf8(tmp_path):
    comm = MPI.COMM_SELF
    m = mesh.create_unit_square(comm, 2, 2)
    u = fem.Function(fem.functionspace(m, ("Lagrange", 1)), name='x<"H">&1 φ')
    u.x.array[:] = 2.0
    with FieldSeriesWriter(comm, tmp_path / "a&b.pvd", [u]) as w:
        w.write(0.5)
    g = read_time(tmp_path / "a&b.pvd")
    assert g.field_data["time_s"][0] == 0.5
    assert np.array_equal(g.point_data['x<"H">&1 φ'], np.full(g.n_points, 2.0))


def test_a_failed_piece_stops_every_rank(shared_tmp):
    comm = MPI.COMM_WORLD
    m = mesh.create_unit_square(comm, 4, 4)
    u = fem.Function(fem.functionspace(m, ("Lagrange", 1)), name="u")
    w = FieldSeriesWriter(comm, shared_tmp / "s.pvd", [u])
    w.write(0.0)
    last = comm.size - 1
    if comm.rank == last:  # a folder where the last rank's next piece goes
        (shared_tmp / f"s_p{last}_000001.vtu").mkdir()
    comm.Barrier()
    with pytest.raises(OutputError, match=f"s_p{last}_000001.vtu: cannot write"):
        w.write(1.0)
    if comm.rank == 0:  # the series still lists the time written before
        assert series_times(shared_tmp / "s.pvd") == [0.0]
