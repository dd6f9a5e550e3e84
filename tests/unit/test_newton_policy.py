"""The look-ahead Newton test of fem_cell.solvers.problem.TransientProblem: the next
update computed by a back-substitution and tested before SNES would assemble anything.

Problem: nonlinear diffusion u̇ = ∇·((1 + u²/10)∇u) on the unit interval (40 P1
cells), u(0) = 1, zero flux at x = 1, u = 1 − x/2 initially; Newton judged by the update
(``newton_tol`` = 1e-11) as the transport is.
"""

import numpy as np
import pytest
from helpers import count_jacobians

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


def count_residuals(prob):
    """Count the residual evaluations of ``prob`` (the SNES callback looks the method up
    on the instance at every call)."""
    calls = [0]
    inner = prob._residual

    def counted(*args):
        calls[0] += 1
        return inner(*args)

    prob._residual = counted
    return calls


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


def test_look_ahead_saves_one_residual_per_solve_and_changes_nothing_else():
    a, _ = make()
    b, _ = make()
    ra, rb = count_residuals(a), count_residuals(b)
    taken = []
    sa, ia = march(a, DTS, taken=taken)
    sb, ib = march(b, DTS, look_ahead=False)
    assert ia == ib                      # the look-ahead update counts as the iteration it is
    assert min(ia) >= 2
    assert sum(taken) >= len(DTS) // 2   # most solves end on it here
    assert rb[0] - ra[0] == sum(taken)   # and each of those saves a residual evaluation
    for x, y in zip(sa, sb, strict=True):   # the state SNES's next iteration reaches
        assert np.abs(x - y).max() < 1e-14
    # tried only when the last contraction predicts a pass: few wasted back-substitutions
    assert a.look_aheads <= sum(taken) + len(DTS) // 2


@pytest.mark.parametrize("lag", [1, 2, 3])
def test_the_look_ahead_never_assembles_a_jacobian(lag):
    """With ``snes_lag_jacobian`` = lag, SNES iteration k (0-based) of a solve assembles
    a Jacobian when k is a multiple of lag; a look-ahead update taken (counted as an
    iteration) assembles none (SNES's next iteration would have, when due)."""
    p, _ = make(petsc_options={"snes_lag_jacobian": lag} if lag > 1 else None)
    jac = count_jacobians(p)
    taken = []
    _, its = march(p, DTS, taken=taken)
    snes_its = [n - int(t) for n, t in zip(its, taken, strict=True)]
    assert jac[0] == sum(-(-k // lag) for k in snes_its)
    assert any(taken)


def test_no_look_ahead_on_the_iterative_path():
    p, _ = make(linear_solver="iterative")
    _, its = march(p, DTS[:3])
    assert p._ahead is None and min(its) >= 2
