"""Can the ROM's shifted solves go iterative?  A probe (issue 18, item 5; docs/scaling.md).

The impedance sweep's reduced-order model factorises the real shifted operator
K = J + σM of the small-signal system (fields φ and c, docs/impedance.md) at a few real
shifts σ with MUMPS.  This script measures, in one run, whether the iterative path's
preconditioner carries over to K: FGMRES with a multiplicative field split (φ | c) and
one AMG V-cycle per split (:func:`fem_cell.solvers.linear.iterative_options`), built on
the vertex-rule operator P = J_v + σM_v (the cell integrals by the vertex rule,
:func:`fem_cell.forms.vertex_quadrature`, as the transport's iterative path does).

For each of the sweep's first shifts (:func:`fem_cell.solvers.impedance.initial_shifts`
of the job's default band, 10 mHz – 1 MHz, 4 shifts) it solves K x = b0 (the ROM's first
right-hand side) with the ROM's own solvers (``_LU``, ``_Krylov``) and prints: MUMPS's
time (factorisation + solve), and per AMG level smoother (the package uses
``ROM_AMG_SMOOTHER``, Jacobi; PETSc's default is SOR) the Krylov iterations,
PETSc's converged reason, the true relative residual ‖Kx − b0‖/‖b0‖ and the time.  The
AMG set-up may draw random vectors (eigenvalue estimates), so ``--repeats`` solves each
case again with a fresh solver.

Usage::

    .venv/bin/python scripts/rom_iterative_probe.py              # 2-D default cell (minutes)
    .venv/bin/python scripts/rom_iterative_probe.py --quick      # 1-D cell (seconds)
    .venv/bin/mpirun -n 2 .venv/bin/python scripts/rom_iterative_probe.py

The last line reads ``iterative shifted solves: k of n converged`` (to ``--rtol``).
No timing assertions anywhere: this script reports.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

QUIET = {"output": {"fields": False, "plots": False, "render": False}}
#: the impedance job's default band (fem_cell.jobs.impedance) and the ROM's default shifts
BAND_HZ = (1e-2, 1e6)
N_SHIFTS = 4
#: the AMG level smoothers compared (PETSc GAMG's mg_levels_pc_type)
SMOOTHERS = ("sor", "jacobi")


def build(dim: int, state: str, temperature_c: float, comm):
    """The small-signal system of the built-in cell (``dim``-D mesh) at ``state``
    (``"pristine"`` or ``"exposed"``) and ``temperature_c`` (°C); the small-signal
    model as the impedance job builds it (refined LiCoO2 interface)."""
    from fem_cell.config import load_config
    from fem_cell.model import CellModel
    from fem_cell.solvers.impedance import ImpedanceSolver

    cfg = load_config(overrides={**QUIET, "mesh": {"dim": dim}})
    model = CellModel(cfg, comm)
    op = model.operating_point(proton_fraction="exposed" if state == "exposed" else None)
    cm = model.small_signal(op, temperature_c + 273.15, prefix="probe_imp_")
    solver = ImpedanceSolver(cm.model.problem, cm.model.physics, prefix="probe_eis_")
    return model, solver


def solve_iterative(system, sigma: float, b: np.ndarray, smoother: str, rtol: float):
    """K x = b at σ by the package's iterative shifted solve (fem_cell.solvers.rom._Krylov,
    the ROM's own code path) with GAMG's level smoother ``smoother``: iterations,
    PETSc's converged reason, true relative residual, time."""
    from fem_cell.errors import ConvergenceError
    from fem_cell.solvers.rom import _Krylov

    kr = _Krylov(system, smoother=smoother, rtol=rtol)
    try:
        t0 = time.perf_counter()
        kr.factor(sigma)
        try:
            x = kr.solve(b)
            reason = int(kr.ksp.getConvergedReason())
        except ConvergenceError as e:
            x, reason = None, int(e.reason)
        wall = time.perf_counter() - t0
        its = kr.ksp.getIterationNumber()
    finally:
        kr.destroy()
    if x is None:
        return its, reason, float("nan"), wall
    K = system.shifted_operator(sigma)
    X, R = K.createVecs()
    X.getArray()[:] = x
    K.mult(X, R)
    R.getArray()[:] -= b
    res = R.norm() / system._norm(b)
    for obj in (K, X, R):
        obj.destroy()
    return its, reason, res, wall


def solve_direct(system, sigma: float, b: np.ndarray) -> float:
    """Time of one MUMPS factorisation + solve of K x = b (the ROM's _LU)."""
    from fem_cell.solvers.rom import _LU

    lu = _LU(system, "real")
    try:
        t0 = time.perf_counter()
        lu.factor(sigma)
        lu.solve(b)
        return time.perf_counter() - t0
    finally:
        lu.destroy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dim", type=int, choices=(1, 2), default=2)
    ap.add_argument("--state", choices=("pristine", "exposed"), default="pristine")
    ap.add_argument("--temperature", type=float, default=25.0, help="degC")
    ap.add_argument("--rtol", type=float, default=None,
                    help="Krylov tolerance (default: the ROM's, ROM_KRYLOV_RTOL)")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--quick", action="store_true", help="1-D cell, one repeat")
    args = ap.parse_args()
    if args.quick:
        args.dim, args.repeats = 1, 1

    from fem_cell._dolfinx import MPI
    from fem_cell.solvers.impedance import initial_shifts
    from fem_cell.solvers.rom import ROM_KRYLOV_RTOL

    if args.rtol is None:
        args.rtol = ROM_KRYLOV_RTOL

    comm = MPI.COMM_WORLD
    say = print if comm.rank == 0 else (lambda *a, **k: None)
    model, solver = build(args.dim, args.state, args.temperature, comm)
    s = solver.system
    say(f"{args.dim}-D cell, {args.state}, {args.temperature:g} degC, {solver.n_dofs()} "
        f"unknowns (phi + c), {comm.size} rank(s); FGMRES to rtol {args.rtol:g} + field "
        f"split phi | c, one AMG V-cycle each on J_v + sigma M_v")
    say(f"{'f = sigma/2pi (Hz)':>18} {'MUMPS':>8} {'smoother':>9} {'its':>5} {'reason':>7} "
        f"{'rel. residual':>14} {'time':>8}")
    ok = total = 0
    for sigma in initial_shifts(BAND_HZ, N_SHIFTS):
        t_lu = solve_direct(s, sigma, s.b0)
        for smoother in SMOOTHERS:
            for _ in range(args.repeats):
                its, reason, res, wall = solve_iterative(s, sigma, s.b0, smoother, args.rtol)
                total += 1
                ok += reason > 0
                say(f"{sigma / (2 * np.pi):18.3g} {t_lu:7.2f}s {smoother:>9} {its:5d} "
                    f"{reason:7d} {res:14.2e} {wall:7.2f}s")
    solver.destroy()
    model.destroy()
    say("(reason > 0: converged; -3: iteration limit; -11: the preconditioner failed)")
    say(f"iterative shifted solves: {ok} of {total} converged")


if __name__ == "__main__":
    main()
