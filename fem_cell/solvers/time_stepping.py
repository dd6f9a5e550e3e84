"""Adaptive time stepping (backward Euler / variable-step BDF2) with milestones.

The stepper drives any :class:`~fem_cell.solvers.problem.TransientProblem`:

* **error control** — after each Newton solve the local truncation error is estimated
  with Milne's device, from the difference between the solution and an explicit
  polynomial predictor through the previous states (linear for backward Euler,
  quadratic for BDF2):

      BE:    LTE ≈ dt/(2dt + dt₁) · |u − u_pred|
      BDF2:  LTE ≈ dt(dt + dt₁) / [dt(dt + dt₁) + (2dt + dt₁)(dt + dt₁ + dt₂)] · |u − u_pred|

  (dt₁, dt₂: the previous steps; for constant steps the factors are 1/3 and 2/11),

  measured as ``max |LTE| / (atol + rtol |u|)`` over all fields and ranks.  A step with
  error > 1 is rejected; otherwise the next step is ``dt · min(growth, 0.9 err^(−1/(p+1)))``,
  the factor rounded down to a multiple of 1/16 so that the step sequence does not
  depend on round-off (and so on the number of MPI ranks);
* **Newton failure** — the step is retried with dt/4, down to ``dt_min``
  (then :class:`~fem_cell.errors.ConvergenceError`);
* **milestones** — program breakpoints and output times are hit exactly; steps are
  stretched or balanced so no sliver step is left before a milestone;
* **restarts** — at a breakpoint of the driving program (a kink in T_plate(t)) the
  solution is not smooth, so the history is dropped: the next step restarts with
  ``dt_initial`` and backward Euler, then BDF2 again once three states exist;
* **smooth restarts** — where the driving data have a kink but the solution's first
  derivative stays continuous (u̇ = f(u, T) with T continuous but Ṫ not: the transport
  driven by the temperature), only ü jumps.  BDF2 across the kink would mix the two
  sides' ü and its error estimate would not see it, so the history is dropped here
  too, but the derivative u̇ₙ of the last step's BDF formula is kept: the next step is
  backward Euler from the Taylor predictor uₙ + dt·u̇ₙ, and since BE's error is
  +dt²ü/2 and the predictor's −dt²ü/2 (ü on the new side), its error estimate is
  ``|u − u_pred| / 2`` — so the step keeps its size, under error control, instead of
  starting again from ``dt_initial``.  Then BE with two states, then BDF2.
* **own steps of a part** — a problem may advance a part of itself on that part's own
  steps (:class:`~fem_cell.solvers.coupled.SubcycledProblem`: the anneal's heat, ahead
  of the transport, which takes the temperature from its :func:`dense_output`): the
  stepper tells the problem where it begins (``begin``), and after each accepted step
  the problem returns that part's own stepper state (``accept_step``), which the
  stepper state carries (``lead``) so that a checkpoint holds it;
* **dense output** — a state at a restart keeps the levels before it
  (``restarted``): the stepper continues from the first alone, :func:`dense_output`
  interpolates within the step that ended there.

With ``adaptive=False`` it takes fixed steps ``dt_max`` (still hitting milestones);
the verification tests measure the temporal order this way.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from fem_cell.errors import ConvergenceError
from fem_cell.solvers.problem import TransientProblem


@dataclass
class StepInfo:
    """What happened in one accepted step."""

    step: int
    t: float
    dt: float
    order: int
    newton_iterations: int
    error: float
    rejected: int


@dataclass
class StepperState:
    """The stepper's state after an accepted step: time, step count, the proposed next
    step, the last accepted steps (most recent first) and the solution history
    (``states[k]`` = list of per-field DOF arrays at the k-th previous level), the
    derivative kept by a smooth restart and a sub-stepping problem's own state."""

    t: float
    step: int
    dt_next: float
    dts: list[float]
    states: list[list[np.ndarray]]
    #: u̇ at t kept by a smooth restart (per-field arrays; None: none pending)
    slope: list[np.ndarray] | None = None
    #: the problem's own sub-stepper state at t (:meth:`SubcycledProblem.accept_step`)
    lead: StepperState | None = None
    #: t is a (hard or smooth) restart: the levels before it serve :func:`dense_output`
    #: only, the stepper continues from ``states[0]`` alone
    restarted: bool = False


@dataclass
class Rejection:
    """A rejected step: at time t (s) the step dt_tried (s) was refused — ``kind``
    ``"newton"`` (no convergence) or ``"error"`` (local time error above tolerance) —
    and the stepper retries with dt_next (s)."""

    t: float
    dt_tried: float
    kind: str
    reason: str
    dt_next: float

    def __str__(self) -> str:
        return (f"step rejected at t = {self.t:.6g} s, dt = {self.dt_tried:.3g} s: {self.reason}; "
                f"retrying with dt = {self.dt_next:.3g} s")


@dataclass
class StepperStats:
    accepted: int = 0
    rejected_error: int = 0
    rejected_newton: int = 0
    newton_iterations: int = 0
    wall_time: float = 0.0
    dts: list[float] = field(default_factory=list)
    rejections: list = field(default_factory=list)


class TimeStepper:
    """Adaptive time integration of a :class:`TransientProblem`.

    Args:
        problem: the composed problem (its fields hold the initial state).
        t_end: end time (s).
        scheme: ``"bdf2"`` or ``"backward_euler"``.
        dt_initial: first step, and first step after each restart (s).
        dt_max: largest step (s).
        dt_min: smallest step before giving up (s).
        milestones: times (s) to land on exactly (outputs, breakpoints).
        restarts: times at which the solution history is dropped (kinks of the
            solution); landed on exactly.
        smooth_restarts: times at which the data have a kink but the solution's first
            derivative is continuous (see the module docstring); landed on exactly.
        adaptive: error-controlled steps (else fixed ``dt_max``).
        growth: largest step growth factor per step.
        t0: start time (s).
    """

    def __init__(self, problem: TransientProblem, *, t_end: float, scheme: str = "bdf2",
                 dt_initial: float = 1e-2, dt_max: float = 60.0, dt_min: float = 1e-6,
                 milestones: Iterable[float] = (), restarts: Iterable[float] = (),
                 smooth_restarts: Iterable[float] = (), adaptive: bool = True,
                 growth: float = 2.0, t0: float = 0.0):
        if scheme not in ("bdf2", "backward_euler"):
            raise ValueError(f"unknown scheme {scheme!r}")
        if not 0 < dt_min <= dt_initial <= dt_max:
            raise ValueError("need 0 < dt_min <= dt_initial <= dt_max")
        self.problem = problem
        self.t0, self.t_end = float(t0), float(t_end)
        self.max_order = 2 if scheme == "bdf2" else 1
        self.dt_initial, self.dt_max, self.dt_min = dt_initial, dt_max, dt_min
        self.adaptive = adaptive
        self.growth = growth
        span = max(abs(self.t_end), 1.0)
        self._eps = 1e-12 * span
        self.restarts = sorted(float(r) for r in restarts)
        self.smooth_restarts = sorted(float(r) for r in smooth_restarts)
        ms = sorted({float(m) for m in [*milestones, *self.restarts, *self.smooth_restarts]
                     if self.t0 + self._eps < m < self.t_end - self._eps})
        self.milestones = ms + [self.t_end]
        self.stats = StepperStats()
        self.state: StepperState | None = None
        self._resume: StepperState | None = None

    def resume_from(self, state: StepperState) -> None:
        """Continue from a saved :class:`StepperState` (its time must be ``t0``): the next
        :meth:`run` starts with the saved solution history, step sizes and proposed
        step, so it reproduces the uninterrupted run."""
        if abs(state.t - self.t0) > self._eps:
            raise ValueError(f"state at t = {state.t} but the stepper starts at t0 = {self.t0}")
        self._resume = state

    def _reject(self, cb, rej: Rejection) -> None:
        self.stats.rejections.append(rej)
        if cb is not None:
            cb(rej)

    def _next_milestone(self, t: float) -> float:
        for m in self.milestones:
            if m > t + self._eps:
                return m
        return self.t_end

    def _is_restart(self, t: float, smooth: bool = False) -> bool:
        times = self.smooth_restarts if smooth else self.restarts
        return any(abs(t - r) <= self._eps for r in times)

    def run(self, on_step: Callable[[StepInfo], None] | None = None,
            progress: Callable[[StepInfo, float], None] | None = None,
            poll: Callable[[float], None] | None = None,
            on_reject: Callable[[Rejection], None] | None = None,
            until: float | None = None) -> StepperStats:
        """Integrate from t0 to t_end, calling ``on_step`` after each accepted step.

        Args:
            on_step: called after each accepted step (outputs, diagnostics, guards).
            progress: called after each accepted step with the wall time so far.
            poll: called (collectively) before every step attempt with the current
                time; it may raise to stop the run (e.g. on Ctrl-C, see
                :mod:`fem_cell.jobs.interrupts`).  Exceptions from ``poll`` and
                ``on_step`` propagate; they are never taken for a Newton failure.
            on_reject: called with a :class:`Rejection` (time, step tried, kind,
                reason, next step) whenever a step is rejected; the stepper also keeps
                them in ``stats.rejections``.
            until: stop after the first accepted step that reaches this time (s), on
                the step sequence the run to t_end takes (it is not a milestone): a
                driver that runs ahead of the problems it drives
                (:class:`~fem_cell.solvers.coupled.SubcycledProblem`).

        Raises:
            ConvergenceError: Newton failed with dt < dt_min.
        """
        wall0 = _time.perf_counter()
        t, step, dt, dts, states, slope, lead = self._initial_state()
        self.state = StepperState(t, step, dt, list(dts), list(states), slope, lead)
        rejected = 0
        stop = self.t_end if until is None else min(until, self.t_end)
        while t < stop - self._eps:
            if poll is not None:
                poll(t)
            target = self._next_milestone(t)
            remaining = target - t
            dt_try = self._step_to_try(dt, remaining)
            nhist = len(states)
            order = min(self.max_order, nhist - 1) if nhist > 1 else 1
            pred = (predict(states, dts, dt_try, order) if slope is None else
                    [u + dt_try * v for u, v in zip(states[0], slope, strict=True)])
            ok, its, reason = self._attempt(t, dt_try, order, states, dts, pred)
            if not ok:
                rejected += 1
                dt = self._reject_newton(t, dt_try, states[0], its, reason, on_reject)
                continue
            new = self.problem.get_state()
            err = (self._time_error(new, pred, dt_try, dts, order, nhist) if slope is None
                   else self._restart_error(new, pred))
            if err > 1.0:
                rejected += 1
                dt = self._reject_error(t, dt_try, states[0], err, order, on_reject)
                continue
            factor = (_quantise(min(self.growth, 0.9 * err ** (-1.0 / (order + 1))))
                      if err > 0 else self.growth)
            # accept
            t = target if dt_try == remaining else t + dt_try
            step += 1
            states = [new] + states[:2]
            dts = [dt_try] + dts[:1]
            self.stats.accepted += 1
            self.stats.dts.append(dt_try)
            info = StepInfo(step, t, dt_try, order, its, err, rejected)
            rejected = 0
            lead = self.problem.accept_step()
            slope = None
            # everything a restart needs to continue bit-for-bit (see checkpoint.py); at a
            # kink the levels before it stay in the state for dense output only
            hard = self._is_restart(t)
            smooth = not hard and self._is_restart(t, smooth=True)
            history = (list(dts), list(states))
            if hard:  # a kink: drop the history
                states = states[:1]
                dts = []
                dt = self.dt_initial if self.adaptive else self.dt_max
            elif smooth:  # a kink of u̇ only: keep u̇ and dt
                slope = bdf_derivative(states, dts)
                states = states[:1]
                dts = []
                dt = self._next_step(dt, dt_try, factor)
            else:
                dt = self._next_step(dt, dt_try, factor)
            self.state = StepperState(t, step, dt, *history, slope, lead,
                                      restarted=hard or smooth)
            if on_step is not None:
                on_step(info)
            if progress is not None:
                progress(info, _time.perf_counter() - wall0)
        self.stats.wall_time = _time.perf_counter() - wall0
        return self.stats

    # -- the steps of :meth:`run` --------------------------------------------------------
    def _initial_state(self) -> tuple:
        """Time, step count, proposed step, accepted steps, solution history (most
        recent first), kept derivative and sub-stepper state to start from: the saved
        state of :meth:`resume_from` (also set on the problem) or the problem's current
        state at ``t0``."""
        p = self.problem
        if self._resume is not None:  # continue exactly where a checkpointed run stood
            r = self._resume
            states = [list(s) for s in (r.states[:1] if r.restarted else r.states)]
            dts = [] if r.restarted else list(r.dts)
            p.set_state(states[0])
            p.begin(r.t, r.lead)
            slope = None if r.slope is None else list(r.slope)
            return r.t, r.step, r.dt_next, dts, states, slope, r.lead
        dt = self.dt_initial if self.adaptive else self.dt_max
        p.begin(self.t0, None)
        return self.t0, 0, dt, [], [p.get_state()], None, None

    def _step_to_try(self, dt: float, remaining: float) -> float:
        """The proposed step dt, capped at ``dt_max`` and fitted to the ``remaining`` time
        to the next milestone: landing on it, or balancing the last two steps before it."""
        dt_try = min(dt, self.dt_max)
        if dt_try >= remaining - self._eps:
            dt_try = remaining
        elif dt_try > 0.5 * remaining:  # balance the last two steps before a milestone
            dt_try = 0.5 * remaining
        return dt_try

    def _attempt(self, t: float, dt_try: float, order: int, states: list[list[np.ndarray]],
                 dts: list[float], pred: list[np.ndarray]) -> tuple[bool, int, int]:
        """Set the history and the time level, start Newton from the predictor and solve.

        Returns:
            (converged, Newton iterations, SNES converged reason).
        """
        p = self.problem
        u_nm1 = states[1] if len(states) >= 2 else states[0]
        p.set_history(states[0], u_nm1)
        p.set_state(pred)
        p.set_time_level(t + dt_try, dt_try, order, dts[0] if dts else None)
        ok, its, reason = p.solve()
        self.stats.newton_iterations += its
        return ok, its, reason

    def _reject_newton(self, t: float, dt_try: float, u_n: list[np.ndarray], its: int,
                       reason: int, on_reject: Callable[[Rejection], None] | None) -> float:
        """Reject a step whose Newton solve failed: restore u_n, report; the step to retry.

        Raises:
            ConvergenceError: the retry step would be below ``dt_min``.
        """
        p = self.problem
        self.stats.rejected_newton += 1
        p.set_state(u_n)
        dt = dt_try / 4.0
        detail = f"; {p.last_error}" if p.last_error else ""
        self._reject(on_reject, Rejection(t, dt_try, "newton",
                                          f"Newton failed (SNES reason {reason}, "
                                          f"{its} iterations{detail})", dt))
        if dt < self.dt_min:
            raise ConvergenceError(
                f"{p.prefix}: Newton failed at t = {t + dt_try:.6g} s even with "
                f"dt = {dt_try:.3g} s (dt_min = {self.dt_min:.3g} s)", reason)
        return dt

    def _time_error(self, new: list[np.ndarray], pred: list[np.ndarray], dt_try: float,
                    dts: list[float], order: int, nhist: int) -> float:
        """Milne's estimate of the local time error, relative to the tolerances (0 when
        not adaptive or with only ``nhist`` = 1 state in the history)."""
        if not (self.adaptive and nhist >= 2):
            return 0.0
        h, h1 = dt_try, dts[0]
        if order == 2:
            h2 = dts[1]
            c = h * (h + h1) / (h * (h + h1) + (2 * h + h1) * (h + h1 + h2))
        else:
            c = h / (2 * h + h1)
        return self.problem.error_norm(new, pred, c)

    def _restart_error(self, new: list[np.ndarray], pred: list[np.ndarray]) -> float:
        """The first step after a smooth restart: backward Euler's error +dt²ü/2 against
        the Taylor predictor's −dt²ü/2, so ``|u − u_pred| / 2`` (0 when not adaptive)."""
        return self.problem.error_norm(new, pred, 0.5) if self.adaptive else 0.0

    def _reject_error(self, t: float, dt_try: float, u_n: list[np.ndarray], err: float,
                      order: int, on_reject: Callable[[Rejection], None] | None) -> float:
        """Reject a step whose time error exceeds the tolerance: restore u_n, report; the
        step to retry.

        Raises:
            ConvergenceError: the rejected step was already ``dt_min``.
        """
        p = self.problem
        self.stats.rejected_error += 1
        p.set_state(u_n)
        dt = max(dt_try * _quantise(max(0.2, 0.9 * err ** (-1.0 / (order + 1)))), self.dt_min)
        self._reject(on_reject, Rejection(t, dt_try, "error",
                                          f"time error {err:.3g} x tolerance", dt))
        if dt_try <= self.dt_min:
            raise ConvergenceError(
                f"{p.prefix}: time-error tolerance not met at dt_min = {self.dt_min:.3g} s")
        return dt

    def _next_step(self, dt: float, dt_try: float, factor: float) -> float:
        """The step proposed after accepting dt_try (the proposal was dt, the error
        control's factor ``factor``); ``dt_max`` when not adaptive."""
        if not self.adaptive:
            return self.dt_max
        clipped = dt_try < dt  # shortened to land on a milestone
        dt = max(dt_try * factor, dt) if clipped else dt_try * factor
        return min(max(dt, self.dt_min), self.dt_max)


def _quantise(factor: float) -> float:
    """Round a step-size factor down to a multiple of 1/16.

    Error estimates differ between runs on different rank counts at round-off level;
    continuous factors would let that noise into every later step time.  Quantised
    factors make the step sequence (and so the history) identical on any number of
    ranks except in the rare case of an estimate within round-off of a grid point.
    """
    return max(np.floor(factor * 16.0) / 16.0, 1.0 / 16.0)


def bdf_derivative(states: list[list[np.ndarray]], dts: list[float]) -> list[np.ndarray]:
    """u̇ at the newest state: the derivative there of the polynomial through the last
    three states (the variable-step BDF2 formula), or through two (backward Euler's
    difference); ``dts[0]`` is the newest step, ``dts[1]`` the one before."""
    h = dts[0]
    if len(states) >= 3 and len(dts) >= 2:
        w = h / dts[1]
        a0, a1, a2 = (1.0 + 2.0 * w) / ((1.0 + w) * h), -(1.0 + w) / h, w * w / ((1.0 + w) * h)
        return [a0 * x + a1 * y + a2 * z for x, y, z in zip(*states[:3], strict=True)]
    return [(x - y) / h for x, y in zip(*states[:2], strict=True)]


def dense_output(state: StepperState, t: float) -> list[np.ndarray]:
    """The solution at time t within the last step of ``state`` (t in [t_state − dts[0],
    t_state]): the polynomial through the state's levels (never across an earlier
    restart: the stepper keeps none from before one) — quadratic through three, linear
    through two — or the state itself at t_state.

    Raises:
        ValueError: t outside the last step (or before a restart's single level).
    """
    n = min(len(state.states), len(state.dts) + 1)  # (a restart keeps its levels for this)
    eps = 1e-12 * max(abs(state.t), 1.0)
    if abs(t - state.t) <= eps:
        return [a.copy() for a in state.states[0]]
    if n < 2 or not state.t - state.dts[0] - eps <= t <= state.t:
        raise ValueError(f"t = {t} is not within the last step of the state at {state.t}")
    s = t - state.t
    nodes = [0.0, -state.dts[0]] + ([-state.dts[0] - state.dts[1]] if n >= 3 else [])
    weights = []
    for i, xi in enumerate(nodes):
        w = 1.0
        for j, xj in enumerate(nodes):
            if j != i:
                w *= (s - xj) / (xi - xj)
        weights.append(w)
    return [sum(w * lvl[k] for w, lvl in zip(weights, state.states, strict=False))
            for k in range(len(state.states[0]))]


def predict(states: list[list[np.ndarray]], dts: list[float], dt_try: float,
             order: int) -> list[np.ndarray]:
    """Explicit predictor (and Newton initial guess) at t + dt_try: quadratic through three
    states for BDF2, linear through two, else the last state."""
    nhist = len(states)
    if nhist >= 3 and order == 2:
        return _extrapolate(states[:3], [dt_try, dts[0], dts[1]])
    if nhist >= 2:
        return _extrapolate(states[:2], [dt_try, dts[0]])
    return states[0]


def _extrapolate(states: list[list[np.ndarray]], dts: list[float]) -> list[np.ndarray]:
    """Polynomial extrapolation to t_new through the given past states.

    states[0] at t_n, states[1] at t_n − dts[1], states[2] at t_n − dts[1] − dts[2];
    dts[0] is the step to the new time.
    """
    h = dts[0]
    if len(states) == 2:
        w = h / dts[1]
        return [(1 + w) * a - w * b for a, b in zip(*states, strict=True)]
    # Lagrange through t = 0, −h1, −h1−h2 evaluated at +h
    h1, h2 = dts[1], dts[2]
    x0, x1, x2 = 0.0, -h1, -h1 - h2
    l0 = (h - x1) * (h - x2) / ((x0 - x1) * (x0 - x2))
    l1 = (h - x0) * (h - x2) / ((x1 - x0) * (x1 - x2))
    l2 = (h - x0) * (h - x1) / ((x2 - x0) * (x2 - x1))
    return [l0 * a + l1 * b + l2 * c for a, b, c in zip(*states, strict=True)]
