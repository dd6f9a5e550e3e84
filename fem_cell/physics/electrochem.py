"""Electrochemistry of the film stack at open circuit, as a physics block (mass + residual).

Model (1-D film stack, SI; see ``docs/impedance.md``)::

    z ↑   Li pad (equipotential, potential V)            ── "top" facet: Li|Li3PO4
          Li3PO4        ionic potential φ, σ_SE(T), ε_SE
          degraded      ionic potential φ, σ_d(x_H, T), ε_d
          ──────────    "LiCoO2|degraded": Butler–Volmer + C_dl (Randles interface)
          LiCoO2 bulk   Li concentration c, D̃(T); electronic short: φ_s = 0 (ground)
          ──────────    "bottom": current collector, Li-blocking (reflective)

Fields (both P1 on the whole film mesh; one mesh, no sub-mesh needed):

* ``phi`` (V): ionic potential in the electrolyte regions (degraded layer + Li3PO4).
  Its DOFs inside the LiCoO2 bulk (not on the interface) are pinned to 0 by
  Dirichlet conditions; nothing else is integrated there.
* ``c`` (mol/m³): Li concentration in the LiCoO2 bulk; DOFs inside the electrolyte
  regions (not on the interface) are pinned to the operating value c0.

Potentials are measured from the open-circuit equilibrium: φ = 0, c = c0, V = 0.
Current density in the electrolyte j = −σ∇φ − ε∇φ̇.  Charge transfer:

    LiCoO2 interface:  η_c = φ_s − φ − (U(c) − U(c0)),  φ_s = 0
                       downward (insertion) current  i_c = −i_BV(η_c; i0_c) + C_dl,c φ̇
    Li interface:      η_Li = V − φ
                       current from the pad into the cell i_Li = i_BV(η_Li; i0_Li) + C_dl,Li (V̇ − φ̇)
    i_BV(η; i0) = i0 [exp(α_a F η/(R T)) − exp(−α_c F η/(R T))]

Weak forms (test functions v for φ, w for c; all terms in A/m², times ``ℓ^(2−d)``)::

    mass:     Σ_e ∫ ε_e ∇φ̇·∇v dx_e + ∫_Γc C_dl,c φ̇ v dS − ∫_top C_dl,Li (V̇ − φ̇) v ds
              + ∫_LCO F ċ w dx
    residual: Σ_e ∫ σ_e ∇φ·∇v dx_e − ∫_Γc i_BV(η_c) v dS − ∫_top i_BV(η_Li) v ds
              + ∫_LCO F D̃ ∇c·∇w dx + ∫_Γc i_BV(η_c) w dS

The Butler–Volmer terms stay nonlinear: their UFL derivative at η = 0 gives
R_ct = R T/(F i0 (α_a + α_c)).  The terminal current (A, per unit area in 1-D) is
:meth:`ElectrochemPhysics.terminal_current`; the pad potential V and its rate V̇ are
DG0 coefficients (``physics.V``, ``physics.V_dot``) so that the impedance solver can
differentiate the same forms with respect to them.

Without an electrode region (``FilmRegions(electrode=None, ...)``) the bottom facet is
an ideal grounded contact (φ = 0), which the verification tests use.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import fem, ufl
from fem_cell.constants import FARADAY, GAS_CONSTANT, VACUUM_PERMITTIVITY
from fem_cell.domain import Domain
from fem_cell.forms import constant
from fem_cell.params import Arrhenius


def exchange_current(resistance: float, T: float, alpha_a: float, alpha_c: float) -> float:
    """Exchange current density i0 (A/m²) whose linearised Butler–Volmer law has the
    charge-transfer resistance ``resistance`` (Ω m²) at T (K):
    R_ct = R T / (F i0 (α_a + α_c))."""
    return GAS_CONSTANT * T / (FARADAY * resistance * (alpha_a + alpha_c))


@dataclass(frozen=True)
class ElectrochemParameters:
    """Electrochemical parameters of the film cell, SI (no defaults: the model builds
    them from the cell file's materials and ``[electrochemistry]``,
    :func:`fem_cell.model.electrochem.electrochem_parameters`).

    Attributes:
        electrolyte_conductivity: Li3PO4 σ(T) (S/m).
        electrolyte_relative_permittivity: Li3PO4 εr (–).
        degraded_relative_permittivity: εr of the degraded layer (–); 0 turns its
            displacement current off.
        electrode_diffusivity: LiCoO2 chemical diffusivity D̃(T) (m²/s).
        electrode_site_density: LiCoO2 Li-site density (mol/m³).
        electrode_site_fraction: operating-point Li fraction x0 (–), in (0, 1).
        ocv_slope: dU/dx of LiCoO2 (V per unit site fraction), < 0.
        electrode_exchange_current: i0(T) of Li insertion at LiCoO2 (A/m²).
        electrode_double_layer_capacitance: C_dl at LiCoO2 (F/m²).
        li_exchange_current: i0(T) at Li|Li3PO4 (A/m²).
        li_double_layer_capacitance: C_dl at Li|Li3PO4 (F/m²).
        alpha_a, alpha_c: transfer coefficients (–).
        pad_area: Li pad area (m²).
        lead_resistance: series resistance of leads and contacts (Ω).
        lead_inductance: series inductance of the leads (H).
    """

    electrolyte_conductivity: Arrhenius
    electrolyte_relative_permittivity: float
    degraded_relative_permittivity: float
    electrode_diffusivity: Arrhenius
    electrode_site_density: float
    electrode_site_fraction: float
    ocv_slope: float
    electrode_exchange_current: Arrhenius
    electrode_double_layer_capacitance: float
    li_exchange_current: Arrhenius
    li_double_layer_capacitance: float
    alpha_a: float
    alpha_c: float
    pad_area: float
    lead_resistance: float
    lead_inductance: float

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            v = v.value if isinstance(v, Arrhenius) else v
            if not np.isfinite(v):
                raise ValueError(f"ElectrochemParameters.{f.name} = {v!r}: expected a finite "
                                 "number")
        for name in ("electrolyte_conductivity", "electrode_diffusivity",
                     "electrode_exchange_current", "li_exchange_current"):
            if not getattr(self, name).value > 0:
                raise ValueError(f"ElectrochemParameters.{name}: expected a positive value")
        for name in ("electrode_site_density", "pad_area", "electrolyte_relative_permittivity"):
            if not getattr(self, name) > 0:
                raise ValueError(f"ElectrochemParameters.{name} = {getattr(self, name)!r}: "
                                 "expected a positive value")
        for name in ("electrode_double_layer_capacitance", "li_double_layer_capacitance",
                     "degraded_relative_permittivity", "lead_resistance", "lead_inductance",
                     "alpha_a", "alpha_c"):
            if getattr(self, name) < 0:
                raise ValueError(f"ElectrochemParameters.{name} = {getattr(self, name)!r}: "
                                 "expected a value >= 0")
        if not self.alpha_a + self.alpha_c > 0:
            raise ValueError("ElectrochemParameters: alpha_a + alpha_c must be > 0")
        if not self.ocv_slope < 0:
            raise ValueError(f"ElectrochemParameters.ocv_slope = {self.ocv_slope!r}: expected "
                             "dU/dx < 0 (V per unit site fraction)")
        if not 0 < self.electrode_site_fraction < 1:
            raise ValueError("ElectrochemParameters.electrode_site_fraction must be in (0, 1)")

    # -- temperature laws (floats, SI) --------------------------------------------------
    def electrolyte_sigma(self, T: float) -> float:
        """Li3PO4 ionic conductivity at T (S/m)."""
        return self.electrolyte_conductivity(T)

    def diffusivity(self, T: float) -> float:
        """LiCoO2 D̃ at T (m²/s)."""
        return self.electrode_diffusivity(T)

    def electrode_i0(self, T: float) -> float:
        """Exchange current density at LiCoO2 at T (A/m²)."""
        return self.electrode_exchange_current(T)

    def li_i0(self, T: float) -> float:
        """Exchange current density at Li|Li3PO4 at T (A/m²)."""
        return self.li_exchange_current(T)


# ------------------------------------------------------------------ physics block -----
@dataclass(frozen=True)
class FilmRegions:
    """Which mesh regions and facets play which role.

    Args:
        electrode: LiCoO2 bulk region (Li diffusion, grounded solid), or None: then the
            ``ground`` facet is an ideal grounded contact φ = 0.
        degraded: degraded-layer region (σ_d(x_H, T), ε_d), or None.
        electrolyte: Li3PO4 region.
        electrode_interface: facet between ``electrode`` and the electrolyte above it
            (default: ``"<electrode>|<next region>"``, resolved by the block).
        li_contact: facet of the Li pad (Butler–Volmer + C_dl,Li).
        ground: facet held at φ = 0 when ``electrode`` is None.
        double_layer: facet carrying the LiCoO2-side double layer C_dl (between the
            ionic potential there and the grounded solid); None = the electrode
            interface (Randles: C_dl ∥ (R_ct + Z_D)).  ``"degraded|Li3PO4"`` puts it on
            the electrolyte side of the degraded layer: C_dl ∥ (R_d + R_ct + Z_D).
        li_contact_exterior: True if ``li_contact`` is an outer facet group (``ds``),
            False for an interior interface (``dS``, '+' side); None = decided by the
            name (a name with ``|`` is an interface).  A film sub-mesh cut from the
            stack has ``Li3PO4|Li`` as an outer group: pass True.
    """

    electrode: str | None = "LiCoO2"
    degraded: str | None = "degraded"
    electrolyte: str = "Li3PO4"
    electrode_interface: str | None = None
    li_contact: str = "top"
    ground: str = "bottom"
    double_layer: str | None = None
    li_contact_exterior: bool | None = None


def _as_ufl(domain: Domain, value, name: str):
    """float → float; callable f(x_SI) → P1 interpolant; Function/UFL → itself."""
    if isinstance(value, (int, float)):
        return float(value)
    from ufl.core.expr import Expr

    if callable(value) and not isinstance(value, (fem.Function, Expr)):
        Q = fem.functionspace(domain.mesh, ("Lagrange", 1))
        f = fem.Function(Q, name=name)
        ell = domain.length_scale
        f.interpolate(lambda x: np.asarray(value(x * ell), dtype=float) * np.ones(x.shape[1]))
        return f
    return value


class ElectrochemPhysics:
    """Open-circuit electrochemistry of the film stack (see module docstring).

    Args:
        domain: film mesh (e.g. :func:`build_film_mesh`).
        params: electrochemical parameters (SI).
        regions: region/facet roles.
        temperature: T (K): a number (uniform) or a UFL expression / Function
            (e.g. the heat solution on the same mesh).
        proton_fraction: x_H in the degraded layer (–): number, Function, UFL
            expression or callable f(x) of SI coordinates (shape (3, n)).
        conductivity_law: ``law(x_H, T)`` → σ_d (S/m) of the degraded layer (required
            when ``regions.degraded`` is set), e.g. ``DegradedLayerLaw.conductivity``.
        diffusivity_factor: multiplies D̃ in the LiCoO2 bulk (number, Function, UFL or
            callable of SI coordinates; e.g. exp(−β x_H) of the protons there).
        ocv: ``U(c)`` − U(c0) (V) as a callable of the concentration (UFL); default the
            linear law (dU/dx / c_sites)(c − c0).
        fields: names of the potential and concentration fields.
    """

    def __init__(self, domain: Domain, params: ElectrochemParameters,
                 regions: FilmRegions = FilmRegions(), *, temperature=298.15,
                 proton_fraction=0.0, conductivity_law: Callable | None = None,
                 diffusivity_factor=1.0, ocv: Callable | None = None,
                 fields: tuple[str, str] = ("phi", "c")):
        self.domain = domain
        self.params = params
        self.regions = regions
        self.phi_name, self.c_name = fields
        msh = domain.mesh
        for r in (regions.electrode, regions.degraded, regions.electrolyte):
            if r is not None:
                domain.cell_tag(r)
        self.has_electrode = regions.electrode is not None
        if self.has_electrode:
            iface = regions.electrode_interface
            if iface is None:
                above = regions.degraded if regions.degraded is not None else regions.electrolyte
                iface = f"{regions.electrode}|{above}"
            domain.facet_tag(iface)
            self.electrode_interface = iface
            self.double_layer_facet = regions.double_layer or iface
            domain.facet_tag(self.double_layer_facet)
        else:
            domain.facet_tag(regions.ground)
            self.electrode_interface = None
        domain.facet_tag(regions.li_contact)
        self.T = _as_ufl(domain, temperature, "T")
        self.x_H = _as_ufl(domain, proton_fraction, "x_H")
        self.D_factor = _as_ufl(domain, diffusivity_factor, "D_factor")
        if regions.degraded is not None and conductivity_law is None:
            raise ValueError("a degraded region needs its conductivity law")
        self.law = conductivity_law
        self.c0 = params.electrode_site_fraction * params.electrode_site_density
        dUdc = params.ocv_slope / params.electrode_site_density
        self.ocv = ocv or (lambda c: dUdc * (c - self.c0))
        Q0 = fem.functionspace(msh, ("DG", 0))
        #: Li pad potential V (V, from its open-circuit value) and its rate V̇ (V/s)
        self.V = fem.Function(Q0, name="V_pad")
        self.V_dot = fem.Function(Q0, name="V_pad_dot")
        self.scale = domain.length_scale ** (2 - domain.dim)
        # zero-valued terms over the inactive regions: they put the pinned DOFs into the
        # matrix sparsity, so that the Dirichlet diagonal can be inserted (Newton)
        self._zero = constant(msh, 0.0)

    # -- helpers -------------------------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.phi_name, self.c_name) if self.has_electrode else (self.phi_name,)

    def _f(self):
        return FARADAY / (GAS_CONSTANT * self.T)

    def _bv(self, eta, i0):
        p = self.params
        f = self._f()
        return i0 * (ufl.exp(p.alpha_a * f * eta) - ufl.exp(-p.alpha_c * f * eta))

    def _contact(self):
        """(measure, restrict) of the Li contact: ``ds`` for an outer facet group (film
        mesh), ``dS`` with '+' restrictions for an interface (e.g. ``Li3PO4|Li`` when the
        Li pad is meshed as an inactive region)."""
        name = self.regions.li_contact
        exterior = self.regions.li_contact_exterior
        if exterior is None:
            exterior = "|" not in name
        if not exterior:
            return self.domain.dS(name), (lambda e: e("+"))
        return self.domain.ds(name), (lambda e: e)

    def electrolyte_sigma(self):
        """Li3PO4 σ(T) (S/m)."""
        return self.params.electrolyte_conductivity(self.T)

    def degraded_sigma(self):
        """σ_d(x_H, T) of the degraded layer (S/m)."""
        return self.law(self.x_H, self.T)

    def _conductors(self):
        """(region, σ, ε) of the ionic regions."""
        p = self.params
        out = [(self.regions.electrolyte, self.electrolyte_sigma(),
                p.electrolyte_relative_permittivity * VACUUM_PERMITTIVITY)]
        if self.regions.degraded is not None:
            out.append((self.regions.degraded, self.degraded_sigma(),
                        p.degraded_relative_permittivity * VACUUM_PERMITTIVITY))
        return out

    # -- forms ---------------------------------------------------------------------------
    def mass(self, u: Mapping, udot: Mapping, v: Mapping):
        """Coefficient of the time derivatives (A/m², scaled), see module docstring."""
        d, p = self.domain, self.params
        phid, vp = udot[self.phi_name], v[self.phi_name]
        F = None
        for region, _, eps in self._conductors():
            if eps == 0:
                continue
            t = eps * ufl.inner(d.grad(phid), d.grad(vp)) * d.dx(region)
            F = t if F is None else F + t
        ds_li, r = self._contact()
        if p.li_double_layer_capacitance > 0:
            F -= p.li_double_layer_capacitance * (r(self.V_dot) - r(phid)) * r(vp) * ds_li
        if self.has_electrode:
            cd, w = udot[self.c_name], v[self.c_name]
            if p.electrode_double_layer_capacitance > 0:
                F += (p.electrode_double_layer_capacitance * phid("+") * vp("+")
                      * d.dS(self.double_layer_facet))
            F += FARADAY * cd * w * d.dx(self.regions.electrode)
        return self.scale * F

    def residual(self, u: Mapping, v: Mapping):
        """Steady residual G(φ, c; v, w) (A/m², scaled), see module docstring."""
        d, p = self.domain, self.params
        phi, vp = u[self.phi_name], v[self.phi_name]
        F = None
        for region, sigma, _ in self._conductors():
            t = sigma * ufl.inner(d.grad(phi), d.grad(vp)) * d.dx(region)
            F = t if F is None else F + t
        ionic = [r for r, _, _ in self._conductors()]
        others = [n for n in d.cell_names if n not in ionic]
        if others:
            F += self._zero * phi * vp * d.dx(*others)
        i0_li = p.li_exchange_current(self.T)
        ds_li, r = self._contact()
        F -= self._bv(r(self.V) - r(phi), i0_li) * r(vp) * ds_li
        if self.has_electrode:
            c, w = u[self.c_name], v[self.c_name]
            D = p.electrode_diffusivity(self.T) * self.D_factor
            i0_c = p.electrode_exchange_current(self.T)
            eta = -phi("+") - self.ocv(c("+"))
            i_bv = self._bv(eta, i0_c)
            F -= i_bv * vp("+") * d.dS(self.electrode_interface)
            F += FARADAY * D * ufl.inner(d.grad(c), d.grad(w)) * d.dx(self.regions.electrode)
            F += i_bv * w("+") * d.dS(self.electrode_interface)
            others = [n for n in d.cell_names if n != self.regions.electrode]
            if others:
                F += self._zero * c * w * d.dx(*others)
        return self.scale * F

    def terminal_current(self, u: Mapping, udot: Mapping):
        """UFL 0-form of the current from the Li pad into the cell (A; A/m² in 1-D)."""
        p = self.params
        phi = u[self.phi_name]
        ds_li, r = self._contact()
        i0_li = p.li_exchange_current(self.T)
        i = self._bv(r(self.V) - r(phi), i0_li)
        if p.li_double_layer_capacitance > 0:
            i += p.li_double_layer_capacitance * (r(self.V_dot) - r(udot[self.phi_name]))
        return i * ds_li

    def field_scales(self) -> dict[str, float]:
        """Typical small-signal magnitude of each field per volt of drive (V, mol/m³)."""
        out = {self.phi_name: 1.0}
        if self.has_electrode:
            out[self.c_name] = self.params.electrode_site_density / abs(self.params.ocv_slope)
        return out

    def contact_area(self) -> float:
        """Area of the Li contact (m² per unit area in 1-D = 1; m per unit depth in 2-D)."""
        return self.domain.integrate(constant(self.domain.mesh, 1.0), self._contact()[0])

    # -- Dirichlet conditions and state ----------------------------------------------------
    def _pinned(self, V, active: Sequence[str]) -> np.ndarray:
        """DOFs of V touching no cell of the ``active`` regions (owned + ghost)."""
        d = self.domain
        tdim = d.dim
        d.mesh.topology.create_connectivity(tdim, tdim)
        others = [n for n in d.cell_names if n not in active]
        if not others:
            return np.zeros(0, dtype=np.int32)
        inactive = fem.locate_dofs_topological(V, tdim, d.cells(*others))
        keep = fem.locate_dofs_topological(V, tdim, d.cells(*active))
        return np.setdiff1d(inactive, keep).astype(np.int32)

    def dirichlet_bcs(self, spaces: Mapping[str, fem.FunctionSpace]) -> list:
        """Pin φ = 0 outside the ionic regions and c = c0 outside LiCoO2 (interface nodes,
        shared with an active cell, stay free); without an electrode φ = 0 on ``ground``."""
        Vphi = spaces[self.phi_name]
        ionic = [r for r, _, _ in self._conductors()]
        out = []
        phi_dofs = self._pinned(Vphi, ionic)
        if self.has_electrode:
            Vc = spaces[self.c_name]
            out.append(fem.dirichletbc(self.c0, self._pinned(Vc, [self.regions.electrode]), Vc))
        else:
            ground = fem.locate_dofs_topological(Vphi, self.domain.dim - 1,
                                                 self.domain.facets(self.regions.ground))
            phi_dofs = np.union1d(phi_dofs, ground).astype(np.int32)
        out.insert(0, fem.dirichletbc(0.0, phi_dofs, Vphi))
        return out

    def set_equilibrium(self, u: Mapping[str, fem.Function]) -> None:
        """Set the open-circuit operating point: φ = 0, c = c0, V = V̇ = 0."""
        u[self.phi_name].x.array[:] = 0.0
        if self.has_electrode:
            u[self.c_name].x.array[:] = self.c0
        self.V.x.array[:] = 0.0
        self.V_dot.x.array[:] = 0.0


__all__ = ["ElectrochemParameters", "ElectrochemPhysics", "FilmRegions", "exchange_current"]
