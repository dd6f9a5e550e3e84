"""1-D through-thickness mesh of the stack, graded to resolve nm layers.

Grading (``growth`` = the largest size ratio of neighbouring cells, everywhere)
--------------------------------------------------------------------------------
1. A *size field* h(z) over the whole stack is the largest function that is
   ``ln(growth)``-Lipschitz (|dh/dz| <= ln g) and not larger than

   * ``min(t_lower, t_upper) / cells_per_layer`` at every interface, and
   * ``cap = min(t / cells_per_layer, max_cell_size)`` inside every layer,

   i.e. ``h(z) = min over those targets of (target + ln(g) · distance)``.  It is
   continuous across interfaces.
2. Every layer gets ``n = ceil(∫ dz / h)`` cells (>= ``cells_per_layer``, because
   h <= t / cells_per_layer inside the layer).  So that every cell holds *exactly*
   one unit of ∫ dz / h, the field inside the layer is lowered until its integral is
   n: first its plateau (``min(h, μ)``), then, if needed, by a shallow dip in the
   middle (``min(h, μ, max(m, V))``, V falling with slope ln g from both ends).  The
   end values (at the interfaces) never change and the slope stays <= ln g.
3. Nodes are placed where ∫ dz / h is an integer (exactly: h is piecewise linear).

Why this bounds the ratio: with a field of slope <= ln g, ln h changes by at most
ln g per unit of ∫ dz / h, so two neighbouring cells of one unit each differ by at
most a factor g; at an interface both cells start from the same h, so the same bound
holds across it.  Away from interfaces the sizes grow by exactly ``growth`` per cell
until the cap.  Rank 0 builds the vertex and cell arrays, dolfinx distributes them
(the FESTIM ``Mesh1D`` idiom).
"""

from __future__ import annotations

import functools
import math

import numpy as np

from fem_cell._dolfinx import MPI, basix, dolfinx, ufl
from fem_cell.domain import Domain
from fem_cell.geometry import StackGeometry, interface_name
from fem_cell.meshing.settings import MeshSettings


class _LayerField:
    """Piecewise-linear size field of one layer: ``min(tent, μ, max(m, V))``.

    ``tent = min(cap, A + k (z - z0), B + k (z1 - z))`` is the stack-wide field
    restricted to the layer, ``V = max(hb - k (z - z0), ht - k (z1 - z))``.
    """

    def __init__(self, z0: float, z1: float, cap: float, A: float, B: float, k: float):
        self.z0, self.z1, self.cap, self.A, self.B, self.k = z0, z1, cap, A, B, k
        self.hb = self.tent(np.array([z0]))[0]
        self.ht = self.tent(np.array([z1]))[0]
        self.mu = cap
        self.m = cap

    def tent(self, z: np.ndarray) -> np.ndarray:
        k = self.k
        return np.minimum(np.minimum(self.cap, self.A + k * (z - self.z0)),
                          self.B + k * (self.z1 - z))

    def __call__(self, z: np.ndarray) -> np.ndarray:
        k = self.k
        v = np.maximum(self.hb - k * (z - self.z0), self.ht - k * (self.z1 - z))
        return np.minimum(np.minimum(self.tent(z), self.mu), np.maximum(self.m, v))

    def breakpoints(self) -> np.ndarray:
        """End points and every kink (intersections of the defining lines)."""
        z0, z1, k = self.z0, self.z1, self.k
        # lines c + s (z - z0)
        lines = [(self.cap, 0.0), (self.mu, 0.0), (self.m, 0.0),
                 (self.A, k), (self.B + k * (z1 - z0), -k),
                 (self.hb, -k), (self.ht - k * (z1 - z0), k)]
        pts = [z0, z1]
        for i, (c1, s1) in enumerate(lines):
            if not math.isfinite(c1):
                continue
            for c2, s2 in lines[i + 1:]:
                if s1 != s2 and math.isfinite(c2):
                    z = z0 + (c2 - c1) / (s1 - s2)
                    if z0 < z < z1:
                        pts.append(z)
        return np.unique(np.asarray(pts))

    def cumulative(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Breakpoints z, field values h there and ∫ dz / h from z0 (exact)."""
        z = self.breakpoints()
        h = self(z)
        dz, dh = np.diff(z), np.diff(h)
        small = np.abs(dh) <= 1e-12 * h[:-1]
        with np.errstate(divide="ignore", invalid="ignore"):
            seg = np.where(small, dz / h[:-1],
                           dz * np.log1p(dh / h[:-1]) / np.where(small, 1.0, dh))
        return z, h, np.concatenate([[0.0], np.cumsum(seg)])

    def integral(self) -> float:
        return float(self.cumulative()[2][-1])

    def nodes(self, n: int) -> np.ndarray:
        """n cells, each holding the same share of ∫ dz / h (exactly, up to round-off)."""
        z, h, cum = self.cumulative()
        target = np.linspace(0.0, cum[-1], n + 1)[1:-1]
        j = np.clip(np.searchsorted(cum, target, side="right") - 1, 0, len(z) - 2)
        dphi = target - cum[j]
        slope = (h[j + 1] - h[j]) / (z[j + 1] - z[j])
        flat = np.abs(slope * dphi) < 1e-12
        with np.errstate(divide="ignore", invalid="ignore"):
            step = np.where(flat, h[j] * dphi,
                            h[j] * np.expm1(slope * dphi) / np.where(flat, 1.0, slope))
        inner = np.minimum(z[j] + step, z[j + 1])
        return np.concatenate([[self.z0], inner, [self.z1]])


def _bisect_log(f, lo: float, hi: float, iters: int = 200) -> float:
    """x in [lo, hi] with f(x) = 0 for f increasing in x (bisection in log x)."""
    a, b = math.log(lo), math.log(hi)
    for _ in range(iters):
        mid = 0.5 * (a + b)
        if f(math.exp(mid)) < 0.0:
            a = mid
        else:
            b = mid
        if b - a < 1e-15:
            break
    return math.exp(0.5 * (a + b))


def _layer_fields(geometry: StackGeometry, settings: MeshSettings,
                  point_sizes: list[float]) -> list[_LayerField]:
    """The stack-wide Lipschitz size field, one piece per layer (m).

    ``point_sizes[i]`` is the target size at the i-th layer boundary (0 = bottom of
    the stack, ``len(layers)`` = top; ``inf`` = none).
    """
    n = settings.cells_per_layer
    k = math.log(settings.growth)
    th = [layer.thickness for layer in geometry.layers]
    bounds = geometry.z_bounds()
    caps = [min(t / n, settings.max_cell_size) for t in th]
    zs = [bounds[0][0]] + [b[1] for b in bounds]
    # sources: (z_lo, z_hi, value); boundary points and layer segments
    sources = [(z0, z1, c) for (z0, z1), c in zip(bounds, caps, strict=True)]
    sources += [(z, z, v) for z, v in zip(zs, point_sizes, strict=True) if math.isfinite(v)]
    fields = []
    for (z0, z1), cap in zip(bounds, caps, strict=True):
        A = min([v + k * (z0 - hi) for lo, hi, v in sources if hi <= z0] or [math.inf])
        B = min([v + k * (lo - z1) for lo, hi, v in sources if lo >= z1] or [math.inf])
        fields.append(_LayerField(z0, z1, cap, A, B, k))
    return fields


def _cells_needed(f: _LayerField, n_min: int) -> tuple[int, bool]:
    """Cell count of a layer and whether the field can be made to hold it exactly.

    Lowering the field inside the layer (ends fixed, slope <= ln g) can raise
    ∫ dz / h at most to ∫ dz / V; if V never reaches 0 that is finite.
    """
    n = max(n_min, int(math.ceil(f.integral() - 1e-9)))
    k, L = f.k, f.z1 - f.z0
    if 0.5 * (f.hb + f.ht - k * L) <= 0.0:  # V reaches 0: any count is possible
        return n, True
    f.mu = max(f.hb, f.ht)
    f.m = 0.0
    feasible = f.integral() >= n
    f.mu = f.m = f.cap
    return n, feasible


def _layer_nodes(f: _LayerField, n: int) -> np.ndarray:
    """Node heights of one layer: n cells of exactly one share of ∫ dz / h each."""
    if f.integral() < n * (1.0 - 1e-12):
        top = max(f.hb, f.ht)
        f.mu = f.m = top
        if f.integral() >= n:  # lower the plateau
            def excess(mu):
                f.mu = f.m = mu
                return n - f.integral()

            f.mu = f.m = _bisect_log(excess, top, f.cap)
        else:  # plateau at the end values, then a dip in the middle
            lo = top
            for _ in range(4000):
                lo *= 0.5
                f.m = lo
                if f.integral() >= n:
                    break

            def excess_m(m):
                f.m = m
                return n - f.integral()

            f.m = _bisect_log(excess_m, lo, top)
    return f.nodes(n)


def layer_node_coordinates(geometry: StackGeometry, settings: MeshSettings) -> list[np.ndarray]:
    """Through-thickness node heights (m) of every layer, bottom → top.

    Each array starts at the layer's bottom and ends at its top; consecutive layers
    share their interface node.  Neighbouring cells differ in size by at most
    ``settings.growth`` over the whole stack (across interfaces too); every layer has
    at least ``cells_per_layer`` cells, none larger than
    ``min(thickness / cells_per_layer, max_cell_size)``.  The 2-D mesher reuses this
    grading.

    A layer whose end sizes pin the field completely (a pure ramp at slope ln g, only
    with small ``growth``) cannot be given a whole number of unit cells; its end
    sizes (boundary targets) are then lowered by 20 % and the field rebuilt, until
    every layer fits.
    """
    return [z.copy() for z in _cached_layer_nodes(geometry, settings)]


@functools.lru_cache(maxsize=16)
def _cached_layer_nodes(geometry: StackGeometry, settings: MeshSettings) -> tuple[np.ndarray, ...]:
    n = settings.cells_per_layer
    th = [layer.thickness for layer in geometry.layers]
    iface = [min(a, b) / n for a, b in zip(th[:-1], th[1:], strict=True)]
    points = [math.inf, *iface, math.inf]
    for _ in range(200):
        fields = _layer_fields(geometry, settings, points)
        counts = []
        ok = True
        for i, f in enumerate(fields):
            count, feasible = _cells_needed(f, n)
            counts.append(count)
            if not feasible:
                ok = False
                points[i] = min(points[i], 0.8 * f.hb)
                points[i + 1] = min(points[i + 1], 0.8 * f.ht)
        if ok:
            break
    return tuple(_layer_nodes(f, c) for f, c in zip(fields, counts, strict=True))


def build_line_mesh(geometry: StackGeometry, settings: MeshSettings,
                    comm: MPI.Comm) -> Domain:
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

    msh, cell_tags = mesh_from_root(comm, "interval", x, cells, layer_of_cell)

    # facet (vertex) tags located geometrically (exact: interfaces are nodes)
    bounds = geometry.z_bounds()
    tol = 1e-6 * min(layer.thickness for layer in geometry.layers) / ell
    locs = {"bottom": 0.0, "top": bounds[-1][1] / ell}
    pairs = zip(names[:-1], names[1:], strict=True)
    for (lo, up), (_, z_top) in zip(pairs, bounds[:-1], strict=True):
        locs[interface_name(lo, up)] = z_top / ell
    facet_tags = tag_line_vertices(msh, locs, tol, facet_names)
    cell_tags.name = "layers"
    return Domain(msh, cell_tags, facet_tags, cell_names, facet_names, ell)


def mesh_from_root(comm: MPI.Comm, cell_type: str, points: np.ndarray, cells: np.ndarray,
                   cell_values: np.ndarray):
    """A distributed P1 mesh from rank 0's vertex and cell arrays (the other ranks pass
    empty ones), with ghost cells across shared facets (interface ``dS`` integrals need
    both sides), and its cell tags: ``cell_values`` in rank 0's cell order (only rank 0's
    array is used; broadcast), mapped through ``original_cell_index`` (collective).

    Args:
        cell_type: ``"interval"`` or ``"quadrilateral"``/``"triangle"``.
        points: (n, gdim) coordinates in mesh units.
        cells: (m, vertices per cell) int64.
        cell_values: (m,) int tags.
    """
    gdim = points.shape[1]
    element = ufl.Mesh(basix.ufl.element("Lagrange", cell_type, 1, shape=(gdim,)))
    partitioner = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_mesh(comm, cells, element, points, partitioner=partitioner)
    values = np.asarray(comm.bcast(cell_values if comm.rank == 0 else None, root=0))
    tdim = msh.topology.dim
    im = msh.topology.index_map(tdim)
    n_local = im.size_local + im.num_ghosts
    orig = np.asarray(msh.topology.original_cell_index)[:n_local]
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, np.arange(n_local, dtype=np.int32),
                                      values[orig].astype(np.int32))
    return msh, cell_tags


def tag_line_vertices(msh, locations: dict[str, float], tol: float,
                      facet_names: dict[str, int]):
    """Vertex (facet) tags of a 1-D mesh: ``facet_names[name]`` on the vertices within
    ``tol`` of ``locations[name]`` (mesh units; interfaces are nodes, so this is exact)."""
    idx, vals = [], []
    for name, z0 in locations.items():
        f = dolfinx.mesh.locate_entities(msh, 0, lambda x, z0=z0: np.abs(x[0] - z0) < tol)
        idx.append(f)
        vals.append(np.full(len(f), facet_names[name], dtype=np.int32))
    idx = np.concatenate(idx).astype(np.int32)
    vals = np.concatenate(vals)
    order = np.argsort(idx)
    tags = dolfinx.mesh.meshtags(msh, 0, idx[order], vals[order])
    tags.name = "facets"
    return tags
