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


def test_segment_errors_carry_the_index():
    from fem_cell.program import SegmentError

    with pytest.raises(SegmentError) as exc:
        from_segments(300.0, [{"hold": 10.0}, {"ramp_to": 400.0}])
    assert exc.value.index == 1 and not exc.value.too_short


@pytest.mark.parametrize("segment", [{"ramp_to": 400.0, "rate": 1e9}, {"hold": 1e-9},
                                     {"ramp_to": 400.0, "duration": 1e-9}])
def test_segments_shorter_than_min_duration(segment):
    from fem_cell.program import SegmentError

    from_segments(300.0, [{"hold": 10.0}, segment])  # fine without a minimum
    with pytest.raises(SegmentError, match="smallest time step") as exc:
        from_segments(300.0, [{"hold": 10.0}, segment], min_duration=1e-6)
    assert exc.value.index == 1 and exc.value.too_short


def test_segment_too_short_for_the_clock():
    """A segment that does not advance t in floating point is refused, not merged."""
    from fem_cell.program import SegmentError

    with pytest.raises(SegmentError, match="advance the clock") as exc:
        from_segments(300.0, [{"hold": 1e20}, {"hold": 1.0}])
    assert exc.value.index == 1


def test_shortest_interval():
    p = AnnealProgram(np.array([0.0, 10.0, 10.5, 30.0]), np.array([300.0, 310.0, 320.0, 320.0]))
    assert p.shortest_interval() == (2, 0.5)


def test_segment_error_pickles():
    import pickle

    from fem_cell.program import SegmentError

    e = pickle.loads(pickle.dumps(SegmentError(3, "segment 3: x", True)))
    assert e.index == 3 and e.too_short and str(e) == "segment 3: x"
