"""Unit strings at the user-facing edge, converted once to SI.

Everything inside fem_cell is SI (m, s, K, kg, A, mol and their products).  Users
write quantities with units in cell files and configs (``"150 degC"``, ``"5 K/min"``,
``"100 nm"``, ``"10 uF/cm2"``); this module parses them, checks their dimension and
returns SI floats.  Nothing is stored in non-SI units.

Unit grammar (small, explicit, no magic):

* names: SI base and derived units (m, g, s, K, A, mol, N, J, W, C, V, Ohm/Ω, S, F,
  Pa, Hz, eV) with SI prefixes p n u/µ m c d k M G, plus ``min``, ``h``, ``degC``/``°C``
  and ``%`` (dimensionless, 1 % = 0.01; no prefixes);
* an exponent follows a name as digits (``cm2``, ``m-3``), ``^n`` or ``**n``; ² and ³ work;
* products are written with spaces, ``*`` or ``.``; ``/`` divides by the *next* factor
  (``W/m/K``) or by a parenthesised group (``W/(m K)``);
* ``degC`` alone is an absolute temperature (offset 273.15 K); inside a compound unit
  (``degC/min``) it is a temperature difference, like K.

Examples:
    >>> to_si(150, "degC")
    423.15
    >>> round(to_si(5, "K/min"), 6)
    0.083333
    >>> to_si(1, "uF/cm2")
    0.01
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass

from fem_cell.errors import UnitError

# base dimensions: length, mass, time, temperature, current, amount
_BASE = ("m", "kg", "s", "K", "A", "mol")
Dims = tuple[int, int, int, int, int, int]


def _d(m=0, kg=0, s=0, K=0, A=0, mol=0) -> Dims:
    return (m, kg, s, K, A, mol)


@dataclass(frozen=True)
class Unit:
    """A parsed unit: ``SI value = factor * value + offset``."""

    factor: float
    dims: Dims
    offset: float = 0.0

    def __mul__(self, other: Unit) -> Unit:
        dims = tuple(a + b for a, b in zip(self.dims, other.dims, strict=True))
        return Unit(self.factor * other.factor, dims)

    def __pow__(self, n: int) -> Unit:
        return Unit(self.factor**n, tuple(a * n for a in self.dims))


_ELEMENTARY_CHARGE = 1.602176634e-19

# name -> (factor to SI, dims, prefixable)
_UNITS: dict[str, tuple[float, Dims, bool]] = {
    "m": (1.0, _d(m=1), True),
    "g": (1e-3, _d(kg=1), True),
    "s": (1.0, _d(s=1), True),
    "K": (1.0, _d(K=1), True),
    "A": (1.0, _d(A=1), True),
    "mol": (1.0, _d(mol=1), True),
    "min": (60.0, _d(s=1), False),
    "h": (3600.0, _d(s=1), False),
    "d": (86400.0, _d(s=1), False),
    "a": (365.25 * 86400.0, _d(s=1), False),  # Julian year
    "N": (1.0, _d(m=1, kg=1, s=-2), True),
    "J": (1.0, _d(m=2, kg=1, s=-2), True),
    "W": (1.0, _d(m=2, kg=1, s=-3), True),
    "Pa": (1.0, _d(m=-1, kg=1, s=-2), True),
    "C": (1.0, _d(s=1, A=1), True),
    "V": (1.0, _d(m=2, kg=1, s=-3, A=-1), True),
    "Ohm": (1.0, _d(m=2, kg=1, s=-3, A=-2), True),
    "S": (1.0, _d(m=-2, kg=-1, s=3, A=2), True),
    "F": (1.0, _d(m=-2, kg=-1, s=4, A=2), True),
    "H": (1.0, _d(m=2, kg=1, s=-2, A=-2), True),
    "Hz": (1.0, _d(s=-1), True),
    "eV": (_ELEMENTARY_CHARGE, _d(m=2, kg=1, s=-2), True),
    "degC": (1.0, _d(K=1), False),
    "%": (0.01, _d(), False),
}
_ALIASES = {"Ω": "Ohm", "ohm": "Ohm", "°C": "degC", "℃": "degC", "µ": "u", "μ": "u", "hr": "h",
            "yr": "a"}
_PREFIXES = {"p": 1e-12, "n": 1e-9, "u": 1e-6, "m": 1e-3, "c": 1e-2, "d": 1e-1, "k": 1e3,
             "M": 1e6, "G": 1e9}
_SUPERSCRIPTS = str.maketrans({"²": "2", "³": "3", "⁻": "-", "¹": "1"})

#: Named dimensions used by the parameter schema and the config validator.
DIMENSIONS: dict[str, Dims] = {
    "dimensionless": _d(),
    "length": _d(m=1),
    "mass": _d(kg=1),
    "time": _d(s=1),
    "temperature": _d(K=1),
    "temperature rate": _d(K=1, s=-1),
    "thermal conductivity": _d(m=1, kg=1, s=-3, K=-1),
    "density": _d(m=-3, kg=1),
    "specific heat capacity": _d(m=2, s=-2, K=-1),
    "heat transfer coefficient": _d(kg=1, s=-3, K=-1),
    "electrical conductivity": _d(m=-3, kg=-1, s=3, A=2),
    "area-specific resistance": _d(m=4, kg=1, s=-3, A=-2),
    "capacitance per area": _d(m=-4, kg=-1, s=4, A=2),
    "diffusivity": _d(m=2, s=-1),
    "velocity": _d(m=1, s=-1),
    "concentration": _d(m=-3, mol=1),
    "energy": _d(m=2, kg=1, s=-2),
    "frequency": _d(s=-1),
    "pressure": _d(m=-1, kg=1, s=-2),
    "voltage": _d(m=2, kg=1, s=-3, A=-1),
    "area": _d(m=2),
    "resistance": _d(m=2, kg=1, s=-3, A=-2),
    "inductance": _d(m=2, kg=1, s=-2, A=-2),
}

#: An example unit for each named dimension (used in error messages).
EXAMPLE_UNITS: dict[str, str] = {
    "dimensionless": "1",
    "length": "nm, um, mm, m",
    "mass": "g, kg",
    "time": "s, min, h",
    "temperature": "degC or K",
    "temperature rate": "K/min",
    "thermal conductivity": "W/(m K)",
    "density": "kg/m3",
    "specific heat capacity": "J/(kg K)",
    "heat transfer coefficient": "W/(m2 K)",
    "electrical conductivity": "S/cm",
    "area-specific resistance": "Ohm cm2",
    "capacitance per area": "uF/cm2",
    "diffusivity": "cm2/s",
    "velocity": "m/s",
    "concentration": "mol/m3",
    "energy": "eV",
    "frequency": "Hz",
    "pressure": "Pa, kPa",
    "voltage": "V",
    "area": "mm2",
    "resistance": "Ohm",
    "inductance": "H",
}

#: The SI unit in which fem_cell stores each named dimension (for display).
SI_UNITS: dict[str, str] = {
    "dimensionless": "1",
    "length": "m",
    "mass": "kg",
    "time": "s",
    "temperature": "K",
    "temperature rate": "K/s",
    "thermal conductivity": "W/(m K)",
    "density": "kg/m3",
    "specific heat capacity": "J/(kg K)",
    "heat transfer coefficient": "W/(m2 K)",
    "electrical conductivity": "S/m",
    "area-specific resistance": "Ohm m2",
    "capacitance per area": "F/m2",
    "diffusivity": "m2/s",
    "velocity": "m/s",
    "concentration": "mol/m3",
    "energy": "J",
    "frequency": "Hz",
    "pressure": "Pa",
    "voltage": "V",
    "area": "m2",
    "resistance": "Ohm",
    "inductance": "H",
}

#: Significant digits kept when numbers are shown or written to metadata.
DISPLAY_DIGITS = 12


def clean_number(x):
    """Round a float to :data:`DISPLAY_DIGITS` significant digits (other values unchanged).

    Removes binary floating-point noise from converted values, e.g.
    ``0.09 * 1e-6 = 9.000000000000001e-08`` becomes ``9e-08``.  Integers, booleans,
    strings and None are returned as they are; non-finite floats too.

    Examples:
        >>> clean_number(90 * 1e-9)
        9e-08
        >>> clean_number(5 / 60)
        0.0833333333333
    """
    if isinstance(x, float) and x == x and abs(x) != float("inf"):
        return float(f"{x:.{DISPLAY_DIGITS}g}")
    return x


def clean_numbers(obj):
    """:func:`clean_number` of every number in nested dicts, lists and tuples (tuples
    become lists, as in JSON).

    Examples:
        >>> clean_numbers({"d": [90 * 1e-9, "nm"], "n": 3})
        {'d': [9e-08, 'nm'], 'n': 3}
    """
    if isinstance(obj, dict):
        return {k: clean_numbers(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_numbers(v) for v in obj]
    return clean_number(obj)


def format_number(x) -> str:
    """Text of a number with at most :data:`DISPLAY_DIGITS` significant digits.

    Examples:
        >>> format_number(90 * 1e-9)
        '9e-08'
        >>> format_number(423.15)
        '423.15'
        >>> format_number(8)
        '8'
    """
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return str(x)
    if isinstance(x, int):
        return str(x)
    return f"{x:.{DISPLAY_DIGITS}g}"


_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-zΩ°℃]+|%)(?P<exp>(?:\^|\*\*)?-?\d+)?|(?P<op>[*/.()]))")


def _lookup(name: str) -> Unit:
    name = _ALIASES.get(name, name)
    if name in _UNITS:
        f, dims, _ = _UNITS[name]
        return Unit(f, dims)
    for p, pf in _PREFIXES.items():
        if name.startswith(p) and len(name) > len(p):
            base = _ALIASES.get(name[len(p):], name[len(p):])
            if base in _UNITS and _UNITS[base][2]:
                f, dims, _ = _UNITS[base]
                return Unit(pf * f, dims)
    raise UnitError(f"unknown unit {name!r}")


def parse_unit(text: str) -> Unit:
    """Parse a unit string into a :class:`Unit`.

    Args:
        text: unit expression, e.g. ``"W/(m K)"``, ``"uF/cm2"``, ``"degC"``, ``"1"``.

    Returns:
        The unit with its SI factor, offset (non-zero only for a lone ``degC``) and
        dimension vector over (m, kg, s, K, A, mol).

    Raises:
        UnitError: the string is not a valid unit expression.
    """
    if not isinstance(text, str):
        raise UnitError(f"unit must be a string, got {text!r}")
    return _parse_unit(text)


@functools.lru_cache(maxsize=1024)
def _parse_unit(text: str) -> Unit:
    """:func:`parse_unit` of a string, memoised: a configuration parses about 240 unit
    strings, most of them the same few (half of a calibration case's configuration time
    was spent here); a :class:`Unit` is immutable and an error is not memoised."""
    s = text.strip()
    for a in ("µ", "μ"):
        s = s.replace(a, "u")
    s = s.translate(_SUPERSCRIPTS)
    if s in ("", "1", "-"):
        return Unit(1.0, _d())
    if _ALIASES.get(s, s) == "degC":
        return Unit(1.0, _d(K=1), offset=273.15)
    tokens = []
    pos = 0
    while pos < len(s):
        mt = _TOKEN.match(s, pos)
        if not mt or mt.end() == pos:
            if s[pos:].strip() == "":
                break
            raise UnitError(f"cannot parse unit {text!r} at {s[pos:]!r}")
        tokens.append(mt)
        pos = mt.end()

    def parse_expr(i: int, depth: int) -> tuple[Unit, int]:
        result = Unit(1.0, _d())
        divide = False
        pending = False
        expect_factor = True
        while i < len(tokens):
            t = tokens[i]
            op = t.group("op")
            if op == ")":
                if depth == 0:
                    raise UnitError(f"unbalanced ')' in unit {text!r}")
                if pending or expect_factor:
                    raise UnitError(f"operator without operand in unit {text!r}")
                return result, i + 1
            if op in ("*", ".", "/"):
                if pending:
                    raise UnitError(f"two operators in a row in unit {text!r}")
                divide = op == "/"
                pending = True
                i += 1
                continue
            if op == "(":
                factor, i = parse_expr(i + 1, depth + 1)
            else:
                factor = _lookup(t.group("name"))
                exp = t.group("exp")
                if exp:
                    factor = factor ** int(exp.lstrip("^*"))
                i += 1
            result = result * (factor**-1 if divide else factor)
            divide = False
            pending = False
            expect_factor = False
        if pending:
            raise UnitError(f"unit {text!r} ends with an operator")
        if depth:
            raise UnitError(f"unbalanced '(' in unit {text!r}")
        if expect_factor:
            raise UnitError(f"empty unit {text!r}")
        return result, i

    unit, _ = parse_expr(0, 0)
    return unit


def dimension_name(dims: Dims) -> str:
    """Human name of a dimension vector (or its base-unit expression)."""
    for name, d in DIMENSIONS.items():
        if d == dims:
            return name
    parts = [f"{b}^{e}" if e != 1 else b for b, e in zip(_BASE, dims, strict=False) if e]
    return " ".join(parts) or "dimensionless"


def to_si(value: float, unit: str, dimension: str | None = None) -> float:
    """Convert ``value`` given in ``unit`` to SI.

    Args:
        value: the number as written by the user.
        unit: its unit string.
        dimension: if given, a key of :data:`DIMENSIONS` the unit must have.

    Returns:
        The value in SI units (K for temperatures).

    Raises:
        UnitError: unknown unit or wrong dimension.
    """
    u = parse_unit(unit)
    if dimension is not None and u.dims != DIMENSIONS[dimension]:
        raise UnitError(
            f"unit {unit!r} is a {dimension_name(u.dims)}, expected a {dimension} "
            f"(e.g. {EXAMPLE_UNITS[dimension]})"
        )
    try:
        number = float(value)
    except OverflowError:
        raise UnitError(f"the number {value!r} is too large for a float") from None
    return number * u.factor + u.offset


def from_si(value: float, unit: str) -> float:
    """Inverse of :func:`to_si`: express an SI value in ``unit``."""
    u = parse_unit(unit)
    return (float(value) - u.offset) / u.factor


_QUANTITY = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def parse_quantity(text: str, dimension: str | None = None) -> float:
    """Parse ``"<number> <unit>"`` (e.g. ``"150 degC"``) into an SI float.

    Raises:
        UnitError: not a number followed by a unit, or wrong dimension.
    """
    if not isinstance(text, str):
        raise UnitError(f"expected a string like '1.5 um', got {text!r}")
    m = _QUANTITY.match(text)
    if not m:
        raise UnitError(f"{text!r} is not '<number> <unit>'")
    number, unit = m.groups()
    if unit == "" and dimension not in (None, "dimensionless"):
        raise UnitError(f"{text!r} has no unit; expected a {dimension} "
                        f"(e.g. {EXAMPLE_UNITS[dimension]})")
    return to_si(float(number), unit or "1", dimension)


def format_duration(seconds: float | None) -> str:
    """A wall-clock duration for progress lines: ``h:mm:ss`` (``--`` when unknown).

    >>> format_duration(75.4), format_duration(40000), format_duration(None)
    ('0:01:15', '11:06:40', '--')
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--"
    s = int(round(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
