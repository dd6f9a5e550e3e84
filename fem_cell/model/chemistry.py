"""The anneal chemistry: heat on the stack + Li⁺/H⁺ transport on the film sub-mesh.

:func:`build_chemistry` assembles, from a configuration, the transport block
(:class:`~fem_cell.physics.transport.TransportPhysics`) on the film sub-mesh (LiCoO2,
degraded layer, Li3PO4), its transient problem, the heat problem it reads its
temperature from, and the interface resistance of the proton field.
:class:`ChemistryDiagnostics` evaluates the history columns of a state.
"""

from __future__ import annotations

import hashlib
import json
import weakref
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import fem
from fem_cell.config import RunConfig, SolverSettings
from fem_cell.domain import Domain, SubmeshTransfer
from fem_cell.forms import constant
from fem_cell.model.exposure import (
    ExposureResult,
    clear_kept_simulations,
    exposure_simulation,
    set_exposed_state,
)
from fem_cell.model.heat import HeatModel, build_heat, heat_structure
from fem_cell.model.pool import KeptPool
from fem_cell.model.transport import (
    FILM_TRANSPORT_LAYERS,
    build_transport_problem,
    film_regions,
    interface_resistance,
    pad_columns,
    phases,
    sink_boundary,
    transport_block,
    transport_fields,
)
from fem_cell.physics.degraded import InterfaceResistance, ohm_m2_to_ohm_cm2
from fem_cell.physics.parameters import Chemistry, Exposure
from fem_cell.physics.transport import TransportPhysics, phase_structure
from fem_cell.solvers.coupled import SubcycledProblem
from fem_cell.solvers.problem import TransientProblem

#: history columns of the chemistry (see :class:`ChemistryDiagnostics`)
CHEMISTRY_COLUMNS = ["R_interface_ohm_cm2", "R_interface_T_ohm_cm2", "H_LiCoO2_mol_m2",
                     "H_trapped_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2",
                     "H_exchanged_mol_m2", "H_flux_interface_mol_m2_s", "H_flux_sink_mol_m2_s",
                     "balance_error_mol_m2", "mass_balance_rel", "xH_min", "xH_max"]
#: 2-D runs add R_interface under the Li pad (per pad area)
PAD_COLUMNS = ["R_interface_pad_ohm_cm2"]


@dataclass
class ChemistryModel:
    """Heat on the whole stack + Li⁺/H⁺ transport on the film sub-mesh.

    Attributes:
        heat: the heat model (parent mesh).
        film: the film sub-mesh (LiCoO2, degraded layer, Li3PO4).
        T_film: the temperature on the film mesh (copied from the heat solution).
        transfer: the copy operation (called before each transport solve).
        transport: the transport block (fields ``xH_<phase>`` and ``phi``).
        transport_problem: its TransientProblem.
        problem: the transport's steps, the heat on its own steps ahead of them (what
            the stepper drives; :class:`SubcycledProblem`).
        resistance: R_interface diagnostic of the proton field (film average).
        pad_resistance: 2-D: R_interface under the Li pad (None in 1-D).
        exposure: the exposure that made the initial profile (None: proton-free).
        exposure_result: what the simulated exposure did (history, summary).
    """

    heat: HeatModel
    film: Domain
    T_film: fem.Function
    transfer: SubmeshTransfer
    transport: TransportPhysics
    transport_problem: TransientProblem
    problem: SubcycledProblem
    resistance: InterfaceResistance
    pad_resistance: InterfaceResistance | None = None
    exposure: Exposure | None = None
    exposure_result: ExposureResult | None = None
    #: the structure key under which the heat and transport are kept for a later case
    #: once this model is gone (:func:`kept_anneal`), or None
    keep_key: str | None = None
    #: whether the transport may be kept after :meth:`destroy`: true for a model just
    #: built; a run clears it while it steps and sets it again when it went through (a
    #: failed or interrupted run's transport may be mid-solve: it is not kept)
    reusable: bool = True
    #: whether :meth:`destroy` handed the transport over to the pool (for when this
    #: model is gone)
    _handed_over: bool = field(default=False, init=False, repr=False)

    @property
    def domain(self) -> Domain:
        return self.heat.domain

    @property
    def T(self) -> fem.Function:
        return self.heat.T

    def destroy(self) -> None:
        """Destroy the heat and transport solvers, in that order (collective; the
        fields stay usable).  A :attr:`reusable` model with a :attr:`keep_key` destroys
        nothing: its heat and transport (mesh, blocks, problems) go back to the process's
        pool when this model is garbage (:func:`kept_anneal`; while anything holds the model,
        e.g. a job's result, its fields are not reused)."""
        if self._handed_over:         # (a second destroy(): the transport is the pool's)
            return
        if self.keep_key is None or not self.reusable:
            self.problem.destroy()
            return
        kept = KeptAnneal(self.keep_key, self.domain, self.film, self.T_film,
                          self.transport, self.transport_problem, self.heat)
        weakref.finalize(self, _give_back, kept).atexit = False
        self._handed_over = True


def build_chemistry(config: RunConfig, domain: Domain, *, expose: bool = True,
                    exposure: Exposure | None = None,
                    exposure_hooks: dict[str, Callable] | None = None,
                    kept: KeptAnneal | None = None,
                    keep_key: str | None = None) -> ChemistryModel:
    """Heat + transport model of the anneal, starting from the simulated exposure.

    Args:
        config: validated configuration with chemistry.
        domain: the stack mesh (parent).
        expose: simulate the exposure first (:mod:`fem_cell.model.exposure`) and start
            from its state (else proton-free).
        exposure: an exposure overriding the configuration's.
        exposure_hooks: ``on_step``/``poll`` callables handed to the exposure's run
            (progress, Ctrl-C).
        kept: a kept anneal of this configuration's structure (on ``domain``, which must
            be ``kept.domain``), renewed for it instead of building its heat and transport
            (:func:`kept_anneal`).
        keep_key: the structure key the model's transport is kept under once the model
            is gone (:attr:`ChemistryModel.keep_key`).
    """
    if kept is not None and kept.domain is not domain:
        raise ValueError("a kept anneal runs on the mesh it was built on")
    try:
        return _build_chemistry(config, domain, expose, exposure, exposure_hooks, kept,
                                keep_key)
    except BaseException:
        if kept is not None:      # not stepped: renewed again by the next case
            _give_back(kept)
        raise


def _build_chemistry(config: RunConfig, domain: Domain, expose: bool, exposure, exposure_hooks,
                     kept: KeptAnneal | None, keep_key: str | None) -> ChemistryModel:
    heat = build_heat(config, domain, kept=kept.heat if kept is not None else None)
    if kept is None:
        film = domain.submesh(*film_regions(domain))
        T_film = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)), name="T_film_K")
    else:
        film, T_film = kept.film, kept.T_film
    transfer = SubmeshTransfer(heat.T, T_film, film)
    transfer()
    if kept is None:
        block = transport_block(config, film, T_film)
    else:
        block, chem = kept.block, config.chemistry
        block.set_phases(phases(config, chem, film), exchange=chem.exchange, sink=chem.sink)
    ex = exposure if exposure is not None else config.exposure
    result = None
    if expose:
        result = expose_block(config, film, ex, block, **(exposure_hooks or {}))
    else:
        block.set_zero()
    if kept is None:
        tp = build_transport_problem(block, config.solver, prefix="fem_cell_transport_")
    else:
        tp = kept.problem
        tp.reset()      # (its fields' history: the state just set)
    # the heat on its own steps, ahead of the transport's (fem_cell.solvers.coupled),
    # with the hard restarts at the program's kinks that its lock-step run had.  Its
    # steps are not capped by dt_max (the transport's): between the kinks the plate
    # temperature is linear in time, which BDF2 follows exactly once the transient
    # after a kink has decayed, so the heat's own error control lets it grow to the
    # next kink (default anneal: 59 heat steps instead of 70, R_interface equal to
    # 3e-9 relative); fixed steps (adaptive = false) stay dt_max
    s = config.solver
    problem = SubcycledProblem(
        [heat.problem, tp], [None, transfer], prefix="fem_cell_anneal",
        lead_stepping={"t_end": config.anneal.duration, "scheme": s.scheme,
                       "dt_initial": s.dt_initial,
                       "dt_max": config.anneal.duration if s.adaptive else s.dt_max,
                       "dt_min": s.dt_min, "adaptive": s.adaptive,
                       "restarts": config.anneal.breakpoints()})
    R = interface_resistance(config, film, block, T_film)
    cols = pad_columns(config) if film.dim == 2 else None
    R_pad = interface_resistance(config, film, block, T_film, columns=cols) if cols else None
    return ChemistryModel(heat, film, T_film, transfer, block, tp, problem, R, R_pad,
                          ex if expose else None, result, keep_key=keep_key)


@dataclass
class KeptAnneal:
    """An anneal's transport and heat kept for a later case of the same structure: the
    stack mesh, the film, the film's temperature, the transport block and its problem
    (compiled forms, matrices, band LU ordering, the diagnostics' compiled forms), and
    the heat model on the stack mesh."""

    key: str
    domain: Domain
    film: Domain
    T_film: fem.Function
    block: TransportPhysics
    problem: TransientProblem
    heat: HeatModel

    def destroy(self) -> None:
        self.heat.destroy()
        self.problem.destroy()


#: how many anneals a process keeps (a study alternating two structures keeps both)
KEPT_ANNEALS = 2
#: anneals (heat and transport) kept for later cases, by :func:`anneal_structure_key`
#: (only those no model uses: taken out while one does)
_KEPT_ANNEALS: KeptPool[KeptAnneal] = KeptPool(KEPT_ANNEALS)


def anneal_structure_key(config: RunConfig, comm, *, expose: bool = True) -> str | None:
    """What an anneal's transport (its mesh, forms and solver) depends on, apart from
    parameter values, or None where none is kept.

    The key: the geometry and the mesh settings (the stack mesh is built from them
    alone, so equal keys build equal meshes), the phases' names, regions and traps, the
    exchange's presence, the sink's mode and boundary, the heat's structure
    (:func:`~fem_cell.model.heat.heat_structure`), and every solver setting.  Every
    parameter value enters the transport's forms as a constant or a nodal coefficient
    (:meth:`~fem_cell.physics.transport.TransportPhysics.set_phases`), and the heat's as
    a constant or a cell-wise function
    (:meth:`~fem_cell.physics.heat.HeatPhysics.set_parameters`).  Kept only in a
    serial 1-D run of the simulated exposure on a built mesh (not a mesh file), where
    the transport's set-up is a third of a case; a 2-D case is its solves.
    """
    m = config.mesh
    if comm.size != 1 or m.dim != 1 or m.file or not expose:
        return None
    chem = config.chemistry
    shape = phase_structure(phases(config, chem, None))
    sink = chem.sink.mode if chem.sink is not None else None
    text = repr((config.geometry, m, shape, chem.exchange is None, sink,
                 sink_boundary(config, chem), heat_structure(config), config.solver))
    return hashlib.sha256(text.encode()).hexdigest()


def kept_anneal(config: RunConfig, comm, *, expose: bool = True
                ) -> tuple[str | None, KeptAnneal | None]:
    """The structure key of ``config``'s anneal (:func:`anneal_structure_key`) and the
    kept anneal (heat and transport) of that key, taken out of the pool (None: none is
    kept; build one and hand :func:`build_chemistry` the key, so that it is kept once its
    model is gone).

    A kept anneal is renewed for the new case by :func:`build_chemistry`: the materials
    and boundary values go into the heat block, the new phase, exchange and sink
    parameters into the transport block's constants and nodal coefficients, the exposed
    state into its fields, and both problems are reset to a new one's state
    (:meth:`~fem_cell.solvers.problem.TransientProblem.reset`).  The case then takes the
    steps and writes the history of one built new, bit for bit
    (``tests/unit/test_kept_anneal.py`` perturbs every declared parameter).  It returns
    to the pool when the case's model is garbage: while a result holds the model, its
    fields are its own.
    """
    key = anneal_structure_key(config, comm, expose=expose)
    return key, (_KEPT_ANNEALS.take(key) if key is not None else None)


def _give_back(kept: KeptAnneal) -> None:
    """A model that used ``kept`` is gone: keep it for the next case of its key (the
    oldest beyond :data:`KEPT_ANNEALS`, or a second one of the same key, destroyed)."""
    _KEPT_ANNEALS.put(kept.key, kept)


def clear_kept_anneals() -> None:
    """Destroy every anneal (heat and transport) kept in this process."""
    _KEPT_ANNEALS.clear()


#: exposed states kept in this process, most recent last (see :func:`expose_block`)
_EXPOSED: OrderedDict[str, tuple] = OrderedDict()
#: how many exposed states a process keeps
EXPOSURE_CACHE_SIZE = 8
#: the exposed state is kept only for films up to this many transport DOFs
EXPOSURE_CACHE_MAX_DOFS = 200_000


def clear_exposure_cache() -> None:
    """Forget every exposed state and destroy every exposure simulation and anneal
    (heat and transport) kept in this process (:func:`clear_exposed_states`,
    :func:`~fem_cell.model.exposure.clear_kept_simulations`,
    :func:`clear_kept_anneals`)."""
    clear_exposed_states()
    clear_kept_simulations()
    clear_kept_anneals()


def clear_exposed_states() -> None:
    """Forget every exposed state kept in this process (the simulations stay: the next
    exposure is simulated, on a kept simulation where there is one)."""
    _EXPOSED.clear()


def _exposure_key(config: RunConfig, block: TransportPhysics, exposure: Exposure) -> str | None:
    """What the exposed state depends on: every setting but the anneal program and the
    outputs, the exposure, and the film's DOF layout (serial runs only: a parallel
    partition is not promised to repeat)."""
    if block.domain.comm.size != 1 or block.V.dofmap.index_map.size_local > (
            EXPOSURE_CACHE_MAX_DOFS):
        return None
    items = sorted((k, repr(s.si_value)) for k, s in config.settings.items()
                   if not k.startswith(("anneal.", "output.")))
    coords = hashlib.sha256(block.V.tabulate_dof_coordinates().tobytes()).hexdigest()
    text = json.dumps([items, repr(exposure), coords])
    return hashlib.sha256(text.encode()).hexdigest()


def expose_block(config: RunConfig, film: Domain, exposure: Exposure, block: TransportPhysics,
                 **hooks) -> ExposureResult:
    """Simulate ``exposure`` on ``film`` and set ``block`` (same mesh) to its end state.

    A serial process keeps the last :data:`EXPOSURE_CACHE_SIZE` exposed states: the same
    exposure of the same cell (every setting but the anneal program and the outputs
    equal, same film mesh) is simulated once, e.g. for the anneal cases of a study that
    vary only the program, or the three cases of one posterior evaluation.  The state
    is then copied in, and the first run's :class:`ExposureResult` returned.
    """
    key = _exposure_key(config, block, exposure)
    hit = _EXPOSED.get(key) if key is not None else None
    if hit is not None:
        _EXPOSED.move_to_end(key)
        name, x, xt, result = hit
        set_exposed_state(block, name, x, xt)
        return result
    sim, index = exposure_simulation(config, film, exposure, block)
    failed = True
    try:
        result = sim.run(**hooks)
        sim.copy_into(block, index)
        name = sim.phase.name
        failed = False
    finally:
        sim.release(failed=failed)
    if key is not None:
        xt = block.trapped[name].x.array.copy() if name in block.trapped else None
        _EXPOSED[key] = (name, block.x[name].x.array.copy(), xt, result)
        while len(_EXPOSED) > EXPOSURE_CACHE_SIZE:
            _EXPOSED.popitem(last=False)
    return result


class ChemistryDiagnostics:
    """Collective evaluation of :data:`CHEMISTRY_COLUMNS` for a :class:`ChemistryModel`.

    Per unit film area: in 1-D integrals are already per m²; in 2-D (per unit depth)
    they are divided by the length of the LiCoO2|Li3PO4 interface, so the 1-D and 2-D
    columns compare directly.

    * ``R_interface_ohm_cm2``: interface-resistance diagnostic at 25 °C (what an
      impedance measurement after cooling sees; the spectrum's arc is the measured
      value, :mod:`fem_cell.model.impedance`); ``R_interface_T_ohm_cm2`` at the current
      T; 2-D: ``R_interface_pad_ohm_cm2`` under the Li pad (per pad area);
    * ``H_LiCoO2_mol_m2`` (mobile + trapped), ``H_trapped_mol_m2``, ``H_Li3PO4_mol_m2``:
      proton inventories;
    * ``H_flux_interface_mol_m2_s``, ``H_flux_sink_mol_m2_s``: the exchange flux LiCoO2 →
      Li3PO4 and the flux reduced at Li (after the step);
    * ``H_exchanged_mol_m2``, ``H_consumed_mol_m2``: their time integrals over the
      accepted steps — *not* inventory differences: a backward-Euler step (the first one,
      and the first after every program breakpoint) adds dt × the end-of-step flux, which
      is that scheme's own balance; a BDF2 step adds the trapezoid of the step's two
      end fluxes (second order);
    * ``balance_error_mol_m2``: (initial − current total inventory) − H_consumed: the
      conservation check (0 up to the time-discretisation error of the rule);
    * ``mass_balance_rel``: the discrete proton balance of the last step (0 on the
      initial row);
    * ``xH_min``, ``xH_max``: extreme site fractions.  A run stops (status failed) when a
      fraction leaves its range — [0, 1], and [0, n_t] for trapped protons — by more
      than the run's own time-error tolerance (``settings.fraction_tolerance`` +
      ``fraction_relative_tolerance`` × bound): within it, an over- or undershoot is
      a time-integration error of the size the run was asked to accept (BDF2 is not
      bound-preserving where a trap fills or a steep front passes); fractions are never
      clipped.
    """

    def __init__(self, model: ChemistryModel, settings: SolverSettings):
        self.model = model
        self.tolerance = settings.fraction_tolerance
        self.relative_tolerance = settings.fraction_relative_tolerance
        self.area = model.resistance.width  # 1 in 1-D; interface length (m) in 2-D
        self.initial_total: float | None = None
        self._consumed = self._exchanged = 0.0
        self._last_fluxes: tuple[float, float] | None = None

    @property
    def columns(self) -> list[str]:
        return CHEMISTRY_COLUMNS + (PAD_COLUMNS if self.model.pad_resistance else [])

    def resume(self, row: dict) -> None:
        """Continue the time integrals of a checkpointed row (a restart)."""
        self._consumed = float(row.get("H_consumed_mol_m2", 0.0))
        self._exchanged = float(row.get("H_exchanged_mol_m2", 0.0))
        self._last_fluxes = (float(row.get("H_flux_interface_mol_m2_s", 0.0)),
                             float(row.get("H_flux_sink_mol_m2_s", 0.0)))
        if "H_initial_total_mol_m2" in row:
            self.initial_total = float(row["H_initial_total_mol_m2"])

    def __call__(self, after_step: bool = True, dt: float = 0.0,
                 order: int = 2) -> dict[str, float]:
        m = self.model
        tr = m.transport
        h_lco = tr.inventory("LiCoO2") / self.area
        h_lpo = tr.inventory("Li3PO4") / self.area
        total = h_lco + h_lpo
        if self.initial_total is None:
            self.initial_total = total
        bounds = tr.check_fractions(tol=self.tolerance, raise_error=True,
                                    relative=self.relative_tolerance)["bounds"]
        interface = tr.interface_flux()
        j_ex = interface / self.area
        # the sink's reaction flux needs a step: an initial state has no protons at the
        # sink, a restart keeps the flux of its checkpointed row (resume)
        if after_step:
            sink = tr.sink_flux()
            j_sink = sink / self.area
        else:
            j_sink = self._last_fluxes[1] if self._last_fluxes is not None else 0.0
        if after_step and dt > 0:
            if order == 1 or self._last_fluxes is None:
                self._exchanged += dt * j_ex
                self._consumed += dt * j_sink
            else:
                self._exchanged += 0.5 * dt * (self._last_fluxes[0] + j_ex)
                self._consumed += 0.5 * dt * (self._last_fluxes[1] + j_sink)
        self._last_fluxes = (j_ex, j_sink)
        row = {
            "R_interface_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.at_reference()),
            "R_interface_T_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.total(None)),
            "H_LiCoO2_mol_m2": h_lco,
            "H_trapped_mol_m2": tr.trapped_inventory("LiCoO2") / self.area,
            "H_Li3PO4_mol_m2": h_lpo,
            "H_consumed_mol_m2": self._consumed,
            "H_exchanged_mol_m2": self._exchanged,
            "H_flux_interface_mol_m2_s": j_ex,
            "H_flux_sink_mol_m2_s": j_sink,
            "balance_error_mol_m2": (self.initial_total - total) - self._consumed,
            "mass_balance_rel": (tr.mass_balance_residual(sink=sink, interface=interface)
                                 if after_step else 0.0),
            "xH_min": min(b[0] for b in bounds.values()),
            "xH_max": max(b[1] for b in bounds.values()),
        }
        if m.pad_resistance is not None:
            row["R_interface_pad_ohm_cm2"] = ohm_m2_to_ohm_cm2(m.pad_resistance.at_reference())
        return row


def summary_values(rows: dict[str, np.ndarray]) -> dict[str, float]:
    """Initial and final values of the chemistry columns, and the headline numbers."""
    out: dict[str, float] = {}
    for c in CHEMISTRY_COLUMNS + PAD_COLUMNS:
        if c in rows and len(rows[c]):
            out[f"{c}_initial"] = float(rows[c][0])
            out[f"{c}_final"] = float(rows[c][-1])
    for c in ("R_interface_ohm_cm2", "R_interface_pad_ohm_cm2", "H_LiCoO2_mol_m2",
              "H_trapped_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2"):
        if c in rows and len(rows[c]):
            out[c] = float(rows[c][-1])
    lco = rows.get("H_LiCoO2_mol_m2")
    if lco is not None and len(lco) and lco[0] > 0:
        out["H_LiCoO2_removed_fraction"] = float(1.0 - lco[-1] / lco[0])
    if "mass_balance_rel" in rows and len(rows["mass_balance_rel"]):
        out["mass_balance_rel_max"] = float(np.abs(rows["mass_balance_rel"]).max())
    if "balance_error_mol_m2" in rows and len(rows["balance_error_mol_m2"]):
        out["balance_error_mol_m2_max"] = float(np.abs(rows["balance_error_mol_m2"]).max())
    return out


def proton_inventories(film: Domain, x_lco, x_lpo, chem: Chemistry) -> dict[str, float]:
    """Proton inventories per unit film area (mol/m²): LiCoO2 (incl. degraded; x_lco the
    total fraction, mobile + trapped), Li3PO4."""
    width = 1.0 if film.dim == 1 else film.integrate(constant(film.mesh, 1.0),
                                                     film.ds("substrate|LiCoO2"))
    c_lco = chem.phase("LiCoO2").site_density
    c_lpo = chem.phase("Li3PO4").site_density
    h_lco = film.integrate(c_lco * x_lco, film.dx("LiCoO2", "degraded")) / width
    h_lpo = film.integrate(c_lpo * x_lpo, film.dx("Li3PO4")) / width
    return {"H_LiCoO2_mol_m2": float(h_lco), "H_Li3PO4_mol_m2": float(h_lpo)}


__all__ = ["CHEMISTRY_COLUMNS", "ChemistryDiagnostics", "ChemistryModel", "FILM_TRANSPORT_LAYERS",
           "PAD_COLUMNS", "build_chemistry", "build_transport_problem",
           "expose_block", "film_regions", "phases", "proton_inventories", "sink_boundary",
           "summary_values", "transport_block", "transport_fields"]
