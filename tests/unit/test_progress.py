"""Progress lines: durations as h:mm:ss, and an anneal ETA that neither starts absurd nor
lags behind a stepper whose steps grow (it read 315,920 s at the start of a 2-D run)."""

from __future__ import annotations

import io
from types import SimpleNamespace

import pytest

from fem_cell.jobs.progress import ETA_MIN_STEPS, ProgressLine
from fem_cell.units import format_duration


@pytest.mark.parametrize(("s", "text"), [(0, "0:00:00"), (75.4, "0:01:15"),
                                         (40000, "11:06:40"), (None, "--"),
                                         (float("inf"), "--"), (-1, "--")])
def test_format_duration(s, text):
    assert format_duration(s) == text


class _Comm:
    rank = 0


def test_eta_unknown_at_first_then_from_the_recent_rate():
    """A run whose steps double up to 100 s and then stay there, 1 s of wall per step:
    no ETA in the first steps; later the ETA is the remaining steps at the recent rate
    (1 s per 100 s of simulated time), not the average since the start."""
    out = io.StringIO()
    bar = ProgressLine(_Comm(), t_end=20_000.0, every=0.0, stream=out)
    t, dt, wall, steady = 0.0, 0.01, 0.0, []
    for step in range(1, 1000):
        dt = min(2 * dt, 100.0)
        t = min(t + dt, 20_000.0)
        wall += 1.0
        bar(SimpleNamespace(t=t, step=step, dt=dt, newton_iterations=2), wall)
        if step == 60:            # 46 steps into the 100 s steps: the window is steady
            steady = [bar.eta(t, wall), (20_000.0 - t) / 100.0]
        if t >= 20_000.0:
            break
    lines = out.getvalue().splitlines()
    assert all(ln.endswith("ETA --") for ln in lines[:ETA_MIN_STEPS - 1])
    assert steady[0] == pytest.approx(steady[1], rel=1e-9)   # 1 wall s per 100 s, exactly
    assert lines[-1].endswith("ETA 0:00:00") and "wall 0:03:" in lines[-1]
