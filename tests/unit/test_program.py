"""Anneal program: breakpoints, interpolation, validation."""

import numpy as np
import pytest

from fem_cell.program import AnnealProgram, from_segments


def test_paper_program():
    p = from_segments(298.15, [{"ramp_to": 423.15, "rate": 5 / 60}, {"hold": 3600.0},
                               {"ramp_to": 298.15, "rate": 5 / 60}])
    assert p.times.tolist() == pytest.approx([0, 1500, 5100, 6600])
    assert p.temperature(750) == pytest.approx(298.15 + 62.5)
    assert p.temperature(3000) == pytest.approx(423.15)
    assert p.temperature(1e9) == pytest.approx(298.15)
    assert p.max_temperature == pytest.approx(423.15)
    assert p.hold_end() == pytest.approx(5100)
    assert p.duration == 6600


def test_ramp_with_duration_and_cooling_sign():
    p = from_segments(400.0, [{"ramp_to": 300.0, "duration": 100.0}])
    assert p.temperature(50.0) == pytest.approx(350.0)


@pytest.mark.parametrize(("segments", "msg"), [
    ([{"hold": 0.0}], "hold duration must be > 0"),
    ([{"ramp_to": 400.0, "rate": -1.0}], "rate must be > 0"),
    ([{"ramp_to": 300.0, "rate": 1.0}], "equals the current temperature"),
    ([{"ramp_to": 400.0}], "expected"),
    ([{"hold": 10.0, "rate": 1.0}], "expected"),
])
def test_bad_segments(segments, msg):
    with pytest.raises(ValueError, match=msg):
        from_segments(300.0, segments)


def test_breakpoints_validation():
    with pytest.raises(ValueError, match="increase strictly"):
        AnnealProgram(np.array([0.0, 10.0, 10.0]), np.array([300.0, 310.0, 320.0]))
    with pytest.raises(ValueError, match="start at t = 0"):
        AnnealProgram(np.array([1.0, 10.0]), np.array([300.0, 310.0]))
    with pytest.raises(ValueError, match="> 0 K"):
        AnnealProgram(np.array([0.0, 10.0]), np.array([300.0, -1.0]))
