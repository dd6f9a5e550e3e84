"""Distributing a cross-section over MPI ranks in lateral strips.

The transport runs on the films only (a few per cent of the cross-section's height, a
sub-mesh of the cell mesh that keeps its parent's distribution).  dolfinx's default
partitioner balances the *whole* mesh, and on the default 2-D cell it cut across the
layers: on 2 ranks one rank owned 37,252 film cells (150,060 transport DOFs) and the
other 18,908 (76,488), so the transport, the larger of the two solves, ran at two
thirds of its work on one rank whatever the rank count.

:func:`strip_partitioner` cuts the cross-section into vertical strips (the layers are
horizontal), each holding an equal share of the cells of a height band (the films):
every rank then owns an equal part of every layer the band covers, and, the mesh being
a tensor product of the layers' and the lateral gradings, nearly equal shares of the
other layers too.  The cells sharing a facet with another rank's cells are ghosted as
dolfinx's ``GhostMode.shared_facet`` does (interface integrals ``dS`` need them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx


def _ghosted(comm: MPI.Comm, owners: np.ndarray, graph) -> object:
    """Destinations [owner, ghost ranks…] of each local node of the distributed dual
    ``graph`` (global node numbers: the ranks' local nodes in rank order), given each
    local node's owner; a node is ghosted on the owners of its graph neighbours."""
    owners_all = np.concatenate(comm.allgather(owners)).astype(np.int32)
    n = owners.size
    offsets = np.asarray(graph.offsets, dtype=np.int64)
    neighbour_owner = owners_all[np.asarray(graph.array, dtype=np.int64)]
    node = np.repeat(np.arange(n, dtype=np.int64), np.diff(offsets))
    other = neighbour_owner != owners[node]
    pairs = np.unique(np.stack([node[other], neighbour_owner[other]], axis=1), axis=0)
    ghosts_per_node = np.bincount(pairs[:, 0], minlength=n) if pairs.size else np.zeros(n, int)
    out_offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(1 + ghosts_per_node, out=out_offsets[1:])
    data = np.empty(out_offsets[-1], dtype=np.int32)
    data[out_offsets[:-1]] = owners
    if pairs.size:
        # position of each ghost entry: after its node's owner, in the sorted pair order
        first = np.searchsorted(pairs[:, 0], pairs[:, 0], side="left")
        rank_in_node = np.arange(len(pairs)) - first
        data[out_offsets[pairs[:, 0]] + 1 + rank_in_node] = pairs[:, 1]
    return dolfinx.graph.adjacencylist(data, out_offsets)._cpp_object


def strip_partitioner(x: np.ndarray | None, band: tuple[float, float],
                      ghost_mode=None) -> Callable:
    """A cell partitioner for ``dolfinx.mesh.create_mesh`` / ``model_to_mesh``: vertical
    strips, each with an equal share of the cells whose centroid height lies in
    ``band``.

    Args:
        x: the input node coordinates the cells index (on the ranks that hold cells;
            None elsewhere), e.g. ``dolfinx.io.gmsh.extract_geometry`` of the model.
        band: (lowest, highest) centroid height (mesh units) of the balanced cells; if
            no cell lies in it, all cells are balanced.
        ghost_mode: dolfinx ``GhostMode`` (default ``shared_facet``).
    """
    mode = dolfinx.mesh.GhostMode.shared_facet if ghost_mode is None else ghost_mode
    state: dict[str, np.ndarray] = {}

    def graph_partitioner(comm, nparts, graph, ghosting):
        owners = state.pop("owners")
        if not ghosting:
            return dolfinx.graph.adjacencylist(owners)._cpp_object
        return _ghosted(comm, owners, graph)

    inner = dolfinx.cpp.mesh.create_cell_partitioner(graph_partitioner, mode, 2)

    def partitioner(comm, nparts, cell_types, cells):
        centroids = []
        for ct, c in zip(cell_types, cells, strict=True):
            nv = dolfinx.cpp.mesh.cell_num_vertices(ct)
            c = np.asarray(c, dtype=np.int64).reshape(-1, nv)
            centroids.append(x[c].mean(axis=1) if len(c) else np.zeros((0, 3)))
        cen = np.concatenate(centroids) if centroids else np.zeros((0, 3))
        lateral, height = cen[:, 0], cen[:, 1]
        inside = (height >= band[0]) & (height <= band[1])
        keys = np.concatenate(comm.allgather(lateral[inside]))
        if keys.size == 0:
            keys = np.concatenate(comm.allgather(lateral))
        if keys.size == 0 or nparts == 1:
            owners = np.zeros(lateral.size, dtype=np.int32)
        else:
            keys.sort()
            # the cut after the k-th share of the balanced cells
            cuts = keys[(np.arange(1, nparts) * keys.size) // nparts]
            owners = np.searchsorted(cuts, lateral, side="right").astype(np.int32)
        state["owners"] = owners
        return inner(comm, nparts, cell_types, cells)

    return partitioner


def model_partitioner(comm: MPI.Comm, band: tuple[float, float] | None) -> Callable:
    """The partitioner for ``dolfinx.io.gmsh.model_to_mesh`` of the gmsh model loaded on
    rank 0: :func:`strip_partitioner` balancing ``band``, or (``band`` None, or one
    rank) dolfinx's default with ghosted shared facets."""
    if band is None or comm.size == 1:
        return dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    import gmsh

    x = dolfinx.io.gmsh.extract_geometry(gmsh.model) if comm.rank == 0 else None
    return strip_partitioner(x, band)


__all__ = ["model_partitioner", "strip_partitioner"]
