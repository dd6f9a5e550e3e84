"""Several transient problems advanced together by one time stepper.

The anneal couples heat (on the whole stack) to Li⁺/H⁺ transport (on the film
sub-mesh) one way: transport reads the temperature, heat does not depend on the ions
(their Joule and mixing heats are negligible at open circuit).  Within every time step
:class:`SequentialProblem` therefore solves heat, hands the new temperature to the
transport block (``couplings``), then solves transport at the same time level — the
same discrete solution as a monolithic solve of the block-triangular system, with two
smaller factorisations instead of one large one, and each problem keeps its own
Newton tolerances and linear solver (Cholesky for heat, LU for the non-symmetric
transport Jacobian).

The stepper sees one problem: the state is the concatenation of the sub-problems'
fields, the local error estimate is the maximum over all fields, a Newton failure in
either part rejects the step.

:class:`SubcycledProblem` gives the first problem (the driver: heat) its own time steps.
In lock-step, the heat's steps bind the transport: after each kink of the hot-plate
program the heat needs ≈ 15 steps from 0.01 s upwards to resolve the new temperature
transient to its tolerance, while the transport's error in those steps is 1e-7–1e-3 of
its own — 42 of the 83 steps of the default anneal were such restarts.  Sub-cycled,
each step of the transport from tₙ to tₙ₊₁ first integrates the heat from tₙ to tₙ₊₁
with its own adaptive stepper (:class:`~fem_cell.solvers.time_stepping.TimeStepper`:
its own error control, hard restarts at the program's kinks, landing on tₙ₊₁), then
solves the transport at tₙ₊₁ with the temperature there.  The one-way coupling makes
this exact in the same sense as before: the transport sees the heat's solution at its
own time levels.  The outer stepper controls the transport's error only; it restarts
smoothly at the kinks (the transport's u̇ = f(u, T) stays continuous, see
:mod:`fem_cell.solvers.time_stepping`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fem_cell.solvers.problem import TransientProblem
from fem_cell.solvers.time_stepping import StepperState, StepperStats, TimeStepper


class SequentialProblem:
    """Problems solved in order within each step (the stepper's problem protocol).

    Args:
        problems: the sub-problems, in solve order.
        couplings: ``couplings[k]`` (or None) is called before problem k is solved, e.g.
            to copy the temperature just computed by problem k−1.
        prefix: a name for messages.
    """

    def __init__(self, problems: Sequence[TransientProblem],
                 couplings: Sequence[Callable[[], None] | None] | None = None,
                 prefix: str = "fem_cell_coupled"):
        self.problems = list(problems)
        self.couplings = list(couplings) if couplings is not None else [None] * len(problems)
        if len(self.couplings) != len(self.problems):
            raise ValueError("one coupling (or None) per problem")
        self.prefix = prefix
        self.comm = self.problems[0].comm
        self.fields = [f for p in self.problems for f in p.fields]
        self._counts = [len(p.fields) for p in self.problems]
        self.last_iterations: list[int] = [0] * len(self.problems)
        #: why the last solve failed (the failing sub-problem's ``last_error``)
        self.last_error: str | None = None

    def destroy(self) -> None:
        """Destroy every sub-problem's PETSc objects, in solve order (collective)."""
        for p in self.problems:
            p.destroy()

    def _split(self, state: Sequence[np.ndarray]) -> list[list[np.ndarray]]:
        out, i = [], 0
        for n in self._counts:
            out.append(list(state[i:i + n]))
            i += n
        return out

    def set_time_level(self, t_new: float, dt: float, order: int, dt_prev: float | None) -> None:
        for p in self.problems:
            p.set_time_level(t_new, dt, order, dt_prev)

    def begin(self, t0: float, lead: StepperState | None = None) -> None:
        """The stepper starts at t0 (no sub-steps: ``lead`` must be None)."""
        if lead is not None:
            raise ValueError(f"{self.prefix}: a sub-stepper state given to a problem "
                             "without sub-steps")

    def accept_step(self) -> StepperState | None:
        """The last solve's step was accepted (nothing to keep)."""
        return None

    def solve(self) -> tuple[bool, int, int]:
        return self._solve_from(0, 0)

    def _solve_from(self, first: int, total: int) -> tuple[bool, int, int]:
        """Solve problems ``first``… in order (``total``: iterations so far)."""
        for k in range(first, len(self.problems)):
            p, couple = self.problems[k], self.couplings[k]
            if couple is not None:
                couple()
            ok, its, reason = p.solve()
            self.last_iterations[k] = its
            total += its
            if not ok:
                self.last_error = f"{p.prefix}: {p.last_error}" if p.last_error else None
                return False, total, reason
        self.last_error = None
        return True, total, 1

    def get_state(self) -> list[np.ndarray]:
        return [a for p in self.problems for a in p.get_state()]

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        for p, s in zip(self.problems, self._split(state), strict=False):
            p.set_state(s)
        for couple in self.couplings:  # keep coupled data consistent with the state
            if couple is not None:
                couple()

    def set_history(self, u_n: Sequence[np.ndarray], u_nm1: Sequence[np.ndarray]) -> None:
        for p, a, b in zip(self.problems, self._split(u_n), self._split(u_nm1), strict=False):
            p.set_history(a, b)

    def error_norm(self, state: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                   factor: float) -> float:
        return max(p.error_norm(s, r, factor) for p, s, r in
                   zip(self.problems, self._split(state), self._split(reference), strict=False))


class SubcycledProblem(SequentialProblem):
    """The first problem (the lead) on its own adaptive steps within each step of the
    others (see the module docstring); the stepper's problem protocol.

    Args:
        problems: the lead first, then the problems it drives, in solve order.
        couplings: as for :class:`SequentialProblem`.
        lead_stepping: the lead's :class:`TimeStepper` keyword arguments; ``dt_initial``,
            ``dt_max`` and ``adaptive`` are required (``restarts`` are landed on and
            drop the lead's history).
        prefix: a name for messages.

    Each solve integrates the lead from the state of the last accepted step to the new
    time level (an exception of the lead's stepper, e.g. its
    :class:`~fem_cell.errors.ConvergenceError` below ``dt_min``, propagates), then
    solves the others.  The local error estimate is the others' only: the lead's own
    stepper controls its error.  :meth:`accept_step` keeps the lead's stepper state
    (history, steps, proposed step) for the next step and for checkpoints; a rejected
    step integrates the lead again from the kept state.
    """

    def __init__(self, problems: Sequence[TransientProblem],
                 couplings: Sequence[Callable[[], None] | None] | None = None, *,
                 lead_stepping: dict, prefix: str = "fem_cell_coupled"):
        super().__init__(problems, couplings, prefix)
        if len(self.problems) < 2:
            raise ValueError("a sub-cycled problem needs a lead and at least one other")
        missing = {"dt_initial", "dt_max", "adaptive"} - set(lead_stepping)
        if missing:
            raise ValueError(f"lead_stepping needs {sorted(missing)}")
        self.lead = self.problems[0]
        self.lead_stepping = dict(lead_stepping)
        self._t_new: float | None = None
        self._kept: StepperState | None = None
        self._pending: tuple[StepperState, StepperStats] | None = None
        #: the lead's accepted and rejected steps and Newton iterations in the accepted
        #: steps of the others (the work of rejected outer steps is not counted)
        self.lead_stats = StepperStats()

    def begin(self, t0: float, lead: StepperState | None = None) -> None:
        """Start at t0: from the lead's saved stepper state (a checkpoint), or afresh from
        its current state."""
        if lead is None:
            s = self.lead_stepping
            dt = s["dt_initial"] if s["adaptive"] else s["dt_max"]
            lead = StepperState(t0, 0, dt, [], [self.lead.get_state()])
        elif abs(lead.t - t0) > 1e-12 * max(abs(t0), 1.0):
            raise ValueError(f"{self.prefix}: the lead's state is at t = {lead.t}, the "
                             f"step starts at {t0}")
        self._kept = lead
        self._pending = None

    def set_time_level(self, t_new: float, dt: float, order: int, dt_prev: float | None) -> None:
        self._t_new = t_new
        for p in self.problems[1:]:
            p.set_time_level(t_new, dt, order, dt_prev)

    def set_history(self, u_n: Sequence[np.ndarray], u_nm1: Sequence[np.ndarray]) -> None:
        # the lead's history is its own stepper's (self._kept)
        for p, a, b in zip(self.problems[1:], self._split(u_n)[1:], self._split(u_nm1)[1:],
                           strict=True):
            p.set_history(a, b)

    def solve(self) -> tuple[bool, int, int]:
        if self._kept is None or self._t_new is None:
            raise RuntimeError(f"{self.prefix}: begin() and set_time_level() come first")
        stepper = TimeStepper(self.lead, t0=self._kept.t, t_end=self._t_new,
                              **self.lead_stepping)
        stepper.resume_from(self._kept)
        stats = stepper.run()
        self._pending = (stepper.state, stats)
        self.last_iterations[0] = stats.newton_iterations
        return self._solve_from(1, stats.newton_iterations)

    def accept_step(self) -> StepperState:
        """Keep the lead's stepper state of the accepted step; returns it."""
        if self._pending is None:
            raise RuntimeError(f"{self.prefix}: no solved step to accept")
        state, stats = self._pending
        acc = self.lead_stats
        acc.accepted += stats.accepted
        acc.rejected_error += stats.rejected_error
        acc.rejected_newton += stats.rejected_newton
        acc.newton_iterations += stats.newton_iterations
        self._kept, self._pending = state, None
        return state

    def error_norm(self, state: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                   factor: float) -> float:
        return max(p.error_norm(s, r, factor) for p, s, r in
                   zip(self.problems[1:], self._split(state)[1:], self._split(reference)[1:],
                       strict=True))
