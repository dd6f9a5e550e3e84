"""The design criterion (fem_cell.studies.design.rank_candidates) against its closed form:
for jointly Gaussian (q, y) the expected posterior variance of q after measuring y with
error σ is Var q − Cov(q, y)² / (Var y + σ²)."""

import numpy as np
import pytest

from fem_cell.studies.design import rank_candidates

pytestmark = pytest.mark.unit


def test_reduction_closed_forms():
    rng = np.random.default_rng(0)
    q = rng.normal(0.0, 2.0, 20000)
    same = q.copy()                              # measures the prediction itself
    half = 0.5 * q + rng.normal(0.0, 1.0, q.size)  # partly informative
    none = rng.normal(0.0, 3.0, q.size)           # independent of the prediction
    r = rank_candidates(np.column_stack([same, half, none]), q, sigma=1.0)
    vq = 4.0
    assert r[0]["reduction"] == pytest.approx(vq / (vq + 1.0), rel=2e-2)
    # half: Cov = 0.5 Var q = 2, Var y = 0.25*4 + 1 = 2 -> V = 4 - 4/(2 + 1)
    assert r[1]["reduction"] == pytest.approx(1 - (4 - 4 / 3) / 4, rel=3e-2)
    assert abs(r[2]["reduction"]) < 0.01
    assert r[0]["corr"] == pytest.approx(1.0)


def test_missing_values_and_too_few_samples():
    q = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([[1.0, np.nan], [2.1, np.nan], [2.9, 1.0], [4.2, np.nan]])
    r = rank_candidates(y, q, sigma=0.1)
    assert r[0]["n"] == 4 and r[0]["reduction"] > 0.9
    assert r[1]["n"] == 1 and np.isnan(r[1]["reduction"])
