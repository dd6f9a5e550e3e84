"""The band LU of serial 1-D problems (fem_cell.solvers.banded) against dense LAPACK solves
and against MUMPS.

* systems that need row pivoting (zero diagonal), in a scrambled ordering that the
  reverse Cuthill–McKee ordering must undo, and in a blocked layout (two interleaved
  fields stored one after the other);
* a matrix without a narrow band: the sparse direct solver takes over;
* a singular matrix: the solve fails (the preconditioner's failed reason), no silent
  garbage;
* the default cell's 1-D transport: a serial problem uses the band LU, and its Newton
  steps give MUMPS's states to round-off.  (The whole 1-D run, band LU on one rank
  against MUMPS on two: tests/parallel/test_mpi_consistency.py.)
"""

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import BandSolver, petsc_aij

from fem_cell._dolfinx import MPI, PETSc
from fem_cell.solvers.banded import BandedLU
from fem_cell.solvers.linear import direct_solver_options

pytestmark = pytest.mark.serial


def _solve(A: sp.csr_matrix, b: np.ndarray):
    M = petsc_aij(A)
    solver = BandSolver(M)
    x, reason = solver.solve(b)
    solver.destroy()
    M.destroy()
    return x, reason, solver.ctx


def _band(n: int, lower: int, upper: int, rng, zero_diagonal=True) -> sp.csr_matrix:
    A = sp.diags([rng.normal(size=n - abs(k)) for k in range(-lower, upper + 1)],
                 list(range(-lower, upper + 1)), format="lil")
    if zero_diagonal:  # no factorisation without row exchanges exists
        A.setdiag(0.0)
    return A.tocsr()


def test_scrambled_band_needing_pivots_is_solved_exactly():
    rng = np.random.default_rng(1)
    n = 60
    A = _band(n, 3, 2, rng)
    p = rng.permutation(n)
    A = A[p][:, p].tocsr()
    b = rng.normal(size=n)
    x, reason, ctx = _solve(A, b)
    assert reason > 0
    assert ctx.banded and ctx.failure is None
    # the ordering recovers a band no wider than the original one (3 below, 2 above)
    assert ctx._kl + ctx._ku <= 5
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))


def test_blocked_layout_of_two_fields_is_banded_after_ordering():
    rng = np.random.default_rng(2)
    m = 100                                  # nodes; two fields interleaved per node
    A = _band(2 * m, 3, 3, rng, zero_diagonal=False) + 4.0 * sp.eye(2 * m)
    blocked = np.concatenate([np.arange(0, 2 * m, 2), np.arange(1, 2 * m, 2)])
    A = A[blocked][:, blocked].tocsr()      # field 0's unknowns, then field 1's
    assert np.max(np.abs(np.subtract(*A.nonzero()))) > m // 2   # wide as stored
    b = rng.normal(size=2 * m)
    x, reason, ctx = _solve(A, b)
    assert reason > 0 and ctx.banded
    assert max(ctx._kl, ctx._ku) <= 6
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))


def test_matrix_without_a_narrow_band_uses_the_sparse_direct_solver():
    # a 2-D 5-point Laplacian (+ a shift) on a 40 x 40 grid: 5 entries per row, but a
    # band of ~40 after any ordering (storage ~120 per row > MAX_FILL x 5)
    rng = np.random.default_rng(3)
    k = 40
    lap = sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(k, k))
    A = (sp.kron(lap, sp.eye(k)) + sp.kron(sp.eye(k), lap) + 0.1 * sp.eye(k * k)).tocsr()
    b = rng.normal(size=k * k)
    x, reason, ctx = _solve(A, b)
    assert reason > 0
    assert not ctx.banded
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))


def test_singular_matrix_fails_the_solve():
    rng = np.random.default_rng(5)
    A = _band(40, 2, 2, rng, zero_diagonal=False).tolil()
    A[17, :] = 0.0                           # a zero row: exactly singular
    A[17, 17] = 0.0                          # kept in the pattern
    x, reason, ctx = _solve(A.tocsr(), rng.normal(size=40))
    assert reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED
    assert ctx.failure is not None and "zero pivot" in ctx.failure


def test_a_failed_factorisation_does_not_fail_the_next_one():
    """PETSc keeps a python preconditioner's failed reason through later set-ups: the
    band LU clears it, so the solve after a singular matrix's (a Newton step rejected and
    retried with a smaller step) succeeds."""
    rng = np.random.default_rng(6)
    A = _band(40, 2, 2, rng, zero_diagonal=False).tolil()
    A[17, :] = 0.0
    A[17, 17] = 0.0
    M = petsc_aij(A.tocsr(), extra_room=True)
    solver = BandSolver(M)
    b = rng.normal(size=40)
    _, reason = solver.solve(b)
    assert reason == PETSc.KSP.ConvergedReason.DIVERGED_PCSETUP_FAILED
    M.setValue(17, 17, 3.0)                  # now regular: a new factorisation
    M.assemble()
    x, reason = solver.solve(b)
    assert reason > 0 and solver.ctx.failure is None
    A[17, 17] = 3.0
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))
    solver.destroy()
    M.destroy()


def _transport(mumps: bool):
    from fem_cell.config import load_config
    from fem_cell.model import CellModel

    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 24},
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_SELF)
    chem = model.chemistry(expose=True)
    chem.T_film.x.array[:] = 423.15
    tp = chem.transport_problem
    pc = tp.snes.getKSP().getPC()
    if mumps:
        pc.setType("lu")
        pc.setFactorSolverType(direct_solver_options()["pc_factor_mat_solver_type"])
    return model, tp


def test_serial_1d_transport_uses_the_band_lu_and_matches_mumps():
    states = {}
    for mumps in (False, True):
        model, tp = _transport(mumps)
        assert isinstance(tp._banded, BandedLU)
        assert tp.snes.getKSP().getPC().getType() == ("lu" if mumps else "python")
        prev = tp.get_state()
        tp.set_history(prev, prev)
        t, its = 0.0, []
        for dt in (1.0, 2.0, 5.0, 10.0):
            t += dt
            tp.set_time_level(t, dt, 1, None)
            ok, n, _ = tp.solve()
            assert ok
            its.append(n)
            state = tp.get_state()
            tp.set_history(state, prev)
            prev = state
        if not mumps:
            assert tp._banded.banded
            assert tp._banded._kl + tp._banded._ku < 40      # a band, not the whole system
        states[mumps] = (its, prev)
        model.destroy()
    assert states[False][0] == states[True][0]               # same Newton iterations
    for a, b in zip(states[False][1], states[True][1], strict=True):
        scale = max(np.max(np.abs(b)), 1e-300)
        assert np.max(np.abs(a - b)) <= 1e-10 * scale
