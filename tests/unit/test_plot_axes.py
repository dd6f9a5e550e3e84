"""Time axes in sensible units (fem_cell.outputs.plots.time_axis): a 7-day hold in days,
the 110-min anneal in min, a 2-min exposure in s; the history plot uses them."""

import numpy as np
import pytest

from fem_cell.outputs.plots import time_axis

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("span_s, unit", [(7 * 86400, "days"), (6600, "min"), (120, "s"),
                                          (5 * 3600, "h"), (3 * 86400, "days"), (179, "s")])
def test_time_axis_units(span_s, unit):
    scale, got = time_axis(np.linspace(0, span_s, 5))
    assert got == unit
    assert span_s / scale >= 3 or unit == "s"


def test_history_plot_in_days(tmp_path, monkeypatch):
    """plot_interface_resistance of a 7-day history labels its axis in days."""
    from fem_cell.outputs import plots

    class H:
        cols = {"time_s": np.linspace(0, 7 * 86400, 20)}
        cols["R_interface_ohm_cm2"] = 10 + cols["time_s"] / 86400
        cols["R_interface_T_ohm_cm2"] = cols["R_interface_ohm_cm2"]
        cols["T_plate_C"] = np.full(20, 25.0)

        def column(self, name):
            return self.cols[name]

    seen = {}
    real = plots.save_figure

    def grab(fig, path, **kw):
        seen["xlabel"] = fig.axes[0].get_xlabel()
        seen["xmax"] = fig.axes[0].get_xlim()[1]
        real(fig, path, **kw)

    monkeypatch.setattr(plots, "save_figure", grab)
    plots.plot_interface_resistance(H(), tmp_path / "R.png")
    assert seen["xlabel"] == "time [days]" and 7 <= seen["xmax"] < 8
