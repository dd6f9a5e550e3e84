"""Benchmark of the anneal chemistry (exposure → heat + Li⁺/H⁺ transport, full program).

Prints DOFs, steps, Newton iterations per step and wall time, measured in one run:

* 1-D in-process: the first run pays JIT compilation, later runs reuse it — issue
  target 0.2 s per exposure + full anneal program; measured twice: the same cell
  repeated, and a new parameter value in every run (the calibration's and the
  posterior's inner loop; before fem_cell.forms each new value compiled new C modules);
  and a third time with the exposed state reused (a study over anneal programs; the
  exposure cache of fem_cell.model.chemistry); the exposure is simulated in every run
  but the third, on the simulation kept across cases (fem_cell.model.exposure), and the
  anneal runs on the heat and transport kept across cases (fem_cell.model.chemistry:
  kept_anneal).  Before/after: the new-value runs once more with the anneal's heat and
  transport built anew in each (before they were kept), and once more with the
  exposure's simulation built anew too (before either was kept);
* 1-D calibration cases: what a calibration or a posterior pays per case
  (``fem_cell.studies.calibration.default_case_runner``: the case's configuration, the
  case, and the garbage collection after it), the varied parameter at a new value in
  every case, with that time split into its three steps;
* each run's parts: the set-up (the model built, with the exposure simulated in it) and
  the time loop (with the history rows computed in it), shown for the last run;
* 2-D default cross-section on 1 and on 2 ranks (child processes under mpirun), with the
  1-rank/2-rank ratio — issue 18's targets: ≤ 30 s on 2 ranks, ratio ≥ 1.8 — and where
  the last run's time went by PETSc's log (the factorisations, back-substitutions,
  residuals and Jacobians: counts and seconds).

Usage::

    .venv/bin/python scripts/bench_anneal.py            # 1-D + 2-D on 1 and 2 ranks
    .venv/bin/python scripts/bench_anneal.py --only-1d
    .venv/bin/python scripts/bench_anneal.py --cells-per-layer 20 --only-2-ranks
        # a finer 2-D mesh (>= 100k DOFs), 2 ranks only
    .venv/bin/python scripts/bench_anneal.py --jacobian-reuse auto
        # every case with [solver] transport_jacobian_reuse = "auto" (docs/transport.md)

(no timing assertions: tests never time anything; this script reports.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from fem_cell.config.settings import JACOBIAN_REUSE  # (no MPI, PETSc or dolfinx import)

HERE = Path(__file__).resolve()
QUIET = {"output": {"fields": False, "plots": False, "render": False}}


#: the parameter varied run to run by --vary (a posterior walker's kind of change)
VARY_KEY = ("transport", "LiCoO2", "trapping", "detrapping_activation_energy")


def _vary(overrides: dict, i: int) -> dict:
    """``overrides`` with the varied parameter at a new value for run ``i`` (the cell
    file's 1.278 eV + 3 meV per run)."""
    value: object = f"{1.278 + 0.003 * i:.6f} eV"
    for key in reversed(VARY_KEY):
        value = {key: value}
    return {**overrides, **value}


#: each run's exposure and anneal: the exposure simulated on the simulation kept across
#: runs and the anneal on the heat and transport kept across runs (the full cost of a
#: case); the anneal's heat and transport built anew ("anneal-rebuilt": before they were
#: kept); both built anew ("rebuilt": before either was kept); or the exposed state
#: reused ("reused": a study over anneal programs)
EXPOSURE_MODES = ("kept", "anneal-rebuilt", "rebuilt", "reused")


def _mean_after_first(walls: list[float]) -> float:
    """The mean wall time of the runs after the first (which pays the JIT)."""
    return sum(walls[1:]) / (len(walls) - 1)


#: PETSc log events reported for the last run: label → event names (summed)
SOLVER_EVENTS = (("LU factorisations", ("MatLUFactorNum",)),
                 ("Cholesky factorisations", ("MatCholFctrNum",)),
                 ("back-substitutions", ("MatSolve",)),
                 ("residuals", ("SNESFunctionEval",)),
                 ("Jacobians", ("SNESJacobianEval",)))


def _solver_events() -> dict:
    """label → (count, seconds) of :data:`SOLVER_EVENTS` on this rank so far."""
    from fem_cell._dolfinx import PETSc

    return {label: (sum(PETSc.Log.Event(n).getPerfInfo()["count"] for n in names),
                    sum(PETSc.Log.Event(n).getPerfInfo()["time"] for n in names))
            for label, names in SOLVER_EVENTS}


def _solver_log(before: dict) -> dict:
    """label → (count, seconds) of :data:`SOLVER_EVENTS` since ``before`` (a
    :func:`_solver_events` of the run's start): rank 0's counts, the most seconds of any
    rank (collective)."""
    from fem_cell._dolfinx import MPI

    now = _solver_events()
    return {label: (now[label][0] - before[label][0],
                    MPI.COMM_WORLD.allreduce(now[label][1] - before[label][1], op=MPI.MAX))
            for label in now}


def run_case(dim: int, cells_per_layer: int | None, repeats: int, vary: bool = False,
             exposure: str = "kept", jacobian_reuse: str | None = None) -> dict:
    from fem_cell._dolfinx import MPI, PETSc
    from fem_cell.config import load_config
    from fem_cell.jobs.anneal import run_anneal
    from fem_cell.model.chemistry import (
        clear_exposed_states,
        clear_exposure_cache,
        clear_kept_anneals,
    )

    mesh = {"dim": dim}
    if cells_per_layer:
        mesh["cells_per_layer"] = cells_per_layer
    base = {**QUIET, "mesh": mesh}
    if jacobian_reuse:
        base["solver"] = {"transport_jacobian_reuse": jacobian_reuse}
    cfg = load_config(overrides=base)
    comm = MPI.COMM_WORLD
    logged = dim == 2           # 2-D: PETSc's event log (the solver's parts, last run);
    if logged:                  # not in 1-D, whose thousands of short events it would slow
        PETSc.Log.begin()
    solver: dict = {}
    walls = []
    parts = _time_parts()
    for i in range(repeats):
        if vary and i > 0:
            cfg = load_config(overrides=_vary(base, i))
        # the last run's result dropped first, as a study's loop drops it: a model no one
        # holds gives its transport back for this run (fem_cell.model.chemistry)
        r = None
        if exposure == "rebuilt":
            clear_exposure_cache()      # also the kept simulation and transport: built anew
        elif exposure == "anneal-rebuilt":
            clear_exposed_states()
            clear_kept_anneals()     # the anneal's heat and transport built anew
        elif exposure == "kept":
            clear_exposed_states()      # the full cost: exposure simulated every run
        before = _solver_events() if logged else {}
        comm.Barrier()
        t0 = time.perf_counter()
        r = run_anneal(cfg, comm, progress=False)
        comm.Barrier()
        walls.append(time.perf_counter() - t0)
        if logged:
            solver = _solver_log(before)
    st = r.details["stats"]
    h = r.history
    return {
        "dim": dim, "ranks": comm.size,
        "heat_dofs": r.summary["dofs"],
        "transport_dofs": r.summary["transport_dofs"],
        "steps": st.accepted, "rejected": st.rejected_error + st.rejected_newton,
        "newton_per_step": st.newton_iterations / max(st.accepted, 1),
        "wall_s": walls,
        "jacobians": {k: (v["factorisation"], v["jacobians"])
                      for k, v in r.summary["solver"].items()},
        "factors": {k: r.summary["solver"]["transport"].get(k) for k in
                    ("factor_entries", "factor_flops_min_rank", "factor_flops_max_rank")},
        "R_initial": float(h.column("R_interface_ohm_cm2")[0]),
        "R_final": float(h.column("R_interface_ohm_cm2")[-1]),
        "parts": {k: v[-1] for k, v in parts.items() if v},
        "solver_log": solver,
    }


#: the parts of a run timed by _time_parts: (label, module, attribute path)
PARTS = (("set-up", "fem_cell.jobs.anneal", "_AnnealRun.set_up"),
         ("exposure", "fem_cell.model.chemistry", "expose_block"),
         ("time loop", "fem_cell.jobs.anneal", "_AnnealRun.loop"),
         ("history rows", "fem_cell.model.observers", "AnnealDiagnostics.__call__"))


def _time_parts() -> dict[str, list[float]]:
    """Wrap the parts of a run named in :data:`PARTS` with timers; returns label → the
    seconds of each run (history rows: their sum per run; the exposure: 0 when its state
    was reused).  The exposure is inside the set-up, the rows inside the time loop."""
    import importlib

    times: dict[str, list[float]] = {label: [] for label, _, _ in PARTS}
    for label, module, path in PARTS:
        owner = importlib.import_module(module)
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        inner = getattr(owner, name)

        def timed(*a, _inner=inner, _label=label, **k):
            t0 = time.perf_counter()
            try:
                return _inner(*a, **k)
            finally:
                dt = time.perf_counter() - t0
                if _label == "history rows" and len(times[_label]) > len(times["time loop"]):
                    times[_label][-1] += dt        # a row of the run under way
                else:
                    times[_label].append(dt)

        setattr(owner, name, timed)
    return times


def calibration_cases(n: int) -> dict:
    """``n`` calibration cases of the built-in 1-D cell, the varied parameter new in each:
    the wall time per case of ``default_case_runner``, then of its three steps timed one
    by one over ``n`` more cases (configuration, case, garbage collection)."""
    import gc

    from fem_cell._dolfinx import MPI
    from fem_cell.solvers.problem import collect_garbage
    from fem_cell.studies import cases
    from fem_cell.studies.calibration import QUIET_OUTPUT, case_config, default_case_runner

    comm = MPI.COMM_SELF
    record = cases.Record(("R_interface_ohm_cm2",), ())

    def layers(i: int) -> list:
        return [QUIET_OUTPUT, {"mesh": {"dim": 1}}, _vary({}, i)]

    whole, steps = [], []
    try:
        for i in range(n):
            t0 = time.perf_counter()
            default_case_runner(None, layers(i), "anneal", record, comm)
            whole.append(time.perf_counter() - t0)
        for i in range(n, 2 * n):
            t0 = time.perf_counter()
            cfg = case_config(None, *layers(i))
            t1 = time.perf_counter()
            cases.run_case(cfg, comm, "anneal", record)
            t2 = time.perf_counter()
            collect_garbage(comm, freeze=True)
            steps.append((t1 - t0, t2 - t1, time.perf_counter() - t2))
    finally:
        gc.unfreeze()
    return {"whole": whole, "steps": steps}


def child(args) -> None:
    if args.calibration:
        res = calibration_cases(args.calibration)
        print("RESULT " + json.dumps(res), flush=True)
        return
    res = run_case(args.case, args.cells_per_layer, args.repeats, args.vary, args.exposure,
                   args.jacobian_reuse)
    from fem_cell._dolfinx import MPI

    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(res), flush=True)


def spawn(dim: int, ranks: int, cells: int | None, repeats: int, vary: bool = False,
          exposure: str = "kept", jacobian_reuse: str | None = None) -> dict:
    py = sys.executable
    mpirun = Path(py).with_name("mpirun")
    cmd = [py, str(HERE), "--case", str(dim), "--repeats", str(repeats)]
    if vary:
        cmd.append("--vary")
    cmd += ["--exposure", exposure]
    if cells:
        cmd += ["--cells-per-layer", str(cells)]
    if jacobian_reuse:
        cmd += ["--jacobian-reuse", jacobian_reuse]
    if ranks > 1:
        cmd = [str(mpirun), "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def show(r: dict) -> None:
    w = r["wall_s"]
    print(f"  {r['dim']}-D on {r['ranks']} rank(s): heat {r['heat_dofs']} + transport "
          f"{r['transport_dofs']} DOFs, {r['steps']} steps ({r['rejected']} rejected), "
          f"{r['newton_per_step']:.2f} Newton iterations/step (heat + transport), "
          f"{r['jacobians']['transport'][1]} transport Jacobians, wall "
          + ", ".join(f"{x:.2f} s" for x in w)
          + f"; R_interface {r['R_initial']:.1f} -> {r['R_final']:.3f} Ohm cm2 (last run)")
    p = r.get("parts") or {}
    if p:
        print(f"    last run: set-up {p['set-up']:.3f} s (the exposure {p['exposure']:.3f} s "
              f"of it), time loop {p['time loop']:.3f} s (the history rows "
              f"{p['history rows']:.3f} s of it)")
    f = r.get("factors") or {}
    if f.get("factor_entries"):
        lo, hi = f["factor_flops_min_rank"], f["factor_flops_max_rank"]
        print(f"    transport's MUMPS factors (condensed system): "
              f"{f['factor_entries'] / 1e6:.1f} M entries; elimination {lo / 1e9:.2f}–"
              f"{hi / 1e9:.2f} GFlop per rank (most / least loaded: {hi / lo:.2f})")
    log = r.get("solver_log") or {}
    if log:
        w = r["wall_s"][-1]
        print("    last run, PETSc log (the most of any rank): "
              + ", ".join(f"{n} {label} {t:.1f} s ({100 * t / w:.0f} %)"
                          for label, (n, t) in log.items() if n))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", type=int, choices=(1, 2), help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--vary", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--exposure", choices=EXPOSURE_MODES, default="kept", help=argparse.SUPPRESS)
    ap.add_argument("--calibration", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--cells-per-layer", type=int, default=None)
    ap.add_argument("--only-1d", action="store_true")
    ap.add_argument("--only-2-ranks", action="store_true",
                    help="2-D: skip the 1-rank run (e.g. with a finer --cells-per-layer)")
    ap.add_argument("--jacobian-reuse", choices=JACOBIAN_REUSE, default=None,
                    help="[solver] transport_jacobian_reuse of every case (default: the "
                    "setting's default)")
    args = ap.parse_args()
    jr = {"jacobian_reuse": args.jacobian_reuse}
    if args.case or args.calibration:
        child(args)
        return
    print("1-D, in-process (first run includes JIT compilation):")
    r1 = spawn(1, 1, None, repeats=4, **jr)
    show(r1)
    best = min(r1["wall_s"][1:])
    print(f"  -> same cell repeated: {best:.2f} s per exposure + full anneal after the first "
          f"(issue target 0.2 s: {best / 0.2:.1f}x it)")
    print(f"1-D, in-process, {'.'.join(VARY_KEY)} changed in every run after the first:")
    rv = spawn(1, 1, None, repeats=6, vary=True, **jr)
    show(rv)
    mean = _mean_after_first(rv["wall_s"])
    print(f"  -> a new parameter value every run: {mean:.2f} s per run "
          f"({mean / best:.2f}x the repeated cell; issue target 0.2 s: {mean / 0.2:.2f}x it)")
    print("1-D, in-process, as above with the anneal's heat and transport built anew in every "
          "run (before they were kept across cases):")
    rt = spawn(1, 1, None, repeats=6, vary=True, exposure="anneal-rebuilt", **jr)
    show(rt)
    print("1-D, in-process, as above with the exposure's simulation built anew too (before "
          "either was kept):")
    rb = spawn(1, 1, None, repeats=6, vary=True, exposure="rebuilt", **jr)
    show(rb)
    before, between = _mean_after_first(rb["wall_s"]), _mean_after_first(rt["wall_s"])
    print(f"  -> per run: both built every run {before:.2f} s; the exposure kept "
          f"{between:.2f} s; both kept {mean:.2f} s ({mean / between:.2f}x, "
          f"{mean / before:.2f}x)")
    print("1-D, in-process, the same exposure reused (a study over anneal programs):")
    rr = spawn(1, 1, None, repeats=4, exposure="reused", **jr)
    show(rr)
    reuse = min(rr["wall_s"][1:])
    print(f"  -> anneal with the exposed state reused: {reuse:.2f} s per run "
          f"({reuse / best:.2f}x the full case)")
    print("1-D calibration cases (default_case_runner: configuration + case + garbage "
          "collection), the parameter new in each case:")
    out = subprocess.run([sys.executable, str(HERE), "--calibration", "6"], capture_output=True,
                         text=True, check=True).stdout
    rc = json.loads([ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1][7:])
    per_case = sum(rc["whole"][1:]) / (len(rc["whole"]) - 1)
    parts = [sum(s[k] for s in rc["steps"]) / len(rc["steps"]) for k in range(3)]
    print("  per case: " + ", ".join(f"{x:.2f} s" for x in rc["whole"])
          + f" (mean after the first {per_case:.2f} s)")
    print(f"  -> steps, mean over {len(rc['steps'])} more cases: configuration {parts[0]:.3f} s, "
          f"case {parts[1]:.3f} s, garbage collection {parts[2]:.3f} s")
    if args.only_1d:
        return
    print("2-D default cross-section:")
    r_1 = None
    if not args.only_2_ranks:
        r_1 = spawn(2, 1, args.cells_per_layer, repeats=1, **jr)
        show(r_1)
    r_2 = spawn(2, 2, args.cells_per_layer, repeats=1, **jr)
    show(r_2)
    ratio = "" if r_1 is None else (
        f"1-rank / 2-rank wall-time ratio: {r_1['wall_s'][0] / r_2['wall_s'][0]:.2f} ")
    dofs = r_2["heat_dofs"] + r_2["transport_dofs"]
    print(f"  -> {ratio}(2 ranks: {r_2['wall_s'][0]:.1f} s with {dofs} DOFs; issue 18's "
          f"targets: <= 30 s on 2 ranks, ratio >= 1.8)")


if __name__ == "__main__":
    main()
