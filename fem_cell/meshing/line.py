"""1-D through-thickness mesh of the stack, graded to resolve nm layers.

Cell sizes follow a size field: at every interface the target size is
``min(thickness of the two layers) / cells_per_layer``, sizes grow linearly with
distance from the nearest interface (i.e. geometrically from cell to cell, ratio
``growth``) and are capped at ``min(thickness / cells_per_layer, max_cell_size)``.
Nodes are placed so that each cell holds an equal share of ``∫ dz / h(z)``; every
interface is a node.  Rank 0 builds the vertex and cell arrays, dolfinx distributes
them (the FESTIM ``Mesh1D`` idiom).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import MPI, basix, dolfinx, ufl
from fem_cell.domain import Domain
from fem_cell.geometry import StackGeometry, interface_name
from fem_cell.meshing.settings import MeshSettings


def _layer_nodes(L: float, a: float, b: float, cap: float, growth: float, n_min: int) -> np.ndarray:
    """Node positions in [0, L] for end sizes a (bottom), b (top) and cap."""
    a, b = min(a, cap), min(b, cap)
    slope = growth - 1.0

    def h(s):
        return np.minimum(np.minimum(cap, a + slope * s), b + slope * (L - s))

    smallest = min(a, b)
    n_geo = 400
    ramp = np.geomspace(smallest * 1e-3, L, n_geo)
    s = np.unique(np.concatenate([[0.0, L], ramp[ramp < L], L - ramp[ramp < L],
                                  np.linspace(0.0, L, 401)]))
    inv = 1.0 / h(s)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s))])
    n = max(n_min, int(np.ceil(cum[-1] - 1e-9)))
    nodes = np.interp(np.linspace(0.0, cum[-1], n + 1), cum, s)
    nodes[0], nodes[-1] = 0.0, L
    return nodes


def layer_node_coordinates(geometry: StackGeometry, settings: MeshSettings) -> list[np.ndarray]:
    """Through-thickness node heights (m) of every layer, bottom → top.

    Each array starts at the layer's bottom and ends at its top; consecutive layers
    share their interface node.  The 2-D mesher reuses this grading.
    """
    n = settings.cells_per_layer
    th = [layer.thickness for layer in geometry.layers]
    caps = [min(t / n, settings.max_cell_size) for t in th]
    iface = [min(th[i], th[i + 1]) / n for i in range(len(th) - 1)]
    out = []
    z0 = 0.0
    for i, t in enumerate(th):
        a = iface[i - 1] if i > 0 else caps[i]
        b = iface[i] if i < len(th) - 1 else caps[i]
        out.append(z0 + _layer_nodes(t, a, b, caps[i], settings.growth, n))
        z0 += t
    return out


def build_line_mesh(geometry: StackGeometry, settings: MeshSettings,
                    comm: MPI.Comm = MPI.COMM_WORLD) -> Domain:
    """Build the tagged 1-D stack mesh.

    Args:
        geometry: the layer stack.
        settings: resolution and length scale (coordinates in ``length_scale`` m).
        comm: communicator to distribute the mesh over.

    Returns:
        A :class:`~fem_cell.domain.Domain` with cell tags per layer (values 1…n in
        stack order), facet tags for interfaces (``"<lower>|<upper>"``) and the
        outer boundaries ``bottom`` and ``top``.
    """
    ell = settings.length_scale
    names = geometry.layer_names
    cell_names = {name: i + 1 for i, name in enumerate(names)}
    facet_names = {"bottom": 1, "top": 2}
    for i, iname in enumerate(geometry.interface_names):
        facet_names[iname] = 10 + i

    if comm.rank == 0:
        per_layer = layer_node_coordinates(geometry, settings)
        z = np.concatenate([per_layer[0]] + [p[1:] for p in per_layer[1:]])
        layer_of_cell = np.concatenate([np.full(len(p) - 1, i + 1, dtype=np.int32)
                                        for i, p in enumerate(per_layer)])
        x = (z / ell)[:, None]
        cells = np.stack([np.arange(len(z) - 1), np.arange(1, len(z))], axis=1).astype(np.int64)
    else:
        x = np.zeros((0, 1))
        cells = np.zeros((0, 2), dtype=np.int64)
        layer_of_cell = np.zeros(0, dtype=np.int32)

    element = ufl.Mesh(basix.ufl.element("Lagrange", "interval", 1, shape=(1,)))
    # ghost cells across shared facets: interface (dS) integrals need both sides
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells, element, x, partitioner=partitioner)

    # cell tags: original_cell_index maps local cells to rank-0 input order
    layer_of_cell = comm.bcast(layer_of_cell, root=0)
    tdim = msh.topology.dim
    n_local = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    orig = np.asarray(msh.topology.original_cell_index)[:n_local]
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, np.arange(n_local, dtype=np.int32),
                                      layer_of_cell[orig].astype(np.int32))

    # facet (vertex) tags located geometrically (exact: interfaces are nodes)
    bounds = geometry.z_bounds()
    tol = 1e-6 * min(layer.thickness for layer in geometry.layers) / ell
    locs = {"bottom": 0.0, "top": bounds[-1][1] / ell}
    for (lo, up), (_, z_top) in zip(zip(names[:-1], names[1:]), bounds[:-1]):
        locs[interface_name(lo, up)] = z_top / ell
    idx, vals = [], []
    for name, z0 in locs.items():
        f = dolfinx.mesh.locate_entities(msh, 0, lambda x, z0=z0: np.abs(x[0] - z0) < tol)
        idx.append(f)
        vals.append(np.full(len(f), facet_names[name], dtype=np.int32))
    idx = np.concatenate(idx).astype(np.int32)
    vals = np.concatenate(vals)
    order = np.argsort(idx)
    facet_tags = dolfinx.mesh.meshtags(msh, 0, idx[order], vals[order])
    cell_tags.name, facet_tags.name = "layers", "facets"
    return Domain(msh, cell_tags, facet_tags, cell_names, facet_names, ell)
