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
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import MPI, fem, ufl
from fem_cell.constants import (
    BOLTZMANN_EV,
    ELEMENTARY_CHARGE,
    FARADAY,
    GAS_CONSTANT,
    VACUUM_PERMITTIVITY,
)
from fem_cell.domain import Domain

#: Boltzmann constant in J/K (activation energies are stored in J, SI)
K_B = BOLTZMANN_EV * ELEMENTARY_CHARGE
#: one electron-volt in J
EV = ELEMENTARY_CHARGE


def _rct_to_i0(r_ct: float, T: float = 298.15) -> float:
    """Exchange current density (A/m²) of a charge-transfer resistance (Ω m²), α_a+α_c=1."""
    return GAS_CONSTANT * T / (FARADAY * r_ct)


@dataclass(frozen=True)
class ElectrochemParameters:
    """Electrochemical parameters of the film cell, SI units.

    Every default carries a source note (confidence tags as in the science brief:
    A read in a source, B literature value not re-checked, C estimate).  Values the
    cell file already holds are taken from it by :meth:`from_config`.

    Attributes:
        reference_temperature: T_ref of all Arrhenius laws (K). 25 °C.
        electrolyte_conductivity: Li3PO4 σ at T_ref (S/m). 3e-7 S/cm (A/B, science §3).
        electrolyte_activation_energy: Li3PO4 σ activation energy (J). 0.57 eV (A/B).
        electrolyte_relative_permittivity: Li3PO4 εr (–). 10 (C, range 8–15).
        degraded_conductivity: σ_d0, Li⁺ conductivity of the interfacial LiCoO2 layer
            without protons at T_ref (S/m). 2e-5 S/m (C): with the 10 nm layer it gives
            R_d = 5 Ω cm², half of the pristine interface (science §3 used 1e-5 S/m for
            the excess-resistance law; calibrate with the transport model).
        degraded_activation_energy: Ea_d of σ_d (J). 0.45 eV (C: taken equal to the
            LiCoO2 Li-diffusion activation energy, science §3 0.3–0.6 eV).
        degraded_beta: β of g(x_H) = exp(−β x_H) (–). 9.6 (C, science §3 feasibility run).
        degraded_relative_permittivity: εr of the degraded layer (–). 10 (C, estimate).
            0 turns the layer's displacement current off (the degraded layer as
            electronically conducting LiCoO2 whose Li⁺ path is purely resistive, as the
            impedance job uses it: see docs/impedance.md, "Job model").
        electrode_diffusivity: LiCoO2 chemical diffusivity D̃ at T_ref (m²/s).
            1e-12 cm²/s (A/B, films 2e-13 – 8e-12 cm²/s).
        electrode_diffusivity_activation_energy: Ea of D̃ (J). 0.45 eV (A/B, 0.3–0.6 eV).
        electrode_site_density: LiCoO2 Li site density (mol/m³). 5.16e4 (C).
        electrode_site_fraction: operating-point Li fraction x0 in Li_xCoO2 (–).
            0.9 (C: near the as-deposited, almost fully lithiated state).
        ocv_slope: dU/dx of LiCoO2 (V per unit site fraction), < 0. −0.75 V (C: OCV
            ≈ 3.9 V at x = 0.9 to ≈ 4.2 V at x = 0.5).
        electrode_exchange_current: i0 of Li insertion at LiCoO2 at T_ref (A/m²).
            R T/(F R_ct) with R_ct = 4.5 Ω cm² (C: pristine interface R 8.6–10 Ω cm²
            (A) = R_ct + R_d; R_d = 5 Ω cm² above) → 57.1 A/m².
        electrode_exchange_activation_energy: Ea of i0 at LiCoO2 (J). 0.5 eV (C).
        electrode_double_layer_capacitance: C_dl at LiCoO2 (F/m²). 10 µF/cm² (C, 1–30).
        li_exchange_current: i0 at Li|Li3PO4 at T_ref (A/m²). R T/(F R) with
            R = 2 Ω cm² (C: a small, fast metal interface) → 128 A/m².
        li_exchange_activation_energy: Ea of i0 at Li (J). 0.3 eV (C).
        li_double_layer_capacitance: C_dl at Li|Li3PO4 (F/m²). 10 µF/cm² (C).
        alpha_a: anodic transfer coefficient (–). 0.5 (C, symmetric).
        alpha_c: cathodic transfer coefficient (–). 0.5 (C, symmetric).
        pad_area: Li pad area (m²), converts lead R/L to area-specific values.
            1 mm² (C, science §1: ~mm² to 0.2 cm²).
        lead_resistance: series resistance of leads and contacts (Ω). 0 (C: off).
        lead_inductance: series inductance of the leads (H). 0 (C: off).
    """

    reference_temperature: float = 298.15
    electrolyte_conductivity: float = 3e-5
    electrolyte_activation_energy: float = 0.57 * EV
    electrolyte_relative_permittivity: float = 10.0
    degraded_conductivity: float = 2e-5
    degraded_activation_energy: float = 0.45 * EV
    degraded_beta: float = 9.6
    degraded_relative_permittivity: float = 10.0
    electrode_diffusivity: float = 1e-16
    electrode_diffusivity_activation_energy: float = 0.45 * EV
    electrode_site_density: float = 5.16e4
    electrode_site_fraction: float = 0.9
    ocv_slope: float = -0.75
    electrode_exchange_current: float = _rct_to_i0(4.5e-4)
    electrode_exchange_activation_energy: float = 0.5 * EV
    electrode_double_layer_capacitance: float = 0.1
    li_exchange_current: float = _rct_to_i0(2e-4)
    li_exchange_activation_energy: float = 0.3 * EV
    li_double_layer_capacitance: float = 0.1
    alpha_a: float = 0.5
    alpha_c: float = 0.5
    pad_area: float = 1e-6
    lead_resistance: float = 0.0
    lead_inductance: float = 0.0

    def __post_init__(self):
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if not np.isfinite(v):
                raise ValueError(
                    f"ElectrochemParameters.{f.name} = {v!r}: expected a finite number")
        positive = ("reference_temperature", "electrolyte_conductivity", "degraded_conductivity",
                    "electrode_diffusivity", "electrode_site_density", "electrode_exchange_current",
                    "li_exchange_current", "pad_area", "electrolyte_relative_permittivity")
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"ElectrochemParameters.{name} = {getattr(self, name)!r}: "
                                 "expected a positive value")
        for name in ("electrode_double_layer_capacitance", "li_double_layer_capacitance",
                     "degraded_relative_permittivity",
                     "lead_resistance", "lead_inductance", "alpha_a", "alpha_c"):
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

    @classmethod
    def from_config(cls, cfg, **overrides) -> ElectrochemParameters:
        """Parameters with what ``cfg.materials`` holds (Li3PO4 σ, Ea, εr; LiCoO2 D̃, Ea,
        site density) and the cell file's ``[electrochemistry]`` table (site fraction, OCV
        slope, double layers, Li interface resistance, transfer coefficients, pad area,
        leads), defaults for the rest, then ``overrides`` (SI)."""
        kw: dict[str, float] = {}
        mats = cfg.materials
        lpo = mats.get("Li3PO4")
        if lpo is not None:
            for key, name in (("ionic_conductivity", "electrolyte_conductivity"),
                              ("ionic_conductivity_activation_energy",
                               "electrolyte_activation_energy"),
                              ("relative_permittivity", "electrolyte_relative_permittivity")):
                v = lpo.get(key)
                if v is not None:
                    kw[name] = float(v)
        lco = mats.get("LiCoO2")
        if lco is not None:
            for key, name in (("li_chemical_diffusivity", "electrode_diffusivity"),
                              ("li_diffusivity_activation_energy",
                               "electrode_diffusivity_activation_energy"),
                              ("li_site_density", "electrode_site_density")):
                v = lco.get(key)
                if v is not None:
                    kw[name] = float(v)
        ec = dict(getattr(cfg, "electrochemistry", {}) or {})
        direct = ("electrode_site_fraction", "ocv_slope", "electrode_double_layer_capacitance",
                  "li_exchange_activation_energy", "li_double_layer_capacitance", "alpha_a",
                  "alpha_c", "pad_area", "lead_resistance", "lead_inductance")
        for name in direct:
            if name in ec:
                kw[name] = float(ec[name])
        if "li_interface_resistance" in ec:
            kw["li_exchange_current"] = _rct_to_i0(float(ec["li_interface_resistance"]),
                                                   kw.get("reference_temperature", 298.15))
        kw.update(overrides)
        return cls(**kw)

    # -- temperature laws (floats, SI) --------------------------------------------------
    def arrhenius(self, Ea: float, T: float) -> float:
        """exp(−Ea/k_B (1/T − 1/T_ref)) (–) for Ea in J, T in K."""
        return math.exp(-Ea / K_B * (1.0 / T - 1.0 / self.reference_temperature))

    def electrolyte_sigma(self, T: float) -> float:
        """Li3PO4 ionic conductivity at T (S/m)."""
        return self.electrolyte_conductivity * self.arrhenius(self.electrolyte_activation_energy, T)

    def diffusivity(self, T: float) -> float:
        """LiCoO2 D̃ at T (m²/s)."""
        return self.electrode_diffusivity * self.arrhenius(
            self.electrode_diffusivity_activation_energy, T)

    def electrode_i0(self, T: float) -> float:
        """Exchange current density at LiCoO2 at T (A/m²)."""
        return self.electrode_exchange_current * self.arrhenius(
            self.electrode_exchange_activation_energy, T)

    def li_i0(self, T: float) -> float:
        """Exchange current density at Li|Li3PO4 at T (A/m²)."""
        return self.li_exchange_current * self.arrhenius(self.li_exchange_activation_energy, T)


def degraded_conductivity_law(params: ElectrochemParameters) -> Callable:
    """The default law σ_d(x_H, T) = σ_d0 exp(−Ea_d/k_B (1/T − 1/T_ref)) exp(−β x_H).

    Returns a callable ``law(x_H, T)`` (x_H: proton site fraction, T: K; floats or
    UFL expressions) → σ_d (S/m).  Any callable of the same signature (e.g. from the
    transport model) can be given to :class:`ElectrochemPhysics` instead.
    """
    s0, Ea, beta, Tref = (params.degraded_conductivity, params.degraded_activation_energy,
                          params.degraded_beta, params.reference_temperature)

    def law(x_H, T):
        if isinstance(x_H, (int, float)) and isinstance(T, (int, float)):
            return s0 * math.exp(-Ea / K_B * (1.0 / T - 1.0 / Tref)) * math.exp(-beta * x_H)
        return s0 * ufl.exp(-Ea / K_B * (1.0 / T - 1.0 / Tref)) * ufl.exp(-beta * x_H)

    return law


# ------------------------------------------------------------------ film mesh ----------
@dataclass(frozen=True)
class FilmMeshSettings:
    """Resolution of the 1-D film mesh (SI lengths).

    Args:
        interface_cell: cell size at internal interfaces (m).  The LiCoO2 side must
            resolve the diffusion length √(D̃/ω) at the highest frequency (≈ 1 pm at
            10 MHz for D̃ = 1e-16 m²/s); the default 5e-14 m does (P1 error ∝ (h/δ)²).  With the
            defaults the default cell's Z is within 1.1e-4 (relative) of the exact
            1-D solution from 1 mHz to 10 MHz (842 DOFs).
        growth: size ratio of neighbouring cells (> 1).
        cells_per_layer: cells across each layer away from interfaces (≥ 1).
        length_scale: metres per mesh-coordinate unit (1e-6: µm).
        fine_layers: layers graded down to ``interface_cell`` at their internal
            interfaces (the diffusing electrode).  Elsewhere the interface cell is
            min(neighbouring thicknesses)/cells_per_layer: the potential is linear in
            uniform ionic layers, so P1 is exact there, and pm cells in a conductor
            would only worsen the conditioning.
    """

    fine_layers: tuple[str, ...] = ("LiCoO2",)
    interface_cell: float = 5e-14
    growth: float = 1.1
    cells_per_layer: int = 32
    length_scale: float = 1e-6

    def __post_init__(self):
        if not self.interface_cell > 0 or not self.growth > 1 or self.cells_per_layer < 1:
            raise ValueError(f"bad FilmMeshSettings {self!r}")


def _layer_nodes(L: float, a: float, b: float, cap: float, growth: float) -> np.ndarray:
    """Nodes in [0, L] with end sizes a, b growing by ``growth`` to ``cap``."""
    a, b = min(a, cap), min(b, cap)
    slope = growth - 1.0

    def h(s):
        return np.minimum(np.minimum(cap, a + slope * s), b + slope * (L - s))

    ramp = np.geomspace(min(a, b) * 1e-2, L, 2000)
    s = np.unique(np.concatenate([[0.0, L], ramp[ramp < L], L - ramp[ramp < L],
                                  np.linspace(0.0, L, 2001)]))
    inv = 1.0 / h(s)
    cum = np.concatenate([[0.0], np.cumsum(0.5 * (inv[1:] + inv[:-1]) * np.diff(s))])
    n = max(1, int(np.ceil(cum[-1] - 1e-9)))
    nodes = np.interp(np.linspace(0.0, cum[-1], n + 1), cum, s)
    nodes[0], nodes[-1] = 0.0, L
    return nodes


def build_film_mesh(layers: Sequence[tuple[str, float]], comm: MPI.Comm,
                    settings: FilmMeshSettings = FilmMeshSettings()) -> Domain:
    """Tagged 1-D mesh of the film layers only (bottom → top), graded at interfaces.

    Args:
        layers: (region name, thickness in m) bottom → top.
        comm: communicator to distribute the mesh over (collective).
        settings: resolution.

    Returns:
        A :class:`Domain` with regions named as the layers, interfaces
        ``"<lower>|<upper>"`` and outer facets ``bottom`` (current collector side) and
        ``top`` (Li pad side).
    """
    ell = settings.length_scale
    names = [n for n, _ in layers]
    th = [float(t) for _, t in layers]
    if len(set(names)) != len(names) or min(th) <= 0:
        raise ValueError(f"film layers need unique names and positive thicknesses: {layers}")
    cell_names = {n: i + 1 for i, n in enumerate(names)}
    facet_names = {"bottom": 1, "top": 2}
    for i in range(len(names) - 1):
        facet_names[f"{names[i]}|{names[i + 1]}"] = 10 + i
    per_layer, z0 = [], 0.0
    n = settings.cells_per_layer

    def end_size(i, j):   # size at the interface of layer i with neighbour j, on i's side
        if names[i] in settings.fine_layers:
            return settings.interface_cell
        return min(th[i], th[j]) / n

    for i, t in enumerate(th):
        cap = t / n
        a = end_size(i, i - 1) if i > 0 else cap
        b = end_size(i, i + 1) if i < len(th) - 1 else cap
        per_layer.append(z0 + _layer_nodes(t, a, b, cap, settings.growth))
        z0 += t
    z = np.concatenate([per_layer[0]] + [p[1:] for p in per_layer[1:]])
    hmin = float(np.min(np.diff(z)))
    if comm.rank == 0:
        layer_of_cell = np.concatenate([np.full(len(p) - 1, i + 1, dtype=np.int32)
                                        for i, p in enumerate(per_layer)])
        x = (z / ell)[:, None]
        cells = np.stack([np.arange(len(z) - 1), np.arange(1, len(z))], axis=1).astype(np.int64)
    else:
        layer_of_cell = np.zeros(0, dtype=np.int32)
        x = np.zeros((0, 1))
        cells = np.zeros((0, 2), dtype=np.int64)
    from fem_cell.meshing.line import mesh_from_root, tag_line_vertices

    msh, cell_tags = mesh_from_root(comm, "interval", x, cells, layer_of_cell)
    tol = 0.25 * hmin / ell
    locs = {"bottom": 0.0, "top": z[-1] / ell}
    zc = np.cumsum(th)
    for i in range(len(names) - 1):
        locs[f"{names[i]}|{names[i + 1]}"] = zc[i] / ell
    facet_tags = tag_line_vertices(msh, locs, tol, facet_names)
    cell_tags.name = "layers"
    return Domain(msh, cell_tags, facet_tags, cell_names, facet_names, ell)


def film_layers_from_config(cfg) -> list[tuple[str, float]]:
    """(name, thickness) of the LiCoO2, degraded and Li3PO4 layers of a RunConfig (m)."""
    g = cfg.geometry
    return [(n, g.layer(n).thickness) for n in ("LiCoO2", "degraded", "Li3PO4")]


#: Default film stack (m): LiCoO2 90 nm, degraded 10 nm, Li3PO4 1 µm (cell file values).
DEFAULT_FILM_LAYERS: tuple[tuple[str, float], ...] = (
    ("LiCoO2", 90e-9), ("degraded", 10e-9), ("Li3PO4", 1e-6))


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
        conductivity_law: ``law(x_H, T)`` → σ_d (S/m); default
            :func:`degraded_conductivity_law`.
        ocv: ``U(c)`` − U(c0) (V) as a callable of the concentration (UFL); default the
            linear law (dU/dx / c_sites)(c − c0).
        fields: names of the potential and concentration fields.
    """

    def __init__(self, domain: Domain, params: ElectrochemParameters = ElectrochemParameters(),
                 regions: FilmRegions = FilmRegions(), *, temperature=298.15,
                 proton_fraction=0.0, conductivity_law: Callable | None = None,
                 ocv: Callable | None = None, fields: tuple[str, str] = ("phi", "c")):
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
        self.law = conductivity_law or degraded_conductivity_law(params)
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
        self._zero = fem.Constant(msh, 0.0)

    # -- helpers -------------------------------------------------------------------------
    @property
    def field_names(self) -> tuple[str, ...]:
        return (self.phi_name, self.c_name) if self.has_electrode else (self.phi_name,)

    def _arrhenius(self, Ea):
        T, Tref = self.T, self.params.reference_temperature
        if isinstance(T, float):
            return math.exp(-Ea / K_B * (1.0 / T - 1.0 / Tref))
        return ufl.exp(-Ea / K_B * (1.0 / T - 1.0 / Tref))

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
        p = self.params
        return p.electrolyte_conductivity * self._arrhenius(p.electrolyte_activation_energy)

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
        i0_li = p.li_exchange_current * self._arrhenius(p.li_exchange_activation_energy)
        ds_li, r = self._contact()
        F -= self._bv(r(self.V) - r(phi), i0_li) * r(vp) * ds_li
        if self.has_electrode:
            c, w = u[self.c_name], v[self.c_name]
            D = p.electrode_diffusivity * self._arrhenius(p.electrode_diffusivity_activation_energy)
            i0_c = p.electrode_exchange_current * self._arrhenius(
                p.electrode_exchange_activation_energy)
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
        i0_li = p.li_exchange_current * self._arrhenius(p.li_exchange_activation_energy)
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
        return self.domain.integrate(fem.Constant(self.domain.mesh, 1.0), self._contact()[0])

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


# ------------------------------------------------------------------ model builder -----
@dataclass
class ElectrochemModel:
    """A film mesh + the electrochemistry block + its transient problem (at equilibrium).

    Attributes:
        domain: the film mesh.
        physics: the :class:`ElectrochemPhysics` block.
        problem: a :class:`~fem_cell.solvers.problem.TransientProblem` of the fields.
    """

    domain: Domain
    physics: ElectrochemPhysics
    problem: object

    @property
    def comm(self) -> MPI.Comm:
        return self.domain.comm

    def destroy(self) -> None:
        """Destroy the problem's solver objects (collective; forms and fields stay)."""
        self.problem.destroy()

    def n_dofs(self) -> int:
        """Global number of unknowns (all fields, pinned DOFs included)."""
        return sum(f.space.dofmap.index_map.size_global for f in self.problem.fields)


def build_electrochem_model(comm: MPI.Comm, params: ElectrochemParameters = ElectrochemParameters(),
                            layers: Sequence[tuple[str, float]] = DEFAULT_FILM_LAYERS, *,
                            regions: FilmRegions | None = None, temperature=298.15,
                            proton_fraction=0.0, conductivity_law: Callable | None = None,
                            mesh: FilmMeshSettings = FilmMeshSettings(),
                            domain: Domain | None = None,
                            prefix: str = "fem_cell_ec_") -> ElectrochemModel:
    """Film mesh + electrochemistry at the open-circuit operating point (collective).

    Args:
        comm: communicator (never defaulted).
        params: electrochemical parameters.
        layers: (name, thickness m) bottom → top; names must match ``regions``.
        regions: region roles; default: electrode/degraded present if in ``layers``.
        temperature: T (K), number or UFL.
        proton_fraction: x_H in the degraded layer (see :class:`ElectrochemPhysics`).
        conductivity_law: σ_d(x_H, T) callable.
        mesh: film mesh resolution.
        domain: use this mesh instead of building one from ``layers`` (e.g. a 2-D
            cross-section, or a mesh with inactive regions such as the Li pad; then
            ``regions`` says which region plays which role).  ``comm`` must be its
            communicator.
        prefix: PETSc options prefix of the (Newton) problem.
    """
    from fem_cell.solvers.problem import Field, TransientProblem

    if domain is None:
        domain = build_film_mesh(layers, comm, mesh)
    elif MPI.Comm.Compare(domain.comm, comm) not in (MPI.IDENT, MPI.CONGRUENT):
        raise ValueError("domain lives on another communicator than comm")
    names = list(domain.cell_names)
    if regions is None:
        regions = FilmRegions(electrode="LiCoO2" if "LiCoO2" in names else None,
                              degraded="degraded" if "degraded" in names else None)
    physics = ElectrochemPhysics(domain, params, regions, temperature=temperature,
                                 proton_fraction=proton_fraction, conductivity_law=conductivity_law)
    V = fem.functionspace(domain.mesh, ("Lagrange", 1))
    u = {n: fem.Function(V if i == 0 else fem.functionspace(domain.mesh, ("Lagrange", 1)), name=n)
         for i, n in enumerate(physics.field_names)}
    physics.set_equilibrium(u)
    fields = [Field(n, u[n]) for n in physics.field_names]
    for f in fields:
        f.u_n.x.array[:] = f.u.x.array
        f.u_nm1.x.array[:] = f.u.x.array
    time = fem.Constant(domain.mesh, 0.0)
    problem = TransientProblem(fields, [physics], time=time, prefix=prefix)
    return ElectrochemModel(domain, physics, problem)


__all__ = ["DEFAULT_FILM_LAYERS", "ElectrochemModel", "ElectrochemParameters", "ElectrochemPhysics",
           "FilmMeshSettings", "FilmRegions", "K_B", "build_electrochem_model", "build_film_mesh",
           "degraded_conductivity_law", "film_layers_from_config"]
