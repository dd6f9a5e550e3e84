"""``[anneal]``: the hot-plate program, as ramp/hold ``segments`` or ``breakpoints``.

A user program replaces the cell's; every time is at most 100 years, every temperature
an absolute temperature up to 5000 K, and every stretch at least ``solver.dt_min`` long
(shorter ones would be stepped over).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fem_cell.config.reader import MISSING, Reader, Record, note
from fem_cell.physics.parameters import MAX_DURATION, MAX_TEMPERATURE
from fem_cell.program import AnnealProgram, SegmentError, from_segments
from fem_cell.units import format_number

T_BOUNDS = (0.0, MAX_TEMPERATURE)
T_TEXT = "absolute temperature"
TIME_TEXT = "at most 100 years"
_SEGMENT_DIMENSIONS = {"ramp_to": "temperature", "rate": "temperature rate", "duration": "time",
                       "hold": "time"}


def read_program(cell, user, cr: Reader, ur: Reader, rec: Record,
                 dt_min: float) -> tuple[AnnealProgram, dict[str, Any], Reader]:
    """The program, its spec as written, and the reader of the file its shape came from."""
    c = cr.table(cell.get("anneal", {}), "anneal")
    u = ur.table(user.get("anneal", {}), "anneal")
    allowed = {"initial_temperature", "segments", "breakpoints"}
    cr.keys(c, "anneal", allowed)
    ur.keys(u, "anneal", allowed)
    if "segments" in u and "breakpoints" in u:
        raise ur.err("anneal", sorted(u), "either segments or breakpoints, not both")
    merged = {k: (v, cr) for k, v in c.items()}
    if "segments" in u or "breakpoints" in u:  # a user program replaces the cell's
        merged.pop("segments", None)
        merged.pop("breakpoints", None)
    merged.update({k: (v, ur) for k, v in u.items()})
    spec = {k: v for k, (v, _) in merged.items()}
    if "breakpoints" in merged:
        bp, r = merged["breakpoints"]
        program = _breakpoints(bp, r, rec, dt_min)
        _check_duration(program, r, "anneal.breakpoints")
        return program, spec, r
    if "segments" not in merged:
        raise ur.err("anneal", spec, "segments = [...] or breakpoints = [...]")
    if "initial_temperature" not in merged:
        raise ur.err("anneal.initial_temperature", MISSING, "a temperature, e.g. '25 degC'")
    v0, r0 = merged["initial_temperature"]
    T0 = r0.quantity(v0, "anneal.initial_temperature", "temperature", bounds=T_BOUNDS,
                     bounds_text=T_TEXT)
    rec.param("anneal.initial_temperature", T0, "temperature", note(T0, v0, r0, cr))
    segs, r = merged["segments"]
    program = _segments(T0.value, segs, r, rec, dt_min)
    _check_duration(program, r, "anneal.segments")
    return program, spec, r


def _breakpoints(bp, r: Reader, rec: Record, dt_min: float) -> AnnealProgram:
    if not isinstance(bp, list) or len(bp) < 2:
        raise r.err("anneal.breakpoints", bp, "a list of at least two [time, temperature] pairs")
    times, temps = [], []
    for i, pair in enumerate(bp):
        if not isinstance(pair, list) or len(pair) != 2:
            raise r.err(f"anneal.breakpoints[{i}]", pair,
                        "a [time, temperature] pair, e.g. ['25 min', '150 degC']")
        tp = r.quantity(pair[0], f"anneal.breakpoints[{i}][0]", "time", positive=False,
                        bounds=(0.0, MAX_DURATION), bounds_text=TIME_TEXT)
        Tp = r.quantity(pair[1], f"anneal.breakpoints[{i}][1]", "temperature", bounds=T_BOUNDS,
                        bounds_text=T_TEXT)
        rec.param(f"anneal.breakpoints[{i}][0]", tp, "time")
        rec.param(f"anneal.breakpoints[{i}][1]", Tp, "temperature")
        times.append(tp.value)
        temps.append(Tp.value)
    if times[0] != 0.0:
        raise r.err("anneal.breakpoints[0][0]", bp[0][0], "the program to start at time 0")
    for i in range(1, len(times)):
        if not times[i] > times[i - 1]:
            raise r.err(f"anneal.breakpoints[{i}][0]", bp[i][0],
                        f"a time later than the previous breakpoint ({bp[i - 1][0]}): "
                        "breakpoint times must increase strictly")
        if not times[i] - times[i - 1] >= dt_min:
            raise r.err(f"anneal.breakpoints[{i}][0]", bp[i][0],
                        f"a time at least solver.dt_min = {format_number(dt_min)} s after the "
                        f"previous breakpoint ({bp[i - 1][0]}): shorter stretches would be "
                        "stepped over")
    return AnnealProgram(np.array(times), np.array(temps))


def _segments(T0: float, segs, r: Reader, rec: Record, dt_min: float) -> AnnealProgram:
    if not isinstance(segs, list) or not segs:
        raise r.err("anneal.segments", segs,
                    "a non-empty list of {ramp_to, rate|duration} or {hold} tables")
    parsed = []
    for i, seg in enumerate(segs):
        key = f"anneal.segments[{i}]"
        r.table(seg, key)
        r.keys(seg, key, set(_SEGMENT_DIMENSIONS))
        p = {}
        for k, v in seg.items():
            dim = _SEGMENT_DIMENSIONS[k]
            if dim == "time":
                q = r.quantity(v, f"{key}.{k}", dim, bounds=(0.0, MAX_DURATION),
                               bounds_text=TIME_TEXT)
            elif dim == "temperature":
                q = r.quantity(v, f"{key}.{k}", dim, bounds=T_BOUNDS, bounds_text=T_TEXT)
            else:
                q = r.quantity(v, f"{key}.{k}", dim, difference=True)
            rec.param(f"{key}.{k}", q, dim)
            p[k] = q.value
        parsed.append(p)
    try:
        program = from_segments(T0, parsed, min_duration=dt_min)
    except SegmentError as e:
        i = e.index
        msg = str(e).removeprefix(f"segment {i}: ")
        if e.too_short:
            expected = (f"a segment lasting at least solver.dt_min = {format_number(dt_min)} s, "
                        f"else the run would step over it ({msg})")
        else:
            expected = f"a valid ramp/hold segment ({msg})"
        raise r.err(f"anneal.segments[{i}]", segs[i], expected) from None
    except ValueError as e:
        raise r.err("anneal.segments", segs, f"a valid ramp/hold program ({e})") from None
    for i, d in enumerate(np.diff(program.times)):
        if not d <= MAX_DURATION:
            raise r.err(f"anneal.segments[{i}]", segs[i],
                        f"a segment lasting {TIME_TEXT} ({format_number(MAX_DURATION)} s), "
                        f"not {format_number(float(d))} s")
    return program


def _check_duration(program: AnnealProgram, r: Reader, key: str) -> None:
    """The whole program lasts at most 100 years."""
    d = program.duration
    if not d <= MAX_DURATION:
        raise r.err(key, f"{format_number(d)} s in total",
                    f"a program lasting {TIME_TEXT} ({format_number(MAX_DURATION)} s)")


__all__ = ["read_program"]
