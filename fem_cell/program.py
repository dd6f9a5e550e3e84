"""The hot-plate anneal program T_plate(t): piecewise-linear ramps and holds.

A program is a list of breakpoints ``(t_i, T_i)`` (s, K) with strictly increasing
times; between breakpoints the plate temperature is linear in time.  It can be
written as breakpoints or as segments (``ramp_to`` + ``rate`` or ``duration``,
``hold``) starting from an initial temperature; see :func:`from_segments`.

Example (the paper's anneal: 5 K/min to 150 °C, 1 h hold, 5 K/min back to 25 °C):

    >>> p = from_segments(298.15, [{"ramp_to": 423.15, "rate": 5 / 60},
    ...                            {"hold": 3600.0},
    ...                            {"ramp_to": 298.15, "rate": 5 / 60}])
    >>> p.times.tolist()
    [0.0, 1500.0, 5100.0, 6600.0]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


class SegmentError(ValueError):
    """A ramp/hold segment is invalid.

    Attributes:
        index: position of the offending segment in the list (0-based).
        too_short: the segment is well formed but lasts less than the allowed minimum.
    """

    def __init__(self, index: int, message: str, too_short: bool = False):
        self.index = index
        self.too_short = too_short
        super().__init__(message)

    def __reduce__(self):
        return (type(self), (self.index, str(self), self.too_short))


@dataclass(frozen=True)
class AnnealProgram:
    """Piecewise-linear plate temperature.

    Args:
        times: breakpoint times (s), strictly increasing, first = 0.
        temperatures: plate temperature at each breakpoint (K), > 0.
    """

    times: np.ndarray
    temperatures: np.ndarray

    def __post_init__(self):
        t = np.asarray(self.times, dtype=float)
        T = np.asarray(self.temperatures, dtype=float)
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "temperatures", T)
        if t.ndim != 1 or t.shape != T.shape or len(t) < 2:
            raise ValueError("a program needs at least two (time, temperature) breakpoints")
        if t[0] != 0.0:
            raise ValueError(f"the program must start at t = 0 s, not {t[0]} s")
        bad = np.nonzero(np.diff(t) <= 0)[0]
        if len(bad):
            i = int(bad[0])
            raise ValueError(
                f"breakpoint times must increase strictly: t[{i}] = {t[i]:g} s, "
                f"t[{i + 1}] = {t[i + 1]:g} s")
        if np.any(T <= 0) or not np.all(np.isfinite(T)):
            raise ValueError("temperatures must be finite and > 0 K")

    @property
    def duration(self) -> float:
        """End time of the program (s)."""
        return float(self.times[-1])

    @property
    def initial_temperature(self) -> float:
        return float(self.temperatures[0])

    @property
    def max_temperature(self) -> float:
        return float(self.temperatures.max())

    def temperature(self, t: float) -> float:
        """Plate temperature (K) at time t (s); constant outside [0, duration]."""
        return float(np.interp(t, self.times, self.temperatures))

    def shortest_interval(self) -> tuple[int, float]:
        """The shortest stretch between breakpoints.

        Returns:
            ``(i, length)``: the interval from breakpoint ``i - 1`` to breakpoint ``i``
            is the shortest one, ``length`` (s) long.
        """
        d = np.diff(self.times)
        i = int(np.argmin(d))
        return i + 1, float(d[i])

    def breakpoints(self) -> list[float]:
        """Times (s) where the slope changes: the stepper lands on them exactly."""
        return self.times.tolist()

    def hold_end(self) -> float | None:
        """End time (s) of the hold at the maximum temperature, if there is one."""
        T = self.temperatures
        idx = np.nonzero(np.isclose(T, T.max()))[0]
        return float(self.times[idx[-1]]) if len(idx) > 1 else None


def from_segments(initial_temperature: float, segments: Sequence[Mapping[str, float]],
                  min_duration: float = 0.0) -> AnnealProgram:
    """Build a program from ramp/hold segments (SI values).

    Args:
        initial_temperature: plate temperature at t = 0 (K).
        segments: each one of ``{"ramp_to": T (K), "rate": r (K/s, > 0)}``,
            ``{"ramp_to": T (K), "duration": d (s)}`` or ``{"hold": d (s)}``.
        min_duration: shortest allowed segment (s), e.g. the solver's smallest time
            step: a segment shorter than that (a ramp at an absurd rate, say) would be
            stepped over and is refused.

    Raises:
        SegmentError: (a ValueError carrying the segment's index) a segment is
            malformed, has a non-positive duration/rate, lasts less than
            ``min_duration`` or is too short to advance the clock in floating point.
    """
    times, temps = [0.0], [float(initial_temperature)]
    for i, seg in enumerate(segments):
        keys = set(seg)
        T0 = temps[-1]
        if keys == {"hold"}:
            d = float(seg["hold"])
            if not d > 0:
                raise SegmentError(i, f"segment {i}: hold duration must be > 0 s")
            _check_length(i, d, times[-1], min_duration)
            times.append(times[-1] + d)
            temps.append(T0)
        elif keys in ({"ramp_to", "rate"}, {"ramp_to", "duration"}):
            T1 = float(seg["ramp_to"])
            if "rate" in seg:
                r = float(seg["rate"])
                if not r > 0:
                    raise SegmentError(
                        i, f"segment {i}: ramp rate must be > 0 (its sign follows ramp_to)")
                if T1 == T0:
                    raise SegmentError(i, f"segment {i}: ramp_to equals the current temperature")
                d = abs(T1 - T0) / r
            else:
                d = float(seg["duration"])
                if not d > 0:
                    raise SegmentError(i, f"segment {i}: ramp duration must be > 0 s")
            _check_length(i, d, times[-1], min_duration)
            times.append(times[-1] + d)
            temps.append(T1)
        else:
            raise SegmentError(
                i, f"segment {i}: expected {{ramp_to, rate}}, {{ramp_to, duration}} or {{hold}}, "
                f"got keys {sorted(keys)}")
    return AnnealProgram(np.array(times), np.array(temps))


def _check_length(i: int, d: float, t_start: float, min_duration: float) -> None:
    if not d >= min_duration:
        raise SegmentError(
            i, f"segment {i} lasts {d:.6g} s, less than the smallest time step "
               f"({min_duration:.6g} s)", too_short=True)
    if not t_start + d > t_start:
        raise SegmentError(
            i, f"segment {i} lasts {d:.6g} s, too short to advance the clock from "
               f"t = {t_start:.6g} s", too_short=True)


def hold_program(hold_temperature: str, hold_time: str, rate: str,
                 initial_temperature: float) -> dict:
    """``[anneal]`` of a ramp → hold → ramp-back program, as a config table (validated
    by the loader like a file): ramp from the initial temperature (K) to
    ``hold_temperature`` at ``rate``, hold for ``hold_time``, ramp back at ``rate``.

    Example:
        >>> hold_program("120 degC", "2 h", "5 K/min", 298.15)["segments"][1]
        {'hold': '2 h'}
    """
    back = f"{initial_temperature!r} K"
    return {"initial_temperature": back,
            "segments": [{"ramp_to": hold_temperature, "rate": rate}, {"hold": hold_time},
                         {"ramp_to": back, "rate": rate}]}
