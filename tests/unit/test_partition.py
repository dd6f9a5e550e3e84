"""Lateral-strip distribution of a cross-section (fem_cell.meshing.partition).

The geometry of the distributed mesh (layer areas, interface lengths through ``dS``
across ranks, facet groups) is checked for both partitioners in test_mesh2d.py; here:
the ghost destinations of a hand-made graph, and the balance of the films on 2 ranks.
"""

import numpy as np
import pytest
from test_mesh2d import stack

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.meshing.cross_section import build_cross_section_mesh
from fem_cell.meshing.partition import _ghosted
from fem_cell.meshing.settings import MeshSettings

FILMS = ("LiCoO2", "degraded", "Li3PO4")


def test_ghosts_are_the_owners_of_the_neighbours():
    # a path 0-1-2-3-4 and an extra edge 0-4; owners 0 0 1 1 2
    edges = {0: [1, 4], 1: [0, 2], 2: [1, 3], 3: [2, 4], 4: [3, 0]}
    data = np.concatenate([edges[i] for i in range(5)]).astype(np.int64)
    offsets = np.cumsum([0] + [len(edges[i]) for i in range(5)]).astype(np.int32)
    graph = dolfinx.graph.adjacencylist(data, offsets)._cpp_object
    owners = np.array([0, 0, 1, 1, 2], dtype=np.int32)
    out = _ghosted(MPI.COMM_SELF, owners, graph)
    rows = [list(out.links(i)) for i in range(5)]
    assert rows == [[0, 2], [0, 1], [1, 0], [1, 2], [2, 0, 1]]


def _owned_film_cells(domain) -> int:
    n = domain.mesh.topology.index_map(domain.dim).size_local
    return int(np.count_nonzero(domain.cells(*FILMS) < n))


@pytest.mark.mpi
def test_every_rank_owns_an_equal_share_of_the_films():
    comm = MPI.COMM_WORLD
    settings = MeshSettings(dim=2, lateral_cells=60)
    d = build_cross_section_mesh(stack(), settings, comm, balance=FILMS)
    film = _owned_film_cells(d)
    shares = comm.allgather(film)
    # to one column of film cells: the strips are cut between columns
    per_column = sum(len(z) - 1 for z in _film_rows(settings))
    assert max(shares) - min(shares) <= per_column, (shares, per_column)
    # and the whole mesh within a few per cent (a tensor product of the gradings)
    tdim = d.mesh.topology.dim
    owned = comm.allgather(d.mesh.topology.index_map(tdim).size_local)
    assert max(owned) <= 1.05 * sum(owned) / comm.size, owned


def _film_rows(settings):
    from fem_cell.meshing.line import layer_node_coordinates

    g = stack()
    return [z for lay, z in zip(g.layers, layer_node_coordinates(g, settings), strict=True)
            if lay.name in FILMS]


@pytest.mark.mpi
@pytest.mark.parametrize("suffix", [".msh", ".vtu"])
def test_a_mesh_file_read_with_balance(tmp_path, suffix):
    """A 2-D mesh file read with ``balance``: equal film shares, and every region and
    facet group (interfaces through ``dS`` across the strips) of its exact size."""
    from test_mesh_io import build, expected_measures, measures, shared_dir

    from fem_cell.meshing.io import read_mesh, write_mesh

    comm = MPI.COMM_WORLD
    path = shared_dir(tmp_path) / f"balanced{suffix}"
    original = build(2)
    write_mesh(original, path)
    d = read_mesh(path, comm, length_scale=original.length_scale, balance=FILMS)
    shares = comm.allgather(_owned_film_cells(d))
    per_column = sum(len(z) - 1 for z in _film_rows(MeshSettings(dim=2, lateral_cells=30)))
    assert max(shares) - min(shares) <= per_column, (shares, per_column)
    exact, got = expected_measures(2), measures(d)
    assert set(got) == set(exact)
    for name, value in exact.items():
        assert got[name] == pytest.approx(value, rel=1e-10), name
