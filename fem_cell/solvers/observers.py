"""Observers of a time integration (FESTIM's exports, generalised).

The stepper knows nothing about outputs: after the initial state and after every
accepted step it hands a :class:`Snapshot` to an :class:`ObserverChain`, which calls
its observers in order.  An observer may read the snapshot, add values to
``snapshot.values`` for the observers after it (a diagnostics observer computes the
row that the history, the checkpoint and a guard then use), write files, or raise to
stop the run (a guard).  Each observer is a small object with ``__call__(snapshot)``
and an optional ``close()``; each is tested on its own.

Typical chain of an anneal (:mod:`fem_cell.jobs.anneal`): diagnostics → history →
melting guard → field series → profiles → checkpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass
class Snapshot:
    """The state an observer sees.

    Attributes:
        t: simulated time (s).
        dt: the step just taken (s); 0 for the initial state.
        step: accepted steps so far.
        newton_iterations: Newton iterations of the step.
        initial: True for the initial (or restarted) state, before any step.
        at_output: ``t`` is one of the output times.
        values: named scalars computed by earlier observers of the chain (e.g. the
            history row), in SI or with units in the name.
        stepper_state: the stepper's state after the step (what a restart needs).
        order: the time scheme's order of the step (1: backward Euler, 2: BDF2; 0 for
            the initial state).
    """

    t: float
    dt: float = 0.0
    step: int = 0
    newton_iterations: int = 0
    initial: bool = False
    at_output: bool = False
    values: dict[str, Any] = field(default_factory=dict)
    stepper_state: Any = None
    order: int = 0


class Observer(Protocol):
    def __call__(self, snapshot: Snapshot) -> None: ...


class ObserverChain:
    """Calls observers in order (collectively: every rank runs the same chain).

    Args:
        observers: callables taking a :class:`Snapshot`.
        output_times: times (s) at which ``at_output`` is set (matched to 1e-9 s).
        state: a callable returning the stepper's current state (for checkpoints).
    """

    def __init__(self, observers: Iterable[Observer], output_times: Iterable[float] = (),
                 state: Callable[[], Any] | None = None):
        self.observers = [o for o in observers if o is not None]
        self._outputs = {round(float(t), 9) for t in output_times}
        self._state = state
        self.last: Snapshot | None = None

    def notify(self, t: float, dt: float = 0.0, step: int = 0, newton_iterations: int = 0,
               initial: bool = False, values: dict | None = None, order: int = 0) -> Snapshot:
        snap = Snapshot(t, dt, step, newton_iterations, initial,
                        round(float(t), 9) in self._outputs, dict(values or {}),
                        self._state() if self._state is not None else None, order)
        for o in self.observers:
            o(snap)
        self.last = snap
        return snap

    def __call__(self, info) -> None:
        """Observe an accepted step (a :class:`~fem_cell.solvers.time_stepping.StepInfo`)."""
        self.notify(info.t, info.dt, info.step, info.newton_iterations, order=info.order)

    def close(self) -> None:
        """Close every observer that has ``close()`` (in order; not collective unless an
        observer's close is)."""
        for o in self.observers:
            close = getattr(o, "close", None)
            if close is not None:
                close()


__all__ = ["Observer", "ObserverChain", "Snapshot"]
