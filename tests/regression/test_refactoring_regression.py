"""Refactoring regression: the pipeline's numbers did not move (1e-8 relative).

The reference was recorded by ``scripts/regression_reference.py --record`` before the
one-model redesign.  It is *not* physics verification (the code produced it once); it
shows that a restructuring kept every number.  A change of the physics on purpose
re-records it and says so in the commit.
"""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import regression_reference as rr  # noqa: E402

pytestmark = [pytest.mark.serial, pytest.mark.system]


@pytest.mark.parametrize("name", [n for n in rr.RUNS if n not in rr.TWO_D])
def test_outputs_equal_the_reference(name, tmp_path):
    rows = rr.run(name, tmp_path)
    problems = rr.compare(name, rows)
    assert not problems, "\n".join(problems)


@pytest.mark.slow
@pytest.mark.parametrize("name", rr.TWO_D)
def test_2d_outputs_equal_the_reference(name, tmp_path):
    rows = rr.run(name, tmp_path)
    problems = rr.compare(name, rows)
    assert not problems, "\n".join(problems)
