"""Scaling models of the direct and the iterative solver paths for large 2-D
cross-sections (issue 18, item 4; docs/scaling.md).

Measures, in one run, on the transport Jacobian of the built-in 2-D cross-section (the
first anneal step after the exposure, 25 °C, dt = 1 s), each case in a fresh child
process (under mpirun for several ranks):

* the problem's own direct solve (the condensed LU, fem_cell.solvers.condensed: the
  trapped fraction and the Dirichlet DOFs eliminated, MUMPS LU on the rest): set-up time
  per new Jacobian (forming the condensed system + MUMPS's numeric factorisation, best
  of 3), solve time (best of 3), MUMPS's factor entries (INFOG(29)), memory summed over
  ranks (INFOG(22)), for mesh levels refined
  laterally and through the thickness, on 1 rank, and the largest level on 2 ranks;
* the Jacobian assembly and the residual evaluation of the same problem.

Then fits, and prints with the fit's inputs:

* power laws t = a N^alpha for the factorisation time and the factor entries over each
  refinement direction (the direct solver's cost grows faster than N; how much depends
  on the direction: a laterally longer strip keeps its separators, a finer thickness
  grows them);
* an Amdahl fraction s from the 1- and 2-rank times, t(p) = t(1) (s + (1 - s)/p): one
  measured point fixes it, so the many-rank numbers are an extrapolation (see
  docs/scaling.md for what that can and cannot say);
* predictions for N = 1e6 and 1e7 transport unknowns on 16-256 ranks: one factorisation,
  one whole default anneal program (the factorisation and solve counts per anneal
  are taken from the measured default 2-D anneal, ``FACTORISATIONS_PER_ANNEAL``), and
  the factor memory per rank.

With ``--solver iterative`` the same levels on the iterative path (FGMRES + the Schur
field split, ``[solver] linear_solver = "iterative"``): per level the Jacobian with its
preconditioner matrices, the preconditioner's set-up, and a random right-hand side
solved to the problem's tolerance (its Krylov iterations and time per iteration; on 2
ranks the MPI messages and reductions per iteration from PETSc's log).  The model
divides the rank-local work among the lateral strips with the overhead the 2-rank run
measured (``split_time``), adds an assumed network latency per message and reduction
stage (``iteration_time``), and prices the default anneal's Jacobians, Krylov
iterations (grown with N and the ranks as the measured anneals' counts grew) and
residuals (``iterative_anneal``).

Usage::

    .venv/bin/python scripts/scaling_model.py                 # default levels (minutes)
    .venv/bin/python scripts/scaling_model.py --quick         # two small levels (seconds)
    .venv/bin/python scripts/scaling_model.py --solver iterative   # the iterative path

No timing assertions anywhere: this script reports.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve()
QUIET = {"output": {"fields": False, "plots": False, "render": False}}

#: Per default 2-D anneal (51 accepted + 5 rejected transport steps, 70 heat steps of
#: its own; transport Jacobian lag 6), measured with PETSc ``-log_view`` and
#: PETSc ``-log_view`` of the default 2-D anneal on 2 ranks (2026-12-06, ninth session;
#: docs/scaling.md): the transport's LU factorisations (``transport_jacobian_lag = 6``:
#: about one per step), linear solves of both problems (the heat's Cholesky solves
#: included, all priced as the transport's: an upper bound), Jacobians assembled (57
#: transport + 59 heat, priced as the transport's) and residuals of both problems
#: (SNES function evaluations).  Before (eighth session): 57, 407, 127, 542
FACTORISATIONS_PER_ANNEAL = 57
SOLVES_PER_ANNEAL = 317
JACOBIANS_PER_ANNEAL = 116
RESIDUALS_PER_ANNEAL = 466

#: Per default 2-D anneal on the iterative path (``linear_solver = "iterative"``; 51 +
#: 5 transport steps, as on the direct path), measured on 2 ranks (2026-12-06,
#: twelfth session, 928e503, summary.json and PETSc ``-log_view``; docs/scaling.md):
#: Jacobians assembled, each with its preconditioner set-up (57 transport + 59 heat),
#: Krylov iterations (4,383 transport, 21.4 per Newton iteration, + 1,292 heat) at
#: ``n`` transport unknowns, residuals (SNES function evaluations); all priced as the
#: transport's: an upper bound.  (Eleventh session, before GAMG's aggressive coarsening
#: for Φ: 117, 7,278 and 507.)
ITERATIVE_PER_ANNEAL = {"n": 226_548, "jacobians": 116, "krylov": 5_675, "residuals": 470}
#: the network, assumed (not measured here): one point-to-point message's latency and
#: one stage of a global reduction's (a reduction over p ranks takes log2(p) stages);
#: about an InfiniBand cluster's MPI latency
MESSAGE_LATENCY_S = 2e-6
REDUCTION_LATENCY_S = 2e-6
#: growth of the anneal's Krylov iterations per Newton iteration with the transport
#: unknowns, as exponents of N, measured over whole exposure + anneal runs
#: (scripts/solver_scaling.py, 2026-12-06, twelfth session; docs/scaling.md): ×1.22
#: over 6.6× the DOFs through the films (3 → 48 cells per layer), ×1.11 over 6.8×
#: laterally (30 → 600 cells).  (Eleventh session, Φ's GAMG with PETSc's coarsening:
#: ×1.08 and ×0.92, from higher counts at the coarse levels)
COUNT_EXPONENT = {"lateral": float(np.log(1.11) / np.log(6.8)),
                  "thickness": float(np.log(1.22) / np.log(6.6))}
#: ... and with the ranks at a fixed size: 17.3 on 1 rank, at most 18.7 on 2, 4 and 8
#: (12 × 120 × 1.045 level, the ramp and a 10-min hold; twelfth session; before the
#: aggressive coarsening for Φ 17.2 → 20.7), taken for every p >= 2
RANK_COUNT_GROWTH = 18.7 / 17.3
#: PETSc's logged vector operations that end in a global reduction (one each)
REDUCING = ("VecMDot", "VecNorm", "VecDot", "VecTDot")

#: levels (``[mesh]`` of the 2-D built-in cell, uniform lateral cells): refined laterally
#: (a longer strip: the through-thickness separators stay) and through the thickness
_UNIFORM = {"lateral_growth": 1.0}
LATERAL = [{**_UNIFORM, "cells_per_layer": 16, "lateral_cells": n} for n in (240, 480, 960)]
THICKNESS = [{**_UNIFORM, "cells_per_layer": c, "lateral_cells": 480} for c in (8, 16, 32, 64)]
QUICK_LATERAL = [{**_UNIFORM, "cells_per_layer": 4, "lateral_cells": n} for n in (60, 120)]
QUICK_THICKNESS = [{**_UNIFORM, "cells_per_layer": c, "lateral_cells": 60} for c in (4, 8)]

#: ranks and problem sizes of the predictions
PREDICT_N = (1e6, 1e7)
PREDICT_P = (16, 64, 256)


# -- the model (pure functions; tests/unit/test_scaling_model.py) ----------------------
def power_law(n, t) -> tuple[float, float]:
    """Least-squares fit t = a n^alpha on log-log axes; returns (a, alpha)."""
    n, t = np.asarray(n, float), np.asarray(t, float)
    if np.unique(n).size < 2 or np.any(n <= 0) or np.any(t <= 0):
        raise ValueError("a power law needs positive points at two sizes at least")
    alpha, log_a = np.polyfit(np.log(n), np.log(t), 1)
    return float(np.exp(log_a)), float(alpha)


def amdahl_fraction(t1: float, tp: float, p: int) -> float:
    """Serial fraction s of t(p) = t(1) (s + (1 - s)/p) through one measured point,
    clipped to [0, 1] (superlinear: 0; slower on more ranks: 1)."""
    if p < 2 or t1 <= 0 or tp <= 0:
        raise ValueError("needs p >= 2 and positive times")
    s = (tp / t1 - 1.0 / p) / (1.0 - 1.0 / p)
    return float(min(max(s, 0.0), 1.0))


def amdahl_time(t1: float, s: float, p: int) -> float:
    """t(p) = t(1) (s + (1 - s)/p)."""
    return t1 * (s + (1.0 - s) / p)


def predict(fit: tuple[float, float], n: float) -> float:
    a, alpha = fit
    return a * n ** alpha


# -- measurement (child process) ---------------------------------------------------------
def _best(f, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        out.append(time.perf_counter() - t0)
    return min(out)


def measure(mesh: dict, solver: str = "direct") -> dict:
    from fem_cell._dolfinx import MPI, PETSc
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    if solver == "iterative":
        PETSc.Log.begin()     # the Krylov solve's messages and reductions
    comm = MPI.COMM_WORLD
    cfg = load_config(overrides={**QUIET, "mesh": {"dim": 2, **mesh},
                                 "solver": {"linear_solver": solver}})
    model = CellModel(cfg, comm)
    chem = model.chemistry()
    p = chem.transport_problem
    p.set_time_level(1.0, 1.0, 1, None)
    ok, its, _ = p.solve()
    if not ok:
        raise RuntimeError(f"the transport step did not converge ({mesh})")
    snes = p.snes
    J, P, (_, _, jac_kwargs) = snes.getJacobian()
    x = p.newton_vector        # (one rank: SNES never solved, fem_cell.solvers.newton)
    f = x.duplicate()
    comm.Barrier()
    t_res = _best(lambda: snes.computeFunction(x, f))
    if solver == "iterative":
        out = _measure_iterative(p, snes, J, P, x, jac_kwargs)
        out.update({"mesh": mesh, "ranks": comm.size, "n": J.getSize()[0], "newton": its,
                    "t_residual_s": t_res})
        f.destroy()
        model.destroy()
        return out
    # the Jacobian's assembly itself (SNES's callback would skip it: the problem decides
    # when a Jacobian is due, TransientProblem._jacobian_due; outside a solve it is not)
    from dolfinx.fem.petsc import assemble_matrix

    def assemble():
        J.zeroEntries()
        assemble_matrix(J, jac_kwargs["jacobian"], jac_kwargs["bcs"], diag=1.0)
        J.assemble()

    t_jac = _best(assemble)

    # the problem's own linear solve: on the direct path the condensed LU (the trapped
    # fraction and the Dirichlet DOFs eliminated, MUMPS on the rest:
    # fem_cell.solvers.condensed), so its set-up time includes forming that system
    ksp = snes.getKSP()
    pc = ksp.getPC()
    first_row = J.getOwnershipRange()[0]

    def factor():
        # a new state of the matrix (same values): PCSetUp factorises it again
        J.setValue(first_row, first_row, 0.0, addv=PETSc.InsertMode.ADD_VALUES)
        J.assemble()
        ksp.setOperators(J, P)
        pc.setUp()

    t0 = time.perf_counter()
    factor()              # (the problem's first solve did the ordering already)
    t_first = time.perf_counter() - t0
    t_factor = _best(factor)
    b = J.createVecLeft()
    b.setRandom()
    y = b.duplicate()
    t_solve = _best(lambda: ksp.solve(b, y))
    condensed = p._condensed
    F = condensed.inner_factor() if condensed is not None else pc.getFactorMatrix()
    out = {"mesh": mesh, "ranks": comm.size, "n": J.getSize()[0], "newton": its,
           "factorised": condensed.factorised if condensed is not None else J.getSize()[0],
           "t_first_s": t_first, "t_factor_s": t_factor, "t_solve_s": t_solve,
           "t_jacobian_s": t_jac, "t_residual_s": t_res,
           "factor_entries": float(F.getMumpsInfog(29)),
           "flops": float(F.getMumpsRinfog(3)),
           "memory_total_mb": float(F.getMumpsInfog(22)),
           "memory_max_mb": float(F.getMumpsInfog(21))}
    for obj in (b, y, f):
        obj.destroy()
    model.destroy()
    return out


def _measure_iterative(p, snes, J, P, x, jac_kwargs) -> dict:
    """The iterative path's costs on the problem's own Krylov solver (FGMRES + the Schur
    field split, fem_cell.solvers.linear.iterative_options): the Jacobian with its
    preconditioner matrices (the vertex-rule matrix and the Schur complement's), the
    preconditioner's set-up (field-split blocks, AMG hierarchy, overlapping ILU(0)),
    and a solve of a random right-hand side to the problem's tolerance: its Krylov
    iterations, the time per iteration and, from PETSc's log, the MPI messages and
    reductions per iteration on this rank."""
    from dolfinx.fem.petsc import assemble_jacobian

    from fem_cell._dolfinx import PETSc

    def jacobian():
        assemble_jacobian(snes, x, J, P, **jac_kwargs)
        p._after_jacobian(J, 0)           # the Schur complement's preconditioner matrix

    t_jac = _best(jacobian)
    ksp = snes.getKSP()
    pc = ksp.getPC()
    first_row = J.getOwnershipRange()[0]

    S = p._schur_matrix
    S_row = S.getOwnershipRange()[0]

    def setup():
        # a new state of the matrices (same values): PCSetUp and the blocks' set-up
        # (which PETSc defers to the first solve) build everything again
        for M, row in ((J, first_row), (P, first_row), (S, S_row)):
            M.setValue(row, row, 0.0, addv=PETSc.InsertMode.ADD_VALUES)
            M.assemble()
        ksp.setOperators(J, P)
        pc.setUp()
        pc.setUpOnBlocks()

    setup()
    t_setup = _best(setup)
    b = J.createVecLeft()
    b.setRandom()
    y = b.duplicate()
    # PETSc's log counts the messages of an event (nested ones included), not its
    # reductions: those are the calls of the reducing vector operations
    events = {name: PETSc.Log.Event(name) for name in ("KSPSolve", *REDUCING)}
    before = {name: e.getPerfInfo() for name, e in events.items()}
    t0 = time.perf_counter()
    ksp.solve(b, y)
    t_solve = time.perf_counter() - t0
    after = {name: e.getPerfInfo() for name, e in events.items()}
    messages = after["KSPSolve"]["numMessages"] - before["KSPSolve"]["numMessages"]
    reductions = sum(after[n]["count"] - before[n]["count"] for n in REDUCING)
    its = ksp.getIterationNumber()
    if ksp.getConvergedReason() <= 0 or its < 1:
        raise RuntimeError(f"the Krylov solve did not converge ({its} iterations)")
    t_solve = min(t_solve, _best(lambda: ksp.solve(b, y), repeats=2))
    for v in (b, y):
        v.destroy()
    return {"solver": "iterative", "t_jacobian_s": t_jac, "t_setup_s": t_setup,
            "krylov_its": its, "t_iteration_s": t_solve / its,
            "messages_per_iteration": messages / its,
            "reductions_per_iteration": reductions / its}


def child(args) -> None:
    res = measure(json.loads(args.case), args.solver)
    from fem_cell._dolfinx import MPI

    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(res), flush=True)


def spawn(mesh: dict, ranks: int, solver: str = "direct") -> dict:
    py = sys.executable
    cmd = [py, str(HERE), "--case", json.dumps(mesh), "--solver", solver]
    if ranks > 1:
        mpirun = Path(py).with_name("mpirun")    # the venv's (mpich wheel), else PATH's
        cmd = [str(mpirun) if mpirun.exists() else (shutil.which("mpirun") or "mpirun"),
               "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# -- report --------------------------------------------------------------------------------
def show(r: dict) -> None:
    print(f"  {json.dumps(r['mesh']):40s} {r['ranks']} rank(s): N = {r['n']:>8d}  "
          f"({r['factorised']} factorised)  factor {r['t_factor_s']:7.3f} s  "
          f"solve {r['t_solve_s'] * 1e3:7.1f} ms  "
          f"Jacobian {r['t_jacobian_s'] * 1e3:6.1f} ms  "
          f"residual {r['t_residual_s'] * 1e3:6.1f} ms  "
          f"entries {r['factor_entries']:.3g}  flops {r['flops']:.3g}  "
          f"memory {r['memory_total_mb']:.0f} MB", flush=True)


def measure_levels(quick: bool, solver: str, show_row, fitted: dict[str, str]):
    """Measure the levels refined laterally and through the thickness on 1 rank (a
    level both directions share once), print each and the power-law exponents of the
    ``fitted`` quantities (key: label), then the largest level on 2 ranks.  Returns
    (fits per direction, the largest 1-rank result, its 2-rank result)."""
    directions = (("lateral", QUICK_LATERAL if quick else LATERAL),
                  ("thickness", QUICK_THICKNESS if quick else THICKNESS))
    fits = {}
    runs = {}
    for name, levels in directions:
        print(f" refined {name}ly:" if name == "lateral" else " refined through the thickness:")
        rs = []
        for mesh in levels:
            key = json.dumps(mesh, sort_keys=True)
            r = runs.get(key) or spawn(mesh, 1, solver)
            runs[key] = r
            show_row(r)
            rs.append(r)
        n = [r["n"] for r in rs]
        fits[name] = {q: power_law(n, [r[q] for r in rs]) for q in fitted}
        print(f"  -> exponents in N ({name}): "
              + ", ".join(f"{label} {fits[name][q][1]:.2f}" for q, label in fitted.items()))
    largest = max(runs.values(), key=lambda r: r["n"])
    print(" the largest level on 2 ranks:")
    r2 = spawn(largest["mesh"], 2, solver)
    show_row(r2)
    return fits, largest, r2


def show_iterative(r: dict) -> None:
    print(f"  {json.dumps(r['mesh']):40s} {r['ranks']} rank(s): N = {r['n']:>8d}  "
          f"Krylov {r['krylov_its']:3d} its  per iteration {r['t_iteration_s'] * 1e3:7.2f} ms  "
          f"set-up {r['t_setup_s']:7.3f} s  Jacobian {r['t_jacobian_s'] * 1e3:7.1f} ms  "
          f"residual {r['t_residual_s'] * 1e3:6.1f} ms  per iteration: "
          f"{r['messages_per_iteration']:.1f} messages, "
          f"{r['reductions_per_iteration']:.1f} reductions", flush=True)


def split_time(t1: float, t2: float, p: int) -> float:
    """A rank-local cost on p ranks: the 1-rank time divided among the strips, with the
    overhead the 2-rank run measured (halo, the fractions' overlap, shared memory
    bandwidth), e = 2 t2 / t1 - 1 (0 if negative), doubled on p > 2 where a strip has
    two neighbours.  (The lateral strips make every rank's part the same thickness,
    so the per-unknown cost of the level carries over.)"""
    if p < 2:
        return t1
    e = max(2.0 * t2 / t1 - 1.0, 0.0)
    return t1 / p * (1.0 + (e if p == 2 else 2.0 * e))


def iteration_time(t_compute: float, messages: float, reductions: float, p: int) -> float:
    """One Krylov iteration on p ranks: the compute part (already scaled to p) plus the
    network's latency, :data:`MESSAGE_LATENCY_S` per neighbour message (a strip has
    one neighbour on 2 ranks, two on more: the 2-rank count doubled) and
    :data:`REDUCTION_LATENCY_S` per log2(p) stage of each global reduction."""
    if p < 2:
        return t_compute
    per_message = messages * (2 if p > 2 else 1) * MESSAGE_LATENCY_S
    return t_compute + per_message + reductions * REDUCTION_LATENCY_S * np.log2(p)


def iterative_anneal(costs: dict, krylov: float) -> float:
    """One default anneal on the iterative path from the costs of one Jacobian (with
    its preconditioner matrices), one preconditioner set-up, one Krylov iteration and
    one residual, and the anneal's Krylov iterations ``krylov``."""
    c = ITERATIVE_PER_ANNEAL
    return (c["jacobians"] * (costs["t_jacobian_s"] + costs["t_setup_s"])
            + krylov * costs["t_iteration_s"] + c["residuals"] * costs["t_residual_s"])


def main_iterative(args) -> None:
    print("Transport Jacobian of the 2-D built-in cell, the iterative path (FGMRES + the "
          "Schur field split: AMG for the potential, overlapping ILU(0) for the "
          "fractions; measured, this machine; a random right-hand side to 1e-8):")
    costs = ("t_iteration_s", "t_setup_s", "t_jacobian_s", "t_residual_s")
    fits, largest, r2 = measure_levels(
        args.quick, "iterative", show_iterative,
        {"t_iteration_s": "per iteration", "t_setup_s": "set-up",
         "t_jacobian_s": "Jacobian", "t_residual_s": "residual",
         "krylov_its": "Krylov iterations"})
    ratio = {q: largest[q] / r2[q] for q in costs}
    rank_growth = max(RANK_COUNT_GROWTH, r2["krylov_its"] / largest["krylov_its"])
    print("  -> 1-rank/2-rank ratios: "
          + ", ".join(f"{q[2:-2]} {ratio[q]:.2f} (overhead "
                      f"{max(2.0 / ratio[q] - 1.0, 0.0):.2f})" for q in costs)
          + f"; Krylov iterations x{r2['krylov_its'] / largest['krylov_its']:.2f}")

    c = ITERATIVE_PER_ANNEAL
    print("\nModel predictions (extrapolated: power laws over the measured levels, the "
          "rank-local work divided among the strips with the 2-rank overhead, the network "
          "assumed; docs/scaling.md):")
    print(f"  per anneal: {c['jacobians']} Jacobians and preconditioner set-ups, "
          f"{c['krylov']} Krylov iterations at N = {c['n']:,}, {c['residuals']} residuals "
          f"(measured default 2-D anneal); its Krylov iterations grown as N^"
          f"{COUNT_EXPONENT['lateral']:.2f} laterally and N^{COUNT_EXPONENT['thickness']:.2f}"
          f" through the thickness (measured anneals; in brackets: as the random right-hand "
          f"side's N^{fits['lateral']['krylov_its'][1]:.2f} and "
          f"N^{fits['thickness']['krylov_its'][1]:.2f} above, when positive) and "
          f"x{rank_growth:.2f} on p >= 2; network: {MESSAGE_LATENCY_S * 1e6:.0f} us per "
          f"message, {REDUCTION_LATENCY_S * 1e6:.0f} us per reduction stage (assumed), "
          f"{r2['messages_per_iteration']:.0f} messages and "
          f"{r2['reductions_per_iteration']:.0f} reductions per iteration (measured, 2 ranks)")

    def anneal(n: float, name: str, p: int) -> tuple[float, float, float]:
        fit = fits[name]
        scaled = {q: split_time(predict(fit[q], n), predict(fit[q], n) / ratio[q], p)
                  for q in costs}
        scaled["t_iteration_s"] = iteration_time(
            scaled["t_iteration_s"], r2["messages_per_iteration"],
            r2["reductions_per_iteration"], p)
        ranks = rank_growth if p > 1 else 1.0
        krylov = c["krylov"] * (n / c["n"]) ** COUNT_EXPONENT[name] * ranks
        harsh = c["krylov"] * (n / c["n"]) ** max(fit["krylov_its"][1], 0.0) * ranks
        return (scaled["t_iteration_s"], iterative_anneal(scaled, krylov),
                iterative_anneal(scaled, harsh))

    print("  N        direction  " + "".join(f"  p={p:<4d} iteration / anneal (harsh)     "
                                               for p in PREDICT_P))
    for n in PREDICT_N:
        for name in ("lateral", "thickness"):
            cells = []
            for p in PREDICT_P:
                t_it, t_an, t_harsh = anneal(n, name, p)
                cells.append(f"  {t_it * 1e3:8.2f} ms / {t_an / 60:6.1f} min "
                             f"({t_harsh / 60:6.1f})")
            print(f"  {n:8.0e} {name:10s}" + "".join(cells))
    per_rank = PREDICT_N[0] / PREDICT_P[0]
    print(f"  weak scaling at {per_rank:,.0f} transport unknowns per rank: " + ", ".join(
        f"{n:.0e} on {round(n / per_rank)} ranks "
        + " / ".join(f"{anneal(n, name, round(n / per_rank))[1] / 60:.1f} min ({name})"
                     for name in ("lateral", "thickness"))
        for n in PREDICT_N))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="two small levels per direction")
    ap.add_argument("--solver", choices=("direct", "iterative"), default="direct",
                    help="the linear solver path modelled ([solver] linear_solver)")
    args = ap.parse_args()
    if args.case:
        child(args)
        return
    if args.solver == "iterative":
        main_iterative(args)
        return
    print("Transport Jacobian of the 2-D built-in cell, the problem's direct solve (the "
          "condensed LU: MUMPS on the unknowns left; measured, this machine):")
    fits, largest, r2 = measure_levels(
        args.quick, "direct", show,
        {"t_factor_s": "factorisation", "t_solve_s": "solve",
         "factor_entries": "factor entries", "memory_total_mb": "memory",
         "t_jacobian_s": "Jacobian", "t_residual_s": "residual"})
    s = {q: amdahl_fraction(largest[q], r2[q], 2)
         for q in ("t_factor_s", "t_solve_s", "t_jacobian_s", "t_residual_s")}
    print("  -> 1-rank/2-rank ratios: "
          + ", ".join(f"{q[2:-2]} {largest[q] / r2[q]:.2f} (Amdahl s = {s[q]:.2f})" for q in s))

    print("\nModel predictions (extrapolated: power laws over the measured levels, Amdahl "
          "through the 2-rank point; docs/scaling.md):")
    print(f"  per anneal: {FACTORISATIONS_PER_ANNEAL} factorisations, {SOLVES_PER_ANNEAL} "
          f"solves, {JACOBIANS_PER_ANNEAL} Jacobians, {RESIDUALS_PER_ANNEAL} residuals "
          "(measured default 2-D anneal)")
    header = "  N        direction  " + "".join(f"  p={p:<4d} factor / anneal / mem per rank"
                                               for p in PREDICT_P)
    print(header)
    for n in PREDICT_N:
        for name in ("lateral", "thickness"):
            fit = fits[name]
            cells = []
            for p in PREDICT_P:
                tf = amdahl_time(predict(fit["t_factor_s"], n), s["t_factor_s"], p)
                ts = amdahl_time(predict(fit["t_solve_s"], n), s["t_solve_s"], p)
                tj = amdahl_time(predict(fit["t_jacobian_s"], n), s["t_jacobian_s"], p)
                tr = amdahl_time(predict(fit["t_residual_s"], n), s["t_residual_s"], p)
                anneal = (FACTORISATIONS_PER_ANNEAL * tf + SOLVES_PER_ANNEAL * ts
                          + JACOBIANS_PER_ANNEAL * tj + RESIDUALS_PER_ANNEAL * tr)
                mem = predict(fit["memory_total_mb"], n) / p / 1024
                cells.append(f"  {tf:8.1f} s / {anneal / 60:7.1f} min / {mem:6.1f} GB")
            print(f"  {n:8.0e} {name:10s}" + "".join(cells))


if __name__ == "__main__":
    main()
