"""The condensed direct solve (fem_cell.solvers.condensed, TransientProblem(nodal=...)).

* the 2-D transport problem uses it (blocked fields, MUMPS) and factorises only the
  unknowns left after eliminating the trapped fraction and the Dirichlet DOFs; the 1-D
  serial problem keeps the band LU;
* on the Newton system of a real step, its update equals MUMPS's LU of the whole
  Jacobian to round-off: as close to it as MUMPS with another ordering (2-D coarse
  mesh; also on 2 ranks);
* steps solved with it and without it end on the same states (Newton's update test is
  met by the same iterates);
* a cell without traps condenses its Dirichlet DOFs alone (an empty mapping; None: no
  condensation), with the same steps as without;
* a field declared node-local that is not (its equation couples other nodes) is refused
  with a CondensationError, not taken for a failed step;
* on a small hand-made system (a field, a node-local field coupled to it, a field with a
  Dirichlet row, a pinned node-local DOF) it is a dense solve's answer, also after an
  entry outside the matrix's pattern is added, and for another matrix with a smaller
  pattern (the condensed system is set up again);
* a 2-D problem reset (TransientProblem.reset: a new Jacobian matrix) steps as a new one,
  bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import COARSE_FILM_MESH, exposed_transport_block

from fem_cell._dolfinx import MPI, PETSc
from fem_cell.solvers.condensed import CondensationError, use_condensed

#: the default cell without traps (no node-local field)
TRAP_FREE = {"transport": {"LiCoO2": {"trapping": "none"}}}


def _problem(prefix: str, nodal=True, dim: int = 2, overrides: dict | None = None):
    """The transport problem of the default cell (``overrides``: config overrides) on
    the coarse 2-D films (or the default 1-D mesh): build_transport_problem's with
    ``nodal`` True; else the same settings with ``nodal`` (False: no condensation)."""
    from fem_cell.forms import constant
    from fem_cell.model.transport import build_transport_problem, transport_fields
    from fem_cell.solvers.problem import TransientProblem

    block, cfg = exposed_transport_block(
        {"dim": dim, **(COARSE_FILM_MESH if dim == 2 else {})}, overrides)
    if nodal is True:
        return build_transport_problem(block, cfg.solver, prefix=prefix)
    s = cfg.solver   # build_transport_problem's settings, with other node-local fields
    return TransientProblem(transport_fields(block, s), [block],
                            time=constant(block.domain.mesh, 0.0), prefix=prefix,
                            newton_max_it=s.newton_max_it,
                            jacobian_lag=s.transport_jacobian_lag, nodal=nodal or None)


def _step(p, dt: float) -> tuple[bool, int, int]:
    p.set_history(p.get_state(), p.get_state())
    p.set_time_level(dt, dt, 1, None)
    return p.solve()


@pytest.mark.mpi
def test_2d_transport_factorises_the_condensed_system():
    p = _problem("test_condensed_size_")
    try:
        counts = p.solver_counts()
        total = sum(p.comm.allreduce(f.n_owned, op=MPI.SUM) for f in p.fields)
        assert p._condensed is not None
        # measured (coarse mesh): 2,664 of 5,588 unknowns; default mesh 113,417 of 226,548
        assert 0.3 * total < counts["factorised_unknowns"] < 0.55 * total
    finally:
        p.destroy()


@pytest.mark.mpi
def test_the_factorisation_size_and_balance_are_reported():
    """solver_counts gives MUMPS's factor entries and the elimination's flops on the least
    and the most loaded rank, read once per set-up: the factor's own INFOG(29), and
    flops whose sum over the ranks is MUMPS's global count RINFOG(3)."""
    p = _problem("test_condensed_stats_")
    try:
        assert "factor_entries" not in p.solver_counts()     # nothing factorised yet
        assert _step(p, 1.0)[0]
        counts = p.solver_counts()
        F = p._condensed.inner_factor()
        assert counts["factor_entries"] == F.getMumpsInfog(29) > 0
        low, high = counts["factor_flops_min_rank"], counts["factor_flops_max_rank"]
        assert 0 < low <= high
        total = F.getMumpsRinfog(3)
        if p.comm.size == 1:
            assert low == high == total
        else:
            flops = p.comm.allreduce(F.getMumpsRinfo(3))
            assert flops == pytest.approx(total, rel=1e-12)
            assert low + high == pytest.approx(total, rel=1e-12)   # (2 ranks)
    finally:
        p.destroy()


def test_serial_1d_transport_keeps_the_band_lu():
    p = _problem("test_condensed_1d_", dim=1)
    try:
        assert p._condensed is None and "factorised_unknowns" not in p.solver_counts()
    finally:
        p.destroy()


@pytest.mark.mpi
def test_condensed_update_equals_lu_of_the_whole_jacobian():
    """One Newton system of a step at 150 degC (its Jacobian and residual at the first
    iterate): the condensed solve against MUMPS on the whole matrix."""
    p = _problem("test_condensed_equal_")
    try:
        assert _step(p, 1.0)[0]                       # a converged state, then a new step
        p.set_history(p.get_state(), p.get_state())
        p.set_time_level(301.0, 300.0, 1, None)
        snes = p.snes
        x = p._problem.x
        from dolfinx.fem.petsc import assign

        assign([f.u for f in p.fields], x)
        b = p._problem.b
        A = p._problem.A
        snes.computeFunction(x, b)
        snes.computeJacobian(x, A, A)
        ours = b.duplicate()
        ksp = snes.getKSP()
        ksp.setOperators(A, A)
        ksp.solve(b, ours)
        assert ksp.getConvergedReason() > 0
        # the transport's S = A − B D⁻¹ C has A's pattern: A's values are copied into
        # it array to array (the toy system below takes the other way, the union)
        assert p._condensed._s_is_a
        # the yardstick of round-off: MUMPS on the whole matrix with two orderings
        ref, alt = (_mumps_solve(A, b, ordering) for ordering in (5, 0))   # METIS, AMD
        a, r, o = ours.getArray(), ref.getArray(), alt.getArray()
        start = 0
        for f in p.fields:
            s = slice(start, start + f.n_owned)
            diff, noise, scale = (p.comm.allreduce(float(np.abs(v[s]).max(initial=0)),
                                                   op=MPI.MAX)
                                  for v in (a - r, o - r, r))
            # as close to MUMPS (METIS) as MUMPS with another ordering is (measured on 1
            # and 2 ranks: the two differences within a factor 1.3 of each other for
            # x_H in LiCoO2, x_t and Φ, Φ's largest 1e-10 of an update of 4e-3)
            assert diff <= 10 * noise + 1e-12 * scale, (f.name, diff, noise, scale)
            start += f.n_owned
        for obj in (ours, ref, alt):
            obj.destroy()
    finally:
        p.destroy()


def _mumps_solve(A, b, ordering: int):
    ksp = PETSc.KSP().create(A.getComm())
    ksp.setOperators(A, A)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")
    pc.setFactorSetUpSolverType()
    pc.getFactorMatrix().setMumpsIcntl(7, ordering)
    x = b.duplicate()
    ksp.solve(b, x)
    assert ksp.getConvergedReason() > 0
    ksp.destroy()
    return x


def _assert_same_steps(with_, without) -> None:
    """Three steps (1 s, 60 s, 600 s) of both problems: the same Newton iterations, and
    states within Newton's update tolerances (fractions 1e-11, Φ 1e-9)."""
    assert with_._condensed is not None and without._condensed is None
    for dt in (1.0, 60.0, 600.0):
        a, b = _step(with_, dt), _step(without, dt)
        assert a[0] and b[0] and a[1] == b[1]         # same Newton iterations
    for f, g in zip(with_.fields, without.fields, strict=True):
        n = f.n_owned
        diff = with_.comm.allreduce(
            float(np.abs(f.u.x.array[:n] - g.u.x.array[:n]).max(initial=0)), op=MPI.MAX)
        assert diff <= (1e-9 if f.name.endswith("phi") else 1e-11), (f.name, diff)


@pytest.mark.mpi
def test_steps_with_and_without_condensation_end_on_the_same_state():
    with_ = _problem("test_condensed_on_")
    without = _problem("test_condensed_off_", nodal=False)
    try:
        _assert_same_steps(with_, without)
    finally:
        with_.destroy()
        without.destroy()


@pytest.mark.mpi
def test_snes_repeat_of_a_failed_look_ahead_is_answered_from_memory():
    """The 2-D transport's condensed solve answers SNES's solve of a look-ahead that
    did not pass from memory (collectively: every rank's right-hand side compared); the
    states are those without the memory."""
    with_ = _problem("test_memo_on_")
    without = _problem("test_memo_off_")
    without._condensed.remember_next = lambda: None
    try:
        for dt in (1.0, 60.0, 600.0):
            a, b = _step(with_, dt), _step(without, dt)
            assert a[0] and b[0] and a[1] == b[1]
        for f, g in zip(with_.fields, without.fields, strict=True):
            diff = with_.comm.allreduce(float(np.abs(f.u.x.array - g.u.x.array).max()),
                                        op=MPI.MAX)
            # serial: bit for bit; on 2 ranks two MUMPS instances differ at round-off
            # themselves, without the memory (measured: ≤ 3e-14 on Φ, 4e-18 on fractions)
            bound = 0.0 if with_.comm.size == 1 else (1e-12 if f.name.endswith("phi")
                                                      else 1e-15)
            assert diff <= bound, (f.name, diff)
        assert with_.solver_counts()["solves_recalled"] >= 1
        assert without.solver_counts()["solves_recalled"] == 0
    finally:
        with_.destroy()
        without.destroy()


@pytest.mark.mpi
def test_a_field_that_is_not_node_local_is_refused():
    p = _problem("test_condensed_wrong_", nodal={"xH_Li3PO4": "xH_LiCoO2"})
    try:
        assert p._condensed is not None
        with pytest.raises(CondensationError, match="couples it to"):
            _step(p, 1.0)
    finally:
        p.destroy()


def test_nodal_fields_are_checked_when_the_problem_is_built():
    with pytest.raises(ValueError, match="not a field"):
        _problem("test_condensed_name_", nodal={"xT_nowhere": "xH_LiCoO2"})


def _toy_system(n: int = 12, seed: int = 3):
    """Blocked rows: field a (0…n−1), node-local t (n…2n−1, partner a; its last DOF
    pinned), field b (2n…3n−1, its first DOF pinned); as dense and PETSc AIJ."""
    rng = np.random.default_rng(seed)
    N = 3 * n
    M = np.zeros((N, N))
    for f in (0, 2):                                  # a and b: tridiagonal, coupled
        for i in range(n):
            r = f * n + i
            M[r, r] = 4.0 + rng.random()
            for j in (i - 1, i + 1):
                if 0 <= j < n:
                    M[r, f * n + j] = -1.0 + 0.1 * rng.random()
                    M[r, (2 - f) * n + j] = 0.3 * rng.random()
    for i in range(n):                                # t: D and C diagonal, B a stencil
        M[n + i, n + i] = 2.0 + rng.random()
        M[n + i, i] = -0.5 - rng.random()
        for j in (i - 1, i, i + 1):
            if 0 <= j < n:
                M[j, n + i] = 0.2 * rng.random() - 0.1
                M[2 * n + j, n + i] = 0.2 * rng.random()
    for r in (2 * n, 2 * n - 1):                      # pinned: identity row and column
        M[r, :] = 0.0
        M[:, r] = 0.0
        M[r, r] = 1.0
    A = PETSc.Mat().createAIJ((N, N), comm=MPI.COMM_SELF)
    A.setPreallocationNNZ(N)
    A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    rows, cols = np.nonzero(M)
    for r, c in zip(rows, cols, strict=True):
        A.setValue(int(r), int(c), M[r, c])
    A.assemble()
    return M, A


def _assert_dense_solution(x, M, b) -> None:
    """``x`` is the dense solve of ``M`` against ``b`` (to 1e-13 of its largest entry)."""
    want = np.linalg.solve(M, b.getArray())
    assert np.abs(x.getArray() - want).max() <= 1e-13 * np.abs(want).max()


def _toy_solve(A, n: int, prefix: str):
    """A preonly KSP whose PC is the condensed LU of the toy system of size 3n: field 1
    node-local to field 0, field 1's last DOF and field 2's first pinned."""
    rows = [np.arange(n), np.arange(n, 2 * n), np.arange(2 * n, 3 * n)]
    ksp = PETSc.KSP().create(MPI.COMM_SELF)
    ksp.setOperators(A, A)
    ksp.setType("preonly")
    ctx = use_condensed(ksp.getPC(), rows, {1: 0},
                        [np.zeros(0, int), np.array([n - 1]), np.array([0])],
                        {"pc_type": "lu", "pc_factor_mat_solver_type": "mumps"}, prefix)
    b = A.createVecLeft()
    b.setArray(np.linspace(1.0, 2.0, A.getSize()[0]))
    x = b.duplicate()
    return ksp, ctx, b, x


def test_condensed_solve_of_a_small_system_is_the_dense_solve():
    n = 12
    M, A = _toy_system(n)
    ksp, ctx, b, x = _toy_solve(A, n, "test_toy_")
    try:
        assert ctx.factorised == 3 * n - (n - 1) - 2       # a and b less the pinned one
        ksp.solve(b, x)
        assert not ctx._s_is_a          # B D⁻¹ C reaches outside A's pattern: the union
        _assert_dense_solution(x, M, b)
        assert ctx.rebuilds == 1
        # an entry outside the pattern (a–a block): allocated by PETSc, the condensed
        # system is set up again, and the answer is still the dense one
        A.setValue(0, 5, 0.7, addv=PETSc.InsertMode.ADD_VALUES)
        A.assemble()
        M[0, 5] += 0.7
        ksp.setOperators(A, A)
        ksp.solve(b, x)
        assert ctx.rebuilds == 2
        _assert_dense_solution(x, M, b)
        # a node-local DOF coupled to another node of its own field is refused
        A.setValue(n + 2, n + 3, 0.5)
        A.assemble()
        ksp.setOperators(A, A)
        with pytest.raises(PETSc.Error):
            ksp.solve(b, x)
        assert isinstance(ctx.error, CondensationError)
    finally:
        for obj in (ksp, A, b, x):
            obj.destroy()


def test_another_operator_matrix_is_set_up_again():
    """A new operator matrix whose pattern lacks an entry of the last one's (a problem
    reset finds its Jacobian's pattern again at new values: TransientProblem.reset),
    with no entry allocated in either: the condensed system is set up again for it
    (before, its sub-matrices were reused and PETSc failed with error 101), and the
    answer is the dense one.  A matrix given again is not set up again."""
    n = 12
    M, A = _toy_system(n)
    ksp, ctx, b, x = _toy_solve(A, n, "test_toy_new_matrix_")
    M2 = M.copy()
    M2[0, 1] = M2[1, 0] = 0.0        # two entries of field a dropped from the pattern
    M2[0, 0] += 1.0
    A2 = PETSc.Mat().createAIJ(A.getSize(), comm=MPI.COMM_SELF)
    A2.setPreallocationNNZ(A.getSize()[0])
    rows, cols = np.nonzero(M2)
    for r, c in zip(rows, cols, strict=True):
        A2.setValue(int(r), int(c), M2[r, c])
    A2.assemble()
    try:
        ksp.solve(b, x)
        assert ctx.rebuilds == 1
        assert (A.getInfo()["mallocs"], A2.getInfo()["mallocs"]) == (0, 0)
        assert A2.getInfo()["nz_used"] == A.getInfo()["nz_used"] - 2
        ksp.setOperators(A2, A2)
        ksp.solve(b, x)
        assert ctx.rebuilds == 2
        _assert_dense_solution(x, M2, b)
        ksp.setOperators(A2, A2)         # the same matrix: factorised, not set up again
        ksp.solve(b, x)
        assert ctx.rebuilds == 2
        ksp.setOperators(A, A)           # back to the first: its own pattern again
        ksp.solve(b, x)
        assert ctx.rebuilds == 3
        _assert_dense_solution(x, M, b)
    finally:
        for obj in (ksp, A, A2, b, x):
            obj.destroy()


@pytest.mark.mpi
def test_a_reset_2d_problem_steps_as_a_new_one():
    """TransientProblem.reset on the 2-D transport (condensed solve): stepped elsewhere
    first (another temperature, long steps), then given a new state and temperature and
    reset, it takes a new problem's Newton iterations and ends on its states (bit for
    bit on one rank); the condensed system is set up again on the reset's new Jacobian
    matrix."""
    p = _problem("test_reset_kept_")
    block = p.blocks[0]
    start = [a.copy() for a in p.get_state()]
    fresh = None
    try:
        for dt in (30.0, 900.0):
            assert _step(p, dt)[0]
        assert p._condensed.rebuilds == 1
        block.T.x.array[:] = 373.15
        p.set_state(start)
        p.reset()
        fresh = _problem("test_reset_fresh_")
        fresh.blocks[0].T.x.array[:] = 373.15
        for dt in (1.0, 60.0, 600.0):
            a, b = _step(p, dt), _step(fresh, dt)
            assert a[0] and a[:2] == b[:2]
        assert p._condensed.rebuilds == 2
        for f, g in zip(p.fields, fresh.fields, strict=True):
            n = f.n_owned
            diff = p.comm.allreduce(
                float(np.abs(f.u.x.array[:n] - g.u.x.array[:n]).max(initial=0)), op=MPI.MAX)
            # serial: bit for bit; on 2 ranks two MUMPS instances differ at round-off
            # themselves (as in the test above; measured here: 8e-14 on Φ, 1.4e-17 on
            # the fractions, which are ≤ 0.05)
            bound = 0.0 if p.comm.size == 1 else (1e-12 if f.name.endswith("phi")
                                                  else 1e-15)
            assert diff <= bound, (f.name, diff)
    finally:
        p.destroy()
        if fresh is not None:
            fresh.destroy()


def test_a_failed_factorisation_does_not_fail_the_next_one(monkeypatch):
    """A set-up whose factorisation failed (as the condensed LU reports one: the failure
    and the python preconditioner's failed reason) fails its solve; the next set-up, of
    a new operator, clears the failed reason, which PETSc keeps through set-ups, and the
    solve is the dense one."""
    n = 12
    M, A = _toy_system(n)
    ksp, ctx, b, x = _toy_solve(A, n, "test_toy_fail_")
    set_up = ctx._set_up

    def failing(pc):
        set_up(pc)
        ctx.failure = "sparse direct solver of the condensed system failed: reason 2"
        pc.setFailedReason(PETSc.PC.FailedReason.FACTOR_NUMERIC_ZEROPIVOT)

    try:
        monkeypatch.setattr(ctx, "_set_up", failing)
        ksp.solve(b, x)
        assert ksp.getConvergedReason() < 0
        monkeypatch.setattr(ctx, "_set_up", set_up)
        A.setValue(0, 0, M[0, 0])             # a new operator state: set up again
        A.assemble()
        ksp.setOperators(A, A)
        ksp.solve(b, x)
        assert ksp.getConvergedReason() > 0 and ctx.failure is None
        _assert_dense_solution(x, M, b)
    finally:
        for obj in (ksp, A, b, x):
            obj.destroy()


def test_a_remembered_solve_is_answered_again_until_the_operator_changes():
    """RepeatedSolve (the Newton look-ahead's solve, SNES's next): armed, a solve is
    kept; the next solve of the same right-hand side gets its solution without a
    back-substitution (bit for bit); another right-hand side, or a new operator (set
    up again), is solved."""
    n = 12
    M, A = _toy_system(n)
    ksp, ctx, b, x = _toy_solve(A, n, "test_toy_memo_")
    y = x.duplicate()
    inner = []

    class Counted:   # the sparse solver, its back-substitutions counted
        def __init__(self, pc):
            self.pc = pc

        def apply(self, r, z):
            inner.append(1)
            self.pc.apply(r, z)

        def __getattr__(self, name):
            return getattr(self.pc, name)

    try:
        ksp.setUp()
        ctx._inner = Counted(ctx._inner)
        ctx.remember_next()
        ksp.solve(b, x)
        ksp.solve(b, y)
        assert ctx.repeats == 1 and len(inner) == 1
        assert np.array_equal(x.getArray(), y.getArray())
        ksp.solve(b, y)                                   # used once: solved again
        assert ctx.repeats == 1 and len(inner) == 2
        ctx.remember_next()
        ksp.solve(b, x)
        c = b.copy()
        c.scale(2.0)
        ksp.solve(c, y)                                   # another right-hand side
        assert ctx.repeats == 1 and len(inner) == 4
        assert np.allclose(y.getArray(), 2.0 * x.getArray(), rtol=1e-13, atol=0)
        ctx.remember_next()
        ksp.solve(b, x)
        A.scale(0.5)                                      # a new operator: set up again
        ksp.setOperators(A, A)
        ksp.solve(b, y)
        assert ctx.repeats == 1
        _assert_dense_solution(y, 0.5 * M, b)
    finally:
        for obj in (ksp, A, b, x, y):
            obj.destroy()


@pytest.mark.mpi
def test_a_cell_without_traps_condenses_its_dirichlet_dofs_alone():
    with_ = _problem("test_trapfree_on_", overrides=TRAP_FREE)
    without = _problem("test_trapfree_off_", nodal=False, overrides=TRAP_FREE)
    try:
        assert with_.blocks[0].nodal_fields() == {}
        total = sum(with_.comm.allreduce(f.n_owned, op=MPI.SUM) for f in with_.fields)
        # 3 fields; the pinned inactive DOFs of each phase's field and the gauge go
        assert with_.solver_counts()["factorised_unknowns"] < 0.8 * total
        _assert_same_steps(with_, without)
    finally:
        with_.destroy()
        without.destroy()
