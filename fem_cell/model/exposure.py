"""The exposure, simulated: transport in the bare LiCoO2 under water vapour.

Before Li3PO4 is deposited the LiCoO2 surface meets the exposure gas for a given time at
a given temperature.  :class:`ExposureSimulation` runs the cell's own proton transport
(:class:`~fem_cell.physics.transport.TransportPhysics`, LiCoO2 phase only, with its traps)
on the film mesh at the exposure temperature, with the mobile fraction held at
x_s = S(T) a_w on the LiCoO2 top surface (:mod:`fem_cell.physics.exposure`): the same
laws that then act in the hold and the anneal.  The Li3PO4 region of the film mesh is
inactive (its DOFs pinned); the result is copied DOF by DOF into the anneal's transport
block on the same mesh.  Dry gases (a_w = 0) and a zero duration leave no protons and
need no solve.

**2-D: through the film's 1-D column.**  The exposure's data do not vary laterally (a
uniform surface condition on the full-width LiCoO2 top, no-flux sides), so on the
built-in 2-D cross-section (the films a tensor product of lateral positions and
heights) its discrete solution is laterally uniform and equal to the exposure on the
1-D mesh of the film's heights (:func:`fem_cell.meshing.column.film_column`).
:func:`exposure_simulation` then runs it there, with the direct solver, on every rank
(``MPI.COMM_SELF``: a few hundred unknowns) and copies it into the 2-D block by
height.  Measured on the coarse 2-D mesh: the same 28 steps, fields equal to 1.2e-12
(below the Newton tolerance 1e-9), every history column to 7.5e-12 relative, 0.16 s
instead of 1.12 s (tests/verification/test_exposure_column.py).  A film that is not such a tensor
product (a user's unstructured mesh) is exposed in 2-D as before.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig, SolverSettings
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.domain import Domain
from fem_cell.errors import InputError
from fem_cell.meshing.column import column_index, film_column
from fem_cell.model.pool import KeptPool
from fem_cell.model.transport import build_transport_problem, interface_resistance, phases
from fem_cell.physics.degraded import ohm_m2_to_ohm_cm2
from fem_cell.physics.exposure import surface_fraction, water_activity, water_dose
from fem_cell.physics.parameters import Exposure
from fem_cell.physics.transport import TransportPhysics, phase_structure
from fem_cell.solvers.problem import TransientProblem
from fem_cell.solvers.time_stepping import StepInfo, StepperStats, TimeStepper

#: an exposure whose total proton fraction at the bottom of the exposed film exceeds this
#: share of its largest value is refused (the film is protonated through)
EXPOSURE_DEPTH_LIMIT = 1e-2


class ExposureValidityError(InputError):
    """An exposure the model cannot describe (protons through the whole film)."""


#: history columns of an exposure (per unit film area)
EXPOSURE_COLUMNS = ["t_s", "R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_trapped_mol_m2",
                    "H_surface_flux_mol_m2_s", "loaded_depth_nm", "mass_balance_rel", "xH_max"]


def lower_phase_top(config: RunConfig, film: Domain) -> str:
    """The facet group on top of the exposed phase (``"degraded|Li3PO4"`` in the built-in
    cell): the bare LiCoO2 surface during the exposure."""
    chem = config.chemistry
    lower = chem.phase_names[0]
    layers = config.geometry.layers
    idx = [i for i, lay in enumerate(layers) if lay.material == lower]
    if not idx or idx[-1] + 1 >= len(layers):
        raise ValueError(f"phase {lower!r} has no layer above it: nothing was deposited on "
                         "the exposed surface")
    name = f"{layers[idx[-1]].name}|{layers[idx[-1] + 1].name}"
    if name not in film.facet_names:
        raise ValueError(f"exposed surface {name!r} not in the film mesh "
                         f"({sorted(film.facet_names)})")
    return name


@dataclass
class ExposureResult:
    """What an exposure left: the surface condition, the history and the stepping."""

    exposure: Exposure
    surface_fraction: float
    water_activity: float
    rows: dict[str, list[float]] = field(default_factory=lambda: {c: [] for c in
                                                                  EXPOSURE_COLUMNS})
    stats: StepperStats | None = None
    #: the exposure's linear-solver counts (TransientProblem.solver_counts)
    solver: dict | None = None
    #: nodes of the 1-D column the exposure ran on (:func:`exposure_simulation`), or
    #: None when it ran on the film mesh itself
    column_nodes: int | None = None

    def summary(self) -> dict:
        """Gas, conditions and what the exposure loaded (JSON-ready, user units)."""
        ex = self.exposure
        last = {k: (v[-1] if v else 0.0) for k, v in self.rows.items()}
        return {"gas": ex.gas, "duration_min": ex.duration / 60.0,
                "temperature_C": ex.temperature - ZERO_CELSIUS,
                "relative_humidity_percent": 100.0 * ex.relative_humidity,
                "water_partial_pressure_Pa": ex.water_partial_pressure(),
                "water_activity": self.water_activity,
                "water_dose_Pa_s": water_dose(ex),
                "surface_mobile_fraction": self.surface_fraction,
                "H_LiCoO2_mol_m2": last["H_LiCoO2_mol_m2"],
                "H_trapped_mol_m2": last["H_trapped_mol_m2"],
                "loaded_depth_nm": last["loaded_depth_nm"],
                "steps": self.stats.accepted if self.stats is not None else 0,
                # 2-D: simulated on the film's 1-D column of this many nodes (None: on
                # the film mesh itself)
                "column_nodes": self.column_nodes}


class ExposureSimulation:
    """The exposure's transport problem on a film mesh (collective).

    Args:
        config: configuration with chemistry.
        film: the film mesh (the anneal's, so that fields copy DOF by DOF).
        exposure: the exposure (gas, duration, temperature, humidity).
        prefix: PETSc options prefix.
    """

    def __init__(self, config: RunConfig, film: Domain, exposure: Exposure, *,
                 prefix: str = "fem_cell_exposure_"):
        self.film = film
        self.T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)), name="T_film_K")
        self._take_values(config, exposure)
        self.block = TransportPhysics(film, self.T, [self.phase],
                                      surface=(lower_phase_top(config, film), self.x_s))
        self.problem: TransientProblem | None = None
        if self.active:
            self.problem = build_transport_problem(self.block, config.solver, prefix=prefix)
        self.resistance = interface_resistance(config, film, self.block, 298.15)

    def _take_values(self, config: RunConfig, exposure: Exposure) -> None:
        """The configuration's and the exposure's values: the Python-side ones, a new
        result, the exposure temperature into T."""
        chem = config.chemistry
        self.config, self.exposure = config, exposure
        self.x_s = surface_fraction(chem.exposure_model, exposure)
        self.result = ExposureResult(exposure, self.x_s, water_activity(exposure))
        self.T.x.array[:] = exposure.temperature
        self.phase = phases(config, chem, self.film)[0]
        trap = self.phase.properties.trapping
        self._capacity = self.phase.properties.site_density * (trap.density if trap
                                                               else self.x_s)

    def renew(self, config: RunConfig, exposure: Exposure) -> None:
        """Make this simulation the one :class:`ExposureSimulation` would build for
        ``config`` and ``exposure``, keeping its compiled forms and solver: for a
        configuration of the same structure (:func:`structure_key`), whose parameter
        values may all differ.  The phase's parameters and x_s go into the block's
        constants and nodal coefficients (:meth:`TransportPhysics.set_phases`), the
        problem is reset to a new one's state, and R_interface's diagnostic is rebuilt
        (its law's parameters are UFL literals; cheap).  A run then takes the steps, and
        writes the history, of a new simulation bit for bit
        (``tests/unit/test_kept_exposure.py`` perturbs every declared parameter)."""
        self._take_values(config, exposure)
        self.block.set_phases([self.phase])
        self.block.set_surface_fraction(self.x_s)
        if self.problem is not None:
            # a new simulation's fields are zero when its problem is built (the problem's
            # compact Jacobian pattern is found at the current values)
            self.block.set_zero()
            self.problem.reset()
        self.resistance = interface_resistance(config, self.film, self.block, 298.15)

    def release(self, *, failed: bool = False) -> None:
        """The caller is done with this run: destroy the solvers, unless the simulation is
        kept for a later case (:func:`exposure_simulation`) and the run did not fail (a
        failed or interrupted run may leave its solver mid-solve: it is dropped from
        the pool and destroyed)."""
        if self.kept and not failed:
            return
        self.destroy()

    @property
    def kept(self) -> bool:
        """Whether the simulation is kept for later cases (:func:`exposure_simulation`,
        :meth:`release`)."""
        return _KEPT.holds(self)

    @property
    def active(self) -> bool:
        """Whether anything enters (water present for a non-zero time)."""
        return self.x_s > 0.0 and self.exposure.duration > 0.0

    def destroy(self) -> None:
        """Destroy the solver (a kept simulation also leaves the pool: a caller that
        destroys what :func:`exposure_simulation` gave it leaves no destroyed solver
        for a later case)."""
        _KEPT.drop(self)
        if self.problem is not None:
            self.problem.destroy()

    # -- diagnostics ------------------------------------------------------------------------
    def record(self, t: float, dt: float = 0.0) -> dict[str, float]:
        """Append (and return) the history row at time t after a step of dt (collective)."""
        b = self.block
        width = self.resistance.width
        h = b.inventory() / width
        ht = b.trapped_inventory() / width
        surface = b.surface_flux() if dt > 0 else 0.0
        flux = surface / width
        bounds = b.fraction_bounds()
        row = {"t_s": t, "R_interface_ohm_cm2": ohm_m2_to_ohm_cm2(self.resistance.at_reference()),
               "H_LiCoO2_mol_m2": h, "H_trapped_mol_m2": ht, "H_surface_flux_mol_m2_s": flux,
               "loaded_depth_nm": 1e9 * h / self._capacity if self._capacity > 0 else 0.0,
               "mass_balance_rel": (b.mass_balance_residual(surface=surface)
                                    if dt > 0 else 0.0),
               "xH_max": max(v[1] for v in bounds.values())}
        for k, v in row.items():
            self.result.rows[k].append(float(v))
        return row

    # -- the run ----------------------------------------------------------------------------
    def run(self, settings: SolverSettings | None = None, *,
            on_step: Callable[[StepInfo, dict], None] | None = None,
            poll: Callable[[float], None] | None = None) -> ExposureResult:
        """Integrate the exposure from 0 to its duration (collective).

        Args:
            settings: time-stepping settings (default the configuration's).
            on_step: called after each accepted step with the step and its history row.
            poll: called before every step attempt (may raise to stop, e.g. Ctrl-C).
        """
        s = settings if settings is not None else self.config.solver
        self.block.set_zero()
        self.record(0.0)
        if not self.active:
            return self.result
        duration = self.exposure.duration
        dt_max = min(s.dt_max, duration / 10.0)
        dt0 = min(s.dt_initial, dt_max)
        stepper = TimeStepper(self.problem, t_end=duration, scheme=s.scheme, dt_initial=dt0,
                              dt_max=dt_max, dt_min=min(s.dt_min, dt0), adaptive=s.adaptive)

        def step(info: StepInfo) -> None:
            row = self.record(info.t, info.dt)
            # the anneal's rule (ChemistryDiagnostics): out of range by more than the
            # time-error tolerance stops the run
            self.block.check_fractions(tol=s.fraction_tolerance,
                                       relative=s.fraction_relative_tolerance)
            if on_step is not None:
                on_step(info, row)

        self.result.stats = stepper.run(on_step=step, poll=poll)
        self.result.solver = self.problem.solver_counts()
        if self.result.column_nodes is not None:
            self.result.solver["column_nodes"] = self.result.column_nodes
        self._check_depth()
        return self.result

    def _check_depth(self) -> None:
        """Refuse an exposure whose protons reach the bottom of the exposed film (the
        model has no substrate chemistry; the film would be saturated through)."""
        b, d = self.block, self.film
        bottom = [n for n in d.facet_names if n.endswith(f"|{self.phase.regions[0]}")]
        if not bottom:
            return
        dofs = fem.locate_dofs_topological(b.V, d.dim - 1, d.facets(*bottom))
        x = b.x[self.phase.name].x.array
        if self.phase.name in b.trapped:
            x = x + b.trapped[self.phase.name].x.array
        n = b.V.dofmap.index_map.size_local
        local = float(x[dofs[dofs < n]].max()) if np.any(dofs < n) else 0.0
        at_bottom = d.comm.allreduce(local, op=MPI.MAX)
        top = max(v[1] for k, v in b.fraction_bounds().items() if not k.endswith("trapped"))
        if top > 0 and at_bottom > EXPOSURE_DEPTH_LIMIT * top:
            ex = self.exposure
            raise ExposureValidityError(
                f"the exposure ({ex.gas}, {ex.duration / 60:.4g} min at "
                f"{ex.temperature - ZERO_CELSIUS:.4g} °C) carries protons deeper than the "
                f"exposed LiCoO2 film: {at_bottom:.3g} at its bottom vs {top:.3g} at its top "
                f"(limit {EXPOSURE_DEPTH_LIMIT:g} of it); outside the model's validity "
                "(a shorter, drier or cooler exposure, or a thicker film)")

    def copy_into(self, block: TransportPhysics, index: np.ndarray | None = None) -> None:
        """Set ``block``'s fields to the exposed state (:func:`set_exposed_state`): DOF
        by DOF (same film mesh), or through ``index`` (block DOF → this simulation's DOF,
        e.g. :func:`exposure_simulation`'s column)."""
        name = self.phase.name
        trapped = self.block.trapped.get(name)
        x = self.block.x[name].x.array
        xt = None if trapped is None else trapped.x.array
        if index is not None:
            x = x[index]
            xt = None if xt is None else xt[index]
        set_exposed_state(block, name, x, xt)


def set_exposed_state(block: TransportPhysics, phase: str, x: np.ndarray,
                      xt: np.ndarray | None) -> None:
    """An exposed state on ``block``: the exposed ``phase``'s mobile (``x``) and trapped
    (``xt``) fractions as DOF arrays of the same film mesh, 0 in the other phases, Φ = 0."""
    block.set_zero()
    _copy(x, block.x[phase])
    if xt is not None and phase in block.trapped:
        _copy(xt, block.trapped[phase])


def _copy(src: np.ndarray, dst: fem.Function) -> None:
    if src.shape != dst.x.array.shape:
        raise ValueError("the exposure and the anneal do not share the film mesh")
    dst.x.array[:] = src
    dst.x.scatter_forward()


def exposure_simulation(config: RunConfig, film: Domain, exposure: Exposure, block: TransportPhysics
                        ) -> tuple[ExposureSimulation, np.ndarray | None]:
    """The exposure simulation for ``block`` (a transport block on ``film``), and the
    index to copy its result with (:meth:`ExposureSimulation.copy_into`).

    On a 2-D tensor-product film (:func:`~fem_cell.meshing.column.film_column`) the
    simulation runs on the film's 1-D column, on every rank, with the direct solver (see
    the module docstring), and the index maps each of ``block``'s DOFs (owned and
    ghost) to the column DOF at its height; otherwise it runs on ``film`` and the index
    is None (collective).  In a serial 1-D run the simulation is kept for later cases
    and renewed for each (:func:`structure_key`, :meth:`ExposureSimulation.renew`: a
    1-D calibration case no longer builds its exposure's problem); it then runs on the
    film of the case that built it, equal to ``film`` node for node.  Either way, hand
    it back with :meth:`ExposureSimulation.release` (``destroy`` also works, and takes
    a kept simulation out of the pool).
    """
    column = film_column(film) if film.dim == 2 else None
    if column is not None:
        direct = dataclasses.replace(config.solver, linear_solver="direct")
        sim = ExposureSimulation(dataclasses.replace(config, solver=direct), column, exposure,
                                 prefix="fem_cell_exposure_column_")
        heights = block.V.tabulate_dof_coordinates()[:, film.dim - 1]
        span = film.comm.allreduce(float(np.ptp(heights)) if len(heights) else 0.0,
                                   op=MPI.MAX)
        index = column_index(heights, sim.block.V.tabulate_dof_coordinates()[:, 0], span)
        ok = film.comm.allreduce(index is not None, op=MPI.LAND)
        if ok:
            sim.result.column_nodes = int(sim.block.V.dofmap.index_map.size_global)
            return sim, index
        sim.destroy()
    return _kept_or_new(config, film, exposure), None


#: how many simulations a process keeps (a study alternating two structures keeps both)
KEPT_SIMULATIONS = 2
#: exposure simulations kept for later cases, by :func:`structure_key` (in use while kept)
_KEPT: KeptPool[ExposureSimulation] = KeptPool(KEPT_SIMULATIONS)


def structure_key(config: RunConfig, film: Domain, exposure: Exposure) -> str | None:
    """What an exposure simulation's forms and solver depend on, apart from parameter
    values (the :class:`ExposureSimulation` of one key serves every configuration of
    that key through :meth:`~ExposureSimulation.renew`), or None where none is kept.

    The key: the film mesh (its geometry, cells, cell and facet tags and names, length
    scale: equal keys mean equal meshes, so that a kept simulation's fields copy DOF
    by DOF into the case's block), the exposed phase's name, regions and whether it
    has traps, the exposed surface, whether anything enters (x_s > 0 for a non-zero
    time: else there is no problem), and every solver setting.  Parameter values enter
    its forms as constants and nodal coefficients only
    (:meth:`~fem_cell.physics.transport.TransportPhysics.set_phases`), so a value
    crossing zero does not change them.  Kept only on one rank and in 1-D (2-D
    exposures run on the film's 1-D column, rebuilt with each mesh).
    """
    if film.comm.size != 1 or film.dim != 1:
        return None
    chem = config.chemistry
    lower = phases(config, chem, film)[0]
    active = surface_fraction(chem.exposure_model, exposure) > 0.0 and exposure.duration > 0.0
    msh = film.mesh
    h = hashlib.sha256()
    for a in (msh.geometry.x, msh.geometry.dofmaps[0], film.cell_tags.indices,
              film.cell_tags.values, film.facet_tags.indices, film.facet_tags.values):
        h.update(np.ascontiguousarray(a).tobytes())
    h.update(repr((sorted(film.cell_names.items()), sorted(film.facet_names.items()),
                   film.length_scale, phase_structure([lower]), lower_phase_top(config, film),
                   active, config.solver)).encode())
    return h.hexdigest()


def _kept_or_new(config: RunConfig, film: Domain, exposure: Exposure) -> ExposureSimulation:
    """The kept simulation of this structure renewed for ``config``, or a new one (kept
    when it has a key)."""
    key = structure_key(config, film, exposure)
    if key is None:
        return ExposureSimulation(config, film, exposure)
    sim = _KEPT.get(key)
    if sim is not None:
        sim.renew(config, exposure)
        return sim
    sim = ExposureSimulation(config, film, exposure)
    _KEPT.put(key, sim)
    return sim


def clear_kept_simulations() -> None:
    """Destroy every exposure simulation kept in this process."""
    _KEPT.clear()


def run_exposure(config: RunConfig, film: Domain, exposure: Exposure, **kw) -> tuple[
        ExposureSimulation, ExposureResult]:
    """Build and run an exposure on ``film``; the caller destroys the simulation."""
    sim = ExposureSimulation(config, film, exposure)
    try:
        res = sim.run(**kw)
    except BaseException:
        sim.destroy()
        raise
    return sim, res


__all__ = ["EXPOSURE_COLUMNS", "EXPOSURE_DEPTH_LIMIT", "KEPT_SIMULATIONS", "ExposureResult",
           "ExposureSimulation", "ExposureValidityError", "clear_kept_simulations",
           "exposure_simulation", "lower_phase_top", "run_exposure", "set_exposed_state",
           "structure_key"]
