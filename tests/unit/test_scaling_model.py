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
