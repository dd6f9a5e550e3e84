"""Heat diffusion through the stack during the anneal program, end to end.

Wires: config → domain (mesh) → heat physics → transient problem → adaptive stepper →
outputs.  The CLI (``fem-cell anneal``) and the scripts call :func:`run_anneal`; tests
and benchmarks may use :func:`build_domain` and :func:`build_heat_problem` directly.

Outputs in ``out_dir`` (written collectively / by rank 0):

* ``fields/temperature.pvd`` (+ ``.vtu`` pieces): T in K (``T_K``) and °C (``T_C``),
  and the layer id (cell data ``layer``), at every output time;
* ``history.csv``: one row per accepted step (``time_s, T_plate_C, T_min_C, T_mean_C,
  T_max_C`` over the film region, step size, Newton iterations, …);
* ``history.png``: plate and film temperatures and the film lag behind the plate;
* ``temperature_2d.png`` (2-D): off-screen pyvista render of T − T_plate;
* ``run.json``: resolved configuration, versions, MPI size, timings.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import RunConfig
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.domain import Domain
from fem_cell.model import FilmDiagnostics, HeatModel, build_domain, build_heat_problem
from fem_cell.outputs.fields import FieldSeriesWriter
from fem_cell.outputs.history import History
from fem_cell.outputs.metadata import write_metadata
from fem_cell.solvers.time_stepping import StepInfo, TimeStepper

HISTORY_COLUMNS = ["time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C",
                   "T_top_C", "dt_s", "newton_iterations"]


class ProgressLine:
    """Rank-0 progress line: simulated time, step, Newton iterations, ETA."""

    def __init__(self, comm, t_end: float, every: float = 2.0, stream=None, label: str = "anneal"):
        self.rank = comm.rank
        self.t_end = t_end
        self.every = every
        self.stream = stream or sys.stdout
        self.label = label
        self._last = -np.inf

    def __call__(self, info: StepInfo, wall: float) -> None:
        done = info.t >= self.t_end * (1 - 1e-12)
        if self.rank != 0 or (wall - self._last < self.every and not done):
            return
        self._last = wall
        frac = info.t / self.t_end
        eta = wall * (1 - frac) / frac if frac > 0 else float("nan")
        print(f"[{self.label}] t = {info.t / 60:8.2f} / {self.t_end / 60:.2f} min "
              f"({100 * frac:5.1f} %) | step {info.step:5d} | dt = {info.dt:9.3g} s | "
              f"Newton {info.newton_iterations} | wall {wall:6.1f} s | ETA {eta:6.1f} s",
              file=self.stream, flush=True)


@dataclass
class AnnealResult:
    """What :func:`run_anneal` returns (on every rank)."""

    history: History
    model: HeatModel
    stats: object
    out_dir: Path | None
    output_times: list[float] = field(default_factory=list)
    wall_time: float = 0.0


def output_times(config: RunConfig) -> list[float]:
    """Field output times (s): every ``field_interval``, every breakpoint, the end."""
    prog = config.anneal
    times = set(prog.breakpoints())
    dt = config.output.field_interval
    if dt > 0:
        times.update(np.arange(0.0, prog.duration, dt).tolist())
    times.add(prog.duration)
    return sorted(times)


def run_anneal(config: RunConfig, out_dir: str | Path | None = None,
               comm: MPI.Comm, progress: bool = True,
               domain: Domain | None = None) -> AnnealResult:
    """Simulate heat diffusion through the stack over the whole anneal program.

    Args:
        config: validated run configuration.
        out_dir: output folder (created; same path on every rank); None = no files.
        comm: communicator (the mesh is distributed over it).
        progress: print a rank-0 progress line.
        domain: use this mesh instead of building one from the config.

    Returns:
        The history, the model (final state) and stepper statistics.
    """
    wall0 = time.perf_counter()
    domain = domain or build_domain(config, comm)
    comm = domain.comm
    model = build_heat_problem(config, domain)
    prog = config.anneal
    diag = FilmDiagnostics(domain, model.T)
    history = History(HISTORY_COLUMNS)
    out = Path(out_dir) if out_dir is not None else None
    writer = None
    T_C = None
    if out is not None:
        if comm.rank == 0:
            out.mkdir(parents=True, exist_ok=True)
            fields_dir = out / "fields"
            if fields_dir.exists():
                shutil.rmtree(fields_dir)  # stale .vtu pieces of an earlier run
        comm.Barrier()
        if config.output.fields:
            T_C = fem.Function(model.T.function_space, name="T_C")
            writer = FieldSeriesWriter(comm, out / "fields" / "temperature.pvd",
                                       [model.T, T_C, domain.layer_id_function()])
    out_times = output_times(config)
    out_set = {round(t, 9) for t in out_times}

    def record(t: float, dt: float, its: int) -> None:
        d = diag()
        history.append(time_s=t, T_plate_C=prog.temperature(t) - ZERO_CELSIUS,
                       T_min_C=d["T_min"] - ZERO_CELSIUS, T_mean_C=d["T_mean"] - ZERO_CELSIUS,
                       T_max_C=d["T_max"] - ZERO_CELSIUS, T_top_C=d["T_top"] - ZERO_CELSIUS,
                       dt_s=dt, newton_iterations=its)
        if writer is not None and round(t, 9) in out_set:
            T_C.x.array[:] = model.T.x.array - ZERO_CELSIUS
            writer.write(t)

    record(0.0, 0.0, 0)
    s = config.solver
    stepper = TimeStepper(model.problem, t_end=prog.duration, scheme=s.scheme,
                          dt_initial=s.dt_initial, dt_max=s.dt_max, dt_min=s.dt_min,
                          milestones=out_times, restarts=prog.breakpoints(), adaptive=s.adaptive)
    bar = ProgressLine(comm, prog.duration) if progress else None
    try:
        stats = stepper.run(on_step=lambda i: record(i.t, i.dt, i.newton_iterations), progress=bar)
    finally:
        if writer is not None:
            writer.close()
    result = AnnealResult(history, model, stats, out, out_times, time.perf_counter() - wall0)
    if out is not None:
        write_run_outputs(result, config)
    result.wall_time = time.perf_counter() - wall0
    return result


def write_run_outputs(result: AnnealResult, config: RunConfig) -> None:
    """history.csv, plots, render, run.json (after the time loop)."""
    from fem_cell.outputs import plots

    out = result.out_dir
    domain = result.model.domain
    comm = domain.comm
    result.history.write_csv(out / "history.csv", comm)
    files = ["history.csv", "run.json"]
    if config.output.fields:
        files.append("fields/temperature.pvd")
    if config.output.plots and comm.rank == 0:
        plots.plot_anneal_history(result.history, out / "history.png", title=config.title)
        files.append("history.png")
    comm.Barrier()
    if config.output.render and config.output.fields and domain.dim == 2:
        t_render = config.anneal.hold_end() or config.anneal.duration
        t_render = min(result.output_times, key=lambda t: abs(t - t_render))
        if comm.rank == 0:
            plots.render_temperature_2d(out / "fields" / "temperature.pvd", t_render,
                                        config.anneal.temperature(t_render),
                                        out / "temperature_2d.png")
        files.append("temperature_2d.png")
    comm.Barrier()
    n_dofs = result.model.T.function_space.dofmap.index_map.size_global
    st = result.stats
    write_metadata(out / "run.json", comm, config.to_dict(), {
        "job": "anneal (heat)",
        "dim": domain.dim,
        "dofs": n_dofs,
        "cells": domain.mesh.topology.index_map(domain.dim).size_global,
        "steps": {"accepted": st.accepted, "rejected_error": st.rejected_error,
                  "rejected_newton": st.rejected_newton, "newton_iterations": st.newton_iterations},
        "wall_time_s": {"time_loop": st.wall_time, "setup_and_time_loop": result.wall_time},
        "output_times_s": result.output_times,
        "files": files,
    })
