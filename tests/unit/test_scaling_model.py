"""The model arithmetic of scripts/scaling_model.py (docs/scaling.md): verified on
synthetic data with known answers (the script's measured inputs are its own run's)."""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))

import scaling_model as sm  # noqa: E402


def test_power_law_recovers_exact_exponent_and_prefactor():
    n = np.array([1e4, 3e4, 1e5, 4e5])
    a, alpha = sm.power_law(n, 2.5e-7 * n ** 1.37)
    assert alpha == pytest.approx(1.37, rel=1e-12)
    assert a == pytest.approx(2.5e-7, rel=1e-10)
    assert sm.predict((a, alpha), 1e7) == pytest.approx(2.5e-7 * 1e7 ** 1.37, rel=1e-9)


def test_power_law_needs_two_sizes():
    with pytest.raises(ValueError, match="two sizes"):
        sm.power_law([1e4, 1e4], [1.0, 1.1])
    with pytest.raises(ValueError):
        sm.power_law([1e4, 2e4], [1.0, 0.0])


@pytest.mark.parametrize("s", [0.0, 0.2, 0.75, 1.0])
def test_amdahl_fraction_through_its_point(s):
    t1 = 3.0
    tp = sm.amdahl_time(t1, s, 2)
    assert sm.amdahl_fraction(t1, tp, 2) == pytest.approx(s, abs=1e-14)
    # the same law at more ranks: s bounds the speed-up by 1/s
    assert sm.amdahl_time(t1, s, 256) == pytest.approx(t1 * (s + (1 - s) / 256), rel=1e-14)


def test_amdahl_fraction_clipped_and_checked():
    assert sm.amdahl_fraction(1.0, 0.4, 2) == 0.0     # superlinear
    assert sm.amdahl_fraction(1.0, 1.3, 2) == 1.0     # slower on two ranks
    with pytest.raises(ValueError):
        sm.amdahl_fraction(1.0, 0.5, 1)


def test_iteration_time_adds_the_assumed_network():
    mu, lam = sm.MESSAGE_LATENCY_S, sm.REDUCTION_LATENCY_S
    # one rank: no network
    assert sm.iteration_time(1e-3, 100.0, 3.0, 1) == 1e-3
    # two ranks: one neighbour; one reduction stage
    assert sm.iteration_time(1e-3, 100.0, 3.0, 2) == pytest.approx(1e-3 + 100 * mu + 3 * lam)
    # more ranks: two neighbours per strip, log2(p) stages per reduction
    assert sm.iteration_time(1e-3, 100.0, 3.0, 64) == pytest.approx(
        1e-3 + 200 * mu + 3 * 6 * lam)


def test_iterative_anneal_prices_each_count():
    c = sm.ITERATIVE_PER_ANNEAL
    assert c["n"] > 0 and c["jacobians"] > 0 and c["krylov"] > 0 and c["residuals"] > 0
    costs = {"t_jacobian_s": 2.0, "t_setup_s": 3.0, "t_iteration_s": 0.5,
             "t_residual_s": 7.0}
    assert sm.iterative_anneal(costs, 1000.0) == pytest.approx(
        c["jacobians"] * 5.0 + 1000.0 * 0.5 + c["residuals"] * 7.0)


def test_split_time_divides_the_work_with_the_measured_overhead():
    # through its own 2-rank point
    assert sm.split_time(1.0, 0.6, 2) == pytest.approx(0.6)
    # overhead e = 2 * 0.6 - 1 = 0.2, doubled for interior strips (two neighbours)
    assert sm.split_time(1.0, 0.6, 16) == pytest.approx(1.0 / 16 * 1.4)
    # superlinear on 2 ranks: no negative overhead
    assert sm.split_time(1.0, 0.3, 2) == pytest.approx(0.5)
    assert sm.split_time(1.0, 0.3, 64) == pytest.approx(1.0 / 64)
    assert sm.split_time(1.0, 0.3, 1) == 1.0

