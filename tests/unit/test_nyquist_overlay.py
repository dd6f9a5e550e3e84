"""The reproduction's Nyquist overlay (fem_cell.outputs.plots): coinciding spectra share
one labelled curve instead of hiding each other, decade markers sit at the interpolated
Z of each whole decade, and the figure is written."""

import numpy as np
import pytest

from fem_cell.outputs.plots import _decade_points, group_spectra, plot_nyquist_overlay

pytestmark = pytest.mark.unit

F = np.logspace(-2, 6, 41)


def _rc(R0, R1, C1):
    return R0 + R1 / (1 + 2j * np.pi * F * R1 * C1)


def test_coinciding_spectra_share_a_curve():
    same = _rc(10.0, 300.0, 1e-7)
    spectra = {"pristine": (F, same), "N2": (F, same.copy()), "air": (F, _rc(10, 330, 1e-7)),
               "O2": (F, same * (1 + 5e-5)), "H2O": (F, _rc(10, 300, 2e-7))}
    groups = group_spectra(spectra)
    assert [g[0] for g in groups] == [["pristine", "N2", "O2"], ["air"], ["H2O"]]
    # a difference above the tolerance keeps its own curve
    assert len(group_spectra({"a": (F, same), "b": (F, same * 1.001)})) == 2


def test_decade_points_interpolate_in_log_frequency():
    Z = _rc(10.0, 300.0, 1e-7)
    pts = _decade_points(F, Z)
    assert [f for f, _ in pts] == [10.0 ** k for k in range(-2, 7)]
    for f, z in pts:   # F holds every decade exactly
        assert z == pytest.approx(complex(_rc(10.0, 300.0, 1e-7)[np.argmin(abs(F - f))]))
    coarse = np.logspace(-1.5, 5.5, 8)
    got = dict(_decade_points(coarse, coarse * (1 - 1j)))
    assert list(got) == [10.0 ** k for k in range(-1, 6)]


def test_overlay_is_written(tmp_path):
    spectra = {"pristine": (F, _rc(10, 300, 1e-7)), "air": (F, _rc(10, 330, 1e-7))}
    plot_nyquist_overlay(spectra, tmp_path / "n.png", title="test")
    assert (tmp_path / "n.png").stat().st_size > 20_000
