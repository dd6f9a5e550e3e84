"""The Newton policy of fem_cell.solvers.problem.TransientProblem: the look-ahead test
(the next update computed by a back-substitution and tested before SNES would assemble
anything), the Jacobian lag within a solve, and the reuse of a factorised Jacobian
across solves (modified Newton, retried on a new Jacobian when it fails).

Problem: nonlinear diffusion u̇ = ∇·((1 + u²/10)∇u) on the unit interval (40 P1
cells), u(0) = 1, zero flux at x = 1, u = 1 − x/2 initially; Newton judged by the update
(``newton_tol`` = 1e-11) as the transport is.
"""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.solvers.problem import Field, TransientProblem

TOL = 1e-11


class NonlinearDiffusion:
    def mass(self, u, udot, v):
        return udot["u"] * v["u"] * ufl.dx

    def residual(self, u, v):
        return (1.0 + 0.1 * u["u"] ** 2) * ufl.inner(ufl.grad(u["u"]), ufl.grad(v["u"])) * ufl.dx

    def __init__(self, V):
        self.V = V

    def dirichlet_bcs(self, spaces):
        V = spaces["u"]
        dofs = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))
        return [fem.dirichletbc(1.0, dofs, V)]


def make(**kw):
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 40)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    u.interpolate(lambda x: 1.0 - 0.5 * x[0])
    t = fem.Constant(msh, 0.0)
    prob = TransientProblem([Field("u", u, newton_tol=TOL)], [NonlinearDiffusion(V)], time=t,
                            prefix=f"test_newton_policy_{next(_ids)}_", **kw)
    return prob, u


_ids = iter(range(10**6))


def march(prob, dts, look_ahead=True, taken=None):
    """Backward-Euler steps of ``dts``; returns the states and Newton iterations (and
    appends to ``taken`` whether each solve ended on the look-ahead update)."""
    if not look_ahead:
        prob._ahead = None
    states, its = [], []
    t = 0.0
    for dt in dts:
        t += dt
        prob.set_history(prob.get_state(), prob.get_state())
        prob.set_time_level(t, dt, 1, None)
        ok, n, _ = prob.solve()
        assert ok
        states.append(prob.get_state()[0].copy())
        its.append(n)
        if taken is not None:
            taken.append(prob._ahead_taken)
    return states, its


DTS = [0.002] * 6 + [0.004] * 6


def assert_same_steps(a, b) -> None:
    """``a`` and ``b`` march through :data:`DTS` with the same Newton iterations to the
    same states, bit for bit."""
    sa, ia = march(a, DTS)
    sb, ib = march(b, DTS)
    assert ia == ib
    for x, y in zip(sa, sb, strict=True):
        assert np.array_equal(x, y)


def test_look_ahead_saves_one_residual_per_solve_and_changes_nothing_else():
    a, _ = make()
    b, _ = make()
    taken = []
    sa, ia = march(a, DTS, taken=taken)
    sb, ib = march(b, DTS, look_ahead=False)
    assert ia == ib                      # the look-ahead update counts as the iteration it is
    assert min(ia) >= 2
    assert sum(taken) >= len(DTS) // 2   # most solves end on it here
    assert b.residuals - a.residuals == sum(taken)  # each of those saves a residual evaluation
    for x, y in zip(sa, sb, strict=True):   # the state SNES's next iteration reaches
        assert np.abs(x - y).max() < 1e-14
    # tried only when the last contraction predicts a pass: few wasted back-substitutions
    assert a.look_aheads <= sum(taken) + len(DTS) // 2


@pytest.mark.parametrize("lag", [1, 3])
def test_a_failed_look_ahead_answers_snes_next_solve(lag):
    """A look-ahead that does not pass is the update SNES's next iteration solves for:
    the band LU answers that solve from memory (RepeatedSolve), unless a new Jacobian
    was due in between.  The iterates are those without the memory, bit for bit."""
    a, _ = make(jacobian_lag=lag)
    b, _ = make(jacobian_lag=lag)
    b._banded.remember_next = lambda: None           # no memory
    dts = [0.002] * 4 + [0.02] * 4                   # long steps: look-aheads that fail
    sa, ia = march(a, dts)
    sb, ib = march(b, dts)
    assert ia == ib and a.look_aheads == b.look_aheads
    for x, y in zip(sa, sb, strict=True):
        assert np.array_equal(x, y)
    recalled = a.solver_counts()["solves_recalled"]
    assert b.solver_counts()["solves_recalled"] == 0
    if lag == 1:     # a new Jacobian is due at every iteration: nothing to answer
        assert recalled == 0
    else:
        assert recalled >= 1


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_the_look_ahead_never_assembles_a_jacobian(lag):
    """With ``jacobian_lag`` = lag, iteration k (0-based) of a solve assembles a
    Jacobian when k is a multiple of lag; a look-ahead update taken (counted as an
    iteration) assembles none (the next iteration would have, when due)."""
    p, _ = make(jacobian_lag=lag)
    taken = []
    _, its = march(p, DTS, taken=taken)
    snes_its = [n - int(t) for n, t in zip(its, taken, strict=True)]
    assert p.jacobians == sum(-(-k // lag) for k in snes_its)
    assert any(taken)


@pytest.mark.parametrize("lag", [2, 3])
def test_the_jacobian_lag_is_snes_lag_jacobian(lag):
    """The lag the problem applies is PETSc's ``snes_lag_jacobian`` rule (the same
    iterates, bit for bit).  ``a`` runs Newton without SNES (fem_cell.solvers.newton);
    ``b``, given a SNES option DirectNewton does not take, keeps SNES."""
    a, _ = make(jacobian_lag=lag)
    b, _ = make(petsc_options={"snes_lag_jacobian": lag})
    assert a.direct_newton and not b.direct_newton
    assert_same_steps(a, b)


def test_a_jacobian_reused_across_solves_saves_factorisations_not_accuracy():
    """Modified Newton across solves: most solves start on the previous one's
    factorised Jacobian (same dt: c0 unchanged), so there are fewer assemblies than
    solves; every state equals full Newton's within the Newton tolerance (both stop
    with their last update below TOL, the modified one contracting by at most
    REUSE_RATE: error ≤ TOL·r/(1 − r) < TOL)."""
    full, _ = make()
    reuse, _ = make(jacobian_reuse=True)
    sf, _ = march(full, DTS)
    sr, ir = march(reuse, DTS)
    assert reuse.jacobian_reuses >= len(DTS) // 2
    assert reuse.jacobians < len(DTS) <= full.jacobians
    assert reuse.jacobian_retries == 0
    # the switch to dt = 0.004 (c0 halved: more than REUSE_C0_CHANGE) starts on a new one
    assert reuse.solver_counts()["jacobian_reuses"] == reuse.jacobian_reuses
    for x, y in zip(sf, sr, strict=True):
        assert np.abs(x - y).max() < 2 * TOL


def test_the_reuse_rules_refuse_an_old_jacobian_after_a_large_change_of_dt():
    p, _ = make(jacobian_reuse=True)
    march(p, [0.002, 0.002])
    assert p.jacobian_reuses == 1
    march(p, [0.002 / (1 + 2 * p.REUSE_C0_CHANGE)])   # c0 up by more than allowed
    assert p.jacobian_reuses == 1
    march(p, [0.002 / (1 + 2 * p.REUSE_C0_CHANGE)])   # the same dt again: reused
    assert p.jacobian_reuses == 2


def test_a_solve_that_fails_on_an_old_jacobian_is_repeated_on_a_new_one():
    """With 4 Newton iterations allowed, the slower (linear) contraction of an old
    Jacobian does not reach the tolerance from a far start, a new one (quadratic)
    does: the solve is repeated from its start on a new Jacobian, converges, and ends
    on full Newton's state; the iterations of both attempts count."""
    full, _ = make(newton_max_it=4)
    reuse, _ = make(newton_max_it=4, jacobian_reuse=True)
    march(full, [0.002])
    march(reuse, [0.002])
    # the next step from a far start (every value × 1.2), same dt: the old Jacobian is
    # young, c0 unchanged, the last contraction fast, so the solve starts on it
    for p in (full, reuse):
        state = [1.2 * a for a in p.get_state()]
        p.set_history(state, state)
        p.set_state(state)
        p.set_time_level(0.004, 0.002, 1, None)
    ok_f, its_f, _ = full.solve()
    ok_r, its_r, _ = reuse.solve()
    assert ok_f and ok_r
    assert reuse.jacobian_reuses == 1 and reuse.jacobian_retries == 1
    assert its_r > its_f
    assert np.abs(full.get_state()[0] - reuse.get_state()[0]).max() < 2 * TOL


def test_jacobian_policy_arguments_are_checked():
    with pytest.raises(ValueError, match="jacobian_lag"):
        make(jacobian_lag=0)
    with pytest.raises(ValueError, match="direct solver"):
        make(jacobian_reuse=True, linear_solver="iterative")
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    V = fem.functionspace(msh, ("Lagrange", 1))
    with pytest.raises(ValueError, match="newton_tol"):   # no contraction to watch
        TransientProblem([Field("u", fem.Function(V))], [NonlinearDiffusion(V)],
                         time=fem.Constant(msh, 0.0), prefix="test_newton_policy_no_tol_",
                         jacobian_reuse=True)


def test_no_look_ahead_on_the_iterative_path():
    p, _ = make(linear_solver="iterative")
    _, its = march(p, DTS[:3])
    assert p._ahead is None and min(its) >= 2


def test_snes_works_on_the_iterate_itself_and_changes_nothing():
    """SNES's solution vector is the unknown's own array (no copies between the two);
    the same steps with dolfinx's separate vector (and its copies) reach the same
    states bit for bit, with the same iterations."""
    a, u = make()
    assert a._x is not None
    assert np.shares_memory(a._x.getArray(readonly=True), u.x.array)
    b, _ = make()
    b._x = b._x_handle = b._alias = None          # dolfinx's vector and copies
    assert_same_steps(a, b)


def test_a_backtracking_line_search_keeps_its_own_vector():
    """A line search that evaluates trial points while it needs the iterate must not
    work on the iterate's array: the problem keeps dolfinx's vector, and converges to
    the full-step states."""
    a, _ = make()
    b, _ = make(petsc_options={"snes_linesearch_type": "bt"})
    assert b._x is None
    sa, _ = march(a, DTS)
    sb, _ = march(b, DTS)
    for x, y in zip(sa, sb, strict=True):
        assert np.abs(x - y).max() < 1e-10
