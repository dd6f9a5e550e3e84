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
its own — 42 of the 83 steps of the default anneal were such restarts.  Sub-cycled, the
heat runs on its own adaptive stepper (:class:`~fem_cell.solvers.time_stepping.TimeStepper`:
its error control, hard restarts at the program's kinks, landing on them) *ahead* of the
transport: a transport step to tₙ₊₁ first advances the heat until it reaches tₙ₊₁, then
takes the temperature at tₙ₊₁ from the heat's last step (its dense output: the
polynomial through its levels, :func:`~fem_cell.solvers.time_stepping.dense_output`) and
solves the transport there.  The one-way coupling makes the heat's trajectory
independent of the transport's steps (a rejected transport step costs the heat
nothing); the transport sees the heat's solution at its own time levels to the heat's
tolerance.  The outer stepper controls the transport's error only; it restarts
smoothly at the kinks (the transport's u̇ = f(u, T) stays continuous, see
:mod:`fem_cell.solvers.time_stepping`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from fem_cell.solvers.problem import TransientProblem
from fem_cell.solvers.time_stepping import StepperState, StepperStats, TimeStepper, dense_output


class SequentialProblem:
    """Problems solved in order within each step (the stepper's problem protocol).

    Args:
        problems: the sub-problems, in solve order.
        couplings: ``couplings[k]`` (or None) is called before problem k is solved, e.g.
            to copy the temperature just computed by problem k−1.
        prefix: a name for messages.
    """

    #: the first problem whose time levels, history and error the stepper drives (the
    #: ones before it step on their own: :class:`SubcycledProblem`)
    _stepped = 0

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
        for p in self.problems[self._stepped:]:
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
        k = self._stepped
        for p, a, b in zip(self.problems[k:], self._split(u_n)[k:], self._split(u_nm1)[k:],
                           strict=True):
            p.set_history(a, b)

    def error_norm(self, state: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                   factor: float) -> float:
        k = self._stepped
        return max(p.error_norm(s, r, factor) for p, s, r in
                   zip(self.problems[k:], self._split(state)[k:], self._split(reference)[k:],
                       strict=True))


class SubcycledProblem(SequentialProblem):
    """The first problem (the lead) on its own adaptive steps, ahead of the others (see
    the module docstring); the stepper's problem protocol.

    Args:
        problems: the lead first, then the problems it drives, in solve order.
        couplings: as for :class:`SequentialProblem`.
        lead_stepping: the lead's :class:`TimeStepper` keyword arguments; ``t_end``,
            ``dt_initial``, ``dt_max`` and ``adaptive`` are required (``restarts`` are
            landed on and drop the lead's history).
        prefix: a name for messages.

    The stepper drives the others' time levels, history and error (the lead's are its
    own stepper's: ``_stepped = 1``).  Each solve advances the lead, from its own last
    step, until it reaches the new time level (an exception of the lead's stepper, e.g. its
    :class:`~fem_cell.errors.ConvergenceError` below ``dt_min``, propagates), sets the
    lead's fields to its dense output there, then solves the others.  The local error
    estimate is the others' only: the lead's own stepper controls its error.  The lead's
    stepper state (at its own time, at or after the others') is what
    :meth:`accept_step` returns, for checkpoints.
    """

    _stepped = 1

    def __init__(self, problems: Sequence[TransientProblem],
                 couplings: Sequence[Callable[[], None] | None] | None = None, *,
                 lead_stepping: dict, prefix: str = "fem_cell_coupled"):
        super().__init__(problems, couplings, prefix)
        if len(self.problems) < 2:
            raise ValueError("a sub-cycled problem needs a lead and at least one other")
        missing = {"t_end", "dt_initial", "dt_max", "adaptive"} - set(lead_stepping)
        if missing:
            raise ValueError(f"lead_stepping needs {sorted(missing)}")
        self.lead = self.problems[0]
        self.lead_stepping = dict(lead_stepping)
        self._t_new: float | None = None
        #: the lead's stepper states after each of its steps since the others' last
        #: accepted time, oldest first (the last: its latest state; empty before begin()):
        #: a rejected step retried shorter takes its time level from an earlier one
        self._trail: list[StepperState] = []
        #: the lead's accepted and rejected steps and Newton iterations (all of them
        #: count: its trajectory does not depend on the others' steps)
        self.lead_stats = StepperStats()

    def _eps(self, t: float) -> float:
        return 1e-12 * max(abs(self.lead_stepping["t_end"]), 1.0, abs(t))

    def begin(self, t0: float, lead: StepperState | None = None) -> None:
        """Start at t0: from the lead's saved stepper state (a checkpoint; at t0 or
        ahead of it), or afresh from its current state."""
        if lead is None:
            s = self.lead_stepping
            dt = s["dt_initial"] if s["adaptive"] else s["dt_max"]
            lead = StepperState(t0, 0, dt, [], [self.lead.get_state()])
        elif lead.t < t0 - self._eps(t0):
            raise ValueError(f"{self.prefix}: the lead's state is at t = {lead.t}, before "
                             f"the start {t0}")
        self._trail = [lead]

    def set_time_level(self, t_new: float, dt: float, order: int, dt_prev: float | None) -> None:
        self._t_new = t_new
        super().set_time_level(t_new, dt, order, dt_prev)

    def _advance_lead(self, t: float) -> None:
        """Step the lead on until it reaches t; set its fields to their value at t (the
        dense output of the lead's step that covers t)."""
        eps = self._eps(t)
        last = self._trail[-1]
        self.last_iterations[0] = 0
        if last.t < t - eps:
            stepper = TimeStepper(self.lead, t0=last.t, **self.lead_stepping)
            stepper.resume_from(last)
            stats = stepper.run(until=t, on_step=lambda _: self._trail.append(stepper.state))
            acc = self.lead_stats
            acc.accepted += stats.accepted
            acc.rejected_error += stats.rejected_error
            acc.rejected_newton += stats.rejected_newton
            acc.newton_iterations += stats.newton_iterations
            self.last_iterations[0] = stats.newton_iterations
        covering = next(st for st in self._trail if st.t >= t - eps)
        self.lead.set_state(dense_output(covering, t))

    def solve(self) -> tuple[bool, int, int]:
        if not self._trail or self._t_new is None:
            raise RuntimeError(f"{self.prefix}: begin() and set_time_level() come first")
        self._advance_lead(self._t_new)
        return self._solve_from(1, self.last_iterations[0])

    def accept_step(self) -> StepperState:
        """Forget the lead's states before the accepted time; return its latest (at its
        own time, at or after the accepted step's: with the accepted state, everything
        a restart needs)."""
        t = self._t_new
        self._trail = [st for st in self._trail[:-1] if st.t > t + self._eps(t)] + \
            self._trail[-1:]
        return self._trail[-1]
