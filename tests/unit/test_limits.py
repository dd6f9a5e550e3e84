"""The size fem-cell starts only when asked (``--yes``): fem_cell.limits.check_size."""

from __future__ import annotations

import pytest

from fem_cell.errors import FemCellError, SizeError
from fem_cell.limits import LARGE_STUDY_RUNS, check_size


def test_at_the_limit_runs_above_it_is_refused():
    check_size(LARGE_STUDY_RUNS, LARGE_STUDY_RUNS, "s.toml")
    with pytest.raises(SizeError) as e:
        check_size(LARGE_STUDY_RUNS + 1, LARGE_STUDY_RUNS, "s.toml")
    msg = str(e.value)
    assert msg.startswith("s.toml: 5001 cases = 5001 model runs") and "--yes" in msg
    assert "\n" not in msg and isinstance(e.value, FemCellError)     # one line, exit 2


def test_posterior_samples_multiply_the_cases():
    check_size(250, 5000, "s.toml", samples=20)
    with pytest.raises(SizeError, match=r"251 cases × 20 posterior samples = 5020 model runs"):
        check_size(251, 5000, "s.toml", samples=20)


def test_no_limit_is_any_size():
    check_size(10**9, None, "s.toml", samples=1000)
