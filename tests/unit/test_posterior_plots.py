"""The corner plot of a short chain: points instead of density contours, and no warning
from corner ("Too few points to create valid contours") on the user's terminal."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from fem_cell.outputs.posterior_plots import MIN_SAMPLES_FOR_CONTOURS, plot_corner


@pytest.mark.parametrize(("n", "width"), [(48, 1.0), (MIN_SAMPLES_FOR_CONTOURS + 100, 1.0),
                                          (MIN_SAMPLES_FOR_CONTOURS + 100, 8.0)])
def test_corner_plot_of_short_and_long_chains(tmp_path, caplog, n, width):
    """48 samples (6 walkers x 8 kept steps, the quick example's), a third of them
    repeated (rejected moves) and one parameter piled up at its prior bound, made corner
    warn twice, and so did 300 as narrow; 300 spread over the box get contours."""
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.normal(1.28, 0.008 * width, n),
                         np.minimum(10 ** rng.normal(13.98 - 0.1 * width, 0.02 * width, n),
                                    1e14),
                         10 ** rng.normal(-4.28, 0.04 * width, n)])
    x[1::3] = x[0:-1:3][: len(x[1::3])]
    with caplog.at_level(logging.WARNING):
        out = plot_corner(x, ["E", "nu", "x_s"], tmp_path / "corner.png",
                          log=[False, True, True],
                          bounds=[(1.0, 1.4), (1e12, 1e14), (1e-6, 1e-3)], title="test")
    assert out.stat().st_size > 10_000
    assert [r.getMessage() for r in caplog.records] == []
