"""Coupled Li⁺/H⁺ transport in the films (LiCoO2 incl. the degraded layer, Li3PO4).

Model (SI; science.md §2)
-------------------------
In each phase p (site density c_p, mol/m³) the cations share the Li sites,
``c_Li + c_H = c_p``; with the proton site fraction x (x_Li = 1 − x) and the
dimensionless potential ``Φ = F φ / (R T_ref)`` (θ = T_ref / T):

    J_H  = −D_H(T) c_p (∇x + x θ ∇Φ)
    J_Li = −D_Li(T) c_p (−∇x + (1 − x) θ ∇Φ)
    c_p ∂x/∂t + ∇·J_H = 0                  (protons)
    ∇·(J_H + J_Li) = 0                      (open circuit: no net ionic current)

Li⁺ conservation follows from the two.

Trapping (optional per phase, :class:`~fem_cell.physics.parameters.Trapping`; McNabb–Foster
as FESTIM writes it): x above is the *mobile* proton fraction; trapped protons x_t (O–H on
Li sites) do not move, occupy Li sites (x_Li = 1 − x − x_t in J_Li) and exchange with the
mobile ones at the rate (per Li site, vertex-lumped so that it is a nodal reaction)

    R = k_t(T) x (n_t − x_t) − k_d(T) x_t,   k_t = D_H(T)/λ²,  k_d = ν exp(−E_d/k_B T)
    c_p ∂x/∂t + ∇·J_H = −c_p R,   c_p ∂x_t/∂t = c_p R.

A phase without trapping has x_t ≡ 0 (no field).  Every coefficient is Arrhenius in the local
temperature T (a ``fem.Function`` on the film mesh), D(T) = D_ref exp(−E_a/k_B (1/T −
1/T_ref)).  Eliminating Φ (1-D, zero current) gives the ion-exchange interdiffusion
coefficient D̃ = D_H D_Li / (x D_H + (1 − x) D_Li); the P1 discretisation here
reproduces the one-equation form with D̃ at cell midpoints *exactly* (tested).

Interface LiCoO2|Li3PO4 — per-phase fields, exchange-rate flux
---------------------------------------------------------------
The proton fraction jumps at the interface (K ≫ 1: protons prefer Li3PO4), so each
phase has its own proton field and the phases exchange protons at the rate

    j = k_ex(T) c_LCO (x_LCO − x_LPO / K(T))      (mol m⁻² s⁻¹, LiCoO2 → Li3PO4)

with Li⁺ going the other way (the net current across the interface is the natural
continuity of the single, continuous potential field Φ).  This is FESTIM v2's
discontinuous (per-material) formulation with a kinetic interface flux, and it is the
form the feasible parameter point of science.md §3 was found with (k_ex 1e-17 m/s at
25 °C, E_a 1.4 eV: the exchange is what keeps protons in place at room temperature).
An equilibrium-partition variable (ψ = ln(x/(1−x)) − ln K, continuous) was rejected:
it makes the exchange infinitely fast (no room-temperature protection), and a
logarithmic variable cannot represent the perfect sink x = 0 or x = 0 deep in the
film, which the erfc exposure profile and the Crank verification need.

Realisation: instead of one sub-mesh per phase and mixed-domain assembly, each phase's
proton field is a P1 field on the whole film sub-mesh whose equation is integrated over
that phase's cells only; DOFs not touching the phase are pinned to 0 (Dirichlet).
The discrete equations are identical to per-phase sub-meshes (each field is P1 on its
phase, both carry their own value at the interface nodes), but it needs no entity
maps, no facet-orientation bookkeeping for ``dS`` between two meshes, and it works
unchanged in 1-D/2-D and in parallel.  The cost is a few pinned DOFs.

Boundaries: the bottom of LiCoO2 (current collector) and free Li3PO4 surfaces: no
flux (natural).  ``surface=(facets, x_s)`` holds the lower phase's mobile fraction at
x_s on a facet group (the bare LiCoO2 surface in water vapour during an exposure: the
total current through it stays zero, H⁺ in for Li⁺ out).  Li3PO4|Li: ``"sink"`` (x = 0:
protons reduced by Li, a Li⁺ released for each), ``"rate"`` (flux k_s c x out), or
``"blocking"``.  The net current is zero
through every outer boundary, so Φ is fixed by a gauge Φ = 0 at the lowest film node.

Scaling: both equations are multiplied by ``ℓ^(2−d) / (c_ref D_ref)`` (c_ref =
1e4 mol/m³, D_ref = 1e-16 m²/s); Newton convergence is judged by the size of the
update of each field (``Field.newton_tol``), so it does not depend on this scaling.
Mass: lumped (vertex/GLL quadrature on intervals and quadrilaterals), which keeps the
fractions non-negative for steep fronts; inventories are integrated exactly either way.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.constants import FARADAY, GAS_CONSTANT
from fem_cell.domain import Domain, ScaledMeasure, min_max_over_ranks, sum_over_ranks
from fem_cell.errors import RunAborted
from fem_cell.forms import FormsOnDemand, Terms, constant
from fem_cell.params import K_B, T_REF, Arrhenius
from fem_cell.physics.parameters import Exchange, PhaseTransport, Sink

#: quadrature of the (non-lumped) volume terms: degree 3, the 2-point Gauss rule per
#: direction (4 points per quadrilateral, 2 per interval), exact for the P1 × P1 × P1 flux
#: terms whenever D(T) is constant on a cell.  UFL estimates degree 7 for the Arrhenius
#: exponentials of the P1 temperature (16 points per quadrilateral).  The MMS test, whose
#: T varies by 100 K across the films, keeps P1's second order (L2 orders 2.003, 1.998,
#: 2.000; errors within 0.8 % of degree 4's 3-point rule); in the cell's films T varies by
#: µK across a cell, and the default 1-D and 2-D anneals' R_interface agree with degree 4's
#: to 1e-11.  Default 2-D transport on 2 ranks: a Jacobian 80 → 65 ms, a residual 17.6 →
#: 13.5 ms (degree 4 had already cut the Jacobian ~3x from the estimated degree).
QUADRATURE = {"quadrature_degree": 3}
C_REF = 1.0e4  # mol/m³, residual scaling
D_REF = 1.0e-16  # m²/s, residual scaling
#: Newton tolerances on the update of each field (site fraction, Φ): see the module doc.
#: 1e-9 on a site fraction is 1e-6 of the default time-error tolerance (1e-3); the last
#: update taken is that small and Newton contracts by 1e-2-1e-4 per iteration there, so
#: what is left is round-off for the outputs.  Measured against 1e-11 (default anneal):
#: R_interface equal to 1e-11 relative (1-D and 2-D), the per-step proton balance at
#: round-off either way (largest 2.9e-10 vs 1.8e-10 in 1-D, 5.2e-11 vs 3.6e-11 in 2-D),
#: 204 instead of 240 Newton iterations
X_NEWTON_TOL = 1e-9
PHI_NEWTON_TOL = 1e-9


class FractionOutOfRangeError(RunAborted):
    """A proton site fraction left [0, 1] by more than the tolerance (the run stops:
    status failed, exit 3; fractions are never clipped)."""


def lithium_diffusivity_from_conductivity(sigma: float, site_density: float,
                                          T: float = T_REF) -> float:
    """Nernst–Einstein D = σ R T / (F² c) (m²/s) from σ (S/m) and c (mol/m³)."""
    return sigma * GAS_CONSTANT * T / (FARADAY**2 * site_density)


@dataclass(frozen=True)
class Phase:
    """A transport phase: a name, its regions (cell-tag names) and properties."""

    name: str
    regions: tuple[str, ...]
    properties: PhaseTransport


# ------------------------------------------------------------------------- the block --
def _surface_fraction(value) -> float:
    """A surface condition's mobile fraction x_s, checked (0 … 1)."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"surface fraction {value!r}: expected 0 ... 1")
    return float(value)


def phase_structure(phases: Sequence[Phase]) -> list[tuple]:
    """What of the phases shapes a block's forms: names, regions, traps present."""
    return [(p.name, tuple(p.regions), p.properties.trapping is not None) for p in phases]


class _ConstantLaw:
    """An Arrhenius law k(T) = k_ref exp(−E_a/k_B (1/T − 1/T_ref)) whose value k_ref and
    activation temperature E_a/k_B (K) are constants (``fem.Constant``): a form written
    with it computes with the law given last (:meth:`set`).  Its UFL is
    :meth:`Arrhenius.__call__`'s (the same arithmetic), with the exponential kept also for
    E_a = 0 (the form must not depend on a value).  The energy is held in kelvin, not
    joules: a form's structural pattern is found by shifting every constant by a share of
    its value, or by 0.05 for a zero one (:mod:`fem_cell.solvers.sparsity`): 0.05 J is an
    energy whose exponential overflows, 0.05 K is not."""

    def __init__(self, msh, law: Arrhenius):
        self.T_ref = law.T_ref
        self.value = constant(msh, law.value)
        self.temperature = constant(msh, law.activation_energy / K_B)

    def set(self, law: Arrhenius) -> None:
        if law.T_ref != self.T_ref:
            raise ValueError(f"a law of reference temperature {law.T_ref} K for one of "
                             f"{self.T_ref} K (a change of the form)")
        self.value.value = law.value
        self.temperature.value = law.activation_energy / K_B

    def __call__(self, T):
        return self.value * ufl.exp(-self.temperature * (1.0 / T - 1.0 / self.T_ref))


def _lumped_metadata(domain: Domain) -> dict:
    name = domain.mesh.topology.cell_name()
    if name in ("interval", "quadrilateral", "hexahedron"):
        return {"quadrature_rule": "GLL", "quadrature_degree": 1}
    return {}


class TransportPhysics:
    """Coupled Li⁺/H⁺ Nernst–Planck transport on a film (sub-)mesh (physics block).

    Fields (P1 on ``domain.mesh``): ``xH_<phase>`` per phase (site fraction, –) and
    ``phi`` (Φ = Fφ/(R T_ref), –).  See the module docstring for the equations.

    Args:
        domain: the film domain (e.g. ``parent.submesh("LiCoO2", "degraded", "Li3PO4")``).
        temperature: T (K), a P1 ``fem.Function`` on ``domain.mesh``; the block reads it
            at every assembly (update it between steps, e.g. with
            :class:`TemperatureTransfer` or ``temperature_program``).
        phases: one or two phases, bottom → top.
        exchange: interface exchange (required with two phases).
        sink: proton condition at the top of the upper phase (None or mode
            ``"blocking"``: no flux).
        sink_boundary: the facet group of that condition (e.g. ``"Li3PO4|Li"``).
        surface: ``(facet group, x_s)``: the mobile proton fraction of the lower phase is
            held at x_s there (an exposure's water-activity condition); None: none.
        temperature_program: optional T(t) (K): sets T uniformly in ``update(t)``.
        lumped_mass: lumped (vertex-quadrature) mass term.
        gauge_value: Φ at the gauge node (lowest film node).
        prefix: name prefix of the fields.
    """

    def __init__(self, domain: Domain, temperature: fem.Function, phases: Sequence[Phase],
                 exchange: Exchange | None = None, sink: Sink | None = None,
                 sink_boundary: str | None = None, *,
                 surface: tuple[str, float] | None = None,
                 temperature_program: Callable[[float], float] | None = None,
                 lumped_mass: bool = True, gauge_value: float = 0.0, prefix: str = ""):
        self.domain = domain
        self.T = temperature
        #: the temperature laws of the volume terms as functions in T's space holding
        #: their values at T's nodes (see :meth:`at_nodes`): key → (function, law)
        self._nodal: dict[tuple, tuple[fem.Function, Callable]] = {}
        self._nodal_T: np.ndarray | None = None
        self.phases = tuple(phases)
        if not 1 <= len(self.phases) <= 2:
            raise ValueError("one or two phases")
        if len(self.phases) == 2 and exchange is None:
            raise ValueError("two phases need their exchange parameters")
        self.exchange = exchange
        self.sink_boundary = sink_boundary
        active = sink is not None and sink.mode != "blocking"
        if active and sink_boundary not in domain.facet_names:
            raise ValueError(f"sink boundary {sink_boundary!r} not in "
                             f"{sorted(domain.facet_names)}")
        self.sink = sink if active else None
        if surface is not None:
            if surface[0] not in domain.facet_names:
                raise ValueError(f"surface {surface[0]!r} not in {sorted(domain.facet_names)}")
            surface = (surface[0], _surface_fraction(surface[1]))
        self.surface = surface
        self.temperature_program = temperature_program
        msh = domain.mesh
        self.V = fem.functionspace(msh, ("Lagrange", 1))
        self.names = {p.name: f"{prefix}xH_{p.name}" for p in self.phases}
        self.phi_name = f"{prefix}phi"
        # one space object per field: Dirichlet conditions are matched to a field of a
        # blocked problem through their function space
        self.x = {p.name: fem.Function(fem.functionspace(msh, ("Lagrange", 1)),
                                       name=self.names[p.name]) for p in self.phases}
        self.phi = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name=self.phi_name)
        #: trapped fraction x_t of each phase with trapping (P1, lumped reaction)
        self.trapped_names = {p.name: f"{prefix}xT_{p.name}" for p in self.phases
                              if p.properties.trapping is not None}
        self.trapped = {n: fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name=tn)
                        for n, tn in self.trapped_names.items()}
        self.gauge_value = gauge_value
        #: the parameters the forms read as constants (not as float literals), so that
        #: :meth:`set_phases` can change their values under compiled forms: each phase's
        #: site density c and (with traps) trap density n_t, and the surface fraction x_s
        self._site_density = {p.name: constant(msh, p.properties.site_density)
                              for p in self.phases}
        self._trap_density = {p.name: constant(msh, p.properties.trapping.density)
                              for p in self.phases if p.properties.trapping is not None}
        self._surface_value = constant(msh, surface[1]) if surface is not None else None
        #: the exchange's and the sink's temperature laws with constant parameters
        self._exchange_laws = (None if exchange is None else
                               {"velocity": _ConstantLaw(msh, exchange.velocity),
                                "partition": _ConstantLaw(msh, exchange.partition)})
        self._sink_law = _ConstantLaw(msh, self.sink.velocity) if self.sink else None
        self.scale = domain.length_scale ** (2 - domain.dim) / (C_REF * D_REF)
        self._md = _lumped_metadata(domain) if lumped_mass else {}
        self.interfaces = self._interface_names()
        self._udot = None
        self._pad = constant(msh, 0.0)
        self._active = {p.name: self._active_dofs(p) for p in self.phases}
        n_owned = self.V.dofmap.index_map.size_local
        #: each phase's active owned DOFs (fraction_bounds)
        self._owned_active = {p.name: np.flatnonzero(self._active[p.name][:n_owned])
                              for p in self.phases}
        self._forms = FormsOnDemand()  # compiled diagnostics (see _scalar)
        self._all_tagged: bool | None = None  # every local cell tagged (see dx_all)

    # -- geometry helpers ---------------------------------------------------------------
    def _interface_names(self) -> tuple[str, ...]:
        if len(self.phases) < 2:
            return ()
        lo, up = self.phases
        return tuple(f"{a}|{b}" for a in lo.regions for b in up.regions
                     if f"{a}|{b}" in self.domain.facet_names)

    def _active_dofs(self, phase: Phase) -> np.ndarray:
        """Local DOFs (owned + ghost) touching the phase's cells, consistent over ranks."""
        ind = fem.Function(self.V)
        ind.x.array[self.V.dofmap.list[self.domain.cells(*phase.regions)].ravel()] = 1.0
        ind.x.scatter_reverse(_add_mode())
        ind.x.scatter_forward()
        return ind.x.array > 0.5

    def dx(self, phase: Phase, lumped: bool = False):
        d = self.domain
        m = ufl.Measure("dx", domain=d.mesh, subdomain_data=d.cell_tags,
                        metadata=self._md if lumped else QUADRATURE)
        ids = tuple(d.cell_tag(r) for r in phase.regions)
        return ScaledMeasure(d.length_scale**d.dim, m(ids))

    def dx_all(self):
        """Every film cell, with the lumped terms' vertex rule, as a measure over the
        cell-tag values (not dolfinx's untagged ``dx``): a term on it then joins each
        region's kernel, one kernel call and one element insertion per cell, where an
        untagged integral is a second pass over all cells (measured on the 1-D
        transport Jacobian: 110 → 71 µs per assembly, docs/architecture.md)."""
        d = self.domain
        if self._all_tagged is None:
            n_tagged = d.cells(*d.cell_names).size
            im = d.mesh.topology.index_map(d.dim)
            self._all_tagged = d.comm.allreduce(n_tagged == im.size_local + im.num_ghosts,
                                                op=MPI.LAND)
        if not self._all_tagged:          # untagged cells: the whole mesh's measure
            return d.dx()
        m = ufl.Measure("dx", domain=d.mesh, subdomain_data=d.cell_tags, metadata=self._md)
        return ScaledMeasure(d.length_scale**d.dim, m(tuple(sorted(d.cell_names.values()))))

    def phase(self, name: str) -> Phase:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no phase {name!r}; phases are {[p.name for p in self.phases]}")

    def _c(self, phase: Phase):
        """The phase's site density c (mol/m³) as the constant the forms read."""
        return self._site_density[phase.name]

    # -- new parameter values under the compiled forms ------------------------------------
    def set_phases(self, phases: Sequence[Phase], *, exchange: Exchange | None = None,
                   sink: Sink | None = None) -> None:
        """Give the block new phase, exchange and sink parameters of the same structure,
        in place: the forms compiled on it (the problem's, the diagnostics') then compute
        with them.

        Every parameter reaches the forms through this block's constants (site and trap
        densities, the exchange's and the sink's laws: :class:`_ConstantLaw`) or its
        nodal coefficients (D_H, D_Li, k_t, k_d: recomputed here from the new laws at T's
        current values), never as a float literal.  The structure must stay: the same
        phase names and regions, traps in the same phases, an exchange where the block
        has one (given again here), the same sink mode, a Lagrange temperature (else the
        laws are UFL of T).

        Raises:
            ValueError: a change of structure (build a new block instead).
        """
        phases = tuple(phases)
        shape, mine = phase_structure(phases), phase_structure(self.phases)
        if shape != mine:
            raise ValueError(f"set_phases: the phases {shape} do not have the block's "
                             f"structure {mine} (names, regions, traps)")
        if (exchange is None) != (self.exchange is None):
            raise ValueError("set_phases: the block has " + ("an" if self.exchange else "no")
                             + " interface exchange; give its parameters exactly then")
        new_sink = sink if sink is not None and sink.mode != "blocking" else None
        if (None if new_sink is None else new_sink.mode) != (None if self.sink is None
                                                              else self.sink.mode):
            raise ValueError(f"set_phases: sink {sink!r} for the block's {self.sink!r} (a "
                             "change of the sink's mode changes the forms)")
        if not self._lagrange_T():
            raise ValueError("set_phases: a non-Lagrange temperature keeps the phases' "
                             "parameters in UFL laws of T")
        if exchange is not None:
            for name, law in self._exchange_laws.items():
                law.set(getattr(exchange, name))
        if new_sink is not None:
            self._sink_law.set(new_sink.velocity)
        self.exchange, self.sink = exchange, new_sink
        self.phases = phases
        for p in phases:
            self._site_density[p.name].value = p.properties.site_density
            if p.name in self._trap_density:
                self._trap_density[p.name].value = p.properties.trapping.density
        T = self.T.x.array
        for key, (f, _) in list(self._nodal.items()):
            law = self._law(key)
            f.x.array[:] = law(T)
            self._nodal[key] = (f, law)
        self._nodal_T = T.copy() if self._nodal else None

    def set_surface_fraction(self, value: float) -> None:
        """The mobile fraction x_s held on the ``surface`` facets (0 … 1), in place."""
        if self.surface is None:
            raise ValueError("set_surface_fraction: the block has no surface condition")
        self.surface = (self.surface[0], _surface_fraction(value))
        self._surface_value.value = self.surface[1]

    # -- fields ----------------------------------------------------------------------------
    def unknowns(self) -> list[tuple[str, fem.Function, bool]]:
        """``(name, function, has_time_derivative)`` of each unknown: the (mobile) proton
        fraction of every phase, the trapped fraction of every phase with traps (both
        evolving), then Φ (algebraic)."""
        return ([(self.names[p.name], self.x[p.name], True) for p in self.phases]
                + [(self.trapped_names[n], f, True) for n, f in self.trapped.items()]
                + [(self.phi_name, self.phi, False)])

    def describe(self) -> dict[str, tuple[str, str]]:
        """Unit and meaning of each unknown, by name (for checkpoints)."""
        out = {self.names[p.name]: ("1", f"mobile proton site fraction in {p.name}")
               for p in self.phases}
        out.update({tn: ("1", f"trapped proton site fraction in {n}")
                    for n, tn in self.trapped_names.items()})
        out[self.phi_name] = ("1", f"electric potential / (R {T_REF:g} K / F): times "
                                   f"{1e3 * GAS_CONSTANT * T_REF / FARADAY:.4g} mV gives V")
        return out

    def nodal_fields(self) -> dict[str, str]:
        """Trapped fraction → the phase's mobile fraction: the trap equation is lumped
        (vertex rule), so it couples each node's x_t only to x_t and x at that node (a
        direct solver may eliminate it node by node: fem_cell.solvers.condensed).  Empty
        without traps or without the lumped mass (the trap equation then couples a
        cell's nodes): the Dirichlet DOFs are still condensed."""
        if not self._md:
            return {}
        return {tn: self.names[n] for n, tn in self.trapped_names.items()}

    def total_fraction(self, phase: str):
        """Mobile + trapped proton fraction of a phase (UFL; the mobile field without
        traps)."""
        if phase in self.trapped:
            return self.x[phase] + self.trapped[phase]
        return self.x[phase]

    # -- coefficients ------------------------------------------------------------------------
    def _theta(self):
        return T_REF / self.T

    def _law(self, key: tuple) -> Callable:
        """The temperature law of a nodal coefficient (:meth:`at_nodes`), from the current
        phases: ``("D_H" | "D_Li" | "k_t" | "k_d", phase name)``."""
        kind, name = key
        pr = self.phase(name).properties
        tr = pr.trapping
        if kind == "D_H":
            return pr.proton_diffusivity
        if kind == "D_Li":
            return pr.lithium_diffusivity
        if kind == "k_t":
            return lambda T: tr.capture_rate(pr.proton_diffusivity, T)
        if kind == "k_d":
            return tr.release_rate
        raise KeyError(f"no temperature law {key!r}")

    def at_nodes(self, key: tuple):
        """The law ``key`` (:meth:`_law`: a temperature law, float → float, numpy array →
        array) as a function in T's Lagrange space whose value at each node is the law
        at that node's temperature, i.e. the interpolant of k(T) instead of k of the
        interpolated T.

        The volume terms' rates (the diffusivities of the fluxes, the trapping rates)
        use it: the form kernels then interpolate a coefficient instead of evaluating
        an exponential at every quadrature point of every assembly (half of a 1-D
        residual's kernel time, docs/architecture.md), and the exponentials are taken
        once per temperature, at the nodes.  Where T is uniform over a cell (the 1-D
        and 2-D anneals: µK across a film cell) the two are the same numbers; at the
        nodes (the lumped trapping terms' vertex rule) they are always; elsewhere they
        differ by the interpolation error, O(h²) (the MMS test keeps second order with
        T varying by 100 K).  The values follow T: :meth:`before_assembly` recomputes
        them when T's values changed (every assembler of these forms calls it first:
        :class:`~fem_cell.solvers.problem.TransientProblem`).  A temperature that is
        not a Lagrange function keeps the law in the forms (``law(self.T)``)."""
        if not self._lagrange_T():
            return self._law(key)(self.T)
        self._T_values = self.T.x.array     # (a view: its storage never moves)
        entry = self._nodal.get(key)
        if entry is None:
            law = self._law(key)
            f = fem.Function(self.T.function_space, name=f"{key[0]}_{key[1]}")
            f.x.array[:] = law(self.T.x.array)
            entry = self._nodal[key] = (f, law)
        return entry[0]

    def _lagrange_T(self) -> bool:
        e = self.T.function_space.ufl_element()
        return getattr(e, "family_name", None) in ("P", "Q", "Lagrange") and not e.discontinuous

    def before_assembly(self) -> None:
        """Bring the nodal rates of :meth:`at_nodes` up to T's current values (a
        comparison of T's array with the one last used when nothing changed)."""
        if not self._nodal:
            return
        T = self._T_values
        if self._nodal_T is not None and (T == self._nodal_T).all():
            return
        for f, law in self._nodal.values():
            f.x.array[:] = law(T)
        self._nodal_T = T.copy()

    def proton_flux(self, phase: Phase, x, phi):
        """J_H (mol m⁻² s⁻¹) as UFL."""
        d = self.domain
        D = self.at_nodes(("D_H", phase.name))
        return -D * self._c(phase) * (d.grad(x) + x * self._theta() * d.grad(phi))

    def lithium_flux(self, phase: Phase, x, phi, xt=None):
        """J_Li (mol m⁻² s⁻¹) as UFL; ``xt``: trapped fraction (also on Li sites)."""
        d = self.domain
        occupied = x if xt is None else x + xt
        D = self.at_nodes(("D_Li", phase.name))
        return -D * self._c(phase) * (
            -d.grad(occupied) + (1.0 - occupied) * self._theta() * d.grad(phi))

    def trap_reaction(self, phase: Phase, x, xt):
        """R = k_t x (n_t − x_t) − k_d x_t (1/s, per Li site) as UFL."""
        k_t = self.at_nodes(("k_t", phase.name))
        k_d = self.at_nodes(("k_d", phase.name))
        return k_t * x * (self._trap_density[phase.name] - xt) - k_d * xt

    def exchange_flux(self, x_lo, x_up, T):
        """j (mol m⁻² s⁻¹) lower → upper phase, UFL (arguments restricted already)."""
        lo = self.phases[0]
        e = self._exchange_laws
        return e["velocity"](T) * self._c(lo) * (x_lo - x_up / e["partition"](T))

    def _sink_flux_expr(self, x):
        up = self.phases[-1]
        return self._sink_law(self.T) * self._c(up) * x

    # -- forms -----------------------------------------------------------------------------
    def _proton_equation(self, i: int, u: Mapping, udot: Mapping | None, w,
                         flux=None) -> ufl.Form:
        """Unscaled SI residual of phase i's proton equation, tested with w; ``flux``:
        J_H (UFL) instead of the Nernst–Planck flux of x and Φ."""
        p = self.phases[i]
        x = u[self.names[p.name]]
        d = self.domain
        J = self.proton_flux(p, x, u[self.phi_name]) if flux is None else flux
        F = Terms(-ufl.inner(J, d.grad(w)) * self.dx(p))
        if udot is not None:
            F += self._c(p) * udot[self.names[p.name]] * w * self.dx(p, True)
        if p.name in self.trapped:
            xt = u[self.trapped_names[p.name]]
            F += self._c(p) * self.trap_reaction(p, x, xt) * w * self.dx(p, True)
        if self.interfaces:
            lo, up = (u[self.names[q.name]] for q in self.phases)
            j = self.exchange_flux(ufl.avg(lo), ufl.avg(up), ufl.avg(self.T))
            sign = 1.0 if i == 0 else -1.0
            F += sign * j * ufl.avg(w) * d.dS(*self.interfaces)
        if self.sink is not None and self.sink.mode == "rate" and i == len(self.phases) - 1:
            F += self._sink_flux_expr(x) * w * d.ds(self.sink_boundary)
        return F.form()

    def _trap_equation(self, p: Phase, u: Mapping, udot: Mapping | None, q) -> ufl.Form:
        """Unscaled residual of phase p's trapped fraction, tested with q (lumped)."""
        x, xt = u[self.names[p.name]], u[self.trapped_names[p.name]]
        c = self._c(p)
        F = Terms(-c * self.trap_reaction(p, x, xt) * q * self.dx(p, True))
        if udot is not None:
            F += c * udot[self.trapped_names[p.name]] * q * self.dx(p, True)
        return F.form()

    def mass(self, u: Mapping, udot: Mapping, v: Mapping):
        """∫ c_p ẋ v dx per phase (scaled, lumped).

        The first call (from the time-stepping problem) records ``udot`` for
        :meth:`rate_of_change` / :meth:`sink_flux`; later calls (e.g. small-signal
        linearisation with other ``udot`` coefficients) do not replace it.
        """
        if self._udot is None:
            self._udot = udot
        F = Terms()
        for p in self.phases:
            names = [self.names[p.name]] + ([self.trapped_names[p.name]]
                                            if p.name in self.trapped else [])
            for n in names:
                F += self._c(p) * udot[n] * v[n] * self.dx(p, True)
        return self.scale * F.form()

    def residual(self, u: Mapping, v: Mapping):
        """Steady residual: proton equations (−∫J_H·∇v + interface/sink terms) and the
        zero-current equation −∫(J_H + J_Li)·∇w (scaled)."""
        d = self.domain
        F = Terms()
        for i, p in enumerate(self.phases):
            F += self._proton_equation(i, u, None, v[self.names[p.name]])
        phi, w = u[self.phi_name], v[self.phi_name]
        # zero-valued term on all film cells: puts the diagonal of every DOF of every
        # proton field into the sparsity pattern, so that the pinned (inactive) DOFs
        # get their Dirichlet diagonal
        for n in [*self.names.values(), *self.trapped_names.values(), self.phi_name]:
            F += self._pad * u[n] * v[n] * self.dx_all()
        for p in self.phases:
            if p.name in self.trapped:
                F += self._trap_equation(p, u, None, v[self.trapped_names[p.name]])
        for p in self.phases:
            x = u[self.names[p.name]]
            xt = u[self.trapped_names[p.name]] if p.name in self.trapped else None
            J = self.proton_flux(p, x, phi) + self.lithium_flux(p, x, phi, xt)
            F += -ufl.inner(J, d.grad(w)) * self.dx(p)
        return self.scale * F.form()

    def zero_current_flux(self, phase: Phase, x, xt=None):
        """J_H with Φ eliminated by the zero-current condition J_H + J_Li = 0 (UFL).

        Solving the zero-current equation pointwise for θ∇Φ and substituting gives

            J_H = −c D_H D_Li [(1 − x_t)∇x + x ∇x_t] / (D_H x + D_Li (1 − x − x_t)),

        without traps the ion-exchange interdiffusion −D̃ c ∇x of the module docstring.
        Where the zero current holds pointwise (1-D) this is the flux of the reduced
        one-equation model; in the discrete system it approximates the Schur complement
        of the Φ block (with exact block solves, 1.5 FGMRES iterations per Newton
        iteration over a 1-D run, 4.4–6.2 in 2-D; docs/scaling.md).  It is the Schur-complement
        preconditioner of the iterative solver path (:meth:`zero_current_residual`).
        """
        d = self.domain
        DH = self.at_nodes(("D_H", phase.name))
        DLi = self.at_nodes(("D_Li", phase.name))
        c = self._c(phase)
        if xt is None:
            return -c * DH * DLi * d.grad(x) / (DH * x + DLi * (1.0 - x))
        den = DH * x + DLi * (1.0 - x - xt)
        return -c * DH * DLi * ((1.0 - xt) * d.grad(x) + x * d.grad(xt)) / den

    def zero_current_residual(self, u: Mapping, udot: Mapping, v: Mapping):
        """The proton and trap equations with Φ eliminated (:meth:`zero_current_flux`),
        scaled as :meth:`residual`; tests ``v`` of the proton and trapped fields only.
        Its Jacobian preconditions the Schur complement of the Φ block
        (:mod:`fem_cell.solvers.linear`)."""
        F = Terms()
        for i, p in enumerate(self.phases):
            n = self.names[p.name]
            xt = u[self.trapped_names[p.name]] if p.name in self.trapped else None
            F += self._proton_equation(i, u, udot, v[n], self.zero_current_flux(p, u[n], xt))
            F += self._pad * u[n] * v[n] * self.dx_all()
            if p.name in self.trapped:
                tn = self.trapped_names[p.name]
                F += self._trap_equation(p, u, udot, v[tn])
                F += self._pad * u[tn] * v[tn] * self.dx_all()
        return self.scale * F.form()

    def dirichlet_bcs(self, spaces: Mapping[str, fem.FunctionSpace]) -> list:
        """Pinned inactive DOFs (0), the sink (x = 0) and the Φ gauge."""
        d = self.domain
        out = []
        zero = constant(d.mesh, 0.0)
        for p in self.phases:
            dofs = np.flatnonzero(~self._active[p.name]).astype(np.int32)
            out.append(fem.dirichletbc(zero, dofs, spaces[self.names[p.name]]))
            if p.name in self.trapped:
                out.append(fem.dirichletbc(zero, dofs, spaces[self.trapped_names[p.name]]))
        if self.surface is not None:
            V = spaces[self.names[self.phases[0].name]]
            dofs = fem.locate_dofs_topological(V, d.dim - 1, d.facets(self.surface[0]))
            out.append(fem.dirichletbc(self._surface_value, dofs, V))
        if self.sink is not None and self.sink.mode == "sink":
            V = spaces[self.names[self.phases[-1].name]]
            dofs = fem.locate_dofs_topological(V, d.dim - 1, d.facets(self.sink_boundary))
            out.append(fem.dirichletbc(zero, dofs, V))
        V = spaces[self.phi_name]
        out.append(fem.dirichletbc(constant(d.mesh, float(self.gauge_value)),
                                   self._gauge_dofs(V), V))
        idle = ~np.logical_or.reduce([self._active[p.name] for p in self.phases])
        if idle.any():  # regions of the mesh outside every phase: Φ unused there
            out.append(fem.dirichletbc(zero, np.flatnonzero(idle).astype(np.int32), V))
        return out

    def _gauge_dofs(self, V) -> np.ndarray:
        """The film node with the smallest height (then smallest x), on every rank."""
        comm = self.domain.comm
        im = V.dofmap.index_map
        n = im.size_local
        xyz = V.tabulate_dof_coordinates()[:n]
        vert = self.domain.dim - 1
        if n:
            keys = np.round(np.stack([xyz[:, vert], xyz[:, 0]], axis=1), 12)
            k = int(np.lexsort((keys[:, 1], keys[:, 0]))[0])
            best = (float(keys[k, 0]), float(keys[k, 1]), comm.rank)
        else:
            k, best = -1, (np.inf, np.inf, comm.rank)
        winner = min(comm.allgather(best))
        ind = fem.Function(V)
        if winner[2] == comm.rank:
            ind.x.array[k] = 1.0
        ind.x.scatter_forward()
        return np.flatnonzero(ind.x.array > 0.5).astype(np.int32)

    def update(self, t: float) -> None:
        """Set T from ``temperature_program`` (if given) at time t (s)."""
        if self.temperature_program is not None:
            self.T.x.array[:] = float(self.temperature_program(t))

    # -- initial state ------------------------------------------------------------------------
    def _field(self, phase: str, trapped: bool) -> fem.Function:
        if not trapped:
            return self.x[phase]
        if phase not in self.trapped:
            raise KeyError(f"phase {phase!r} has no traps")
        return self.trapped[phase]

    def set_zero(self) -> None:
        """Every unknown 0: no protons, mobile or trapped, in any phase, and Φ = 0."""
        for _, f, _ in self.unknowns():
            f.x.array[:] = 0.0

    def set_uniform(self, phase: str, value: float, *, trapped: bool = False) -> None:
        """x (or x_t with ``trapped``) = value on the phase's active DOFs (0 elsewhere)."""
        a = self._field(phase, trapped).x.array
        a[:] = 0.0
        a[self._active[phase]] = value

    def set_profile(self, phase: str, func: Callable[[np.ndarray], np.ndarray], *,
                    trapped: bool = False) -> None:
        """Interpolate x (or x_t) = func(X) (X: SI coordinates, shape (3, n)) on the phase."""
        ell = self.domain.length_scale
        f = self._field(phase, trapped)
        f.interpolate(lambda X: func(X * ell))
        f.x.array[~self._active[phase]] = 0.0
        if (not trapped and self.sink is not None and self.sink.mode == "sink"
                and phase == self.phases[-1].name):
            dofs = fem.locate_dofs_topological(self.V, self.domain.dim - 1,
                                               self.domain.facets(self.sink_boundary))
            f.x.array[dofs] = 0.0
        f.x.scatter_forward()

    # -- derived quantities (collective) -------------------------------------------------------
    def _scalar(self, key: str, build: Callable[[], ufl.Form]) -> float:
        """Assemble a scalar form, compiled once per ``key`` (collective)."""
        self.before_assembly()
        return sum_over_ranks(self.domain.comm, fem.assemble_scalar(self._forms(key, build)))

    def inventory(self, phase: str | None = None) -> float:
        """Protons (mobile + trapped) in a phase (all phases if None): mol/m² in 1-D,
        mol/m in 2-D."""
        phases = self.phases if phase is None else (self.phase(phase),)
        return sum(self._scalar(f"inventory:{p.name}", lambda p=p: self._c(p)
                                * self.total_fraction(p.name) * self.dx(p))
                   for p in phases)

    def trapped_inventory(self, phase: str | None = None) -> float:
        """Trapped protons in a phase (all phases if None), same units as
        :meth:`inventory`; 0 without traps."""
        phases = self.phases if phase is None else (self.phase(phase),)
        return sum(self._scalar(f"trapped:{p.name}", lambda p=p: self._c(p)
                                * self.trapped[p.name] * self.dx(p))
                   for p in phases if p.name in self.trapped)

    def interface_flux(self) -> float:
        """Proton flux lower → upper phase through the interface (mol/(m² s) in 1-D)."""
        if not self.interfaces:
            return 0.0

        def build():
            lo, up = (self.x[p.name] for p in self.phases)
            j = self.exchange_flux(ufl.avg(lo), ufl.avg(up), ufl.avg(self.T))
            return j * self.domain.dS(*self.interfaces)

        return self._scalar("interface_flux", build)

    def _phase_rate(self, p: Phase) -> float:
        def build():
            ud = self._udot[self.names[p.name]]
            if p.name in self.trapped:
                ud = ud + self._udot[self.trapped_names[p.name]]
            return self._c(p) * ud * self.dx(p, True)

        return self._scalar(f"rate:{p.name}", build)

    def rate_of_change(self) -> float:
        """d/dt of the total inventory from the time discretisation (after a step)."""
        if self._udot is None:
            raise RuntimeError("the block is not part of a problem yet")
        return sum(self._phase_rate(p) for p in self.phases)

    def sink_flux(self) -> float:
        """Protons leaving through the sink boundary (mol/(m² s) in 1-D), after a step.

        ``"rate"``: the law ∫ k_s c x ds.  ``"sink"``: the consistent reaction flux, i.e.
        minus the unconstrained proton residual tested with the indicator of the sink
        nodes (exactly the discrete outflow).  ``"blocking"``: 0.
        """
        if self.sink is None or self.sink.mode == "blocking":
            return 0.0
        d = self.domain
        if self.sink.mode == "rate":
            return self._scalar("sink_rate", lambda: self._sink_flux_expr(
                self.x[self.phases[-1].name]) * d.ds(self.sink_boundary))
        return -self._reaction("sink_reaction", self.sink_boundary, len(self.phases) - 1)

    def _reaction(self, key: str, facets: str, i: int) -> float:
        """The consistent boundary flux at Dirichlet nodes: the unconstrained residual of
        phase i's proton equations (mobile + trapped) tested with the indicator of the
        nodes on ``facets`` (after a step; > 0: protons *entering* the film there)."""
        if self._udot is None:
            raise RuntimeError("the block is not part of a problem yet")
        d, p = self.domain, self.phases[i]

        def build():
            chi = fem.Function(self.V)
            dofs = fem.locate_dofs_topological(self.V, d.dim - 1, d.facets(facets))
            chi.x.array[dofs] = 1.0
            u = {**{self.names[q.name]: self.x[q.name] for q in self.phases},
                 **{self.trapped_names[n]: f for n, f in self.trapped.items()},
                 self.phi_name: self.phi}
            F = Terms(self._proton_equation(i, u, self._udot, chi))
            if p.name in self.trapped:
                F += self._trap_equation(p, u, self._udot, chi)
            return F.form()

        return self._scalar(key, build)

    def surface_flux(self) -> float:
        """Protons entering through the ``surface`` condition (mol/(m² s) in 1-D), after
        a step; 0 without one."""
        if self.surface is None:
            return 0.0
        return self._reaction("surface_reaction", self.surface[0], 0)

    def mass_balance_residual(self, *, sink: float | None = None,
                              surface: float | None = None,
                              interface: float | None = None) -> float:
        """Relative discrete proton balance of the last step (–):
        (d/dt inventory + sink flux) / max(|d/dt inventory|, |sink flux|,
        |interface flux|, |d/dt of each phase's inventory|).

        ``sink``, ``surface``, ``interface``: :meth:`sink_flux`, :meth:`surface_flux`,
        :meth:`interface_flux` of this step if the caller has them already (each is
        assembled otherwise)."""
        rates = [self._phase_rate(p) for p in self.phases]
        r = sum(rates)
        s = self.sink_flux() if sink is None else sink
        a = self.surface_flux() if surface is None else surface
        i = self.interface_flux() if interface is None else interface
        scale = [abs(r), abs(s), abs(a), abs(i), 1e-300, *map(abs, rates)]
        return (r + s - a) / max(scale)

    def fraction_bounds(self) -> dict[str, tuple[float, float]]:
        """Global (min, max) over active owned DOFs of each phase's mobile fraction
        (key: phase), and with traps of its trapped fraction (``"<phase> trapped"``) and
        of the total (``"<phase> total"``)."""
        keys, arrays = [], []
        for p in self.phases:
            act = self._owned_active[p.name]
            xm = self.x[p.name].x.array.take(act)
            keys.append(p.name)
            arrays.append(xm)
            if p.name in self.trapped:
                xt = self.trapped[p.name].x.array.take(act)
                keys += [f"{p.name} trapped", f"{p.name} total"]
                arrays += [xt, xm + xt]
        lows = [a.min() if a.size else np.inf for a in arrays]
        highs = [a.max() if a.size else -np.inf for a in arrays]
        lo, hi = min_max_over_ranks(self.domain.comm, lows, highs)
        return {k: (float(a), float(b)) for k, a, b in zip(keys, lo, hi, strict=True)}

    def check_fractions(self, tol: float = 1e-9, raise_error: bool = True, *,
                        relative: float = 0.0) -> dict:
        """Report fractions outside [−tol, bound (1 + relative) + tol] (never clipped); the
        bound is 1 for mobile and total fractions and the trap density n_t for trapped
        ones.  ``relative``: the relative time-error tolerance of the run (a time
        integrator may overshoot a bound by its local error: BDF2 when a trap fills).

        Returns:
            ``{"ok": bool, "bounds": {phase: (min, max)}}``.

        Raises:
            FractionOutOfRangeError: if ``raise_error`` and a fraction is out of range.
        """
        b = self.fraction_bounds()
        top = {f"{p.name} trapped": p.properties.trapping.density for p in self.phases
               if p.name in self.trapped}
        bad = {k: v for k, v in b.items()
               if v[0] < -tol or v[1] > top.get(k, 1.0) * (1.0 + relative) + tol}
        if bad and raise_error:
            raise FractionOutOfRangeError(
                "proton site fraction outside [0, 1] beyond tolerance "
                f"{tol:g}: " + ", ".join(f"{k}: min {v[0]:.3e}, max {v[1]:.3e}"
                                          for k, v in bad.items()))
        return {"ok": not bad, "bounds": b}

    def potential_volts(self) -> fem.Function:
        """φ = Φ R T_ref / F (V) as a new P1 function."""
        f = fem.Function(self.V, name="phi_V")
        f.x.array[:] = self.phi.x.array * GAS_CONSTANT * T_REF / FARADAY
        return f


def _add_mode():
    return dolfinx.la.InsertMode.add


__all__ = ["C_REF", "D_REF", "FractionOutOfRangeError", "PHI_NEWTON_TOL", "Phase",
           "TransportPhysics", "X_NEWTON_TOL", "lithium_diffusivity_from_conductivity",
           "phase_structure"]
