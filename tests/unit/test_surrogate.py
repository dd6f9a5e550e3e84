"""The Gaussian-process emulator of fem_cell.studies.surrogate against known functions."""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell.studies.surrogate import (
    GaussianProcess,
    SurrogateSettings,
    TargetSurrogate,
    latin_hypercube,
)

pytestmark = pytest.mark.unit


def test_latin_hypercube_visits_every_stratum_once():
    u = latin_hypercube(25, 3, np.random.default_rng(0))
    assert u.shape == (25, 3) and np.all((0 <= u) & (u < 1))
    for j in range(3):
        assert sorted(np.floor(u[:, j] * 25).astype(int)) == list(range(25))


def test_gp_interpolates_a_smooth_function():
    """40 points of a Latin hypercube in a 2-D box: rms error at 500 random points below
    1 % of the function's range; at the training points the prediction is the data and
    its standard deviation ~0; the stated sd is the right size (rms z-score ≤ 3)."""
    rng = np.random.default_rng(3)
    lo, hi = np.array([0.0, -2.0]), np.array([1.0, 2.0])

    def f(x):
        return np.sin(3 * x[:, 0]) + 0.5 * x[:, 1] ** 2

    x = lo + (hi - lo) * latin_hypercube(40, 2, rng)
    gp = GaussianProcess(x, f(x), lo, hi)
    xt = lo + (hi - lo) * rng.uniform(size=(500, 2))
    m, s = gp.predict(xt)
    e = m - f(xt)
    assert np.sqrt(np.mean(e**2)) < 0.01 * 3.0
    assert np.sqrt(np.mean((e / s) ** 2)) < 3.0
    m0, s0 = gp.predict(x)
    assert np.abs(m0 - f(x)).max() < 1e-3 and s0.max() < 1e-2


def test_gp_is_exact_on_a_linear_function():
    rng = np.random.default_rng(1)
    lo, hi = np.array([-20.0, -20.0]), np.array([20.0, 20.0])
    x = lo + (hi - lo) * latin_hypercube(15, 2, rng)
    y = 1.0 + 0.5 * x[:, 0] - 0.25 * x[:, 1]
    gp = GaussianProcess(x, y, lo, hi)
    xt = rng.uniform(-5, 5, size=(50, 2))
    assert np.abs(gp.predict(xt)[0] - (1.0 + 0.5 * xt[:, 0] - 0.25 * xt[:, 1])).max() < 1e-3


def test_target_surrogate_log_transform_and_failed_runs():
    """A target emulated in log space (values spanning 3 decades) is predicted to 1 %;
    failed model runs (nan) are left out of training."""
    rng = np.random.default_rng(2)
    lo, hi = np.array([0.0]), np.array([3.0])
    z = lo + (hi - lo) * latin_hypercube(20, 1, rng)
    m = np.column_stack([10.0 ** z[:, 0], 2.0 * z[:, 0]])
    m[3, 0] = np.nan
    sur = TargetSurrogate(z, m, lo, hi, [True, False])
    zt = np.linspace(0.1, 2.9, 30)[:, None]
    p = sur.predict(zt)
    assert np.abs(p[:, 0] / 10.0 ** zt[:, 0] - 1).max() < 0.01
    assert np.abs(p[:, 1] - 2.0 * zt[:, 0]).max() < 1e-3


def test_bad_inputs_refused():
    with pytest.raises(ValueError, match="finite"):
        GaussianProcess(np.zeros((3, 1)), np.array([1.0, np.nan, 2.0]), [0.0], [1.0])
    with pytest.raises(ValueError, match="usable"):
        TargetSurrogate(np.zeros((3, 1)), np.full((3, 1), np.nan), [0.0], [1.0], [False])
    with pytest.raises(ValueError, match="points"):
        SurrogateSettings(points=0)
