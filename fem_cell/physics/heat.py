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
        self.constant = constant(mesh, 0.0)
        self.set(value)

    def set(self, value: Value) -> None:
        """A new value (a number or f(t)), at t = 0 until the next :meth:`update`."""
        self._f = value if callable(value) else None
        self.constant.value = float(value(0.0) if callable(value) else value)

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
        _check_regions(domain, conductivity, heat_capacity)
        self.domain = domain
        self.field = field
        self.k = domain.region_indicator(dict(conductivity), "k")
        self.rho_cp = domain.region_indicator(dict(heat_capacity), "rho_cp")
        self.source = source
        self.bcs = list(bcs)
        self.scale = domain.length_scale ** (2 - domain.dim) / K_REF
        self._dirichlet: list[tuple[int, fem.Function]] = []
        #: per boundary condition, the constants its terms read (its coefficients and
        #: its time value: :meth:`set_parameters` gives them new values under compiled
        #: forms); a TemperatureBC's are made with its Dirichlet condition
        self._slots: list[dict] = []
        msh = domain.mesh
        for bc in self.bcs:
            if isinstance(bc, SurfaceLossBC):
                slot = {"h": constant(msh, bc.h), "emissivity": constant(msh, bc.emissivity),
                        "T": _TimeValue(msh, bc.ambient)}
            elif isinstance(bc, ContactBC):
                slot = {"h": constant(msh, bc.conductance), "T": _TimeValue(msh, bc.temperature)}
            elif isinstance(bc, (HeatFluxBC, TemperatureBC)):
                slot = {}
            else:
                raise TypeError(f"unknown heat boundary condition {bc!r}")
            self._slots.append(slot)

    def set_parameters(self, conductivity: Mapping[str, float],
                       heat_capacity: Mapping[str, float], bcs: Sequence) -> None:
        """New material and boundary values of the same structure, in place: the forms
        compiled on this block then compute with them (k and ρ c_p are cell-wise
        functions refreshed here; the boundary coefficients and time values are
        constants).  The structure must stay: the same regions, and the same conditions
        in the same order (kinds, boundaries, radiation on or off, a Dirichlet value of
        the same kind).  Call :meth:`update` (the problem's time level) afterwards.

        Raises:
            ValueError: a change of structure (build a new block instead).
        """
        bcs = list(bcs)
        if _structure(bcs) != _structure(self.bcs):
            raise ValueError(f"set_parameters: the conditions {_structure(bcs)} do not have "
                             f"the block's structure {_structure(self.bcs)}")
        _check_regions(self.domain, conductivity, heat_capacity)
        for f, values in ((self.k, conductivity), (self.rho_cp, heat_capacity)):
            self.domain.fill_region_indicator(f, values)
        for bc, slot in zip(bcs, self._slots, strict=True):
            if isinstance(bc, SurfaceLossBC):
                slot["h"].value, slot["emissivity"].value = bc.h, bc.emissivity
                slot["T"].set(bc.ambient)
            elif isinstance(bc, ContactBC):
                slot["h"].value = bc.conductance
                slot["T"].set(bc.temperature)
            elif isinstance(bc, TemperatureBC) and "T" in slot:
                slot["T"].set(bc.value)
        self.bcs = bcs

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
        for bc, slot in zip(self.bcs, self._slots, strict=True):
            if isinstance(bc, SurfaceLossBC):
                c = slot["T"].constant
                flux_out = slot["h"] * (T - c)
                if bc.emissivity > 0:
                    flux_out += slot["emissivity"] * STEFAN_BOLTZMANN * (T**4 - c**4)
                F += flux_out * w * d.ds(*bc.boundaries)
            elif isinstance(bc, ContactBC):
                F += slot["h"] * (T - slot["T"].constant) * w * d.ds(*bc.boundaries)
            elif isinstance(bc, HeatFluxBC):
                F -= bc.flux * w * d.ds(*bc.boundaries)
        return self.scale * F.form()

    # -- Dirichlet conditions --------------------------------------------------------------
    def dirichlet_bcs(self, spaces: Mapping[str, fem.FunctionSpace]) -> list:
        """Create the Dirichlet BCs on the temperature space (called once by the problem)."""
        V = spaces[self.field]
        d = self.domain
        fdim = d.dim - 1
        out = []
        for i, (bc, slot) in enumerate(zip(self.bcs, self._slots, strict=True)):
            if not isinstance(bc, TemperatureBC):
                continue
            dofs = fem.locate_dofs_topological(V, fdim, d.facets(*bc.boundaries))
            if callable(bc.value) and _n_args(bc.value) == 2:
                g = fem.Function(V)
                self._dirichlet.append((i, g))
                out.append(fem.dirichletbc(g, dofs))
            else:
                tv = slot["T"] = _TimeValue(d.mesh, bc.value)
                out.append(fem.dirichletbc(tv.constant, dofs, V))
        self.update(0.0)
        return out

    def update(self, t: float) -> None:
        """Set every time-dependent boundary value to time t (s)."""
        for slot in self._slots:
            if "T" in slot:
                slot["T"].update(t)
        ell = self.domain.length_scale
        for i, g in self._dirichlet:
            bc = self.bcs[i]
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


def _structure(bcs: Sequence) -> list[tuple]:
    """What of the boundary conditions shapes the heat's forms: each one's kind and
    boundaries, radiation on or off, and a Dirichlet value's kind (a number or f(t): a
    constant; f(x, t): a function)."""
    out = []
    for bc in bcs:
        extra = None
        if isinstance(bc, SurfaceLossBC):
            extra = bc.emissivity > 0
        elif isinstance(bc, TemperatureBC):
            extra = callable(bc.value) and _n_args(bc.value) == 2
        elif isinstance(bc, HeatFluxBC):
            extra = id(bc.flux)             # (a UFL expression: the same one only)
        out.append((type(bc).__name__, tuple(bc.boundaries), extra))
    return out


def _check_regions(domain: Domain, conductivity: Mapping[str, float],
                   heat_capacity: Mapping[str, float]) -> None:
    """Every region of ``domain`` has its k and ρ c_p."""
    regions = set(domain.cell_names)
    missing = regions - set(conductivity) | regions - set(heat_capacity)
    if missing:
        raise ValueError(f"no thermal properties for regions {sorted(missing)}")


__all__ = ["ContactBC", "HeatFluxBC", "HeatPhysics", "SurfaceLossBC", "TemperatureBC",
           "uniform_temperature"]
