"""Rank-0 progress line for long runs: simulated time, step, dt, Newton, wall, ETA."""

from __future__ import annotations

import math
import sys


class ProgressLine:
    """Prints at most every ``every`` seconds of wall time, and always at the end.

    The ETA extrapolates the wall time per simulated second measured *since the first
    accepted step*, so start-up costs (JIT compilation, mesh building, the first
    factorisation) do not inflate it; until there is a measurement it shows ``--``.

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
        self._ref: tuple[float, float] | None = None  # (wall, t) at the first accepted step

    def eta(self, t: float, wall: float) -> float | None:
        """Estimated wall seconds left, or None while unknown."""
        if self._ref is None:
            return None
        w0, s0 = self._ref
        if t <= s0 or wall <= w0:
            return None
        return (wall - w0) / (t - s0) * max(self.t_end - t, 0.0)

    def __call__(self, info, wall: float) -> None:
        """``info``: a :class:`~fem_cell.solvers.time_stepping.StepInfo`."""
        if self._ref is None:
            self._ref = (wall, info.t)
        done = info.t >= self.t_end - 1e-12 * max(abs(self.t_end), 1.0)
        if self.rank != 0 or (wall - self._last < self.every and not done):
            return
        self._last = wall
        span = self.t_end - self.t0
        frac = (info.t - self.t0) / span if span > 0 else 1.0
        eta = self.eta(info.t, wall)
        eta_s = "--" if eta is None else f"{eta:.1f} s"
        print(f"[{self.label}] t = {info.t / 60:8.2f} / {self.t_end / 60:.2f} min "
              f"({100 * frac:5.1f} %) | step {info.step:5d} | dt = {info.dt:9.3g} s | "
              f"Newton {info.newton_iterations} | wall {wall:6.1f} s | ETA {eta_s}",
              file=self.stream, flush=True)
