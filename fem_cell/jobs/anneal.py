"""The anneal job: heat through the stack and the protons leaving LiCoO2, over the program.

:func:`run_anneal` runs a :class:`~fem_cell.model.CellModel` through the program (the
time loop with its observers); :func:`anneal_job` does the same in a run folder and is
what ``fem-cell anneal`` calls.  Both return a
:class:`~fem_cell.jobs.lifecycle.JobResult` whose ``history`` table has one row per
accepted step.

Outputs in the run folder (:data:`fem_cell.outputs.rundir.OUTPUTS` ``["anneal"]``):

* ``history.csv``: ``time_s, T_plate_C, T_min_C, T_mean_C, T_max_C`` (films),
  ``T_top_C``, ``T_Li_max_C``, step size, Newton iterations, and with chemistry the
  columns of :data:`fem_cell.model.CHEMISTRY_COLUMNS`; appended as the run goes;
* ``fields/temperature.pvd`` (T in K and °C, layer id) and ``fields/films.pvd`` (proton
  fractions, potential, σ_d) at every output time; ``checkpoints/t*.h5``;
* ``history.png``, ``R_interface.png``, ``proton_profiles.csv/png`` (1-D),
  ``temperature_2d.png`` and ``protons_2d.png`` (2-D), ``protons_2d.html`` (2-D: the
  film fields in an interactive, self-contained page, :mod:`fem_cell.outputs.field_view`);
* ``run.json``, ``summary.json``, ``solver_log.txt`` (rejected steps).

Guard: a Li-metal point above the Li melting point stops the run (status ``failed``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.analysis.measured import MeasuredHistory, compare_history
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.domain import Domain
from fem_cell.errors import FemCellError, RunAborted, on_ranks
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.jobs.progress import ProgressLine
from fem_cell.jobs.state import config_fingerprint
from fem_cell.model import CellModel, summary_values
from fem_cell.model.observers import AnnealDiagnostics, MeltingGuard
from fem_cell.outputs import plots, section
from fem_cell.outputs.field_view import FieldViewError, write_film_view
from fem_cell.outputs.fields import FieldSeriesWriter
from fem_cell.outputs.film_fields import FilmFields, ProfileRecorder
from fem_cell.outputs.history import History
from fem_cell.outputs.observers import (
    CheckpointObserver,
    FieldObserver,
    HistoryObserver,
    ProfileObserver,
)
from fem_cell.outputs.rundir import OUTPUTS
from fem_cell.solvers.checkpoint import field_descriptions, load_checkpoint
from fem_cell.solvers.observers import ObserverChain
from fem_cell.solvers.time_stepping import StepperState, TimeStepper


def output_times(config: RunConfig) -> list[float]:
    """Field output times (s): every ``field_interval``, every breakpoint, the end."""
    prog = config.anneal
    times = set(prog.breakpoints())
    dt = config.output.field_interval
    if dt > 0:
        times.update(np.arange(0.0, prog.duration, dt).tolist())
    times.add(prog.duration)
    return sorted(times)


def exposure_line(ex) -> str:
    """One progress line announcing the simulated exposure."""
    return (f"exposure: {ex.gas}, {ex.duration / 60:.4g} min at "
            f"{ex.temperature - ZERO_CELSIUS:.4g} °C (simulated: transport into the bare "
            "LiCoO2)")


def checkpoint_name(t: float) -> str:
    """Checkpoint file (relative to the run folder) of the state at time t (s)."""
    return f"checkpoints/t{t:013.3f}s.h5"


class _RejectionLog:
    """Rejected steps: Newton failures to the console (with progress) and every rejection
    to ``solver_log.txt`` (rank 0)."""

    def __init__(self, job: Job | None, comm, progress: bool):
        self.job, self.comm, self.progress = job, comm, progress

    def __call__(self, rej) -> None:
        if self.comm.rank != 0:
            return
        line = f"[anneal] {rej}"
        path = self.job.file("solver_log.txt") if self.job is not None else None
        if path is not None:
            with open(path, "a", encoding="utf-8") as f:
                f.write(line + "\n")
        if self.progress and rej.kind == "newton":
            print(line, flush=True)


def _observers(config: RunConfig, model, heat, chem, job: Job | None, diag, spaces, problem,
               stepper, checkpoint_meta: dict, t_start: float):
    """The anneal's observer chain: diagnostics → history → fields → profiles →
    checkpoints → melting guard (the guard last: the state that melted is recorded)."""
    comm = model.comm
    history = History(diag.columns)
    if job is not None:
        job.track(history)
        if job.folder is not None:
            history.stream_to(job.file("history.csv"), comm)
    obs = [diag, HistoryObserver(history)]
    writing = job is not None and job.folder is not None
    if writing and config.output.fields:
        T_C = fem.Function(heat.T.function_space, name="T_C")

        def celsius() -> None:
            T_C.x.array[:] = heat.T.x.array - ZERO_CELSIUS

        def recorded() -> None:  # the .vtu pieces, listed in run.json as they appear
            job.tree("fields")

        writer = FieldSeriesWriter(comm, job.file("fields/temperature.pvd"),
                                   [heat.T, T_C, heat.domain.layer_id_function()])
        obs.append(FieldObserver(writer, before=celsius, after=recorded))
        if chem is not None:
            obs.append(FieldObserver(FilmFields(chem, job.file("fields/films.pvd")),
                                     after=recorded))
    profiles = ProfileRecorder(chem) if chem is not None and heat.domain.dim == 1 else None
    if profiles is not None:
        obs.append(ProfileObserver(profiles))
    if writing and config.output.checkpoints:
        def initial() -> StepperState:
            return StepperState(t_start, 0, stepper.dt_initial, [], [problem.get_state()])

        def meta_of(snap) -> dict:
            if chem is None:
                return {}
            return {"H_initial_total_mol_m2": diag.chemistry.initial_total,
                    "R_interface_ohm_cm2": snap.values["R_interface_ohm_cm2"]}

        obs.append(CheckpointObserver(lambda t: job.file(checkpoint_name(t)), comm, spaces,
                                      initial, {"job": "anneal", **checkpoint_meta}, meta_of,
                                      describe=field_descriptions(problem),
                                      length_scale_m=config.mesh.length_scale))
    obs.append(MeltingGuard.of(config, heat))
    return obs, history, profiles


def run_anneal(config: RunConfig, comm: MPI.Comm, *, job: Job | None = None,
               progress: bool = True, domain: Domain | None = None, guard=NO_GUARD,
               restart: str | Path | None = None, checkpoint_meta: dict | None = None,
               chemistry: bool = True, exposure=None,
               record_times: tuple[float, ...] = ()) -> JobResult:
    """Run the anneal program: heat through the stack and, with ``chemistry``, the
    exposure's protons leaving LiCoO2 (coupled Li⁺/H⁺ transport on the films).

    Args:
        config: validated run configuration.
        comm: communicator (the mesh is distributed over it); ignored if ``domain``
            is given (its communicator is used).
        job: the job whose run folder receives the outputs (None: no files).
        progress: print a rank-0 progress line.
        domain: use this mesh instead of building one from the config.
        guard: polled between steps (collectively); the default never interrupts.
        restart: a checkpoint file to continue from (its time, solution history and
            step sizes): the continued run reproduces the uninterrupted one.
        checkpoint_meta: extra metadata stored in every checkpoint written.
        chemistry: solve the proton transport too (False: heat only).
        exposure: an :class:`~fem_cell.physics.parameters.Exposure` overriding the
            configuration's (chemistry only).
        record_times: times (s) the stepper must land on, so the history has a row there
            (a value asked for at that time is computed, not interpolated between steps);
            no field output there.

    Returns:
        A :class:`~fem_cell.jobs.lifecycle.JobResult`: ``summary`` (:func:`summary_of`),
        ``tables["history"]`` (and ``["profiles"]`` in 1-D with chemistry), ``model``
        (the :class:`~fem_cell.model.CellModel` at its final state; its solvers are
        destroyed, its fields usable; a serial 1-D run's heat and transport are kept
        instead, for a later case of the same structure once this result is gone:
        :func:`~fem_cell.model.chemistry.kept_anneal`).

    Raises:
        ConvergenceError: the step could not be cut back further.
        RunAborted: a guard stopped the run (Li melting), or nothing was computed.
        FractionOutOfRangeError: a proton fraction left [0, 1] beyond 1e-6.
        Interrupted: a signal stopped the run (``guard``).
    """
    model = CellModel(config, comm, domain=domain)
    run = _AnnealRun(config, model, job, guard, progress)
    ok = False  # set when the solvers may be destroyed collectively
    try:
        guard.check(model.comm)  # a Ctrl-C during set-up stops here
        run.set_up(chemistry, exposure, restart, checkpoint_meta or {}, record_times)
        stats = run.loop()
        ok = True
    except Interrupted as e:
        if e.t is None and run.chain is not None and run.chain.last is not None:
            e.t = run.chain.last.t
        ok = e.collective
        raise
    except FemCellError:
        ok = True  # raised collectively (the stepper's, the observers' and set-up's are)
        raise
    finally:
        if run.chain is not None:
            run.chain.close()
        if ok:  # solvers are destroyed on every rank in the same order
            model.destroy()
    return run.result(stats)


class _AnnealRun:
    """The pieces of one anneal: model, problem, stepper, observers (see run_anneal)."""

    def __init__(self, config: RunConfig, model: CellModel, job: Job | None, guard,
                 progress: bool):
        self.config, self.model, self.job = config, model, job
        self.guard, self.progress = guard, progress
        self.chain: ObserverChain | None = None

    def set_up(self, chemistry: bool, exposure, restart, checkpoint_meta: dict,
               record_times: tuple[float, ...] = ()) -> None:
        config, model = self.config, self.model
        comm = model.comm
        hooks = {"poll": lambda t: self.guard.check(comm)}
        if self.progress and comm.rank == 0 and chemistry and restart is None:
            print(f"[anneal] {exposure_line(exposure or config.exposure)}", flush=True)
        chem = self.chem = (model.chemistry(exposure=exposure, expose=restart is None,
                                            exposure_hooks=hooks) if chemistry else None)
        heat = self.heat = chem.heat if chem is not None else model.heat()
        problem = chem.problem if chem is not None else heat.problem
        spaces = {f.name: f.space for f in problem.fields}
        resume, self.meta = (None, {})
        if restart is not None:
            resume, self.meta = load_checkpoint(restart, comm, spaces)
            problem.set_state(resume.states[0])
        self.t_start = resume.t if resume is not None else 0.0
        diag = AnnealDiagnostics(config, heat, chem, stored=self.meta.get("history_row"))
        if chem is not None and resume is not None:
            diag.chemistry.initial_total = self.meta.get("H_initial_total_mol_m2")
        self.guard.check(comm)
        prog, s = config.anneal, config.solver
        self.out_times = [t for t in output_times(config) if t >= self.t_start - 1e-9]
        landing = sorted(set(self.out_times) | {float(t) for t in record_times
                                                if self.t_start < t < prog.duration})
        # the program's kinks: the heat restarts there (alone, or inside the chemistry's
        # sub-cycled problem); the transport's u̇ stays continuous: a smooth restart
        kinks = prog.breakpoints()
        stepper = self.stepper = TimeStepper(
            problem, t_end=prog.duration, scheme=s.scheme, dt_initial=s.dt_initial,
            dt_max=s.dt_max, dt_min=s.dt_min, milestones=landing,
            restarts=() if chem is not None else kinks,
            smooth_restarts=kinks if chem is not None else (), adaptive=s.adaptive,
            t0=self.t_start)
        if resume is not None:
            stepper.resume_from(resume)
        obs, self.history, self.profiles = _observers(
            config, model, heat, chem, self.job, diag, spaces, problem, stepper,
            checkpoint_meta, self.t_start)
        self.chain = ObserverChain(obs, self.out_times, state=lambda: stepper.state)

    def loop(self):
        """The initial state, then every step through the program (observed)."""
        comm, prog, guard = self.model.comm, self.config.anneal, self.guard
        if self.chem is not None:     # (kept for a later case only if the run goes through)
            self.chem.reusable = False
        bar = ProgressLine(comm, prog.duration, t0=self.t_start) if self.progress else None
        self.chain.notify(self.t_start, float(self.meta.get("last_dt", 0.0)),
                          newton_iterations=int(self.meta.get("newton_iterations", 0)),
                          initial=True)
        with guard.deferred():
            stats = self.stepper.run(on_step=self.chain, progress=bar,
                                     poll=lambda t: guard.check(comm, t),
                                     on_reject=_RejectionLog(self.job, comm, self.progress))
        if stats.accepted == 0 and self.t_start < prog.duration:
            raise RunAborted(f"the program ({prog.duration:.3g} s) is shorter than one time "
                             f"step; nothing was computed")
        if self.chem is not None:
            self.chem.reusable = True
        return stats

    def result(self, stats) -> JobResult:
        tables = {"history": self.history}
        if self.profiles is not None:
            tables["profiles"] = self.profiles
        summary = summary_of(self.history, stats, self.model, self.chem, self.heat)
        return JobResult("anneal", "completed", summary, tables, None, stats.wall_time,
                         self.model, {"stats": stats, "output_times": self.out_times,
                                      "chemistry": self.chem, "heat": self.heat})


def summary_of(history: History, stats, model, chem, heat) -> dict:
    """Headline numbers of an anneal run (JSON-ready): temperatures, and with chemistry
    the interface resistance and proton inventories (initial and final values)."""
    li = history.column("T_Li_max_C")
    d = (history.column("T_mean_C") - history.column("T_plate_C")) * 1e3
    out = {
        "T_plate_max_C": float(history.column("T_plate_C").max()),
        "T_film_max_C": float(history.column("T_max_C").max()),
        "T_Li_max_C": float(np.nanmax(li)) if np.isfinite(li).any() else None,
        "film_mean_minus_plate_min_mK": float(d.min()),
        "film_mean_minus_plate_max_mK": float(d.max()),
        "t_end_s": float(history.column("time_s")[-1]),
        "steps_accepted": stats.accepted,
        "steps_rejected": stats.rejected_error + stats.rejected_newton,
        "newton_iterations": stats.newton_iterations,
        "dofs": heat.T.function_space.dofmap.index_map.size_global,
        "cells": heat.domain.mesh.topology.index_map(heat.domain.dim).size_global,
        "wall_time_s": stats.wall_time,
        "solver": {"heat": heat.problem.solver_counts()},
    }
    if chem is not None:
        # the transport's steps are the run's; the heat's are its own (sub-cycled)
        lead = chem.problem.lead_stats
        out["heat_steps_accepted"] = lead.accepted
        out["heat_steps_rejected"] = lead.rejected_error + lead.rejected_newton
        out["solver"]["transport"] = chem.transport_problem.solver_counts()
        if chem.exposure_result is not None and chem.exposure_result.solver is not None:
            out["solver"]["exposure"] = chem.exposure_result.solver
        out.update(summary_values({c: history.column(c) for c in history.columns}))
        if chem.exposure_result is not None:
            out["exposure"] = chem.exposure_result.summary()
        out["transport_dofs"] = sum(f.space.dofmap.index_map.size_global
                                    for f in chem.transport_problem.fields)
    return out


def compare_with_data(result: JobResult, data: MeasuredHistory) -> dict:
    """The run's R(t) against a measured history: the summary entry (``data_comparison``)
    and the per-point table (``data_comparison.csv``'s columns)."""
    h = result.history
    cmp = compare_history(data, h.column("time_s"), h.column(data.model_column))
    entry = {"file": data.source, "model_column": data.model_column, "points": cmp["points"],
             "outside_model_time": cmp["outside"], "rms_relative_difference": cmp["rms_rel"],
             "max_relative_difference": cmp["max_rel"]}
    table = {"time_s": data.times, "R_data_ohm_cm2": data.R_ohm_cm2,
             "R_model_ohm_cm2": cmp["model_R_ohm_cm2"],
             "relative_difference": cmp["relative_difference"]}
    return {"summary": entry, "table": table}


def _write_comparison(table: dict, path: Path) -> None:
    cols = list(table)
    rows = zip(*(np.asarray(table[c], dtype=float) for c in cols), strict=True)
    path.write_text(",".join(cols) + "\n" + "".join(
        ",".join(f"{v:.9g}" for v in r) + "\n" for r in rows), encoding="utf-8")


def write_run_outputs(result: JobResult, config: RunConfig, job: Job,
                      data: MeasuredHistory | None = None) -> None:
    """Plots, renders and profile tables (after the time loop); collective.

    Each output is made by one rank (:func:`~fem_cell.errors.on_ranks`): the 2-D job's
    interactive film view, the largest, by the last rank, the renders and plots by the
    others in turn, the 1-D profiles (gathered there) by rank 0 — instead of all of them
    by rank 0 while the others wait."""
    heat = result.details["heat"]
    comm = result.model.comm
    chem = result.details["chemistry"]
    history = result.history
    out_times = result.details["output_times"]
    profiles = result.tables.get("profiles")
    tasks: list[Callable] = []
    owners: list[int] = []
    # the film view by the last rank, the 1-D profiles (gathered there) by rank 0, the
    # other outputs in turn by the ranks before the last (rank 0 on one rank)
    others = itertools.cycle(range(max(comm.size - 1, 1)))

    def add(task: Callable, owner: int | None = None) -> None:
        tasks.append(task)
        owners.append(next(others) if owner is None else owner)

    view = None
    if config.output.render and config.output.fields and heat.domain.dim == 2:
        t_render = config.anneal.hold_end() or config.anneal.duration
        t_render = min(out_times, key=lambda t: abs(t - t_render))
        fields = job.folder.path / "fields"
        if chem is not None:
            view = len(tasks)

            def film_view() -> str | None:
                try:
                    write_film_view(job.folder.path, job.folder.path / "protons_2d.html",
                                    title=f"{config.title}: film fields through the anneal")
                except FieldViewError as e:
                    return f"no interactive view: {e}"
                return None

            add(film_view, comm.size - 1)
            png = job.file("protons_2d.png")
            add(lambda: section.render_protons_2d(fields / "films.pvd",
                                                  [out_times[0], out_times[-1]], png))
        png_t = job.file("temperature_2d.png")
        add(lambda: section.render_temperature_2d(
            fields / "temperature.pvd", t_render, config.anneal.temperature(t_render), png_t))
    if data is not None:
        table = job.file("data_comparison.csv")
        add(lambda: _write_comparison(compare_with_data(result, data)["table"], table))
    if config.output.plots:
        files = (job.file("history.png"),
                 job.file("R_interface.png") if chem is not None else None)

        def history_plots() -> None:
            plots.plot_anneal_history(history, files[0], title=config.title)
            if files[1] is not None:
                plots.plot_interface_resistance(history, files[1], title=config.title,
                                                data=data)

        add(history_plots)
    if profiles is not None:
        csv = job.file("proton_profiles.csv")
        png_p = job.file("proton_profiles.png") if config.output.plots else None

        def profile_outputs() -> None:
            profiles.write_csv(csv)
            if png_p is not None:
                plots.plot_proton_profiles(profiles, png_p, title=config.title)

        add(profile_outputs, 0)
    comm.Barrier()       # every rank's pieces of the field series are written
    results = on_ranks(comm, tasks, owners)
    if view is not None:
        if results[view] is None:
            job.folder.add_file("protons_2d.html")
        else:
            job.say(results[view])
    comm.Barrier()


def anneal_job(config: RunConfig, out: str | Path | None, comm: MPI.Comm, *,
               overwrite: bool = False, progress: bool = True, guard=NO_GUARD, announce=None,
               restart: str | Path | None = None, provenance: dict | None = None,
               chemistry: bool = True, data: MeasuredHistory | None = None) -> JobResult:
    """``fem-cell anneal``: :func:`run_anneal` in a run folder that keeps its contract
    (:mod:`fem_cell.jobs.lifecycle`).

    ``announce()``, if given, is called once the folder has passed its checks (the CLI
    prints its banner there, so a refused folder gives one line only).  ``restart``: a
    checkpoint to continue from (it must not lie inside ``out``).  ``provenance``: how
    the configuration was made; stored in run.json and every checkpoint so
    ``--restart`` can rebuild it (:func:`fem_cell.jobs.state.config_for_state`).
    ``data``: a measured R(t) history (:func:`fem_cell.analysis.measured.read_history`)
    overlaid on ``R_interface.png``, compared point by point in ``data_comparison.csv`` and
    summarised in ``summary.json`` (``data_comparison``: rms and max relative difference).
    """
    chemistry = bool(chemistry and config.chemistry is not None)
    if data is not None and not chemistry:
        raise FemCellError("a measured R(t) history (--data) needs the chemistry: the heat-only "
                           "anneal has no interface resistance")
    prov = {**(provenance or {}), "fingerprint": config_fingerprint(config),
            "chemistry": chemistry}
    inputs = tuple(p for p in (restart, config.mesh.file, data and data.source) if p)
    with Job("anneal", out, comm, config=config, overwrite=overwrite, planned=OUTPUTS["anneal"],
             inputs=inputs, announce=announce, guard=guard, progress=progress,
             info={"dim": config.mesh.dim, "provenance": prov,
                   "restart": str(restart) if restart else None}) as job:
        res = run_anneal(config, comm, job=job, progress=progress, guard=guard, restart=restart,
                         checkpoint_meta={"provenance": prov}, chemistry=chemistry)
        if data is not None:
            res.summary["data_comparison"] = compare_with_data(res, data)["summary"]
        if job.folder is not None:
            write_run_outputs(res, config, job, data)
        st = res.details["stats"]
        return job.finish(res.summary, tables=res.tables, model=res.model, details=res.details,
                          dim=config.mesh.dim, dofs=res.summary["dofs"],
                          cells=res.summary["cells"],
                          steps={"accepted": st.accepted, "rejected_error": st.rejected_error,
                                 "rejected_newton": st.rejected_newton,
                                 "newton_iterations": st.newton_iterations,
                                 "rejections": [str(r) for r in st.rejections[:200]]},
                          time_loop_s=st.wall_time, output_times_s=res.details["output_times"])


__all__ = ["anneal_job", "checkpoint_name", "compare_with_data", "exposure_line",
           "output_times", "run_anneal", "summary_of", "write_run_outputs"]
