"""Rank-0 progress line for long runs: simulated time, step, dt, Newton, wall, ETA."""

from __future__ import annotations

import math
import sys
from collections import deque

from fem_cell.units import format_duration

#: the ETA's rate is measured over the last this many accepted steps
ETA_WINDOW = 20
#: no ETA before this many accepted steps and this fraction of the simulated span
ETA_MIN_STEPS, ETA_MIN_FRACTION = 10, 0.02


class ProgressLine:
    """Prints at most every ``every`` seconds of wall time, and always at the end.

    The ETA extrapolates the wall time per simulated second of the last
    :data:`ETA_WINDOW` accepted steps (the adaptive stepper's first steps are tiny, so a
    rate measured from the start overestimates the rest by orders of magnitude: the
    2-D anneal's first ETAs read 315,920 s), and only after :data:`ETA_MIN_STEPS` steps
    and :data:`ETA_MIN_FRACTION` of the simulated span; until then it shows ``--``.
    Durations are shown as h:mm:ss.

    Args:
        comm: communicator (only rank 0 prints).
        t_end: simulated end time (s).
        t0: simulated start time (s), e.g. of a restart.
        every: minimum wall seconds between lines.
        stream: where to print (default stdout).
        label: prefix, e.g. the job name.
    """

    def __init__(self, comm, t_end: float, t0: float = 0.0, every: float = 2.0, stream=None,
                 label: str = "anneal"):
        self.rank = comm.rank
        self.t0 = float(t0)
        self.t_end = float(t_end)
        self.every = every
        self.stream = stream or sys.stdout
        self.label = label
        self._last = -math.inf
        self._recent: deque[tuple[float, float]] = deque(maxlen=ETA_WINDOW + 1)
        self._steps = 0

    def eta(self, t: float, wall: float) -> float | None:
        """Estimated wall seconds left, or None while unknown."""
        span = self.t_end - self.t0
        if (self._steps < ETA_MIN_STEPS or len(self._recent) < 2
                or (span > 0 and (t - self.t0) / span < ETA_MIN_FRACTION)):
            return None
        w0, s0 = self._recent[0]
        if t <= s0 or wall <= w0:
            return None
        return (wall - w0) / (t - s0) * max(self.t_end - t, 0.0)

    def __call__(self, info, wall: float) -> None:
        """``info``: a :class:`~fem_cell.solvers.time_stepping.StepInfo`."""
        self._steps += 1
        self._recent.append((wall, info.t))
        done = info.t >= self.t_end - 1e-12 * max(abs(self.t_end), 1.0)
        if self.rank != 0 or (wall - self._last < self.every and not done):
            return
        self._last = wall
        span = self.t_end - self.t0
        frac = (info.t - self.t0) / span if span > 0 else 1.0
        eta = self.eta(info.t, wall)
        print(f"[{self.label}] t = {info.t / 60:8.2f} / {self.t_end / 60:.2f} min "
              f"({100 * frac:5.1f} %) | step {info.step:5d} | dt = {info.dt:9.3g} s | "
              f"Newton {info.newton_iterations} | wall {format_duration(wall)} | "
              f"ETA {format_duration(eta)}", file=self.stream, flush=True)
