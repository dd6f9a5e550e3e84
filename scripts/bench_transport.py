"""Per-step cost of the coupled Li⁺/H⁺ transport against the floor any dolfinx code pays.

Both run in this process on the same 1-D film mesh, with the same fixed step sequence
(backward Euler, ``--steps`` steps of ``--dt``), the same direct solver (the one our
problem gets: on one rank the band LU of ``fem_cell.solvers.banded``, else MUMPS) and
Newton with the full step (ours: on one rank ``fem_cell.solvers.newton.DirectNewton``,
SNES newtonls's iteration without SNES; the floor: SNES newtonls, no line search):

* **ours**: the default cell's transport problem (``fem_cell.model.transport``: mobile
  H⁺ in LiCoO2 and Li3PO4, trapped H⁺, the potential Φ; exchange, sink, trapping) started
  from the simulated exposure, at a uniform 150 °C (the heat solve is not timed), each
  step started as the time stepper starts it: from its predictor
  (``fem_cell.solvers.time_stepping.predict``: backward Euler, linear extrapolation
  through the last two states), except for the first ``--settle`` steps after the jump
  to 150 °C, started from the last state (as the stepper does after a restart);
  ``--no-predictor`` starts every step from the last state;
* **floor**: a minimal single-field backward-Euler diffusion step written here with
  plain dolfinx (one P1 field on the same mesh, ``NonlinearProblem``), i.e. form
  assembly, one factorisation and the Newton loop, and nothing else (linear: one
  Newton iteration whatever its start).

The two are timed in ``--rounds`` alternating rounds (ours, floor, ours, floor, …): on a
machine whose speed drifts by ±25 % from one run to the next (measured here) a round of
ours and the floor's round right after it see about the same machine, so each round
gives one paired ratio, and the ratio reported is their median.  Prints DOFs, Newton
iterations per step and the wall time per step of both in every round (with the best of
each), and on its last line ``floor ratio: X`` = the median of the rounds' ratios of our
time per step to the floor's (the issue's target is ≤ 1.5).  Before it, the part of
each step that is the form kernels' arithmetic alone:
every residual and Jacobian the step assembled, timed again by the compiled loop of
``fem_cell.solvers.local_assembly`` (coefficients gathered, the kernels called, their
values added at positions found beforehand; no solver) — a lower bound on the step
that no solver or bookkeeping can go below, and its ratio.
Times, not assertions: tests never time anything.

With ``--snes`` every round also times ours with SNES's Newton loop (as before
``fem_cell.solvers.newton``: the same iterates bit for bit) and prints its floor ratio
and how much slower it is.
With ``--breakdown`` a second run of ours, with timers around the solver's callbacks,
prints where a step goes (residuals, Jacobian, band LU set-up and solves, Newton test,
the stepper's own work).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_transport.py [--snes] [--breakdown]
"""

from __future__ import annotations

import argparse
import time
from contextlib import contextmanager

import numpy as np
import ufl

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.model.chemistry import clear_kept_anneals
from fem_cell.solvers.banded import use_banded
from fem_cell.solvers.linear import direct_solver_options
from fem_cell.solvers.problem import TransientProblem
from fem_cell.solvers.time_stepping import predict


def kernel_time(F, J, bcs, A, repeats: int = 400) -> tuple[float, float]:
    """Seconds per assembly of the residual form ``F`` into a numpy array and of the
    Jacobian form ``J`` into the PETSc matrix ``A``, each by the compiled loop of
    :mod:`fem_cell.solvers.local_assembly` (coefficients gathered, kernels called, values
    added at positions found beforehand): the kernels' arithmetic and the least work
    around it; dolfinx's C++ assembler (into plain arrays, coefficients and constants
    packed beforehand) where that loop cannot be used."""
    from dolfinx.fem.assemble import (
        _assemble_matrix_csr,
        _assemble_vector_array,
        pack_coefficients,
        pack_constants,
    )

    from fem_cell.solvers.local_assembly import LocalAssembler

    b = np.zeros(F.function_spaces[0].dofmap.index_map.size_local
                 * F.function_spaces[0].dofmap.index_map_bs)
    res, jac = LocalAssembler(F), LocalAssembler(J, bcs=bcs, matrix=A)
    if res.usable and jac.usable:
        calls = (lambda: res.vector(b), lambda: jac.matrix(A))
    else:
        M = fem.create_matrix(J)
        cF, kF = pack_coefficients(F), pack_constants(F)
        cJ, kJ = pack_coefficients(J), pack_constants(J)
        calls = (lambda: _assemble_vector_array(b, F, constants=kF, coeffs=cF),
                 lambda: _assemble_matrix_csr(M, J, bcs, constants=kJ, coeffs=cJ))
    out = []
    for assemble in calls:
        assemble()
        t = time.perf_counter()
        for _ in range(repeats):
            assemble()
        out.append((time.perf_counter() - t) / repeats)
    return out[0], out[1]


#: the parts of our step timed by ``--breakdown``: label → (owner, callback name) pairs
#: (the Jacobian: the compiled loop of fem_cell.solvers.local_assembly, or dolfinx's
#: assembler where that is not used)
TIMED_PARTS = {
    "residuals (assembly, Dirichlet rows)": (("P", "_residual"),),
    "Jacobian (assembly)": (("Local", "matrix"), ("problem", "_assemble_jacobian")),
    "band LU set-up (factorisation)": (("BandedLU", "setUp"),),
    "band LU solves": (("BandedLU", "apply"),),
    "Newton test (with its look-ahead solve)": (("P", "_newton_test"),),
    "stepper: history": (("P", "set_history"),),
    "stepper: state copies": (("P", "set_state"), ("P", "get_state")),
    "stepper: time level": (("P", "set_time_level"),),
    "whole Newton solve": (("P", "solve"),),
}


@contextmanager
def timers():
    """Wall time per step of each part of our step, by timers around the callbacks
    (they cost a little themselves: a separate run).  Yields the dict of totals."""
    from fem_cell.solvers import banded, local_assembly, problem

    owners = {"P": problem.TransientProblem, "problem": problem, "BandedLU": banded.BandedLU,
              "Local": local_assembly.LocalAssembler}
    parts = [(label, owners[owner], name) for label, pairs in TIMED_PARTS.items()
             for owner, name in pairs]
    totals: dict[str, float] = {}
    saved = []
    for label, owner, name in parts:
        f = getattr(owner, name)
        saved.append((owner, name, f))

        def timed(*a, _f=f, _label=label, **k):
            t = time.perf_counter()
            try:
                return _f(*a, **k)
            finally:
                totals[_label] = totals.get(_label, 0.0) + time.perf_counter() - t

        setattr(owner, name, timed)
    try:
        yield totals
    finally:
        for owner, name, f in saved:
            setattr(owner, name, f)


def ours(cells_per_layer: int, steps: int, dt: float, settle: int, predictor: bool,
         kernels: bool = True, snes: bool = False):
    # SNES or Newton without it (fem_cell.solvers.newton): a problem built anew (a
    # kept one would carry the other run's choice)
    clear_kept_anneals()
    TransientProblem.DIRECT_NEWTON = not snes
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": cells_per_layer},
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_SELF)
    chem = model.chemistry(expose=True)
    chem.T_film.x.array[:] = 423.15                      # the hold, without the heat solve
    tp = chem.transport_problem
    dofs = sum(f.space.dofmap.index_map.size_local for f in tp.fields)
    banded = tp.solver_counts()["factorisation"] == "band LU"
    states: list = [tp.get_state()]
    its, t = [], 0.0
    residuals, jacobians = tp.residuals, tp.jacobians
    wall = time.perf_counter()
    for i in range(steps):
        start = (predict(states, [dt], dt, 1) if predictor and i >= settle and len(states) > 1
                 else states[0])
        tp.set_history(states[0], states[-1])
        tp.set_state(start)
        t += dt
        tp.set_time_level(t, dt, 1, None)
        ok, n, _ = tp.solve()
        if not ok:
            raise RuntimeError("our transport step did not converge")
        its.append(n)
        states = [tp.get_state(), states[0]]
    wall = time.perf_counter() - wall
    film = chem.film
    p = tp._problem
    t_res, t_jac = (kernel_time(p.F, p.J, tp._newton_bcs, tp.snes.getJacobian()[0])
                    if kernels else (0.0, 0.0))
    counts = ((tp.residuals - residuals) / steps, (tp.jacobians - jacobians) / steps)
    kernels = counts[0] * t_res + counts[1] * t_jac
    model.destroy()
    return film, banded, dofs, float(np.mean(its)), wall / steps, (kernels, counts, t_res, t_jac)


def floor(film, banded: bool, steps: int, dt: float, kernels: bool = True):
    """One P1 field, backward Euler diffusion, on the same mesh: the floor."""
    from dolfinx.fem.petsc import NonlinearProblem

    V = fem.functionspace(film.mesh, ("Lagrange", 1))
    u, u_n, v = fem.Function(V), fem.Function(V), ufl.TestFunction(V)
    u_n.interpolate(lambda x: np.exp(-((x[0] - x[0].min()) / (np.ptp(x[0]) + 1e-30)) ** 2))
    u.x.array[:] = u_n.x.array
    D = fem.Constant(film.mesh, 1.0e-3)
    k = fem.Constant(film.mesh, 1.0 / dt)
    F = k * (u - u_n) * v * ufl.dx + D * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx
    # at least one iteration per step, as ours (whose Newton test never stops at the
    # start): near the steady state the first residual would pass the absolute
    # tolerance and the floor's step would skip its Jacobian and solve
    opts = {"snes_type": "newtonls", "snes_linesearch_type": "none", "snes_rtol": 1e-10,
            "snes_atol": 1e-12, "snes_force_iteration": True, **direct_solver_options()}
    problem = NonlinearProblem(F, u, petsc_options_prefix="bench_floor_", petsc_options=opts)
    if banded:
        use_banded(problem.solver.getKSP().getPC(), direct_solver_options())
    its = []
    wall = time.perf_counter()
    for _ in range(steps):
        problem.solve()
        its.append(problem.solver.getIterationNumber())
        u_n.x.array[:] = u.x.array
    wall = time.perf_counter() - wall
    # SNES per step: a residual at the start and after each iteration, a Jacobian per
    # iteration (no lag)
    n = float(np.mean(its))
    t_res, t_jac = kernel_time(problem.F, problem.J, [], problem.A) if kernels else (0.0, 0.0)
    kernels = (n + 1) * t_res + n * t_jac
    problem.solver.destroy()
    return V.dofmap.index_map.size_local, n, wall / steps, (kernels, (n + 1, n), t_res, t_jac)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells-per-layer", type=int, default=64)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--dt", type=float, default=5.0, help="step (s)")
    ap.add_argument("--settle", type=int, default=5,
                    help="first steps started from the last state, not the predictor")
    ap.add_argument("--rounds", type=int, default=5,
                    help="alternating timed rounds of ours and the floor (best of each)")
    ap.add_argument("--no-predictor", action="store_true",
                    help="start every step of ours from the last state")
    ap.add_argument("--snes", action="store_true",
                    help="also time ours with SNES's Newton loop (before "
                         "fem_cell.solvers.newton) in every round, and its floor ratio")
    ap.add_argument("--breakdown", action="store_true",
                    help="also time each part of our step (a separate run with timers "
                         "around the solver's callbacks)")
    args = ap.parse_args()
    pred = not args.no_predictor
    if args.rounds < 1:
        ap.error("--rounds must be >= 1")
    film, banded, *_ = ours(args.cells_per_layer, 5, args.dt, args.settle, pred)  # JIT warm-up
    floor(film, banded, 5, args.dt)
    if args.snes:
        ours(args.cells_per_layer, 5, args.dt, args.settle, pred, snes=True)
    mine, base, snes = [], [], []
    for r in range(args.rounds):  # alternated; the kernels timed in the first round only
        mine.append(ours(args.cells_per_layer, args.steps, args.dt, args.settle, pred,
                         kernels=r == 0))
        base.append(floor(mine[-1][0], mine[-1][1], args.steps, args.dt, kernels=r == 0))
        if args.snes:
            snes.append(ours(args.cells_per_layer, args.steps, args.dt, args.settle, pred,
                             kernels=False, snes=True))
    film, banded, dofs, its, _, kern = mine[0]
    fdofs, fits, _, fkern = base[0]
    per_step = min(m[4] for m in mine)
    fper = min(b[2] for b in base)
    cells = film.mesh.topology.index_map(film.dim).size_local
    print(f"film mesh: {cells} cells; {args.steps} backward-Euler steps of {args.dt:g} s; "
          f"direct solver: {'band LU' if banded else 'MUMPS'}; ours started from "
          + (f"the predictor (after {args.settle} steps)" if pred else "the last state"))
    for r, (m, b) in enumerate(zip(mine, base, strict=True)):
        with_snes = (f"; ours with SNES {1e3 * snes[r][4]:.3f} ms/step, ratio "
                     f"{snes[r][4] / b[2]:.2f}" if snes else "")
        print(f"  round {r + 1}: ours {1e3 * m[4]:.3f} ms/step, floor {1e3 * b[2]:.3f} ms/step, "
              f"ratio {m[4] / b[2]:.2f}{with_snes}")
    print(f"  ours : {dofs:6d} DOFs (coupled x_H, x_t, Φ), {its:.2f} Newton iterations/step, "
          f"{1e3 * per_step:.3f} ms/step (best of {args.rounds})")
    print(f"  floor: {fdofs:6d} DOFs (one P1 field),        {fits:.2f} Newton iterations/step, "
          f"{1e3 * fper:.3f} ms/step (best of {args.rounds})")
    for name, (k, (nr, nj), tr, tj), total in (("ours", kern, per_step), ("floor", fkern, fper)):
        print(f"  {name + ' kernels only:':21s}{1e3 * k:.3f} ms/step ({nr:.2f} residuals x "
              f"{1e6 * tr:.1f} us + {nj:.2f} Jacobians x {1e6 * tj:.1f} us; "
              f"{100 * k / total:.0f} % of the step)")
    print(f"  ours' kernels alone / the floor's whole step: {kern[0] / fper:.2f} (a lower "
          "bound on the floor ratio for these forms)")
    if args.breakdown:
        with timers() as totals:
            *_, timed_step, _ = ours(args.cells_per_layer, args.steps, args.dt, args.settle,
                                     pred, kernels=False)
        print(f"  ours, part by part ({1e3 * timed_step:.3f} ms/step with the timers; the "
              "Newton test's look-ahead solve is also under the band LU's solves):")
        for label in dict.fromkeys(TIMED_PARTS):
            print(f"    {label:42s}{1e6 * totals.get(label, 0.0) / args.steps:7.1f} us/step")
    if snes:
        before = [n[4] / b[2] for n, b in zip(snes, base, strict=True)]
        gain = [n[4] / m[4] for n, m in zip(snes, mine, strict=True)]
        print(f"  ours with SNES's Newton loop: {1e3 * min(n[4] for n in snes):.3f} ms/step "
              f"(best of {args.rounds}), floor ratio {float(np.median(before)):.2f} (median); "
              f"with SNES / without: {float(np.median(gain)):.2f} (median of the rounds, "
              f"{min(gain):.2f}-{max(gain):.2f})")
    ratios = [m[4] / b[2] for m, b in zip(mine, base, strict=True)]
    print(f"  best of each: {per_step / fper:.2f}; rounds' ratios {min(ratios):.2f}-"
          f"{max(ratios):.2f}")
    print(f"floor ratio: {float(np.median(ratios)):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
