"""2-D cross-section mesh of the stack: structured (transfinite) quadrilaterals from gmsh.

Layout
------
x ∈ [0, width] is the lateral direction, the mesh's y coordinate is the height z of
the stack (bottom of the substrate at y = 0).  Narrow layers (``LayerSpec.width`` set,
e.g. the Li pad) are centred.  The width is cut at the x-positions of every narrow
layer's edges into lateral *zones*; each (layer × zone) rectangle that exists is one or
more transfinite gmsh surfaces sharing points and curves with their neighbours, so the
mesh is conforming.

Grading
-------
* Through the thickness every layer gets exactly the nodes of
  :func:`fem_cell.meshing.line.layer_node_coordinates` (the 1-D grading).
* Laterally the cell sizes grow geometrically (ratio ``settings.lateral_growth``)
  away from every narrow-layer edge, capped at ``LATERAL_SIZE_RATIO`` (20) times a
  scale size h_n chosen so that grading from h_n would give about
  ``settings.lateral_cells`` cells across the width.  The grading starts at the edge
  from the smaller of h_n and the *edge size* (``settings.lateral_edge_size``, by
  default the total film thickness above the substrate), so the first cell at a Li
  pad edge resolves the film stack (1.6 µm in the default cell instead of 10.6 µm)
  and the pad-edge refinement adds cells on top of ``lateral_cells``
  (:func:`lateral_node_coordinates`).

gmsh itself can only place transfinite nodes by a geometric progression, so every
layer (zone) is split into two blocks at its largest cell, each block graded with the
progression that reproduces the exact node count and the exact smallest cell at the
interface (edge).  The gmsh model alone therefore yields an almost identical mesh;
:func:`build_cross_section_mesh` then moves the nodes exactly onto the grading above
(the mesh is a tensor-product grid, so this is a pure relabelling of the node rows and
columns).

Tags (same convention as :mod:`fem_cell.meshing.line`): layers 1…n in stack order;
``bottom`` = 1, ``top`` = 2, ``exposed_top`` = 3, ``left`` = 4, ``right`` = 5,
interfaces 10 + i in stack order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.geometry import StackGeometry, interface_name
from fem_cell.meshing.line import _bisect_log, layer_node_coordinates
from fem_cell.meshing.partition import model_partitioner
from fem_cell.meshing.settings import MeshSettings

#: Fixed facet-tag values of the outer boundaries of a cross-section.
BOUNDARY_TAGS_2D = {"bottom": 1, "top": 2, "exposed_top": 3, "left": 4, "right": 5}
#: Facet tag of the i-th interface (stack order) is ``INTERFACE_TAG0 + i``.
INTERFACE_TAG0 = 10
#: Largest / smallest lateral cell size.  With a fixed growth ratio a pure geometric
#: progression would make the edge cells exponentially small as ``lateral_cells``
#: grows; the cap keeps the mesh family self-consistent under refinement.
LATERAL_SIZE_RATIO = 20.0


# ----------------------------------------------------------------------------------
# 1-D gradings of the blocks
# ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Block1D:
    """One block of a tensor-product direction (a sub-row or a sub-column).

    Attributes:
        lo: start coordinate (m).
        hi: end coordinate (m).
        nodes: exact node coordinates (m), ``nodes[0] == lo``, ``nodes[-1] == hi``.
        coef: gmsh ``Progression`` coefficient for a line oriented lo → hi.
        owner: index of the layer (rows) or zone (columns) the block belongs to.
    """

    lo: float
    hi: float
    nodes: np.ndarray
    coef: float
    owner: int

    @property
    def n_cells(self) -> int:
        return len(self.nodes) - 1

    def native_nodes(self) -> np.ndarray:
        """Node coordinates (m) gmsh places with ``Progression coef``."""
        n, q = self.n_cells, self.coef
        i = np.arange(n + 1, dtype=float)
        if abs(q - 1.0) < 1e-12:
            t = i / n
        else:
            t = np.expm1(i * math.log(q)) / math.expm1(n * math.log(q))
        out = self.lo + (self.hi - self.lo) * t
        out[0], out[-1] = self.lo, self.hi
        return out


def _progression_ratio(n: int, length: float, first: float) -> float:
    """Ratio r with ``first * (1 + r + … + r^(n-1)) == length`` (bisection in log r)."""
    if n <= 1 or abs(first * n - length) <= 1e-12 * length:
        return 1.0
    i = np.arange(n, dtype=float)

    def excess(r: float) -> float:
        return first * float(np.sum(np.exp(np.minimum(i * math.log(r), 700.0)))) - length

    lo, hi = math.exp(-10.0 / n), math.exp(10.0 / n)
    while excess(hi) < 0.0:
        hi *= hi                          # log r doubled
    while excess(lo) > 0.0:
        lo *= lo
    return _bisect_log(excess, lo, hi)


def _graded_block(nodes: np.ndarray, fine_at_start: bool, owner: int) -> _Block1D:
    """Block whose gmsh progression matches the node count and the fine-end cell."""
    nodes = np.asarray(nodes, dtype=float)
    h = np.diff(nodes)
    length = nodes[-1] - nodes[0]
    first = h[0] if fine_at_start else h[-1]
    r = _progression_ratio(len(h), length, first)
    return _Block1D(nodes[0], nodes[-1], nodes, r if fine_at_start else 1.0 / r, owner)


def _vertical_blocks(geometry: StackGeometry, settings: MeshSettings) -> list[_Block1D]:
    """Sub-rows (m): every layer split at its largest cell into two progressions."""
    blocks = []
    for i, z in enumerate(layer_node_coordinates(geometry, settings)):
        h = np.diff(z)
        n = len(h)
        if n < 2 or h.max() <= h.min() * (1.0 + 1e-6):
            blocks.append(_Block1D(z[0], z[-1], z, 1.0, i))
            continue
        big = np.flatnonzero(h >= h.max() * (1.0 - 1e-6))
        s = int(np.clip(big[len(big) // 2], 1, n - 1))
        blocks.append(_graded_block(z[: s + 1], True, i))
        blocks.append(_graded_block(z[s:], False, i))
    return blocks


def _pad_edges(geometry: StackGeometry) -> list[float]:
    """x-positions (m) of narrow-layer edges strictly inside (0, width)."""
    w = geometry.width
    tol = 1e-9 * w
    edges: list[float] = []
    for layer in geometry.layers:
        if layer.width is None:
            continue
        for x in geometry.lateral_extent(layer.name):
            if tol < x < w - tol and all(abs(x - e) > tol for e in edges):
                edges.append(x)
    return sorted(edges)


def lateral_edge_size(geometry: StackGeometry, settings: MeshSettings) -> float:
    """Largest lateral cell width (m) at a narrow-layer (Li pad) edge.

    ``settings.lateral_edge_size`` if set, else the total film thickness above the
    substrate (every layer but the lowest): current and heat spread near a pad edge
    over about that distance.
    """
    if settings.lateral_edge_size is not None:
        return settings.lateral_edge_size
    films = [layer.thickness for layer in geometry.layers[1:]]
    return sum(films) if films else geometry.layers[0].thickness


def _lateral_blocks(geometry: StackGeometry, settings: MeshSettings) -> list[_Block1D]:
    """Sub-columns (m), graded away from the narrow-layer edges."""
    w = geometry.width
    n_target = settings.lateral_cells
    edges = _pad_edges(geometry)
    breaks = [0.0, *edges, w]
    a = math.log(settings.lateral_growth)

    # sub-columns: (start, end, fine_at_start, zone index)
    subs: list[tuple[float, float, bool, int]] = []
    for k, (x0, x1) in enumerate(zip(breaks[:-1], breaks[1:], strict=True)):
        e0, e1 = x0 in edges, x1 in edges
        if e0 and e1:
            xm = 0.5 * (x0 + x1)
            subs += [(x0, xm, True, k), (xm, x1, False, k)]
        else:
            subs.append((x0, x1, e0, k))

    uniform = not edges or a == 0.0

    def cells(length: float, h0: float, hmax: float) -> float:
        """∫ dx / h over a sub-column of this length, fine end (size h0) at 0, h <= hmax."""
        if uniform:
            return length / h0
        d_cap = (hmax - h0) / a
        if length <= d_cap:
            return math.log1p(a * length / h0) / a
        return math.log(hmax / h0) / a + (length - d_cap) / hmax

    def position(c: float, h0: float, hmax: float) -> float:
        """Inverse of ``cells``: distance from the fine end holding c cells."""
        if uniform:
            return c * h0
        c_cap = math.log(hmax / h0) / a
        if c <= c_cap:
            return h0 * math.expm1(a * c) / a
        return (hmax - h0) / a + (c - c_cap) * hmax

    # scale h_n: W/(R N) <= h_n <= W/N brackets "about N cells" when grading from h_n
    h_n = w / n_target
    if not uniform:
        lo, hi = math.log(w / (n_target * LATERAL_SIZE_RATIO)), math.log(w / n_target)
        for _ in range(100):
            mid = 0.5 * (lo + hi)
            h = math.exp(mid)
            total = sum(cells(x1 - x0, h, LATERAL_SIZE_RATIO * h) for x0, x1, _, _ in subs)
            if total > n_target:
                lo = mid
            else:
                hi = mid
        h_n = math.exp(0.5 * (lo + hi))
    # edge refinement: the first cell at a narrow-layer edge (one unit of ∫ dx / h,
    # h growing from h_edge) is at most lateral_edge_size wide
    h_edge = h_n
    if not uniform:
        h_edge = min(h_n, lateral_edge_size(geometry, settings) * a / math.expm1(a))
    h_cap = LATERAL_SIZE_RATIO * h_n

    blocks = []
    for x0, x1, fine_at_start, zone in subs:
        length = x1 - x0
        if not edges:
            nodes = np.linspace(x0, x1, n_target + 1)
            blocks.append(_Block1D(x0, x1, nodes, 1.0, zone))
            continue
        c_total = cells(length, h_edge, h_cap)
        n = max(1, int(math.ceil(c_total - 1e-6)))  # ceil: ratio <= growth, size <= cap
        d = np.array([position(c_total * j / n, h_edge, h_cap) for j in range(n + 1)])
        d *= length / d[-1]
        nodes = x0 + d if fine_at_start else x1 - d[::-1]
        nodes[0], nodes[-1] = x0, x1
        if n >= 2 and np.ptp(np.diff(nodes)) > 1e-9 * length:
            blocks.append(_graded_block(nodes, fine_at_start, zone))
        else:
            blocks.append(_Block1D(x0, x1, nodes, 1.0, zone))
    return blocks


def _merge(blocks: list[_Block1D], native: bool) -> np.ndarray:
    parts = [b.native_nodes() if native else b.nodes for b in blocks]
    return np.concatenate([parts[0]] + [p[1:] for p in parts[1:]])


def lateral_node_coordinates(geometry: StackGeometry, settings: MeshSettings) -> np.ndarray:
    """Lateral node positions (m) of the cross-section, 0 … ``geometry.width``.

    Cell sizes grow geometrically (ratio ``settings.lateral_growth``) with distance
    from the nearest narrow-layer edge and are capped at ``LATERAL_SIZE_RATIO`` times
    a scale size h_n, chosen so that grading from h_n gives about
    ``settings.lateral_cells`` cells (rounded up per block).  The grading starts from
    the smaller of h_n and the edge size, so the first cell on either side of every
    edge is at most :func:`lateral_edge_size` wide (edge refinement; it adds cells
    when the edge size is the smaller).  Without narrow layers the spacing
    is uniform.  Every narrow-layer edge is a node.

    Args:
        geometry: the layer stack (widths in m).
        settings: ``lateral_cells``, ``lateral_growth`` and ``lateral_edge_size`` are
            used.

    Returns:
        Strictly increasing x-coordinates (m).
    """
    return _merge(_lateral_blocks(geometry, settings), native=False)


# ----------------------------------------------------------------------------------
# gmsh model
# ----------------------------------------------------------------------------------
class _SectionGrid:
    """The tensor grid of a cross-section and the gmsh points and curves on it.

    Node (k, j) sits at lateral break ``xs[k]`` and height ``ys[j]``; rectangle (k, j)
    spans sub-column ``cols[k]`` and sub-row ``rows[j]``.  Points and curves are created
    in the current ``gmsh.model.geo`` on first use and shared by the neighbouring
    rectangles, so the mesh is conforming.
    """

    def __init__(self, geometry: StackGeometry, settings: MeshSettings) -> None:
        import gmsh

        self.ell = settings.length_scale
        self.rows = _vertical_blocks(geometry, settings)
        self.cols = _lateral_blocks(geometry, settings)
        self.xs = [self.cols[0].lo] + [c.hi for c in self.cols]
        self.ys = [self.rows[0].lo] + [r.hi for r in self.rows]
        self.extents = [geometry.lateral_extent(n) for n in geometry.layer_names]
        self.geo = gmsh.model.geo
        self.points: dict[tuple[int, int], int] = {}
        self.hlines: dict[tuple[int, int], int] = {}
        self.vlines: dict[tuple[int, int], int] = {}

    def present(self, k: int, j: int) -> bool:
        """Whether rectangle (k, j) is inside its layer's lateral extent."""
        if not (0 <= k < len(self.cols) and 0 <= j < len(self.rows)):
            return False
        x0, x1 = self.extents[self.rows[j].owner]
        xc = 0.5 * (self.cols[k].lo + self.cols[k].hi)
        return x0 < xc < x1

    def point(self, k: int, j: int) -> int:
        """Point (x_k, y_j), in mesh units."""
        if (k, j) not in self.points:
            self.points[k, j] = self.geo.addPoint(self.xs[k] / self.ell, self.ys[j] / self.ell,
                                                  0.0)
        return self.points[k, j]

    def hline(self, k: int, j: int) -> int:
        """Horizontal curve from x_k to x_{k+1} at height y_j."""
        if (k, j) not in self.hlines:
            tag = self.geo.addLine(self.point(k, j), self.point(k + 1, j))
            col = self.cols[k]
            self.geo.mesh.setTransfiniteCurve(tag, col.n_cells + 1, "Progression", col.coef)
            self.hlines[k, j] = tag
        return self.hlines[k, j]

    def vline(self, k: int, j: int) -> int:
        """Vertical curve at x_k from y_j to y_{j+1}."""
        if (k, j) not in self.vlines:
            tag = self.geo.addLine(self.point(k, j), self.point(k, j + 1))
            row = self.rows[j]
            self.geo.mesh.setTransfiniteCurve(tag, row.n_cells + 1, "Progression", row.coef)
            self.vlines[k, j] = tag
        return self.vlines[k, j]


def _add_layer_surfaces(grid: _SectionGrid, n_layers: int) -> list[list[int]]:
    """Add a transfinite, recombined surface per present rectangle; their tags by layer."""
    geo = grid.geo
    layer_surfaces: list[list[int]] = [[] for _ in range(n_layers)]
    for j, row in enumerate(grid.rows):
        for k in range(len(grid.cols)):
            if not grid.present(k, j):
                continue
            loop = geo.addCurveLoop([grid.hline(k, j), grid.vline(k + 1, j),
                                     -grid.hline(k, j + 1), -grid.vline(k, j)])
            surf = geo.addPlaneSurface([loop])
            geo.mesh.setTransfiniteSurface(surf)
            geo.mesh.setRecombine(2, surf)
            layer_surfaces[row.owner].append(surf)
    return layer_surfaces


def _facet_curve_groups(grid: _SectionGrid, names: tuple[str, ...]) -> dict[str, list[int]]:
    """Curve tags of every facet group (boundaries and interfaces) by group name."""
    rows, n_layers = grid.rows, len(names)
    groups: dict[str, list[int]] = {}
    for (k, j), tag in grid.hlines.items():
        below, above = grid.present(k, j - 1), grid.present(k, j)
        if below and above:
            lo, up = rows[j - 1].owner, rows[j].owner
            if lo == up:
                continue
            name = interface_name(names[lo], names[up])
        elif above:
            name = "bottom"
        elif rows[j - 1].owner == n_layers - 1:
            name = "top"
        else:
            name = "exposed_top"
        groups.setdefault(name, []).append(tag)
    for (k, j), tag in grid.vlines.items():
        left, right = grid.present(k - 1, j), grid.present(k, j)
        if left and right:
            continue
        if k == 0:
            name = "left"
        elif k == len(grid.cols):
            name = "right"
        else:
            name = "exposed_top"
        groups.setdefault(name, []).append(tag)
    return groups


def create_gmsh_model(geometry: StackGeometry, settings: MeshSettings) -> None:
    """Build the tagged, transfinite 2-D cross-section in the current gmsh model.

    gmsh must be initialised and a model current (``gmsh.model.add``).  The model
    is synchronised but not meshed; ``gmsh.model.mesh.generate(2)`` then gives
    recombined quadrilaterals.  Coordinates are in mesh units (m /
    ``settings.length_scale``).  Physical groups: one 2-D group per layer (name =
    layer name, tag 1…n), 1-D groups ``bottom`` (1), ``top`` (2), ``exposed_top`` (3),
    ``left`` (4), ``right`` (5) and every interface ``"<lower>|<upper>"`` (10 + i).
    Groups with no curve (e.g. ``exposed_top`` without narrow layers) are not created.

    Args:
        geometry: the layer stack (thicknesses and widths in m).
        settings: resolution (``cells_per_layer``, ``growth``, ``max_cell_size`` in m,
            ``lateral_cells``, ``lateral_growth``) and ``length_scale`` (m per unit).
    """
    import gmsh

    names = geometry.layer_names
    grid = _SectionGrid(geometry, settings)
    # points and curves are shared explicitly; never merge the nm-close ones
    auto_coherence = gmsh.option.getNumber("Geometry.AutoCoherence")
    gmsh.option.setNumber("Geometry.AutoCoherence", 0)
    layer_surfaces = _add_layer_surfaces(grid, len(names))
    grid.geo.synchronize()
    gmsh.option.setNumber("Geometry.AutoCoherence", auto_coherence)
    groups = _facet_curve_groups(grid, names)

    for i, name in enumerate(names):
        gmsh.model.addPhysicalGroup(2, layer_surfaces[i], tag=i + 1, name=name)
    facet_tags = dict(BOUNDARY_TAGS_2D)
    facet_tags.update({n: INTERFACE_TAG0 + i for i, n in enumerate(geometry.interface_names)})
    for name, tag in facet_tags.items():
        if name in groups:
            gmsh.model.addPhysicalGroup(1, sorted(groups[name]), tag=tag, name=name)


def _snap(values: np.ndarray, native: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Move coordinates lying on ``native`` levels onto the matching ``exact`` levels."""
    mid = 0.5 * (native[1:] + native[:-1])
    idx = np.searchsorted(mid, values)
    h = np.diff(native)
    local = np.minimum(h[np.minimum(idx, len(h) - 1)], h[np.maximum(idx - 1, 0)])
    if values.size and np.max(np.abs(values - native[idx]) / local) > 0.25:
        raise MeshError("cross-section mesh: gmsh node positions do not match the transfinite "
                        "grading (internal error)")
    return exact[idx]


def _band(geometry: StackGeometry, settings: MeshSettings,
          layers: Sequence[str]) -> tuple[float, float] | None:
    """(bottom, top) height in mesh units of the named layers (None: none present)."""
    names = [lay.name for lay in geometry.layers]
    rows = [b for b in _vertical_blocks(geometry, settings) if names[b.owner] in layers]
    if not rows:
        return None
    ell = settings.length_scale
    return min(b.lo for b in rows) / ell, max(b.hi for b in rows) / ell


def build_cross_section_mesh(geometry: StackGeometry, settings: MeshSettings,
                             comm: MPI.Comm, balance: Sequence[str] = ()) -> Domain:
    """Build the tagged 2-D cross-section mesh (structured quadrilaterals).

    gmsh runs on rank 0 only; dolfinx distributes the mesh with ghosted shared
    facets (needed for interface integrals ``dS`` in parallel), with ``balance``: in
    vertical strips holding equal shares of those layers' cells
    (:func:`fem_cell.meshing.partition.strip_partitioner`; e.g. the films a solve runs
    on), else with dolfinx's default partitioner.  Nodes are then
    placed exactly on :func:`~fem_cell.meshing.line.layer_node_coordinates`
    (vertically) and :func:`lateral_node_coordinates` (laterally).

    Args:
        geometry: the layer stack (thicknesses and widths in m).
        settings: resolution and ``length_scale`` (m per mesh-coordinate unit).
        comm: communicator to distribute the mesh over.
        balance: names of layers whose cells every rank gets an equal share of.

    Returns:
        A :class:`~fem_cell.domain.Domain` with cell tags per layer (1…n), facet tags
        for every interface (10 + i) and ``bottom``, ``top``, ``exposed_top``,
        ``left``, ``right`` (1…5).  All five boundary names are always present in
        ``facet_names`` even when a group is empty (e.g. no narrow layer).

    Raises:
        MeshError: gmsh failed to build or mesh the model.
    """
    import gmsh

    ell = settings.length_scale
    error = None
    own_session = False
    if comm.rank == 0:
        try:
            own_session = not gmsh.isInitialized()
            if own_session:
                gmsh.initialize(interruptible=False)
            gmsh.option.setNumber("General.Terminal", 0)
            gmsh.model.add("fem_cell_cross_section")
            create_gmsh_model(geometry, settings)
            gmsh.model.mesh.generate(2)
        except Exception as exc:  # noqa: BLE001 - reported collectively below
            error = f"cross-section mesh: gmsh failed: {exc}"
    error = comm.bcast(error, root=0)
    try:
        if error is not None:
            raise MeshError(error)
        partitioner = model_partitioner(comm, _band(geometry, settings, balance))
        data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, rank=0, gdim=2,
                                             partitioner=partitioner)
    finally:
        if comm.rank == 0 and gmsh.isInitialized():
            if own_session:
                gmsh.finalize()
            else:
                gmsh.model.remove()

    msh = data.mesh
    rows = _vertical_blocks(geometry, settings)
    cols = _lateral_blocks(geometry, settings)
    x = msh.geometry.x
    x[:, 0] = _snap(x[:, 0], _merge(cols, True) / ell, _merge(cols, False) / ell)
    x[:, 1] = _snap(x[:, 1], _merge(rows, True) / ell, _merge(rows, False) / ell)

    cell_names = {n: int(g.tag) for n, g in data.physical_groups.items() if g.dim == 2}
    facet_names = {n: int(g.tag) for n, g in data.physical_groups.items() if g.dim == 1}
    for name, tag in BOUNDARY_TAGS_2D.items():
        facet_names.setdefault(name, tag)
    cell_tags, facet_tags = data.cell_tags, data.facet_tags
    cell_tags.name, facet_tags.name = "layers", "facets"
    return Domain(msh, cell_tags, facet_tags, cell_names, facet_names, ell)
