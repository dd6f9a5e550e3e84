"""Measured impedance spectra: read, normalise to Ω cm², check.

A spectrum is read from CSV (``read_spectrum_csv``), or from an instrument file through
pyimpspec (``read_spectrum``; the formats read back in the tests are
:data:`INSTRUMENT_FORMATS`: BioLogic ``.mpt``, Gamry ``.dta``, Ivium ``.ids``/``.idf``,
ZView ``.z``, ``.P00``, OrigaLys ``.crv``, Eco Chemie ``.dfr``, Elchemea ``.i2b``,
``.xlsx``/``.ods`` sheets; ``pip install "fem_cell[instruments]"``).  An instrument file
with several spectra needs ``spectrum=`` (index or label).

CSV conventions
---------------
A header row names the columns (case and spaces ignored):

* frequency: ``frequency_hz``, ``frequency``, ``freq``, ``f``, ``f_hz``;
* real part: ``z_re_ohm_cm2``, ``z_re``, ``zre``, ``z'``, ``re(z)``, ``z_real``, ``real``;
* imaginary part: ``z_im_ohm_cm2``, ``z_im``, ``zim``, ``z''``, ``im(z)``, ``z_imag``,
  ``imag`` — or its negative: ``-z_im``, ``-zim``, ``-z''``, ``-im(z)``, ``minus_z_im``.

The unit of Z is taken from the header (``ohm_cm2``/``ohm cm2``/``Ω cm²`` → Ω cm²; ``ohm``/
``Ω`` → Ω) or given (``units=``); a spectrum in Ω needs the electrode area (``area_cm2``)
and is multiplied by it (Z·A in Ω cm²).  The sign convention of the imaginary column can
be forced (``imag_sign=-1`` for a column holding −Z″ without saying so); by default a
column named as −Z″ is negated and a plain one is taken as Z″.  A spectrum whose Z″ is
mostly positive (an inductive-looking capacitor: the sign was flipped) is refused with a
hint, as is any Ω / Ω cm² ambiguity.

Checks (one :class:`MeasuredDataError` each): missing columns, non-numeric or NaN values,
frequencies ≤ 0 or repeated, fewer than :data:`MIN_POINTS` points.  The project's own
``impedance.csv`` reads back unchanged.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import InputError

#: fewest frequencies of a spectrum that can be fitted
MIN_POINTS = 5

FREQ = ("frequency_hz", "frequency", "freq", "f", "f_hz", "freq_hz", "frequency(hz)",
        "freq/hz")
RE = ("z_real_ohm_cm2", "z_re_ohm_cm2", "z_re_ohm", "z_re", "zre", "z'", "re(z)", "z_real",
      "real", "zreal", "re(z)/ohm", "z'/ohm")
IM = ("z_imag_ohm_cm2", "z_im_ohm_cm2", "z_im_ohm", "z_im", "zim", "z''", "im(z)", "z_imag",
      "imag", "zimag", "im(z)/ohm", "z''/ohm")
NEG_IM = ("-z_im_ohm_cm2", "-z_im_ohm", "-z_im", "-zim", "-z''", "-im(z)", "minus_z_im",
          "-im(z)/ohm", "-z''/ohm", "minus_z_im_ohm_cm2")


#: the columns of a spectrum as a DataFrame (Ω cm², Z = Z′ + i Z″)
FRAME_COLUMNS = ("frequency_Hz", "Z_real_ohm_cm2", "Z_imag_ohm_cm2")


class MeasuredDataError(InputError):
    """A measured data file that cannot be used as it is."""


@dataclass
class MeasuredSpectrum:
    """A measured spectrum, Z per unit electrode area.

    Attributes:
        frequencies: Hz, ascending.
        Z_ohm_cm2: complex impedance × area (Ω cm²), Z = Z′ + i Z″ (Z″ < 0 capacitive).
        source: the file.
        area_cm2: the area used to normalise (None: the file was in Ω cm²).
        temperature: K, if known (set by the caller).
        label: a name for plots.
    """

    frequencies: np.ndarray
    Z_ohm_cm2: np.ndarray
    source: str = ""
    area_cm2: float | None = None
    temperature: float | None = None
    label: str = ""
    notes: list[str] = field(default_factory=list)

    def to_pandas(self):
        """A DataFrame with unit-suffixed columns ``frequency_Hz``, ``Z_real_ohm_cm2``,
        ``Z_imag_ohm_cm2``, ``Z_mod_ohm_cm2``, ``phase_deg``; ``.attrs`` hold ``source``,
        ``label``, ``area_cm2``, ``temperature_K`` and ``notes``."""
        import pandas as pd

        Z = self.Z_ohm_cm2
        df = pd.DataFrame({FRAME_COLUMNS[0]: self.frequencies, FRAME_COLUMNS[1]: Z.real,
                           FRAME_COLUMNS[2]: Z.imag, "Z_mod_ohm_cm2": np.abs(Z),
                           "phase_deg": np.degrees(np.angle(Z))})
        df.attrs.update(source=self.source, label=self.label, area_cm2=self.area_cm2,
                        temperature_K=self.temperature, notes=list(self.notes))
        return df

    @classmethod
    def from_pandas(cls, df, *, label: str = "") -> MeasuredSpectrum:
        """The spectrum of a DataFrame with the columns of :meth:`to_pandas` (e.g. one
        from :func:`read_spectrum_frame`, perhaps edited), checked like a file."""
        missing = [c for c in FRAME_COLUMNS if c not in df.columns]
        if missing:
            raise MeasuredDataError(f"a spectrum table needs the columns {FRAME_COLUMNS}; "
                                    f"missing {missing}")
        a = df[list(FRAME_COLUMNS)].to_numpy(dtype=float)
        if not np.all(np.isfinite(a)):
            raise MeasuredDataError("a spectrum table has NaN or infinite values; drop those "
                                    "rows")
        source = str(df.attrs.get("source", "DataFrame"))
        s = _spectrum(a[:, 0], a[:, 1] + 1j * a[:, 2], source, "ohm_cm2", None,
                      label or str(df.attrs.get("label", "")) or "data")
        s.area_cm2 = df.attrs.get("area_cm2")
        s.temperature = df.attrs.get("temperature_K")
        s.notes = list(df.attrs.get("notes", []))
        return s


def _norm(name: str) -> str:
    return name.strip().lower().replace(" ", "").replace("ω", "ohm").replace("²", "2")


def _find(header: list[str], names: tuple[str, ...]) -> int | None:
    h = [_norm(x) for x in header]
    for n in names:
        if n.replace(" ", "") in h:
            return h.index(n.replace(" ", ""))
    return None


def _unit_from_header(*cols: str) -> str | None:
    text = " ".join(_norm(c) for c in cols)
    if "ohm_cm2" in text or "ohmcm2" in text or "ohm*cm2" in text or "ohm.cm2" in text:
        return "ohm_cm2"
    if "ohm" in text:
        return "ohm"
    return None


def _csv_rows(p: Path) -> list[list[str]]:
    """The rows of a CSV file (header first): ``#`` comment and blank lines dropped, the
    delimiter (comma, semicolon or tab) sniffed from the header."""
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise MeasuredDataError(f"{p}: cannot read ({e})") from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise MeasuredDataError(f"{p}: no data")
    try:
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    return list(csv.reader(lines, dialect))


def read_spectrum_csv(path: str | Path, *, units: str | None = None,
                      area_cm2: float | None = None, imag_sign: int | None = None,
                      label: str = "") -> MeasuredSpectrum:
    """Read a spectrum from CSV (see the module docstring for the conventions).

    Args:
        path: the CSV file (comma, semicolon or tab separated; ``#`` comment lines).
        units: ``"ohm_cm2"`` or ``"ohm"``; None = from the header.
        area_cm2: electrode area for a spectrum in Ω.
        imag_sign: +1 (the column is Z″) or −1 (it is −Z″); None = from the header.

    Raises:
        MeasuredDataError: one line saying what is wrong with the file.
    """
    p = Path(path)
    rows = _csv_rows(p)
    header = rows[0]
    i_f = _find(header, FREQ)
    i_re = _find(header, RE)
    i_im, sign = _find(header, IM), 1
    i_neg = _find(header, NEG_IM)
    if i_neg is not None:
        i_im, sign = i_neg, -1
    if i_f is None or i_re is None or i_im is None:
        missing = [n for n, i in (("frequency", i_f), ("real part", i_re),
                                  ("imaginary part", i_im)) if i is None]
        raise MeasuredDataError(f"{p}: no {' / '.join(missing)} column in the header "
                                f"{header} (expected e.g. frequency_hz, z_re_ohm_cm2, "
                                "z_im_ohm_cm2 or -Z'')")
    if imag_sign is not None:
        if imag_sign not in (1, -1):
            raise MeasuredDataError(f"imag_sign {imag_sign}: +1 or -1")
        sign = imag_sign
    data = []
    for k, r in enumerate(rows[1:], start=2):
        try:
            vals = [float(r[i]) for i in (i_f, i_re, i_im)]
        except (ValueError, IndexError):
            raise MeasuredDataError(f"{p}, line {k}: not three numbers in the frequency, "
                                    f"real and imaginary columns: {r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise MeasuredDataError(f"{p}, line {k}: NaN or infinite value {r}; remove the "
                                    "row")
        data.append(vals)
    a = np.array(data, dtype=float).reshape(-1, 3)
    unit = units or _unit_from_header(header[i_re], header[i_im])
    return _spectrum(a[:, 0], a[:, 1] + 1j * sign * a[:, 2], str(p), unit, area_cm2,
                     label or p.stem)


def read_spectrum(path: str | Path, *, units: str | None = None,
                  area_cm2: float | None = None, imag_sign: int | None = None,
                  label: str = "", spectrum: int | str | None = None) -> MeasuredSpectrum:
    """A spectrum from CSV (``.csv``, ``.txt``, ``.tsv``) or, through pyimpspec, from an
    instrument file (:data:`INSTRUMENT_FORMATS`; Z in Ω: give ``area_cm2``).

    ``spectrum`` picks one of several spectra in an instrument file (its 0-based index or
    its label, as the error for an ambiguous file lists them); a file holding several
    spectra needs it, except a Gamry file with drift correction, whose drift-corrected
    spectrum is taken (a note says so)."""
    p = Path(path)
    if not p.is_file():
        raise MeasuredDataError(f"{p}: no such file")
    if p.suffix.lower() in (".csv", ".txt", ".tsv", ""):
        if spectrum not in (None, 0):
            raise MeasuredDataError(f"{p}: a CSV file holds one spectrum; spectrum "
                                    f"{spectrum!r} is for instrument files with several")
        return read_spectrum_csv(p, units=units, area_cm2=area_cm2, imag_sign=imag_sign,
                                 label=label)
    if imag_sign is not None:
        raise MeasuredDataError(f"{p}: imag_sign (--imag-sign) is for CSV columns; the "
                                "instrument parser knows its file's sign convention")
    try:
        import pyimpspec
    except ImportError:
        raise MeasuredDataError(f"{p}: reading {p.suffix} files needs pyimpspec (pip install "
                                "'fem_cell[instruments]'), or export the spectrum as CSV"
                                ) from None
    try:
        sets = pyimpspec.parse_data(str(p))
    except Exception as e:  # noqa: BLE001 - any parser failure is the file's problem
        raise MeasuredDataError(f"{p}: pyimpspec could not read it ({type(e).__name__}: {e})"
                                ) from None
    ds, note = _choose_spectrum(sets, spectrum, p)
    f = np.asarray(ds.get_frequencies(), dtype=float)
    Z = np.asarray(ds.get_impedances(), dtype=complex)
    s = _spectrum(f, Z, str(p), units or "ohm", area_cm2, label or ds.get_label() or p.stem)
    if note:
        s.notes.insert(0, note)
    return s


#: instrument formats read through pyimpspec and tested with files in the layout its
#: parsers read (tests/unit/test_instrument_formats.py)
INSTRUMENT_FORMATS = {".mpt": "BioLogic EC-Lab", ".dta": "Gamry", ".ids": "Ivium",
                      ".idf": "Ivium", ".z": "ZView/ZPlot", ".p00": "P00 export",
                      ".crv": "OrigaLys", ".dfr": "Eco Chemie", ".i2b": "Elchemea",
                      ".xlsx": "spreadsheet", ".ods": "spreadsheet"}


def _choose_spectrum(sets: list, spectrum: int | str | None, p: Path):
    """The data set ``spectrum`` selects (index or label) and a note on the choice."""
    labels = [d.get_label() for d in sets]
    listing = ", ".join(f"{i}: {lb!r}" for i, lb in enumerate(labels))
    if spectrum is None:
        if len(sets) == 1:
            return sets[0], ""
        drift = [i for i, lb in enumerate(labels) if lb.endswith("(drift corrected)")]
        if len(sets) == 2 and len(drift) == 1:
            i = drift[0]
            return sets[i], (f"the drift-corrected spectrum {labels[i]!r} (the file also "
                             f"holds {labels[1 - i]!r})")
        raise MeasuredDataError(f"{p}: holds {len(sets)} spectra ({listing}); choose one "
                                "(--spectrum N or LABEL; spectrum= in Python)")
    if isinstance(spectrum, bool) or not isinstance(spectrum, (int, str)):
        raise MeasuredDataError(f"spectrum {spectrum!r}: an index or a label")
    if isinstance(spectrum, str) and spectrum.strip().lstrip("-").isdigit():
        spectrum = int(spectrum)
    if isinstance(spectrum, int):
        if not 0 <= spectrum < len(sets):
            raise MeasuredDataError(f"{p}: no spectrum {spectrum} (it holds {listing})")
        i = spectrum
    elif spectrum in labels:
        i = labels.index(spectrum)
    else:
        raise MeasuredDataError(f"{p}: no spectrum labelled {spectrum!r} (it holds "
                                f"{listing})")
    return sets[i], (f"spectrum {i} ({labels[i]!r}) of {len(sets)}" if len(sets) > 1
                     else "")


def read_spectrum_frame(path: str | Path, *, units: str | None = None,
                        area_cm2: float | None = None, imag_sign: int | None = None,
                        temperature_C: float | None = None, label: str = "",
                        spectrum: int | str | None = None):
    """``fem_cell.read_spectrum``: a measured spectrum as a pandas DataFrame.

    Reads like :func:`read_spectrum` (CSV conventions in the module docstring; instrument
    files through pyimpspec) and returns :meth:`MeasuredSpectrum.to_pandas`: columns
    ``frequency_Hz``, ``Z_real_ohm_cm2``, ``Z_imag_ohm_cm2`` (per unit electrode area,
    Z″ < 0 capacitive), ``Z_mod_ohm_cm2``, ``phase_deg``; ``.attrs``: ``source``,
    ``label``, ``area_cm2``, ``temperature_K`` (from ``temperature_C``), ``notes``.

    Example::

        import fem_cell
        df = fem_cell.read_spectrum("docs/examples/spectrum_circuit.csv", units="ohm",
                                    area_cm2=0.01)
        df.plot(x="Z_real_ohm_cm2", y="Z_imag_ohm_cm2")
    """
    s = read_spectrum(path, units=units, area_cm2=area_cm2, imag_sign=imag_sign, label=label,
                      spectrum=spectrum)
    if temperature_C is not None:
        s.temperature = float(temperature_C) + ZERO_CELSIUS
    return s.to_pandas()


# ----------------------------------------------------------- resistance histories --
#: time column names → seconds per unit
HISTORY_TIME = {"time_s": 1.0, "t_s": 1.0, "time/s": 1.0, "time(s)": 1.0, "time": 1.0,
                "time_min": 60.0, "t_min": 60.0, "time/min": 60.0, "time(min)": 60.0,
                "time_h": 3600.0, "t_h": 3600.0, "time/h": 3600.0, "time(h)": 3600.0}
#: resistance column names → which model resistance they are: at 25 °C (after cooling:
#: the model's R_interface_ohm_cm2) or at the measurement's temperature (in situ:
#: R_interface_T_ohm_cm2)
HISTORY_R = {"r_interface_ohm_cm2": "25C", "r_25c_ohm_cm2": "25C", "r_25c": "25C",
             "r_25c_ohm": "25C", "r_interface_t_ohm_cm2": "T", "r_t_ohm_cm2": "T", "r_t": "T",
             "r_t_ohm": "T"}
HISTORY_T = {"t_c": "C", "temperature_c": "C", "t/°c": "C", "t/degc": "C", "t_k": "K",
             "temperature_k": "K", "t/k": "K"}


@dataclass
class MeasuredHistory:
    """A measured interface-resistance history.

    Attributes:
        times: s since the start of the anneal program, ascending.
        R_ohm_cm2: the interface resistance × area (Ω cm²).
        at: ``"25C"`` (measured at 25 °C, compared with the model's R_interface_ohm_cm2)
            or ``"T"`` (in situ at the sample's temperature: R_interface_T_ohm_cm2).
        temperature: K per point, if the file has a temperature column (else None).
        source: the file.
    """

    times: np.ndarray
    R_ohm_cm2: np.ndarray
    at: str
    temperature: np.ndarray | None = None
    source: str = ""
    area_cm2: float | None = None

    @property
    def model_column(self) -> str:
        """The anneal history column this history is compared with."""
        return "R_interface_ohm_cm2" if self.at == "25C" else "R_interface_T_ohm_cm2"

    def to_pandas(self):
        """``time_s``, ``R_ohm_cm2`` (and ``T_C``) as a DataFrame; ``.attrs``: source, at."""
        import pandas as pd

        df = pd.DataFrame({"time_s": self.times, "R_ohm_cm2": self.R_ohm_cm2})
        if self.temperature is not None:
            df["T_C"] = self.temperature - ZERO_CELSIUS
        df.attrs.update(source=self.source, at=self.at, area_cm2=self.area_cm2)
        return df


def read_history(path: str | Path, *, area_cm2: float | None = None) -> MeasuredHistory:
    """An interface-resistance history R(t) from CSV (``#`` comments; , ; or tab).

    Columns (header names, case and spaces ignored):

    * time since the start of the anneal program: ``time_s`` / ``time_min`` / ``time_h``
      (or ``t_s``, ``time/min``, …);
    * the resistance, named by *where* it was measured: ``R_25C_ohm_cm2`` (or
      ``R_interface_ohm_cm2``: at 25 °C, after cooling) or ``R_T_ohm_cm2`` (or
      ``R_interface_T_ohm_cm2``: in situ, at the sample's temperature); ``_ohm`` instead
      of ``_ohm_cm2`` with ``area_cm2``;
    * optionally the temperature: ``T_C`` or ``T_K``.

    Raises:
        MeasuredDataError: one line saying what is wrong with the file.
    """
    p = Path(path)
    if not p.is_file():
        raise MeasuredDataError(f"{p}: no such file")
    rows = _csv_rows(p)
    header = [_norm(h) for h in rows[0]]
    i_t = next((i for i, h in enumerate(header) if h in HISTORY_TIME), None)
    i_r = next((i for i, h in enumerate(header) if h in HISTORY_R), None)
    i_T = next((i for i, h in enumerate(header) if h in HISTORY_T), None)
    if i_t is None:
        raise MeasuredDataError(f"{p}: no time column in the header {rows[0]} (expected "
                                "time_s, time_min or time_h)")
    if i_r is None:
        plain = any(h in ("r", "r_ohm_cm2", "r_ohm", "r/ohmcm2", "r_interface") for h in header)
        hint = (" 'R' alone does not say where it was measured: name the column "
                "R_25C_ohm_cm2 (at 25 °C, after cooling) or R_T_ohm_cm2 (in situ)") if plain \
            else " (expected R_25C_ohm_cm2 or R_T_ohm_cm2)"
        raise MeasuredDataError(f"{p}: no resistance column in the header {rows[0]};{hint}")
    data = []
    for k, r in enumerate(rows[1:], start=2):
        cols = (i_t, i_r) if i_T is None else (i_t, i_r, i_T)
        try:
            vals = [float(r[i]) for i in cols]
        except (ValueError, IndexError):
            raise MeasuredDataError(f"{p}, line {k}: not numbers in the time, resistance"
                                    f"{' and temperature' if i_T is not None else ''} "
                                    f"columns: {r}") from None
        if not all(math.isfinite(v) for v in vals):
            raise MeasuredDataError(f"{p}, line {k}: NaN or infinite value {r}; remove the row")
        data.append(vals)
    a = np.array(data, dtype=float).reshape(len(data), -1)
    if a.shape[0] < 2:
        raise MeasuredDataError(f"{p}: {a.shape[0]} point(s); a history needs at least 2")
    t = a[:, 0] * HISTORY_TIME[header[i_t]]
    if np.any(t < 0) or np.any(np.diff(t) <= 0):
        raise MeasuredDataError(f"{p}: times must be >= 0 and strictly increasing (time since "
                                "the start of the anneal program)")
    R = a[:, 1]
    if np.any(R <= 0):
        raise MeasuredDataError(f"{p}: resistances must be > 0 (found {R.min():g})")
    unit = "ohm_cm2" if header[i_r].endswith("cm2") else (
        "ohm" if header[i_r].endswith("ohm") else "ohm_cm2")
    if unit == "ohm":
        if area_cm2 is None or not area_cm2 > 0:
            raise MeasuredDataError(f"{p}: R is in Ω; give the electrode area (--area-cm2) "
                                    "to normalise it to Ω cm²")
        R = R * area_cm2
    elif area_cm2 is not None and header[i_r].endswith("cm2"):
        raise MeasuredDataError(f"{p}: R is already in Ω cm²; an area ({area_cm2:g} cm²) "
                                "would normalise it twice")
    T = None
    if i_T is not None:
        T = a[:, 2] + (ZERO_CELSIUS if HISTORY_T[header[i_T]] == "C" else 0.0)
        if np.any(T <= 0):
            raise MeasuredDataError(f"{p}: temperatures must be above absolute zero")
    return MeasuredHistory(t, R, HISTORY_R[header[i_r]], T, str(p),
                           area_cm2 if unit == "ohm" else None)


def compare_history(data: MeasuredHistory, times: np.ndarray, model_R: np.ndarray) -> dict:
    """The model's R(t) (``times`` s, ``model_R`` Ω cm²) at the data's times
    (log-linear interpolation) and the misfit: ``rms_rel`` = √mean(((R_model − R_data)/
    R_data)²), ``max_rel``; points outside the model's time span are left out (counted
    in ``outside``)."""
    times, model_R = np.asarray(times, float), np.asarray(model_R, float)
    inside = (data.times >= times[0]) & (data.times <= times[-1])
    Rm = np.full(data.times.shape, np.nan)
    Rm[inside] = np.exp(np.interp(data.times[inside], times, np.log(model_R)))
    rel = (Rm - data.R_ohm_cm2) / data.R_ohm_cm2
    ok = rel[inside]
    return {"model_R_ohm_cm2": Rm, "relative_difference": rel,
            "rms_rel": float(np.sqrt(np.mean(ok**2))) if ok.size else float("nan"),
            "max_rel": float(np.max(np.abs(ok))) if ok.size else float("nan"),
            "points": int(ok.size), "outside": int((~inside).sum())}


def _spectrum(f: np.ndarray, Z: np.ndarray, source: str, unit: str | None,
              area_cm2: float | None, label: str) -> MeasuredSpectrum:
    if f.size < MIN_POINTS:
        raise MeasuredDataError(f"{source}: {f.size} point(s); a fit needs at least "
                                f"{MIN_POINTS} frequencies")
    if np.any(f <= 0):
        raise MeasuredDataError(f"{source}: frequencies must be > 0 (found {f.min():g} Hz)")
    order = np.argsort(f)
    f, Z = f[order], Z[order]
    if np.any(np.diff(f) == 0):
        raise MeasuredDataError(f"{source}: repeated frequency {f[1:][np.diff(f) == 0][0]:g} "
                                "Hz (average the repeats first)")
    if unit not in ("ohm", "ohm_cm2"):
        raise MeasuredDataError(f"{source}: the unit of Z is not in the header; say it "
                                "(--ohm-cm2, or --ohm with --area-cm2)")
    notes = []
    if unit == "ohm":
        if area_cm2 is None or not area_cm2 > 0:
            raise MeasuredDataError(f"{source}: Z is in Ω; give the electrode area "
                                    "(--area-cm2) to normalise it to Ω cm²")
        Z = Z * area_cm2
        notes.append(f"Z in Ω multiplied by the area {area_cm2:g} cm²")
    elif area_cm2 is not None:
        raise MeasuredDataError(f"{source}: Z is already in Ω cm²; an area ({area_cm2:g} cm²) "
                                "would normalise it twice")
    if np.mean(Z.imag > 0) > 0.5:
        raise MeasuredDataError(f"{source}: Z'' is positive at most frequencies: the column "
                                "is probably -Z''; name it so (-Z'') or pass --imag-sign -1")
    return MeasuredSpectrum(f, Z, source, area_cm2 if unit == "ohm" else None, None, label,
                            notes)


__all__ = ["FRAME_COLUMNS", "INSTRUMENT_FORMATS", "MIN_POINTS", "MeasuredDataError",
           "MeasuredHistory", "MeasuredSpectrum", "compare_history", "read_history",
           "read_spectrum", "read_spectrum_csv", "read_spectrum_frame"]
