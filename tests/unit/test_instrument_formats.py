"""Instrument files read through pyimpspec (fem_cell.analysis.measured.read_spectrum).

Each supported format is written here in the layout its pyimpspec parser reads (the
instruments' documented export layouts: header lines, column order, sign of the imaginary
column, decimal commas where the parser accepts them; spreadsheets by pandas' own writer),
from a known R + R‖C spectrum in Ω, and read back: frequencies ascending, Z × area in
Ω cm² equal to the truth to the printed digits.  Several spectra in one file need a choice
(index or label); a Gamry file with drift correction gives its corrected spectrum.  No file
is downloaded.
"""

import sys

import numpy as np
import pytest

from fem_cell.analysis.measured import (
    INSTRUMENT_FORMATS,
    MeasuredDataError,
    read_spectrum,
    read_spectrum_frame,
)

pytestmark = pytest.mark.unit


AREA = 0.01  # cm²
F_DESC = np.logspace(6, 0, 25)  # Hz, high to low as instruments sweep


def _z(f, R0=50.0, R1=200.0, C1=1e-6):
    """R0 + R1‖C1 in Ω (Z″ < 0)."""
    return R0 + R1 / (1 + 2j * np.pi * f * R1 * C1)


Z_DESC = _z(F_DESC)


def _e(x: float) -> str:
    return f"{x:.9E}"


def _mpt(path, sweeps):
    """BioLogic EC-Lab ASCII export: header block, then tab-separated columns
    freq/Hz, Re(Z)/Ohm, -Im(Z)/Ohm, |Z|/Ohm, Phase(Z)/deg, time/s (one sweep after the
    other for a multi-sweep experiment)."""
    head = ["EC-Lab ASCII FILE", "Nb header lines : 6", "",
            "Potentio Electrochemical Impedance Spectroscopy", "",
            "freq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm\t|Z|/Ohm\tPhase(Z)/deg\ttime/s"]
    rows = []
    for f, z in sweeps:
        rows += [f"{_e(a)}\t{_e(b.real)}\t{_e(-b.imag)}\t{_e(abs(b))}\t"
                 f"{_e(np.degrees(np.angle(b)))}\t{k:.3f}"
                 for k, (a, b) in enumerate(zip(f, z, strict=True))]
    path.write_text("\n".join(head + rows) + "\n", encoding="latin1")


def _dta(path, z_drift=None):
    """Gamry Framework EISPOT export: tagged header, ``ZCURVE TABLE``, a column-name row,
    a unit row, then whitespace-separated points (Zimag is Z″; with DRIFTCOR 1 the
    drift-corrected Zrealdrcor/Zimagdrcor follow Zphz)."""
    head = ["EXPLAIN", "TAG\tEISPOT", "TITLE\tLABEL\tPotentiostatic EIS\tTest &Identifier",
            "AREA\tQUANT\t1.00000E+000\tSample &Area (cm^2)",
            f"DRIFTCOR\tIQUANT\t{1 if z_drift is not None else 0}\tDrift Correction",
            "ZCURVE\tTABLE"]
    cols = ["Pt", "Time", "Freq", "Zreal", "Zimag", "Zsig", "Zmod", "Zphz"]
    units = ["#", "s", "Hz", "ohm", "ohm", "V", "ohm", "°"]
    if z_drift is not None:
        cols += ["Zrealdrcor", "Zimagdrcor"]
        units += ["ohm", "ohm"]
    cols += ["Idc", "Vdc", "IERange"]
    units += ["A", "V", "#"]
    rows = ["\t" + "\t".join(cols), "\t" + "\t".join(units)]
    for k, (f, z) in enumerate(zip(F_DESC, Z_DESC, strict=True)):
        v = [str(k), f"{k + 1}", _e(f), _e(z.real), _e(z.imag), "1.0E-02", _e(abs(z)),
             _e(np.degrees(np.angle(z)))]
        if z_drift is not None:
            v += [_e(z_drift[k].real), _e(z_drift[k].imag)]
        v += ["1.0E-09", "0.0E+00", "8"]
        rows.append("\t" + "\t".join(v))
    path.write_text("\n".join(head + rows) + "\n", encoding="latin1")


def _ids(path, spectra):
    """Ivium IviumSoft .ids/.idf: per data set a ``Title=`` line, method lines, then
    ``primary_data``, the number of columns (3), the number of points, rows ``Z′ Z″ f``,
    and further sections (the parser needs lines after the data)."""
    lines = []
    for title, z in spectra:
        lines += ["[Ivium]", f"Title={title}", "Technique=Impedance", "Mconfig=1",
                  "primary_data", "3", str(len(F_DESC))]
        lines += [f"  {_e(b.real)}  {_e(b.imag)}  {_e(a)}" for a, b in zip(F_DESC, z, strict=True)]
        lines += ["Notes=", "Analog=0"]
    path.write_text("\n".join(lines) + "\n", encoding="latin1")


def _z_file(path):
    """ZView/ZPlot .z: comment block ending ``End Comments``, then a tab-separated table
    with Freq(Hz), Ampl, Bias, Time(Sec), Z'(a), Z''(b), GD, Err, Range."""
    head = ["ZPlot2 ASCII", "Comments:", "test cell", "End Comments",
            "Freq(Hz)\tAmpl\tBias\tTime(Sec)\tZ'(a)\tZ''(b)\tGD\tErr\tRange"]
    rows = [f"{_e(f)}\t0.01\t0\t{k + 1}\t{_e(z.real)}\t{_e(z.imag)}\t0\t0\t3"
            for k, (f, z) in enumerate(zip(F_DESC, Z_DESC, strict=True))]
    path.write_text("\n".join(head + rows) + "\n", encoding="latin1")


def _p00(path):
    """P00 export: a header whose column row starts ``f/Hz``, the number of points, then
    six tab-separated columns f, Z′, −Z″, |Z|, phase, time."""
    head = ["Impedance spectrum", "f/Hz\tZ'/Ohm\t-Z''/Ohm\t|Z|/Ohm\tPhase/deg\tt/s",
            str(len(F_DESC))]
    rows = [f"{_e(f)}\t{_e(z.real)}\t{_e(-z.imag)}\t{_e(abs(z))}\t"
            f"{_e(np.degrees(np.angle(z)))}\t{k}"
            for k, (f, z) in enumerate(zip(F_DESC, Z_DESC, strict=True))]
    path.write_text("\n".join(head + rows) + "\n", encoding="latin1")


def _crv(path):
    """OrigaLys .crv: a header with an ``EIS`` line, the number of points, then nine
    tab-separated columns with f first and Z′, −Z″ seventh and eighth."""
    head = ["OrigaMaster", "EIS", "Potentiostatic", str(len(F_DESC))]
    rows = ["\t".join([_e(f), "0", "0", "0", "0", "0", _e(z.real), _e(-z.imag), "0"])
            for f, z in zip(F_DESC, Z_DESC, strict=True)]
    path.write_text("\n".join(head + rows) + "\n", encoding="latin1")


def _dfr(path):
    """Eco Chemie .dfr (version 8): ``VERSION8.0``, the number of points, one line, then
    nine lines per point: f, Z′, −Z″, E_dc, I_dc, time and three more."""
    lines = ["VERSION8.0", str(len(F_DESC)), "0"]
    for k, (f, z) in enumerate(zip(F_DESC, Z_DESC, strict=True)):
        lines += [_e(f), _e(z.real), _e(-z.imag), "0.0", "0.0", str(k), "0", "0", "0"]
    path.write_text("\n".join(lines) + "\n", encoding="latin1")


def _i2b(path):
    """Elchemea .i2b: five metadata lines (the parser skips five), then ``f Z′ Z″`` rows
    separated by one space."""
    lines = ["i2b", "Elchemea Analytical", "cell", "25", "0.01"]
    lines += [f"{_e(f)} {_e(z.real)} {_e(z.imag)}" for f, z in zip(F_DESC, Z_DESC, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="latin1")


def _sheet(path, sheets):
    """A spreadsheet written by pandas: one sheet per spectrum, columns Frequency (Hz),
    Z' (ohm), -Z'' (ohm)."""
    import pandas as pd

    with pd.ExcelWriter(path) as w:
        for name, z in sheets:
            pd.DataFrame({"Frequency (Hz)": F_DESC, "Z' (ohm)": z.real,
                          "-Z'' (ohm)": -z.imag}).to_excel(w, sheet_name=name, index=False)


def _check(s, Z=Z_DESC, rtol=1e-8):
    order = np.argsort(F_DESC)
    assert np.allclose(s.frequencies, F_DESC[order], rtol=1e-8, atol=0)
    assert np.all(np.diff(s.frequencies) > 0)
    err = np.abs(s.Z_ohm_cm2 - AREA * Z[order]) / np.abs(AREA * Z[order])
    assert err.max() < rtol, err.max()
    assert s.area_cm2 == AREA


WRITERS = {
    ".mpt": lambda p: _mpt(p, [(F_DESC, Z_DESC)]),
    ".dta": _dta,
    ".ids": lambda p: _ids(p, [("cell", Z_DESC)]),
    ".idf": lambda p: _ids(p, [("cell", Z_DESC)]),
    ".z": _z_file,
    ".p00": _p00,
    ".crv": _crv,
    ".dfr": _dfr,
    ".i2b": _i2b,
    ".xlsx": lambda p: _sheet(p, [("cell", Z_DESC)]),
    ".ods": lambda p: _sheet(p, [("cell", Z_DESC)]),
}


@pytest.mark.parametrize("suffix", sorted(WRITERS))
def test_each_instrument_format_reads_the_known_spectrum(tmp_path, suffix):
    p = tmp_path / f"cell{suffix}"
    WRITERS[suffix](p)
    _check(read_spectrum(p, area_cm2=AREA))


def test_every_advertised_format_is_tested():
    assert set(INSTRUMENT_FORMATS) <= set(WRITERS)


def test_instrument_file_already_per_area(tmp_path):
    """A spreadsheet already in Ω cm² (e.g. normalised in the lab) is read with
    units='ohm_cm2' and no area; Ω without an area is refused."""
    p = tmp_path / "cell.xlsx"
    _sheet(p, [("cell", AREA * Z_DESC)])
    s = read_spectrum(p, units="ohm_cm2")
    assert s.area_cm2 is None
    assert np.allclose(s.Z_ohm_cm2, AREA * Z_DESC[::-1], rtol=1e-8)
    with pytest.raises(MeasuredDataError, match="area"):
        read_spectrum(p)


def test_several_spectra_need_a_choice(tmp_path):
    """Two sweeps in one BioLogic file, two titles in an Ivium file, two sheets: one
    error listing them without a choice; the index or the label picks one."""
    Z2 = _z(F_DESC, R0=80.0)
    mpt = tmp_path / "two.mpt"
    _mpt(mpt, [(F_DESC, Z_DESC), (F_DESC, Z2)])
    with pytest.raises(MeasuredDataError, match=r"holds 2 spectra \(0: .*1: .*--spectrum"):
        read_spectrum(mpt, area_cm2=AREA)
    _check(read_spectrum(mpt, area_cm2=AREA, spectrum=1), Z2)
    _check(read_spectrum(mpt, area_cm2=AREA, spectrum="0"))
    s = read_spectrum(mpt, area_cm2=AREA, spectrum=1)
    assert "spectrum 1" in s.notes[0]

    ids = tmp_path / "two.ids"
    _ids(ids, [("before anneal", Z2), ("after anneal", Z_DESC)])
    _check(read_spectrum(ids, area_cm2=AREA, spectrum="after anneal"))
    assert read_spectrum(ids, area_cm2=AREA, spectrum="after anneal").label == "after anneal"
    with pytest.raises(MeasuredDataError, match="no spectrum labelled 'during'"):
        read_spectrum(ids, area_cm2=AREA, spectrum="during")
    with pytest.raises(MeasuredDataError, match="no spectrum 2 "):
        read_spectrum(ids, area_cm2=AREA, spectrum=2)

    xlsx = tmp_path / "two.xlsx"
    _sheet(xlsx, [("25C", Z_DESC), ("60C", Z2)])
    df = read_spectrum_frame(xlsx, area_cm2=AREA, spectrum="60C")
    assert np.allclose(df["Z_real_ohm_cm2"].to_numpy(), AREA * Z2.real[::-1], rtol=1e-8)


def test_gamry_drift_correction_gives_the_corrected_spectrum(tmp_path):
    Zc = _z(F_DESC, R1=190.0)
    p = tmp_path / "drift.dta"
    _dta(p, z_drift=Zc)
    s = read_spectrum(p, area_cm2=AREA)
    _check(s, Zc)
    assert "drift-corrected" in s.notes[0]
    _check(read_spectrum(p, area_cm2=AREA, spectrum=1))  # the uncorrected one


def test_instrument_errors(tmp_path, monkeypatch):
    p = tmp_path / "cell.mpt"
    _mpt(p, [(F_DESC, Z_DESC)])
    with pytest.raises(MeasuredDataError, match="imag_sign"):
        read_spectrum(p, area_cm2=AREA, imag_sign=-1)
    csv = tmp_path / "cell.csv"
    csv.write_text("frequency_hz,z_re_ohm_cm2,z_im_ohm_cm2\n" + "\n".join(
        f"{f},{z.real},{z.imag}" for f, z in zip(F_DESC, AREA * Z_DESC, strict=True)))
    with pytest.raises(MeasuredDataError, match="CSV file holds one spectrum"):
        read_spectrum(csv, spectrum=1)
    bad = tmp_path / "broken.mpt"
    bad.write_text("EC-Lab ASCII FILE\nfreq/Hz\tRe(Z)/Ohm\t-Im(Z)/Ohm\n1e3\t5\n")
    with pytest.raises(MeasuredDataError, match="pyimpspec could not read it"):
        read_spectrum(bad, area_cm2=AREA)
    few = tmp_path / "few.mpt"
    _mpt(few, [(F_DESC[:3], Z_DESC[:3])])
    with pytest.raises(MeasuredDataError, match="3 point"):
        read_spectrum(few, area_cm2=AREA)
    monkeypatch.setitem(sys.modules, "pyimpspec", None)  # as if it were not installed
    with pytest.raises(MeasuredDataError, match=r"needs pyimpspec .*or export the spectrum"):
        read_spectrum(p, area_cm2=AREA)
