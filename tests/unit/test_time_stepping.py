"""Time stepper logic on an ODE (one DG0 dof): milestones, restarts, error control,
Newton-failure handling."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.errors import ConvergenceError
from fem_cell.solvers.problem import Field, TransientProblem
from fem_cell.solvers.time_stepping import TimeStepper


class Decay:
    """u' = -lam (u - g(t)),  g piecewise linear with a kink at t = 1."""

    def __init__(self, V, lam, t):
        self.lam, self.t, self.V = lam, t, V
        self.g = fem.Constant(V.mesh, 0.0)

    def g_of(self, t):
        return min(t, 1.0)

    def mass(self, u, udot, v):
        return udot["u"] * v["u"] * ufl.dx

    def residual(self, u, v):
        return self.lam * (u["u"] - self.g) * v["u"] * ufl.dx

    def update(self, t):
        self.g.value = self.g_of(t)


def exact(t, lam):
    # u(0)=0; g = t for t<1 then 1
    def ramp(s):
        return s - (1 - np.exp(-lam * s)) / lam
    if t <= 1:
        return ramp(t)
    return 1 + (ramp(1.0) - 1) * np.exp(-lam * (t - 1))


def make(lam=5.0, atol=1e-6, **kw):
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    V = fem.functionspace(msh, ("DG", 0))
    u = fem.Function(V)
    t = fem.Constant(msh, 0.0)
    block = Decay(V, lam, t)
    prob = TransientProblem([Field("u", u, atol=atol, rtol=0.0)], [block], time=t,
                            prefix="test_ode_", **kw)
    return prob, u


def test_milestones_and_restarts_are_hit():
    prob, u = make()
    times = []
    st = TimeStepper(prob, t_end=2.0, dt_initial=1e-3, dt_max=0.5, milestones=[0.3, 1.0, 1.7],
                     restarts=[1.0])
    orders = {}
    st.run(on_step=lambda i: (times.append(i.t), orders.setdefault(i.t, i.order)))
    for m in (0.3, 1.0, 1.7, 2.0):
        assert any(t == m for t in times), m  # exactly, not approximately
    i1 = times.index(1.0)
    assert orders[times[i1 + 1]] == 1  # backward Euler right after the restart
    assert max(orders.values()) == 2
    assert times == sorted(times)


@pytest.mark.parametrize("scheme", ["bdf2", "backward_euler"])
def test_error_control_tracks_tolerance(scheme):
    errs, steps = [], []
    for atol in (1e-4, 1e-6):
        prob, u = make(atol=atol)
        st = TimeStepper(prob, t_end=2.0, scheme=scheme, dt_initial=1e-4, dt_max=1.0,
                         restarts=[1.0], milestones=[1.0])
        stats = st.run()
        errs.append(abs(u.x.array[0] - exact(2.0, 5.0)))
        steps.append(stats.accepted)
    assert errs[1] < errs[0]
    assert errs[0] < 50 * 1e-4  # global error within a modest multiple of the local tolerance
    assert steps[1] > steps[0]


def test_fixed_steps_bdf2_second_order():
    errs = []
    for dt in (0.1, 0.05, 0.025):
        prob, u = make()
        TimeStepper(prob, t_end=0.8, dt_initial=dt, dt_max=dt, adaptive=False).run()
        errs.append(abs(u.x.array[0] - exact(0.8, 5.0)))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > 1.8), rates


class Stiff:
    """A residual Newton cannot converge with one iteration: u^3 + u - g."""

    def __init__(self, msh):
        self.g = fem.Constant(msh, 0.0)

    def mass(self, u, udot, v):
        return udot["u"] * v["u"] * ufl.dx

    def residual(self, u, v):
        return (u["u"] ** 3 * 1e3 - self.g) * v["u"] * ufl.dx

    def update(self, t):
        self.g.value = 1e3 * (1 + t) ** 3


def test_newton_failure_raises_convergence_error():
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    V = fem.functionspace(msh, ("DG", 0))
    u = fem.Function(V)
    t = fem.Constant(msh, 0.0)
    prob = TransientProblem([Field("u", u)], [Stiff(msh)], time=t, prefix="test_fail_",
                            newton_max_it=1, newton_stol=0.0, newton_atol=1e-14)
    st = TimeStepper(prob, t_end=1.0, dt_initial=0.1, dt_max=0.1, dt_min=0.01)
    with pytest.raises(ConvergenceError, match="Newton failed") as exc:
        st.run()
    assert exc.value.reason is not None and exc.value.reason < 0
    assert st.stats.rejected_newton >= 2


class _FlakyDecay:
    """du/dt = -u solved exactly per BE step; Newton 'fails' on the steps listed."""

    prefix = "flaky"
    last_error = None

    def __init__(self, fail_at_calls):
        self.u = np.array([1.0])
        self.u_n = self.u.copy()
        self.dt = None
        self.calls = 0
        self.fail_at = set(fail_at_calls)

    def set_time_level(self, t_new, dt, order, dt_prev):
        self.dt = dt

    def solve(self):
        self.calls += 1
        if self.calls in self.fail_at:
            return False, 25, -5  # DIVERGED_LINE_SEARCH-like
        self.u = self.u_n / (1.0 + self.dt)
        return True, 1, 2

    def get_state(self):
        return [self.u.copy()]

    def set_state(self, s):
        self.u = s[0].copy()

    def set_history(self, u_n, u_nm1):
        self.u_n = u_n[0].copy()

    def error_norm(self, state, ref, factor):
        return 0.0


def test_newton_failure_cuts_the_step_and_logs_the_reason():
    p = _FlakyDecay(fail_at_calls={2})
    seen = []
    st = TimeStepper(p, t_end=1.0, scheme="backward_euler", dt_initial=0.1, dt_max=0.1,
                     dt_min=1e-4, adaptive=False).run(on_reject=seen.append)
    assert st.rejected_newton == 1 and len(st.rejections) == 1 and seen == st.rejections
    rej = st.rejections[0]
    assert rej.kind == "newton" and "SNES reason -5" in rej.reason
    assert rej.t == pytest.approx(0.1) and rej.dt_next == pytest.approx(rej.dt_tried / 4)
    assert "retrying with dt" in str(rej)


def test_newton_failure_below_dt_min_raises():
    from fem_cell.errors import ConvergenceError

    p = _FlakyDecay(fail_at_calls=set(range(1, 100)))
    with pytest.raises(ConvergenceError, match="Newton failed"):
        TimeStepper(p, t_end=1.0, scheme="backward_euler", dt_initial=0.1, dt_max=0.1,
                    dt_min=1e-2, adaptive=False).run()


def test_newton_failure_reason_includes_the_linear_solvers_word():
    p = _FlakyDecay(fail_at_calls={2})
    p.last_error = ("fem_cell_transport_0_: linear solve failed (KSP reason -11), "
                    "MUMPS INFOG(1) = -9")
    st = TimeStepper(p, t_end=0.3, scheme="backward_euler", dt_initial=0.1, dt_max=0.1,
                     adaptive=False).run()
    assert "MUMPS INFOG(1) = -9" in st.rejections[0].reason


def test_a_failed_linear_solve_is_explained():
    """A transport-like problem whose Jacobian is singular: Newton fails with SNES reason
    DIVERGED_LINEAR_SOLVE and ``last_error`` names the KSP reason (and MUMPS's code)."""

    class Singular:
        def mass(self, u, udot, v):
            return None

        def residual(self, u, v):
            return (u["u"] ** 2 + 1.0) * v["u"] * ufl.dx    # Jacobian 2u = 0 at u = 0

    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u = fem.Function(V)
    prob = TransientProblem([Field("u", u, newton_tol=1e-10)], [Singular()],
                            time=fem.Constant(msh, 0.0), prefix="test_singular_")
    prob.set_time_level(1.0, 1.0, 1, None)
    ok, _, reason = prob.solve()
    prob.destroy()
    assert not ok
    assert reason == -3 and "linear solve failed (KSP reason" in prob.last_error
