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
number whatever ``ℓ`` is (tested in ``tests/verification/test_heat_exact.py::test_length_scale_invariance``).  Each physics
block then divides its residual by a reference magnitude (see
:mod:`fem_cell.physics.heat`) so Newton tolerances are scale-free.  In 1-D integrals
are per unit film area (m²); in 2-D per unit depth (m).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.errors import MeshError


class ScaledMeasure:
    """A UFL measure times a constant factor: ``expr * ScaledMeasure`` → ``(f·expr)·dx``.

    (``factor * ufl.dx`` would already be a Form, which cannot be multiplied by an
    integrand afterwards.)
    """

    def __init__(self, factor: float, measure):
        self.factor = factor
        self.measure = measure

    def __rmul__(self, integrand):
        return (self.factor * integrand) * self.measure


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
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    cell_names: dict[str, int]
    facet_names: dict[str, int]
    length_scale: float = 1e-6
    _measures: dict = field(default_factory=dict, repr=False)

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
        local = fem.assemble_scalar(fem.form(expr * measure))
        return self.comm.allreduce(local, op=MPI.SUM)

    def volume(self, *names: str) -> float:
        """Volume of the named regions (m^d, per unit area/depth in 1-D/2-D)."""
        return self.integrate(fem.Constant(self.mesh, 1.0), self.dx(*names))

    def region_indicator(self, values: dict[str, float], name: str = "indicator") -> fem.Function:
        """DG0 function equal to ``values[region]`` on each region (0 elsewhere)."""
        Q = fem.functionspace(self.mesh, ("DG", 0))
        f = fem.Function(Q, name=name)
        for region, value in values.items():
            f.x.array[Q.dofmap.list[self.cells(region)].ravel()] = value
        f.x.scatter_forward()
        return f

    def layer_id_function(self) -> fem.Function:
        """DG0 field holding each cell's region tag (for ParaView thresholding)."""
        return self.region_indicator({n: float(t) for n, t in self.cell_names.items()}, "layer")
