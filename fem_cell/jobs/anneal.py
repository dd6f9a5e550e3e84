"""The anneal job: heat diffusion through the stack over the anneal program.

:func:`run_anneal` runs a cell model (built by :mod:`fem_cell.model`) through the
program; :func:`anneal_job` wraps it in a run folder (:mod:`fem_cell.outputs.rundir`)
and is what ``fem-cell anneal`` calls.

Outputs in the run folder:

* ``run.json``: status (running → completed / failed / interrupted), reason, resolved
  configuration, versions, MPI size, timings, the list of files written;
* ``history.csv``: one row per accepted step, appended and flushed as the run goes
  (``time_s, T_plate_C, T_min_C, T_mean_C, T_max_C`` over the films, ``T_top_C``,
  ``T_Li_max_C``, step size, Newton iterations);
* ``summary.json``: headline numbers (peak temperatures, signed film − plate
  difference, steps, wall time) and the status;
* ``fields/temperature.pvd`` (+ ``.vtu`` pieces): T in K (``T_K``) and °C (``T_C``)
  and the layer id (cell data ``layer``) at every output time;
* ``history.png``, and ``temperature_2d.png`` for 2-D runs.

Guards: if any Li-metal point exceeds the Li melting point during the run, the run
stops with status ``failed`` (:class:`~fem_cell.errors.RunAborted`).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.domain import Domain
from fem_cell.errors import FemCellError, RunAborted
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.jobs.progress import ProgressLine
from fem_cell.model import (FilmDiagnostics, HeatModel, build_domain, build_heat_problem,
                            film_layers, li_metal_layers)
from fem_cell.outputs.fields import FieldSeriesWriter
from fem_cell.outputs.film_fields import FilmFields, ProfileRecorder
from fem_cell.outputs.history import History
from fem_cell.outputs.rundir import RunFolder
from fem_cell.solvers.checkpoint import load_checkpoint, save_checkpoint
from fem_cell.solvers.time_stepping import StepperState, StepperStats, TimeStepper

HISTORY_COLUMNS = ["time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C",
                   "T_top_C", "T_Li_max_C", "dt_s", "newton_iterations"]
#: files an anneal run may write (checked against a user's files before it starts)
PLANNED_FILES = ("run.json", "summary.json", "history.csv", "history.png",
                 "temperature_2d.png", "fields/temperature*", "fields/films*",
                 "checkpoints/t*.h5", "R_interface.png", "proton_profiles.png",
                 "proton_profiles.csv", "protons_2d.png", "solver_log.txt")


@dataclass
class AnnealResult:
    """What :func:`run_anneal` returns (on every rank)."""

    history: History
    model: HeatModel
    stats: StepperStats
    out_dir: Path | None
    output_times: list[float] = field(default_factory=list)
    wall_time: float = 0.0
    chemistry: object = None
    profiles: object = None

    def film_minus_plate_mK(self) -> tuple[float, float]:
        """(min, max) over the run of film mean − plate (mK), signed."""
        d = (self.history.column("T_mean_C") - self.history.column("T_plate_C")) * 1e3
        return float(d.min()), float(d.max())


def output_times(config: RunConfig) -> list[float]:
    """Field output times (s): every ``field_interval``, every breakpoint, the end."""
    prog = config.anneal
    times = set(prog.breakpoints())
    dt = config.output.field_interval
    if dt > 0:
        times.update(np.arange(0.0, prog.duration, dt).tolist())
    times.add(prog.duration)
    return sorted(times)


class MeltingGuard:
    """Stops the run if any Li-metal point exceeds the melting point (K)."""

    def __init__(self, melting_point: float | None, layers: tuple[str, ...]):
        self.melting_point = melting_point
        self.layers = layers

    def __call__(self, t: float, T_metal_max: float) -> None:
        tm = self.melting_point
        if tm is None or not self.layers or not np.isfinite(T_metal_max):
            return
        if T_metal_max > tm:
            raise RunAborted(
                f"Li melted: the Li layer ({', '.join(self.layers)}) reached "
                f"{T_metal_max - ZERO_CELSIUS:.2f} °C at t = {t / 60:.2f} min, above its melting "
                f"point {tm - ZERO_CELSIUS:.1f} °C; the run was stopped")


def checkpoint_name(t: float) -> str:
    """Checkpoint file (relative to the run folder) of the state at time t (s)."""
    return f"checkpoints/t{t:013.3f}s.h5"


def run_anneal(config: RunConfig, comm: MPI.Comm, *, folder: RunFolder | None = None,
               progress: bool = True, domain: Domain | None = None,
               guard=NO_GUARD, restart: str | Path | None = None,
               checkpoint_meta: dict | None = None, chemistry: bool = True,
               exposure=None) -> AnnealResult:
    """Run the anneal program: heat through the stack and, with ``chemistry``, the
    exposure's protons leaving LiCoO2 (coupled Li⁺/H⁺ transport on the films).

    Args:
        config: validated run configuration.
        comm: communicator (the mesh is distributed over it); ignored if ``domain``
            is given (its communicator is used).
        folder: an opened run folder to write into; None = no files.
        progress: print a rank-0 progress line.
        domain: use this mesh instead of building one from the config.
        guard: an :class:`~fem_cell.jobs.interrupts.InterruptGuard` polled between
            steps (collectively); the default never interrupts.
        restart: a checkpoint file to continue from (its time, solution history and
            step sizes): the continued run reproduces the uninterrupted one.
        checkpoint_meta: extra metadata stored in every checkpoint written (the job
            records how to rebuild the configuration).
        chemistry: solve the proton transport too (False: heat only).
        exposure: an Exposure overriding the configuration's (chemistry only).

    Returns:
        The history, the model (final state) and stepper statistics.

    Raises:
        ConvergenceError: the step could not be cut back further.
        RunAborted: a guard stopped the run (Li melting).
        FractionOutOfRangeError: a proton fraction left [0, 1] beyond 1e-6.
        Interrupted: a signal stopped the run (``guard``).
    """
    wall0 = time.perf_counter()
    domain = domain or build_domain(config, comm)
    comm = domain.comm
    guard.check(comm)  # a Ctrl-C during set-up stops here (see fem_cell.jobs.interrupts)
    if chemistry:
        from fem_cell.diagnostics import CHEMISTRY_COLUMNS, ChemistryDiagnostics
        from fem_cell.model import build_chemistry_model

        chem = build_chemistry_model(config, domain, exposure=exposure)
        model, problem = chem.heat, chem.problem
        chem_diag = ChemistryDiagnostics(chem)
        columns = HISTORY_COLUMNS + CHEMISTRY_COLUMNS
    else:
        chem = None
        model = build_heat_problem(config, domain)
        problem = model.problem
        columns = list(HISTORY_COLUMNS)
    prog = config.anneal
    metal = tuple(n for n in li_metal_layers(config) if n in domain.cell_names)
    diag = FilmDiagnostics(domain, model.T, film_layers(config), metal)
    melt = MeltingGuard(getattr(config, "li_melting_point", None) or _melting_point(config, metal),
                        metal)
    guard.check(comm)
    history = History(columns)
    spaces = {f.name: f.space for f in problem.fields}
    resume: StepperState | None = None
    if restart is not None:
        resume, resume_meta = load_checkpoint(restart, comm, spaces)
        problem.set_state(resume.states[0])
    t_start = resume.t if resume is not None else 0.0
    if chem is not None and resume is not None:
        chem_diag.initial_total = resume_meta.get("H_initial_total_mol_m2")
    writer = None
    film_writer = None
    T_C = None
    profiles = ProfileRecorder(chem) if chem is not None and domain.dim == 1 else None
    if folder is not None:
        history.stream_to(folder.file("history.csv"), comm)
        if config.output.fields:
            T_C = fem.Function(model.T.function_space, name="T_C")
            writer = FieldSeriesWriter(comm, folder.file("fields/temperature.pvd"),
                                       [model.T, T_C, domain.layer_id_function()])
            if chem is not None:
                film_writer = FilmFields(chem, folder.file("fields/films.pvd"))
    out_times = [t for t in output_times(config) if t >= t_start - 1e-9]
    out_set = {round(t, 9) for t in out_times}
    holder: dict = {}

    def record(t: float, dt: float, its: int, after_step: bool = True,
               stored: dict | None = None) -> None:
        d = diag()
        row = dict(time_s=t, T_plate_C=prog.temperature(t) - ZERO_CELSIUS,
                   T_min_C=d["T_min"] - ZERO_CELSIUS, T_mean_C=d["T_mean"] - ZERO_CELSIUS,
                   T_max_C=d["T_max"] - ZERO_CELSIUS, T_top_C=d["T_top"] - ZERO_CELSIUS,
                   T_Li_max_C=(d["T_metal_max"] - ZERO_CELSIUS
                               if np.isfinite(d["T_metal_max"]) else np.nan),
                   dt_s=dt, newton_iterations=its)
        if chem is not None:
            row.update(chem_diag(after_step=after_step))
        if stored:  # a restart repeats the checkpointed row exactly
            row.update({k: v for k, v in stored.items() if k in row})
        history.append(**row)
        at_output = round(t, 9) in out_set
        if at_output:
            if writer is not None:
                T_C.x.array[:] = model.T.x.array - ZERO_CELSIUS
                writer.write(t)
            if film_writer is not None:
                film_writer.write(t)
            if profiles is not None:
                profiles.record(t)
        if folder is not None and at_output and getattr(config.output, "checkpoints", True):
            st = holder["stepper"].state
            if st is None:  # the initial state
                st = StepperState(t, 0, holder["stepper"].dt_initial, [], [problem.get_state()])
            meta = {"job": "anneal", "last_dt": dt, "newton_iterations": its,
                    **(checkpoint_meta or {})}
            meta["history_row"] = {k: float(v) for k, v in row.items()}
            if chem is not None:
                meta["H_initial_total_mol_m2"] = chem_diag.initial_total
                meta["R_interface_ohm_cm2"] = row["R_interface_ohm_cm2"]
            save_checkpoint(folder.file(checkpoint_name(t)), comm, spaces, st, meta)
        melt(t, d["T_metal_max"])

    log_path = folder.path / "solver_log.txt" if folder is not None else None

    def log_rejection(rej) -> None:
        """Newton failures are logged with their reason (rank 0: solver_log.txt, and the
        console when progress is shown); time-error rejections only to the file."""
        if comm.rank != 0:
            return
        line = f"[{'anneal'}] {rej}"
        if log_path is not None:
            folder.add_file("solver_log.txt")  # recorded once something is written
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        if progress and rej.kind == "newton":
            print(line, flush=True)

    s = config.solver
    stepper = TimeStepper(problem, t_end=prog.duration, scheme=s.scheme,
                          dt_initial=s.dt_initial, dt_max=s.dt_max, dt_min=s.dt_min,
                          milestones=out_times, restarts=prog.breakpoints(), adaptive=s.adaptive,
                          t0=t_start)
    holder["stepper"] = stepper
    if resume is not None:
        stepper.resume_from(resume)
        stepper.state = resume
    bar = ProgressLine(comm, prog.duration, t0=t_start) if progress else None
    try:
        if resume is None:
            record(0.0, 0.0, 0, after_step=False)
        else:  # the restart's first row repeats the checkpointed one
            record(t_start, float(resume_meta.get("last_dt", 0.0)),
                   int(resume_meta.get("newton_iterations", 0)), after_step=False,
                   stored=resume_meta.get("history_row"))
        with guard.deferred():
            stats = stepper.run(on_step=lambda i: record(i.t, i.dt, i.newton_iterations),
                                progress=bar, poll=lambda t: guard.check(comm, t),
                                on_reject=log_rejection)
        if stats.accepted == 0 and t_start < prog.duration:
            raise RunAborted(f"the program ({prog.duration:.3g} s) is shorter than one time "
                             f"step; nothing was computed")
    except Interrupted as e:
        if e.t is None and history.rows:
            e.t = history.rows[-1][0]
        raise
    finally:
        history.close()
        if writer is not None:
            writer.close()
        if film_writer is not None:
            film_writer.close()
        # Solvers are destroyed here, on every rank in the same order (the fields stay
        # usable).  Errors raised in the loop are collective (FemCellError, Interrupted);
        # after any other error the ranks may be out of step, and a collective destroy
        # could wait forever: the CLI aborts the job then.
        exc = sys.exc_info()[1]
        if exc is None or isinstance(exc, (FemCellError, Interrupted)):
            problem.destroy()
    result = AnnealResult(history, model, stats, folder.path if folder else None, out_times,
                          time.perf_counter() - wall0, chemistry=chem, profiles=profiles)
    if folder is not None:
        write_run_outputs(result, config, folder)
    result.wall_time = time.perf_counter() - wall0
    return result


def _melting_point(config: RunConfig, metal: tuple[str, ...]) -> float | None:
    for name in metal:
        tm = config.material_of(name).get("melting_point")
        if tm is not None:
            return tm
    return None


def summary_of(result: AnnealResult) -> dict:
    """Headline numbers of an anneal run (JSON-ready): temperatures, and with chemistry
    the interface resistance and proton inventories (initial and final values)."""
    h = result.history
    lo, hi = result.film_minus_plate_mK()
    st = result.stats
    li = h.column("T_Li_max_C")
    out = {
        "T_plate_max_C": float(h.column("T_plate_C").max()),
        "T_film_max_C": float(h.column("T_max_C").max()),
        "T_Li_max_C": float(np.nanmax(li)) if np.isfinite(li).any() else None,
        "film_mean_minus_plate_min_mK": lo,
        "film_mean_minus_plate_max_mK": hi,
        "t_end_s": float(h.column("time_s")[-1]),
        "steps_accepted": st.accepted,
        "steps_rejected": st.rejected_error + st.rejected_newton,
        "newton_iterations": st.newton_iterations,
        "dofs": result.model.T.function_space.dofmap.index_map.size_global,
        "wall_time_s": result.wall_time,
    }
    if result.chemistry is not None:
        from fem_cell.diagnostics import summary_values

        out.update(summary_values({c: h.column(c) for c in h.columns}))
        ex = result.chemistry.exposure
        if ex is not None:
            out["exposure"] = {"gas": ex.gas, "duration_min": ex.duration / 60.0,
                               "temperature_C": ex.temperature - ZERO_CELSIUS,
                               "relative_humidity_percent": 100.0 * ex.relative_humidity}
        out["transport_dofs"] = sum(f.space.dofmap.index_map.size_global
                                    for f in result.chemistry.transport_problem.fields)
    return out


def write_run_outputs(result: AnnealResult, config: RunConfig, folder: RunFolder) -> None:
    """Plots, renders and profile tables (after the time loop); collective."""
    from fem_cell.outputs import plots

    domain = result.model.domain
    comm = domain.comm
    chem = result.chemistry
    if config.output.plots and comm.rank == 0:
        plots.plot_anneal_history(result.history, folder.file("history.png"), title=config.title)
        if chem is not None:
            plots.plot_interface_resistance(result.history, folder.file("R_interface.png"),
                                            title=config.title)
    if result.profiles is not None and comm.rank == 0:
        result.profiles.write_csv(folder.file("proton_profiles.csv"))
        if config.output.plots:
            plots.plot_proton_profiles(result.profiles, folder.file("proton_profiles.png"),
                                       title=config.title)
    if config.output.render and config.output.fields and domain.dim == 2:
        t_render = config.anneal.hold_end() or config.anneal.duration
        t_render = min(result.output_times, key=lambda t: abs(t - t_render))
        png = folder.file("temperature_2d.png")
        if comm.rank == 0:
            plots.render_temperature_2d(folder.path / "fields" / "temperature.pvd", t_render,
                                        config.anneal.temperature(t_render), png)
        if chem is not None:
            png = folder.file("protons_2d.png")
            if comm.rank == 0:
                plots.render_protons_2d(folder.path / "fields" / "films.pvd",
                                        [result.output_times[0], result.output_times[-1]], png)
    comm.Barrier()


def anneal_job(config: RunConfig, out: str | Path, comm: MPI.Comm, *, overwrite: bool = False,
               progress: bool = True, guard=NO_GUARD, announce=None,
               restart: str | Path | None = None,
               provenance: dict | None = None, chemistry: bool = True) -> AnnealResult:
    """``fem-cell anneal``: :func:`run_anneal` in a run folder that keeps its contract.

    The folder is checked before any work (:class:`~fem_cell.outputs.rundir.OutputError`),
    ``run.json`` says ``running`` while the run goes and ``completed``, ``failed`` (with
    the reason) or ``interrupted`` at the end; ``summary.json`` is written in every case
    (from the history rows written so far when the run did not complete).

    ``announce()``, if given, is called once the folder has passed its checks (the CLI
    prints its banner there, so a refused folder gives one line only).  ``restart``: a
    checkpoint to continue from.  ``provenance``: how the configuration was made (the
    user's config file, overrides such as ``--dim``); stored in run.json and in every
    checkpoint so ``--restart`` can rebuild it (:func:`fem_cell.jobs.state.config_for_state`).
    """
    folder = RunFolder(out, comm, "anneal", overwrite=overwrite, planned=PLANNED_FILES)
    if announce is not None:
        announce()
    from fem_cell.jobs.state import config_fingerprint

    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config),
            "chemistry": bool(chemistry and config.chemistry is not None)}
    folder.open(config.to_dict(), {"dim": config.mesh.dim, "provenance": prov,
                                   "restart": str(restart) if restart else None})
    wall0 = time.perf_counter()
    try:
        result = run_anneal(config, comm, folder=folder, progress=progress, guard=guard,
                            restart=restart, checkpoint_meta={"provenance": prov},
                            chemistry=chemistry and config.chemistry is not None)
    except BaseException as e:
        _record_failure(folder, e, time.perf_counter() - wall0)
        raise
    folder.add_tree("fields", "temperature*")
    folder.add_tree("fields", "films*")
    folder.add_tree("checkpoints", "t*.h5")
    st = result.stats
    info = {
        "dim": result.model.domain.dim,
        "dofs": result.model.T.function_space.dofmap.index_map.size_global,
        "cells": result.model.domain.mesh.topology.index_map(result.model.domain.dim).size_global,
        "steps": {"accepted": st.accepted, "rejected_error": st.rejected_error,
                  "rejected_newton": st.rejected_newton, "newton_iterations": st.newton_iterations,
                  "rejections": [str(r) for r in st.rejections[:200]]},
        "wall_time_s": {"time_loop": st.wall_time, "setup_and_time_loop": result.wall_time},
        "output_times_s": result.output_times,
    }
    folder.finish("completed", **info)
    folder.write_summary(summary_of(result))
    folder.update()  # file list incl. summary.json
    return result


def _record_failure(folder: RunFolder, e: BaseException, wall: float) -> None:
    """Rank-0 bookkeeping of a run that stopped early (no collectives: may run on one rank)."""
    folder.add_tree("fields", "temperature*")
    folder.add_tree("fields", "films*")
    folder.add_tree("checkpoints", "t*.h5")
    if isinstance(e, Interrupted):
        t = "" if e.t is None else f" at t = {e.t:.6g} s"
        folder.finish("interrupted", reason=f"{e.signal_name}{t}", wall_time_s=wall)
    elif isinstance(e, (FemCellError, KeyboardInterrupt)):
        folder.finish("failed", reason=str(e) or type(e).__name__, wall_time_s=wall)
    else:
        folder.finish("failed", reason=f"internal error: {type(e).__name__}: {e}",
                      wall_time_s=wall)
    folder.write_summary(_partial_summary(folder))
    folder.update()


def _partial_summary(folder: RunFolder) -> dict:
    """Last history row of a run that did not complete (rank 0 reads the CSV)."""
    if folder.comm.rank != 0:
        return {}
    from fem_cell.outputs.history import read_history

    p = folder.path / "history.csv"
    try:
        h = read_history(p)
    except (OSError, StopIteration, ValueError, IndexError):
        return {"reason": folder._info.get("reason")}
    last = {k: float(v[-1]) for k, v in h.items() if len(v)}
    return {"reason": folder._info.get("reason"), "last_history_row": last}
