"""Measured impedance spectra: read, normalise to Ω cm², check.

A spectrum is read from CSV (``read_spectrum_csv``), or from an instrument file through
pyimpspec when it is installed (``read_spectrum``: BioLogic ``.mpt``, Gamry ``.dta``,
Ivium ``.idf``/``.ids``, spreadsheets, …; ``pip install "fem_cell[instruments]"``).

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
    rows = list(csv.reader(lines, dialect))
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
                  label: str = "") -> MeasuredSpectrum:
    """A spectrum from CSV (``.csv``, ``.txt``, ``.tsv``) or, through pyimpspec, from an
    instrument file (which is in Ω: give ``area_cm2``)."""
    p = Path(path)
    if not p.is_file():
        raise MeasuredDataError(f"{p}: no such file")
    if p.suffix.lower() in (".csv", ".txt", ".tsv", ""):
        return read_spectrum_csv(p, units=units, area_cm2=area_cm2, imag_sign=imag_sign,
                                 label=label)
    try:
        import pyimpspec
    except ImportError:
        raise MeasuredDataError(f"{p}: reading {p.suffix} files needs pyimpspec (pip install "
                                "'fem_cell[instruments]'), or export the spectrum as CSV"
                                ) from None
    try:
        ds = pyimpspec.parse_data(str(p))[0]
    except Exception as e:  # noqa: BLE001 - any parser failure is the file's problem
        raise MeasuredDataError(f"{p}: pyimpspec could not read it ({type(e).__name__}: {e})"
                                ) from None
    f = np.asarray(ds.get_frequencies(), dtype=float)
    Z = np.asarray(ds.get_impedances(), dtype=complex)
    return _spectrum(f, Z, str(p), units or "ohm", area_cm2, label or p.stem)


def read_spectrum_frame(path: str | Path, *, units: str | None = None,
                        area_cm2: float | None = None, imag_sign: int | None = None,
                        temperature_C: float | None = None, label: str = ""):
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
    s = read_spectrum(path, units=units, area_cm2=area_cm2, imag_sign=imag_sign, label=label)
    if temperature_C is not None:
        s.temperature = float(temperature_C) + ZERO_CELSIUS
    return s.to_pandas()


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


__all__ = ["FRAME_COLUMNS", "MIN_POINTS", "MeasuredDataError", "MeasuredSpectrum",
           "read_spectrum", "read_spectrum_csv", "read_spectrum_frame"]
