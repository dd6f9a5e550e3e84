"""Measured R(t) histories: reading (fem_cell.analysis.measured.read_history) and the
comparison with a model history (compare_history)."""

from __future__ import annotations

import numpy as np
import pytest

from fem_cell.analysis.measured import MeasuredDataError, compare_history, read_history


def _write(tmp_path, text, name="h.csv"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_minutes_25C_and_temperature(tmp_path):
    p = _write(tmp_path, "# after cooling\ntime_min;R_25C_ohm_cm2;T_C\n0;136;25\n60;10.3;150\n")
    h = read_history(p)
    np.testing.assert_allclose(h.times, [0.0, 3600.0])
    np.testing.assert_allclose(h.R_ohm_cm2, [136.0, 10.3])
    np.testing.assert_allclose(h.temperature, [298.15, 423.15])
    assert h.at == "25C" and h.model_column == "R_interface_ohm_cm2"
    df = h.to_pandas()
    assert list(df.columns) == ["time_s", "R_ohm_cm2", "T_C"]


def test_in_situ_in_ohm_with_area(tmp_path):
    p = _write(tmp_path, "time_h,R_T_ohm\n0,1000\n0.5,400\n1,100\n")
    h = read_history(p, area_cm2=0.01)
    np.testing.assert_allclose(h.R_ohm_cm2, [10.0, 4.0, 1.0])
    assert h.model_column == "R_interface_T_ohm_cm2" and h.area_cm2 == 0.01


@pytest.mark.parametrize(("text", "area", "match"), [
    ("t,R_25C_ohm_cm2\n0,1\n1,2\n", None, "no time column"),
    ("time_s,R\n0,1\n1,2\n", None, "does not say where it was measured"),
    ("time_s,R_25C_ohm_cm2\n0,1\n", None, "at least 2"),
    ("time_s,R_25C_ohm_cm2\n0,1\n0,2\n", None, "strictly increasing"),
    ("time_s,R_25C_ohm_cm2\n0,1\n5,nan\n", None, "NaN"),
    ("time_s,R_25C_ohm_cm2\n0,1\n5,x\n", None, "not numbers"),
    ("time_s,R_25C_ohm_cm2\n0,1\n5,-2\n", None, "> 0"),
    ("time_s,R_25C_ohm\n0,1\n5,2\n", None, "give the electrode area"),
    ("time_s,R_25C_ohm_cm2\n0,1\n5,2\n", 0.1, "normalise it twice"),
])
def test_bad_files_one_clear_error_each(tmp_path, text, area, match):
    with pytest.raises(MeasuredDataError, match=match):
        read_history(_write(tmp_path, text), area_cm2=area)


def test_missing_file():
    with pytest.raises(MeasuredDataError, match="no such file"):
        read_history("/nonexistent/h.csv")


def test_comparison_known_answer(tmp_path):
    """Model R = 100 exp(−t/1000 s) on a coarse grid (log-linear interpolation is exact for
    it); data 10 % above the model at three times inside the run and one after its end:
    rms = max = 1 − 1/1.1, one point left out."""
    t = np.linspace(0.0, 3000.0, 7)
    R = 100.0 * np.exp(-t / 1000.0)
    td = np.array([100.0, 1234.0, 2999.0, 5000.0])
    body = "".join(f"{a},{1.1 * 100.0 * np.exp(-a / 1000.0)}\n" for a in td)
    h = read_history(_write(tmp_path, "time_s,R_25C_ohm_cm2\n" + body))
    c = compare_history(h, t, R)
    assert c["points"] == 3 and c["outside"] == 1
    assert c["rms_rel"] == pytest.approx(1 - 1 / 1.1, rel=1e-12)
    assert c["max_rel"] == pytest.approx(1 - 1 / 1.1, rel=1e-12)
    assert np.isnan(c["model_R_ohm_cm2"][-1])
