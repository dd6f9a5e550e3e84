"""Heat diffusion through the stack: ρ c_p ∂T/∂t = ∇·(k ∇T) + q.

Weak form (SI, per unit film area in 1-D / unit depth in 2-D), test function v:

    mass:      ∫ ρ c_p Ṫ v dx
    residual:  ∫ k ∇T·∇v dx − ∫ q v dx
               + ∫_top [h (T − T_amb) + ε σ_SB (T⁴ − T_amb⁴)] v ds      (free surfaces)
               + ∫_bottom h_c (T − T_plate(t)) v ds                      (contact option)
               − ∫_Γ g v ds                                              (given flux g)
    Dirichlet: T = T_b(t) on chosen boundaries (hot plate, "prescribed" option).

Both forms are multiplied by ``ℓ^(2−d) / k_ref`` (ℓ: mesh length scale, k_ref =
1 W/(m K)) so that Jacobian entries are O(k/k_ref · 1/h') with h' the cell size in
mesh units — independent of the SI magnitude of the problem.  The same scale
multiplies mass and residual, so the linearisation ``iωM + ∂G/∂T`` is unaffected.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import fem, ufl
from fem_cell.constants import STEFAN_BOLTZMANN
from fem_cell.domain import Domain
from fem_cell.forms import Terms, constant

K_REF = 1.0  # W/(m K), residual normalisation

Value = float | Callable[[float], float]


class _TimeValue:
    """A scalar that may depend on time, as a fem.Constant updated each step."""

    def __init__(self, mesh, value: Value):
        self._f = value if callable(value) else None
        self.constant = constant(mesh, float(value(0.0) if callable(value) else value))

    def update(self, t: float) -> None:
        if self._f is not None:
            self.constant.value = float(self._f(t))


@dataclass
class TemperatureBC:
    """Dirichlet T on the named boundaries.

    Args:
        boundaries: facet-group names (e.g. ``("bottom",)``).
        value: temperature (K): a number, a function of time ``f(t)`` or a function of
            space and time ``f(x, t)`` (x in SI metres, numpy arrays, shape (3, n)).
    """

    boundaries: Sequence[str]
    value: float | Callable


@dataclass
class SurfaceLossBC:
    """Convection + grey-body radiation to an ambient at T_amb (free surfaces).

    Args:
        boundaries: facet-group names.
        h: heat transfer coefficient (W/(m² K)).
        emissivity: ε (–), 0 disables radiation.
        ambient: ambient temperature (K), number or f(t).
    """

    boundaries: Sequence[str]
    h: float
    emissivity: float
    ambient: Value


@dataclass
class ContactBC:
    """Contact conductance to a body at T_ext(t): flux into the stack h_c (T_ext − T).

    Args:
        boundaries: facet-group names.
        conductance: h_c (W/(m² K)).
        temperature: T_ext (K), number or f(t).
    """

    boundaries: Sequence[str]
    conductance: float
    temperature: Value


@dataclass
class HeatFluxBC:
    """Given heat flux g into the domain (W/m²) as a UFL expression (may use time)."""

    boundaries: Sequence[str]
    flux: object


class HeatPhysics:
    """Transient heat conduction in every region of a :class:`Domain`.

    Args:
        domain: the tagged mesh.
        conductivity: region name → k (W/(m K)); every region must be given.
        heat_capacity: region name → ρ c_p (J/(m³ K)).
        bcs: boundary conditions (:class:`TemperatureBC`, :class:`SurfaceLossBC`,
            :class:`ContactBC`, :class:`HeatFluxBC`).
        source: volumetric heat source q (W/m³) as a UFL expression, or None.
        field: name of the temperature field in the problem.
    """

    def __init__(self, domain: Domain, conductivity: Mapping[str, float],
                 heat_capacity: Mapping[str, float], bcs: Sequence = (), source=None,
                 field: str = "T"):
        regions = set(domain.cell_names)
        missing = regions - set(conductivity) | regions - set(heat_capacity)
        if missing:
            raise ValueError(f"no thermal properties for regions {sorted(missing)}")
        self.domain = domain
        self.field = field
        self.k = domain.region_indicator(dict(conductivity), "k")
        self.rho_cp = domain.region_indicator(dict(heat_capacity), "rho_cp")
        self.source = source
        self.bcs = list(bcs)
        self.scale = domain.length_scale ** (2 - domain.dim) / K_REF
        self._time_values: list[_TimeValue] = []
        self._dirichlet: list[tuple[TemperatureBC, fem.Function | fem.Constant]] = []
        self._loss_terms = []
        msh = domain.mesh
        for bc in self.bcs:
            if isinstance(bc, SurfaceLossBC):
                tv = _TimeValue(msh, bc.ambient)
                self._time_values.append(tv)
                self._loss_terms.append((bc, tv.constant))
            elif isinstance(bc, ContactBC):
                tv = _TimeValue(msh, bc.temperature)
                self._time_values.append(tv)
                self._loss_terms.append((bc, tv.constant))
            elif isinstance(bc, HeatFluxBC):
                self._loss_terms.append((bc, None))
            elif not isinstance(bc, TemperatureBC):
                raise TypeError(f"unknown heat boundary condition {bc!r}")

    # -- forms -------------------------------------------------------------------------
    def mass(self, u: Mapping, udot: Mapping, v: Mapping):
        """∫ ρ c_p Ṫ v dx (scaled)."""
        d = self.domain
        return self.scale * self.rho_cp * udot[self.field] * v[self.field] * d.dx()

    def residual(self, u: Mapping, v: Mapping):
        """Steady residual G(T; v) (scaled), see module docstring."""
        d = self.domain
        T, w = u[self.field], v[self.field]
        F = Terms(self.k * ufl.inner(d.grad(T), d.grad(w)) * d.dx())
        if self.source is not None:
            F -= self.source * w * d.dx()
        for bc, c in self._loss_terms:
            if isinstance(bc, SurfaceLossBC):
                flux_out = bc.h * (T - c)
                if bc.emissivity > 0:
                    flux_out += bc.emissivity * STEFAN_BOLTZMANN * (T**4 - c**4)
                F += flux_out * w * d.ds(*bc.boundaries)
            elif isinstance(bc, ContactBC):
                F += bc.conductance * (T - c) * w * d.ds(*bc.boundaries)
            else:
                F -= bc.flux * w * d.ds(*bc.boundaries)
        return self.scale * F.form()

    # -- Dirichlet conditions --------------------------------------------------------------
    def dirichlet_bcs(self, spaces: Mapping[str, fem.FunctionSpace]) -> list:
        """Create the Dirichlet BCs on the temperature space (called once by the problem)."""
        V = spaces[self.field]
        d = self.domain
        fdim = d.dim - 1
        out = []
        for bc in self.bcs:
            if not isinstance(bc, TemperatureBC):
                continue
            dofs = fem.locate_dofs_topological(V, fdim, d.facets(*bc.boundaries))
            if callable(bc.value) and _n_args(bc.value) == 2:
                g = fem.Function(V)
                self._dirichlet.append((bc, g))
                out.append(fem.dirichletbc(g, dofs))
            else:
                tv = _TimeValue(d.mesh, bc.value)
                self._time_values.append(tv)
                out.append(fem.dirichletbc(tv.constant, dofs, V))
        self.update(0.0)
        return out

    def update(self, t: float) -> None:
        """Set every time-dependent boundary value to time t (s)."""
        for tv in self._time_values:
            tv.update(t)
        ell = self.domain.length_scale
        for bc, g in self._dirichlet:
            g.interpolate(lambda x, bc=bc: bc.value(x * ell, t) * np.ones(x.shape[1]))


def _n_args(f: Callable) -> int:
    import inspect

    try:
        return len(inspect.signature(f).parameters)
    except (TypeError, ValueError):
        return 1


def uniform_temperature(V: fem.FunctionSpace, T0: float, name: str = "T") -> fem.Function:
    """A P1 temperature field initialised to T0 (K)."""
    T = fem.Function(V, name=name)
    T.x.array[:] = T0
    return T


__all__ = ["ContactBC", "HeatFluxBC", "HeatPhysics", "SurfaceLossBC", "TemperatureBC",
           "uniform_temperature"]
