"""Time stepper logic on an ODE (one DG0 dof): milestones, restarts, error control,
Newton-failure handling, smooth restarts and a sub-cycled lead problem (exact
solutions)."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.errors import ConvergenceError
from fem_cell.solvers.coupled import SequentialProblem, SubcycledProblem
from fem_cell.solvers.problem import Field, TransientProblem
from fem_cell.solvers.time_stepping import (
    StepperState,
    TimeStepper,
    bdf_derivative,
    dense_output,
)


class Decay:
    """u' = -lam (u - g(t)),  g piecewise linear with a kink at t = 1 (slope 1, then a)."""

    def __init__(self, V, lam, t, a=0.0):
        self.lam, self.t, self.V, self.a = lam, t, V, a
        self.g = fem.Constant(V.mesh, 0.0)

    def g_of(self, t):
        return t if t < 1.0 else 1.0 + self.a * (t - 1.0)

    def mass(self, u, udot, v):
        return udot["u"] * v["u"] * ufl.dx

    def residual(self, u, v):
        return self.lam * (u["u"] - self.g) * v["u"] * ufl.dx

    def update(self, t):
        self.g.value = self.g_of(t)


def exact(t, lam, a=0.0):
    # u(0)=0; g = t for t<1 then 1 + a (t - 1): u = g - ġ/λ + C exp(-λt) on each side
    def ramp(s):
        return s - (1 - np.exp(-lam * s)) / lam
    if t <= 1:
        return ramp(t)
    return 1 + a * (t - 1) - a / lam + (ramp(1.0) - 1 + a / lam) * np.exp(-lam * (t - 1))


def make(lam=5.0, atol=1e-6, a=0.0, **kw):
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    V = fem.functionspace(msh, ("DG", 0))
    u = fem.Function(V)
    t = fem.Constant(msh, 0.0)
    block = Decay(V, lam, t, a)
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

    def begin(self, t0, lead=None):
        pass

    def accept_step(self):
        return None

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
    """A transport-like problem whose Jacobian is singular: Newton fails with SNES's reason
    DIVERGED_LINEAR_SOLVE and ``last_error`` names the direct solver's failure (SNES: the
    KSP reason, and MUMPS's code: test_direct_newton.py)."""

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
    # one rank: Newton without SNES (fem_cell.solvers.newton), on the band LU
    assert reason == -3 and prob.direct_newton
    assert prob.last_error.startswith(
        "linear solve failed (the direct solver's set-up: FACTOR_NUMERIC_ZEROPIVOT), "
        "banded LU: zero pivot at unknown")


# -- smooth restarts and sub-cycling -------------------------------------------------------

def test_bdf_derivative_is_exact_for_the_polynomial_through_the_states():
    """u̇ kept by a smooth restart: exact for a quadratic through three unequally spaced
    states, and for a line through two."""
    q = lambda t: 3.0 * t * t - 2.0 * t + 0.5  # noqa: E731
    ts = [0.5, 0.3, 0.0]  # newest first; steps 0.2 and 0.3
    states = [[np.array([q(t)])] for t in ts]
    assert bdf_derivative(states, [0.2, 0.3])[0][0] == pytest.approx(6.0 * 0.5 - 2.0, rel=1e-12)
    line = [[np.array([2.0 * t + 1.0])] for t in ts[:2]]
    assert bdf_derivative(line, [0.2])[0][0] == pytest.approx(2.0, rel=1e-12)


def _run(atol, a, **kw):
    prob, u = make(atol=atol, a=a)
    infos = []
    st = TimeStepper(prob, t_end=2.0, dt_initial=1e-4, dt_max=1.0, **kw)
    stats = st.run(on_step=infos.append)
    return abs(u.x.array[0] - exact(2.0, 5.0, a)), stats.accepted, infos


@pytest.mark.parametrize("atol", [1e-4, 1e-6])
@pytest.mark.parametrize("a", [0.0, 0.9])
def test_smooth_restart_keeps_the_step_under_error_control(atol, a):
    """u' = −λ(u − g), g with a kink at t = 1 (slope 1, then a): u̇ is continuous there,
    ü jumps by λ(a − 1).  A smooth restart lands on t = 1, then tries backward Euler from
    the Taylor predictor with the step the error control proposed (not dt_initial),
    then BE, then BDF2.  Against the exact solution its global error stays within 20
    local tolerances and within 1.25× the hard restart's, in no more steps: fewer with
    a mild kink (a = 0.9), where the first step keeps more of its size; a jump of ü of
    5 (a = 0) makes it cut the kept step down towards the hard restart's start (BE's
    error dt²ü/2 is first order) — the error control decides, in both cases."""
    err_h, n_h, _ = _run(atol, a, restarts=[1.0])
    err_s, n_s, infos = _run(atol, a, smooth_restarts=[1.0])
    ts = [i.t for i in infos]
    k = ts.index(1.0)  # landed on exactly
    first, second, third = infos[k + 1:k + 4]
    assert (first.order, second.order, third.order) == (1, 1, 2)
    assert first.dt > 1e-4  # dt_initial is not where it starts
    assert err_s < 20 * atol
    assert err_s < 1.25 * err_h
    assert n_s <= n_h if a == 0.0 else n_s < n_h


def test_smooth_restart_error_estimate_rejects_a_step_too_long():
    """The first step after a smooth restart is error-controlled: with a kink that makes
    ü jump hard (λ = 50) and a step proposal of 1 s kept across it, the estimate
    |u − (uₙ + dt·u̇ₙ)|/2 rejects it and the run still meets its tolerance."""
    prob, u = make(lam=50.0, atol=1e-6)
    rejected = []
    st = TimeStepper(prob, t_end=2.0, dt_initial=1e-4, dt_max=1.0, smooth_restarts=[1.0])
    st.run(on_reject=rejected.append)
    assert any(r.t == 1.0 and r.kind == "error" for r in rejected)
    assert abs(u.x.array[0] - exact(2.0, 50.0)) < 20 * 1e-6


class Integral:
    """v' = u, u copied from the lead problem at each time level by the coupling."""

    def __init__(self, msh):
        self.u_lead = fem.Constant(msh, 0.0)

    def mass(self, u, udot, v):
        return udot["v"] * v["v"] * ufl.dx

    def residual(self, u, v):
        return -self.u_lead * v["v"] * ufl.dx


def integral_exact(t, lam):
    """∫₀ᵗ u for the Decay solution :func:`exact` (u(0) = 0)."""
    def iramp(s):
        return s * s / 2 - s / lam + (1 - np.exp(-lam * s)) / lam ** 2
    if t <= 1:
        return iramp(t)
    r1 = 1 - (1 - np.exp(-lam)) / lam
    return iramp(1.0) + (t - 1) + (r1 - 1) * (1 - np.exp(-lam * (t - 1))) / lam


#: the lead's own stepping in the pair below (the same as a standalone run of it)
LEAD = {"t_end": 2.0, "dt_initial": 1e-4, "dt_max": 1.0, "adaptive": True, "restarts": [1.0]}


def make_pair(atol_u=1e-6, atol_v=1e-6, lam=5.0, subcycled=True):
    """The lead (u, kink of g at t = 1) drives the follower v' = u one way."""
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 1)
    V = fem.functionspace(msh, ("DG", 0))
    u, v = fem.Function(V), fem.Function(V)
    t_u, t_v = fem.Constant(msh, 0.0), fem.Constant(msh, 0.0)
    lead = TransientProblem([Field("u", u, atol=atol_u, rtol=0.0)], [Decay(V, lam, t_u)],
                            time=t_u, prefix="test_lead_")
    block = Integral(msh)
    follower = TransientProblem([Field("v", v, atol=atol_v, rtol=0.0)], [block], time=t_v,
                                prefix="test_follower_")

    def couple():
        block.u_lead.value = u.x.array[0]

    if subcycled:
        prob = SubcycledProblem([lead, follower], [None, couple], lead_stepping=LEAD)
    else:
        prob = SequentialProblem([lead, follower], [None, couple])
    return prob, u, v


def test_subcycled_lead_and_follower_meet_the_exact_solution():
    """The lead on its own steps (hard restart at the kink) ahead of the follower, the
    follower on the outer steps (smooth restart), its u from the lead's dense output:
    both end within 20 local tolerances of the exact solution.  The lead's steps are
    those of the lead run alone, to the last bit (its trajectory does not depend on the
    follower's steps or rejections), and the follower takes fewer steps than in
    lock-step (where the lead's restart binds both)."""
    prob, u, v = make_pair()
    st = TimeStepper(prob, t_end=2.0, dt_initial=1e-4, dt_max=1.0, smooth_restarts=[1.0])
    stats = st.run()
    assert abs(u.x.array[0] - exact(2.0, 5.0)) < 20e-6
    assert abs(v.x.array[0] - integral_exact(2.0, 5.0)) < 20e-6
    alone, u1 = make(atol=1e-6)
    solo = TimeStepper(alone, **LEAD).run()
    assert prob.lead_stats.accepted == solo.accepted > stats.accepted
    assert u.x.array[0] == u1.x.array[0]
    locked, u2, v2 = make_pair(subcycled=False)
    st2 = TimeStepper(locked, t_end=2.0, dt_initial=1e-4, dt_max=1.0, restarts=[1.0])
    assert stats.accepted < st2.run().accepted
    assert abs(v2.x.array[0] - integral_exact(2.0, 5.0)) < 20e-6


def test_dense_output_is_the_polynomial_through_the_levels():
    """Exact for a quadratic through three levels (and the state itself at its time); at
    a restart the levels before it still serve the step that ended there; a time
    outside the last step is refused."""
    q = lambda t: 3.0 * t * t - 2.0 * t + 0.5  # noqa: E731
    levels = [[np.array([q(t)])] for t in (0.5, 0.3, 0.0)]
    st = StepperState(0.5, 2, 0.2, [0.2, 0.3], levels, restarted=True)
    for t in (0.3, 0.37, 0.5):
        assert dense_output(st, t)[0][0] == pytest.approx(q(t), rel=1e-13)
    with pytest.raises(ValueError, match="not within the last step"):
        dense_output(st, 0.2)
    line = StepperState(0.5, 1, 0.2, [0.2], levels[:2])
    assert dense_output(line, 0.4)[0][0] == pytest.approx(0.5 * (q(0.5) + q(0.3)), rel=1e-13)


def test_run_until_stops_on_the_natural_step_sequence():
    """``until`` is not a milestone: the run stops after the first step that reaches it,
    on the steps a run to t_end takes."""
    prob, u = make()
    full = []
    TimeStepper(prob, t_end=2.0, dt_initial=1e-4, dt_max=1.0).run(
        on_step=lambda i: full.append(i.t))
    prob2, _ = make()
    part = []
    TimeStepper(prob2, t_end=2.0, dt_initial=1e-4, dt_max=1.0).run(
        on_step=lambda i: part.append(i.t), until=0.5)
    assert part == full[:len(part)] and part[-1] >= 0.5 > part[-2]


def test_subcycled_run_resumes_bit_for_bit_from_a_state_at_the_kink():
    """The stepper state at t = 1 (the kink: a kept derivative and the lead's own history
    and step) carries everything: a fresh pair resumed from it ends on the same bits."""
    prob, u, v = make_pair()
    saved = {}
    st = TimeStepper(prob, t_end=2.0, dt_initial=1e-4, dt_max=1.0, smooth_restarts=[1.0])
    st.run(on_step=lambda i: saved.setdefault(i.t, st.state) if i.t == 1.0 else None)
    state = saved[1.0]
    assert state.restarted and state.slope is not None
    assert state.lead is not None and state.lead.t == 1.0 and state.lead.restarted
    prob2, u2, v2 = make_pair()
    st2 = TimeStepper(prob2, t_end=2.0, dt_initial=1e-4, dt_max=1.0, smooth_restarts=[1.0],
                      t0=1.0)
    st2.resume_from(state)
    st2.run()
    assert u2.x.array[0] == u.x.array[0] and v2.x.array[0] == v.x.array[0]


def test_subcycled_problem_refuses_incomplete_settings_and_a_lead_state_elsewhere():
    prob, _, _ = make_pair()
    with pytest.raises(ValueError, match="lead_stepping needs"):
        SubcycledProblem(prob.problems, [None, None], lead_stepping={"dt_max": 1.0})
    with pytest.raises(ValueError, match="before the start"):
        prob.begin(0.5, StepperState(0.0, 0, 1e-4, [], [prob.lead.get_state()]))
    with pytest.raises(ValueError, match="without sub-steps"):
        prob.lead.begin(0.0, StepperState(0.0, 0, 1e-4, [], [prob.lead.get_state()]))
