"""A tagged mesh with named regions and the length scaling.

Length scaling
--------------
The stack spans nm interfacial layers on a 0.5 mm substrate.  Mesh coordinates are
stored in units of ``length_scale`` metres (default 1e-6: **mesh coordinates are in
µm**), so that coordinates and cell sizes are O(1e-3 … 1e3) instead of
O(1e-9 … 1e-3).  This keeps gmsh's and dolfinx's geometric tolerances (absolute, of
order 1e-8 … 1e-12) far below the smallest cell size, and it makes the files that
users open in ParaView read naturally in µm.

Physics is still written in SI: :meth:`Domain.grad`, :meth:`Domain.dx`,
:meth:`Domain.ds` and :meth:`Domain.dS` carry the factors ``1/ℓ`` (gradient) and
``ℓ^d`` / ``ℓ^(d-1)`` (measures), so a form written with them evaluates to the same SI
number whatever ``ℓ`` is (tested in
``tests/verification/test_heat_exact.py::test_length_scale_invariance``).  Each physics
block then divides its residual by a reference magnitude (see
:mod:`fem_cell.physics.heat`) so Newton tolerances are scale-free.  In 1-D integrals
are per unit film area (m²); in 2-D per unit depth (m).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.errors import MeshError
from fem_cell.forms import compile_form, constant


class ScaledMeasure:
    """A UFL measure times a constant factor: ``expr * ScaledMeasure`` → ``(f·expr)·dx``.

    (``factor * ufl.dx`` would already be a Form, which cannot be multiplied by an
    integrand afterwards.)

    Over several regions (a tuple of subdomain ids: a phase of two layers) the form is
    made of its integrals directly, one ``ufl.Form`` in all: UFL's own ``integrand *
    measure`` makes a one-integral Form per id and then a Form of them, and UFL's Form
    constructor walks every node of the integrand each time (to list its constants).
    The integrals are UFL's: the same integrand, type, domain, id, metadata and
    subdomain data, in the same order (``tests/unit/test_forms.py``).
    """

    def __init__(self, factor: float, measure):
        self.factor = factor
        self.measure = measure

    def __rmul__(self, integrand):
        scaled = self.factor * integrand
        m = self.measure
        ids, domain = m.subdomain_id(), m.ufl_domain()
        if (not isinstance(ids, tuple) or domain is None
                or not isinstance(scaled, ufl.core.expr.Expr) or scaled.ufl_shape
                or scaled.ufl_free_indices):
            return scaled * m         # UFL's own path (and its errors)
        extra = {x.ufl_domain(): x.integral_type() for x in m.intersect_measures()}
        return ufl.Form([ufl.Integral(scaled, m.integral_type(), domain, i, m.metadata(),
                                      m.subdomain_data(), extra_domain_integral_type_map=extra)
                         for i in ids])


@dataclass
class Domain:
    """Mesh + cell/facet tags + name→tag maps + length scale.

    Attributes:
        mesh: the dolfinx mesh (coordinates in units of ``length_scale``).
        cell_tags: one tag per cell (layer).
        facet_tags: tags of interfaces and outer boundaries.
        cell_names: layer name → cell-tag value.
        facet_names: interface/boundary name → facet-tag value.
        length_scale: metres per mesh-coordinate unit.
        parent: for a sub-mesh domain (:meth:`submesh`), the domain it was cut from.
        entity_map: for a sub-mesh domain, the dolfinx ``EntityMap`` sub-mesh cells →
            parent cells (pass it as ``entity_maps=[...]`` to mixed-domain forms).
        vertex_map: for a sub-mesh domain, the vertex ``EntityMap``.
        geometry_map: for a sub-mesh domain, sub-mesh geometry node → parent node.
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    cell_names: dict[str, int]
    facet_names: dict[str, int]
    length_scale: float = 1e-6
    _measures: dict = field(default_factory=dict, repr=False)
    parent: Domain | None = field(default=None, repr=False)
    entity_map: object = field(default=None, repr=False)
    vertex_map: object = field(default=None, repr=False)
    geometry_map: np.ndarray | None = field(default=None, repr=False)

    def __post_init__(self):
        tdim = self.mesh.topology.dim
        self.mesh.topology.create_connectivity(tdim - 1, tdim)
        self.mesh.topology.create_connectivity(tdim, tdim - 1)

    # -- basic facts ---------------------------------------------------------------
    @property
    def comm(self) -> MPI.Comm:
        return self.mesh.comm

    @property
    def dim(self) -> int:
        return self.mesh.topology.dim

    def cell_tag(self, name: str) -> int:
        try:
            return self.cell_names[name]
        except KeyError:
            raise MeshError(f"no region {name!r}; regions are {sorted(self.cell_names)}") from None

    def facet_tag(self, name: str) -> int:
        try:
            return self.facet_names[name]
        except KeyError:
            raise MeshError(
                f"no facet group {name!r}; groups are {sorted(self.facet_names)}") from None

    def cells(self, *names: str) -> np.ndarray:
        """Local cell indices (owned + ghost) of the named regions."""
        tags = [self.cell_tag(n) for n in names]
        return self.cell_tags.indices[np.isin(self.cell_tags.values, tags)]

    def facets(self, *names: str) -> np.ndarray:
        """Local facet indices of the named facet groups."""
        tags = [self.facet_tag(n) for n in names]
        return self.facet_tags.indices[np.isin(self.facet_tags.values, tags)]

    # -- sub-meshes -------------------------------------------------------------------
    def submesh(self, *region_names: str) -> Domain:
        """A :class:`Domain` on the cells of the named regions (collective).

        Cell tags and names of the kept regions are carried over.  Every facet of the
        sub-mesh that was tagged in the parent keeps its tag and name: interfaces
        between kept regions stay interior facet groups (``dS``); an interface to an
        excluded region becomes an outer facet group (``ds``) with the interface's name
        (e.g. ``"substrate|LiCoO2"`` is the bottom of a film sub-mesh); outer
        boundaries of the parent that touch the kept cells keep their names.  Only
        names whose tags occur on some rank are kept in ``facet_names``.

        The parent's ghost layer is kept (all local parent cells of the regions, owned
        and ghost, are passed to ``create_submesh``), so interface integrals work in
        parallel as on the parent.

        Args:
            region_names: regions (cell-tag names) to keep; at least one.

        Returns:
            The sub-mesh domain, with ``parent``, ``entity_map`` (sub cell → parent
            cell), ``vertex_map``, ``geometry_map`` and the parent's ``length_scale``.

        Raises:
            MeshError: an unknown region name, or no names.
        """
        if not region_names:
            raise MeshError("submesh needs at least one region name")
        tdim = self.dim
        fdim = tdim - 1
        pcells = np.sort(self.cells(*region_names)).astype(np.int32)
        sub, emap, vmap, gmap = dolfinx.mesh.create_submesh(self.mesh, tdim, pcells)
        top = sub.topology
        top.create_connectivity(tdim, fdim)
        top.create_connectivity(fdim, tdim)
        n_sub = top.index_map(tdim).size_local + top.index_map(tdim).num_ghosts
        sub_cells = np.arange(n_sub, dtype=np.int32)
        parent_of = np.asarray(emap.sub_topology_to_topology(sub_cells, False), dtype=np.int32)

        # cell tags
        pim = self.mesh.topology.index_map(tdim)
        ctag = np.full(pim.size_local + pim.num_ghosts, -1, dtype=np.int32)
        ctag[self.cell_tags.indices] = self.cell_tags.values
        cvals = ctag[parent_of]
        keep = cvals >= 0
        cell_tags = dolfinx.mesh.meshtags(sub, tdim, sub_cells[keep], cvals[keep])
        cell_names = {n: self.cell_tag(n) for n in region_names}

        # facet tags: match each sub facet with the parent facet of the same vertices
        fim = self.mesh.topology.index_map(fdim)
        ftag = np.full(fim.size_local + fim.num_ghosts, -1, dtype=np.int32)
        ftag[self.facet_tags.indices] = self.facet_tags.values
        sub_facet_parent = _facet_parent_map(self.mesh, sub, parent_of, vmap)
        sfim = top.index_map(fdim)
        n_sf = sfim.size_local + sfim.num_ghosts
        fvals = np.full(n_sf, -1, dtype=np.int32)
        ok = sub_facet_parent >= 0
        fvals[ok] = ftag[sub_facet_parent[ok]]
        fidx = np.flatnonzero(fvals >= 0).astype(np.int32)
        facet_tags = dolfinx.mesh.meshtags(sub, fdim, fidx, fvals[fidx])
        present = _global_unique(self.comm, fvals[fidx])
        facet_names = {n: t for n, t in self.facet_names.items() if t in present}
        cell_tags.name, facet_tags.name = self.cell_tags.name, self.facet_tags.name
        return Domain(sub, cell_tags, facet_tags, cell_names, facet_names, self.length_scale,
                      parent=self, entity_map=emap, vertex_map=vmap, geometry_map=gmap)

    def parent_cells(self) -> np.ndarray:
        """Parent-mesh cell of every local (owned + ghost) cell of a sub-mesh domain."""
        if self.entity_map is None:
            raise MeshError("not a sub-mesh domain")
        im = self.mesh.topology.index_map(self.dim)
        cells = np.arange(im.size_local + im.num_ghosts, dtype=np.int32)
        return np.asarray(self.entity_map.sub_topology_to_topology(cells, False), dtype=np.int32)

    # -- SI measures and gradient --------------------------------------------------
    def _measure(self, kind: str):
        if kind not in self._measures:
            data = self.cell_tags if kind == "dx" else self.facet_tags
            self._measures[kind] = ufl.Measure(kind, domain=self.mesh, subdomain_data=data)
        return self._measures[kind]

    def _ids(self, names: Iterable[str], facets: bool) -> tuple[int, ...]:
        return tuple(self.facet_tag(n) if facets else self.cell_tag(n) for n in names)

    def dx(self, *names: str):
        """SI volume measure (m^d) over the named regions (all cells if none)."""
        m = self._measure("dx")
        m = m(self._ids(names, False)) if names else m
        return ScaledMeasure(self.length_scale**self.dim, m)

    def ds(self, *names: str):
        """SI boundary measure (m^(d-1)) over the named outer facet groups."""
        m = self._measure("ds")
        m = m(self._ids(names, True)) if names else m
        return ScaledMeasure(self.length_scale ** (self.dim - 1), m)

    def dS(self, *names: str):
        """SI interior-facet measure (m^(d-1)) over the named interfaces."""
        m = self._measure("dS")
        m = m(self._ids(names, True)) if names else m
        return ScaledMeasure(self.length_scale ** (self.dim - 1), m)

    def grad(self, u):
        """SI gradient (1/m) of a UFL expression."""
        return ufl.grad(u) / self.length_scale

    def x_si(self):
        """Spatial coordinate in metres as a UFL expression."""
        return ufl.SpatialCoordinate(self.mesh) * self.length_scale

    # -- scalar reductions ----------------------------------------------------------
    def integrate(self, expr, measure) -> float:
        """Assemble a scalar integral and sum over ranks (collective)."""
        return sum_over_ranks(self.comm, fem.assemble_scalar(compile_form(expr * measure)))

    def volume(self, *names: str) -> float:
        """Volume of the named regions (m^d, per unit area/depth in 1-D/2-D)."""
        return self.integrate(constant(self.mesh, 1.0), self.dx(*names))

    def region_indicator(self, values: dict[str, float], name: str = "indicator") -> fem.Function:
        """DG0 function equal to ``values[region]`` on each region (0 elsewhere)."""
        f = fem.Function(fem.functionspace(self.mesh, ("DG", 0)), name=name)
        self.fill_region_indicator(f, values)
        return f

    def fill_region_indicator(self, f: fem.Function, values: Mapping[str, float]) -> None:
        """``f`` (DG0 on this mesh) set in place as :meth:`region_indicator` makes it:
        ``values[region]`` on each region, 0 elsewhere."""
        Q = f.function_space
        f.x.array[:] = 0.0
        for region, value in values.items():
            f.x.array[Q.dofmap.list[self.cells(region)].ravel()] = value
        f.x.scatter_forward()

    def layer_id_function(self) -> fem.Function:
        """DG0 field holding each cell's region tag (for ParaView thresholding)."""
        return self.region_indicator({n: float(t) for n, t in self.cell_names.items()}, "layer")


def sum_over_ranks(comm: MPI.Comm, local):
    """Σ of ``local`` over the ranks of ``comm`` (collective).

    A real number gives a float.  A complex number or an array (any shape, real or
    complex) gives the same kind back, summed by one buffer reduction (a 0-d array as
    a NumPy scalar).  On one rank the value itself, without a reduction: mpi4py's
    pickled ``allreduce`` costs 4 µs even there, and a diagnostics row of the transport
    made about 20 of them per time step.
    """
    if np.ndim(local) == 0 and np.isrealobj(local):
        if comm.size == 1:
            return float(local)
        return comm.allreduce(float(local), op=MPI.SUM)
    if comm.size == 1:
        return local
    a = np.array(local, order="C")          # a copy; 0-d stays 0-d
    out = np.empty_like(a)
    comm.Allreduce(a, out, op=MPI.SUM)
    return out if out.ndim else out[()]


def min_max_over_ranks(comm: MPI.Comm, lows: np.ndarray,
                       highs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elementwise global minima of ``lows`` and maxima of ``highs`` (same length on
    every rank; collective): one reduction for all of them (none on one rank)."""
    lows, highs = np.asarray(lows, dtype=float), np.asarray(highs, dtype=float)
    if comm.size == 1:
        return lows, highs
    both = np.concatenate([lows, -highs])
    out = np.empty_like(both)
    comm.Allreduce(both, out, op=MPI.MIN)
    return out[:lows.size], -out[lows.size:]


def _global_unique(comm: MPI.Comm, values: np.ndarray) -> set[int]:
    """Union over ranks of the distinct integer values (collective)."""
    local = set(int(v) for v in np.unique(values))
    out: set[int] = set()
    for part in comm.allgather(local):
        out |= part
    return out


def _facet_parent_map(parent: dolfinx.mesh.Mesh, sub: dolfinx.mesh.Mesh,
                      parent_of: np.ndarray, vmap) -> np.ndarray:
    """Parent facet index of every local sub-mesh facet (−1 if not found).

    A sub-mesh facet and its parent facet have the same vertices (through the vertex
    map); the pair is found cell by cell, comparing sorted vertex lists of the cell's
    local facets (vectorised over cells, all cells of a mesh have the same type).
    """
    tdim = parent.topology.dim
    fdim = tdim - 1
    sub.topology.create_connectivity(fdim, 0)
    parent.topology.create_connectivity(fdim, 0)
    parent.topology.create_connectivity(tdim, fdim)
    sc2f = sub.topology.connectivity(tdim, fdim)
    pc2f = parent.topology.connectivity(tdim, fdim)
    sf2v = sub.topology.connectivity(fdim, 0)
    pf2v = parent.topology.connectivity(fdim, 0)
    sfim = sub.topology.index_map(fdim)
    out = np.full(sfim.size_local + sfim.num_ghosts, -1, dtype=np.int32)
    n = len(parent_of)
    if n == 0:
        return out
    s_facets = sc2f.array.reshape(n, -1)
    p_all = pc2f.array
    p_off = pc2f.offsets
    nf = s_facets.shape[1]
    p_facets = p_all[p_off[parent_of][:, None] + np.arange(nf)[None, :]]
    nvf = len(sf2v.links(0))
    s_fv = sf2v.array.reshape(-1, nvf)
    p_fv = pf2v.array.reshape(-1, nvf)
    sv_parent = np.asarray(vmap.sub_topology_to_topology(
        np.arange(sub.topology.index_map(0).size_local + sub.topology.index_map(0).num_ghosts,
                  dtype=np.int32), False), dtype=np.int64)
    s_keys = np.sort(sv_parent[s_fv[s_facets]], axis=-1)  # (n, nf, nvf) parent vertex ids
    p_keys = np.sort(p_fv[p_facets], axis=-1)
    for i in range(nf):  # local facet i of the sub cell ↔ some local facet j of the parent
        for j in range(nf):
            match = np.all(s_keys[:, i, :] == p_keys[:, j, :], axis=-1)
            out[s_facets[match, i]] = p_facets[match, j]
    return out


class SubmeshTransfer:
    """Copy a parent-mesh P1 field (e.g. the temperature) onto a sub-mesh P1 function
    (collective-free).

    The DOF pairing is built once (cell by cell through the sub-mesh's entity map,
    matching DOF coordinates); each call then is an array copy.  Call it after every
    heat step (the parent T must be up to date on ghosts, as after a solve).

    Args:
        T_parent: temperature on the parent mesh (K).
        T_sub: temperature on the sub-mesh (K), same element family/degree.
        sub_domain: the sub-mesh :class:`Domain` (from :meth:`Domain.submesh`).
    """

    def __init__(self, T_parent: fem.Function, T_sub: fem.Function, sub_domain: Domain):
        self.T_parent, self.T_sub = T_parent, T_sub
        Vp, Vs = T_parent.function_space, T_sub.function_space
        pc = sub_domain.parent_cells()
        sd = Vs.dofmap.list[: len(pc)]
        pdofs = Vp.dofmap.list[pc]
        xs = Vs.tabulate_dof_coordinates()[sd]
        xp = Vp.tabulate_dof_coordinates()[pdofs]
        k = sd.shape[1]
        sub_idx, par_idx = [], []
        tol = 1e-10 * max(1.0, float(np.abs(xp).max()) if xp.size else 1.0)
        for i in range(k):
            for j in range(k):
                m = np.all(np.abs(xs[:, i, :] - xp[:, j, :]) <= tol, axis=-1)
                sub_idx.append(sd[m, i])
                par_idx.append(pdofs[m, j])
        self.sub_idx = np.concatenate(sub_idx) if sub_idx else np.zeros(0, np.int32)
        self.par_idx = np.concatenate(par_idx) if par_idx else np.zeros(0, np.int32)
        covered = np.zeros(len(T_sub.x.array), bool)
        covered[self.sub_idx] = True
        if not covered.all():
            raise RuntimeError("SubmeshTransfer: sub-mesh DOFs without a parent DOF")

    def __call__(self) -> None:
        self.T_sub.x.array[self.sub_idx] = self.T_parent.x.array[self.par_idx]
