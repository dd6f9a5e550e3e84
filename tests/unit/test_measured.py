"""Reading measured spectra (fem_cell.analysis.measured): conventions, round trip of the
project's own impedance.csv, and one clear error per bad file."""

import numpy as np
import pytest

from fem_cell.analysis.measured import MeasuredDataError, MeasuredSpectrum, read_spectrum
from fem_cell.outputs.impedance_tables import write_spectrum_csv

pytestmark = pytest.mark.unit

F = np.logspace(-1, 5, 13)
Z = 300.0 / (1 + 1j * F / 5e4) + 10.0 / (1 + 1j * F / 50.0) + 5.0


def test_round_trip_of_impedance_csv(tmp_path):
    p = tmp_path / "impedance.csv"
    write_spectrum_csv(p, F, Z)
    s = read_spectrum(p)
    assert np.allclose(s.frequencies, F, rtol=1e-12)
    assert np.allclose(s.Z_ohm_cm2, Z, rtol=1e-12)
    assert s.area_cm2 is None and not s.notes


@pytest.mark.parametrize("header,sign,sep", [("freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm", -1, ","),
                                             ("Frequency;Z';-Z''", -1, ";"),
                                             ("f\tZre\tZim", 1, "\t")])
def test_conventions_in_ohm_with_area(tmp_path, header, sign, sep):
    p = tmp_path / "d.csv"
    area = 0.01
    rows = [header] + [sep.join(f"{x:.12g}" for x in (f, (z / area).real,
                                                      sign * (z / area).imag))
                       for f, z in zip(F[::-1], Z[::-1], strict=True)]
    p.write_text("# measured 2026-12-01\n" + "\n".join(rows) + "\n")
    s = read_spectrum(p, units="ohm", area_cm2=area)
    assert np.allclose(s.frequencies, F) and np.allclose(s.Z_ohm_cm2, Z, rtol=1e-10)
    assert "area" in s.notes[0]


def _write(tmp_path, text):
    p = tmp_path / "bad.csv"
    p.write_text(text)
    return p


GOOD = "\n".join(f"{f},{z.real},{z.imag}" for f, z in zip(F, Z, strict=True))


@pytest.mark.parametrize("text,kw,match", [
    ("z_re_ohm_cm2,z_im_ohm_cm2\n1,2\n", {}, "no frequency"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + GOOD.replace(f"{F[0]},", "-1,", 1), {},
     "must be > 0"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + GOOD + "\n5,nan,1\n", {}, "NaN"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n1,2,-3\n", {}, "at least"),
    ("frequency_hz,z_re,z_im\n" + GOOD, {}, "unit of Z"),
    ("frequency_hz,z_re_ohm,z_im_ohm\n" + GOOD, {}, "area"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + GOOD, {"area_cm2": 0.1}, "twice"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + GOOD, {"imag_sign": -1}, "-Z''"),
    ("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + GOOD + f"\n{F[3]},1,-1\n", {}, "repeated"),
])
def test_bad_files_one_error_each(tmp_path, text, kw, match):
    with pytest.raises(MeasuredDataError, match=match):
        read_spectrum(_write(tmp_path, text), **kw)


def test_read_spectrum_frame_columns_units_and_round_trip(tmp_path):
    """fem_cell.read_spectrum: a DataFrame with unit-suffixed columns (Ω cm²), attrs with
    the source, area and temperature; MeasuredSpectrum.from_pandas reads it back."""
    import fem_cell
    from fem_cell.analysis.measured import FRAME_COLUMNS

    f = np.logspace(0, 5, 11)
    Z = 100.0 / (1 + 1j * f / 1e3)                   # Ω for 0.5 cm²
    path = tmp_path / "cell.csv"
    path.write_text("freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm\n" + "\n".join(
        f"{a:.12e},{z.real:.12e},{-z.imag:.12e}" for a, z in zip(f, Z, strict=True)))
    df = fem_cell.read_spectrum(path, units="ohm", area_cm2=0.5, temperature_C=60)
    assert list(df.columns[:3]) == list(FRAME_COLUMNS)
    assert {"Z_mod_ohm_cm2", "phase_deg"} <= set(df.columns)
    np.testing.assert_allclose(df["frequency_Hz"], f, rtol=1e-12)
    np.testing.assert_allclose(df["Z_real_ohm_cm2"] + 1j * df["Z_imag_ohm_cm2"], 0.5 * Z,
                               rtol=1e-11)
    np.testing.assert_allclose(df["phase_deg"], np.degrees(np.angle(Z)), rtol=1e-10)
    assert df.attrs["area_cm2"] == 0.5
    assert df.attrs["temperature_K"] == pytest.approx(333.15)
    s = MeasuredSpectrum.from_pandas(df)
    np.testing.assert_allclose(s.Z_ohm_cm2, 0.5 * Z, rtol=1e-11)
    assert s.temperature == pytest.approx(333.15) and s.area_cm2 == 0.5


def test_from_pandas_refuses_a_table_without_the_columns_or_with_nan():
    import pandas as pd

    with pytest.raises(MeasuredDataError, match="missing"):
        MeasuredSpectrum.from_pandas(pd.DataFrame({"f": [1.0, 2.0]}))
    df = pd.DataFrame({"frequency_Hz": np.arange(1.0, 7.0), "Z_real_ohm_cm2": 1.0,
                       "Z_imag_ohm_cm2": -1.0})
    df.loc[2, "Z_real_ohm_cm2"] = np.nan
    with pytest.raises(MeasuredDataError, match="NaN"):
        MeasuredSpectrum.from_pandas(df)
