"""Reading values out of TOML tables, each error naming the file, key, value and what
was expected; and the record of every resolved setting (value, unit, SI, origin)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fem_cell.errors import ConfigError, UnitError
from fem_cell.params import Spec
from fem_cell.units import (
    EXAMPLE_UNITS,
    SI_UNITS,
    clean_number,
    dimension_name,
    format_number,
    from_si,
    parse_quantity,
    parse_unit,
    to_si,
)

#: origin of a value nobody set
DEFAULT_ORIGIN = "default"


class _Missing:
    """Marks a required value that is absent (shown as ``(missing)`` in errors)."""

    def __repr__(self) -> str:
        return "(missing)"

    def __reduce__(self):
        return (_missing, ())


def _missing() -> _Missing:
    return MISSING


MISSING = _Missing()


@dataclass(frozen=True)
class Parameter:
    """One value as read: SI value plus what the user wrote."""

    value: float
    unit: str
    given: float
    source: str
    origin: str = ""
    #: ``"value"`` (the quantity itself / a rate's value at T_ref) or ``"prefactor"``
    #: (a rate written as its prefactor k(T → ∞))
    form: str = "value"
    #: physically plausible (lo, hi) of the value (a rate: of its prefactor), SI; None
    plausible: tuple[float, float] | None = None


@dataclass(frozen=True)
class Setting:
    """One resolved setting as shown by ``fem-cell config`` and written to run.json.

    Args:
        key: dotted key, e.g. ``"layers.Li3PO4.thickness"``, ``"solver.dt_max"``.
        value: the value as written (number, string, bool), or the default expressed
            in ``unit``.
        unit: unit of ``value`` (``""`` if it has none).
        si_value: the value used by the model, in ``si_unit``.
        si_unit: SI unit of ``si_value`` (``""`` for non-quantities, ``"1"`` for
            dimensionless numbers).
        origin: where it came from: a user config path, the cell file
            (``"<built-in cell kobayashi2022>"`` or its path), ``"default"``,
            ``"command line"`` or ``"derived"``.
        source: the source note of a cell parameter (``""`` if none).
        doc: the parameter's meaning (from its declaration).
    """

    key: str
    value: Any
    unit: str
    si_value: Any
    si_unit: str
    origin: str
    source: str = ""
    doc: str = ""

    @property
    def form(self) -> str:
        """``"prefactor"`` for an Arrhenius rate written as its prefactor k(T → ∞) (the
        reader starts its source note with "prefactor"), else ``"value"``."""
        return "prefactor" if str(self.source).startswith("prefactor") else "value"

    def as_dict(self) -> dict[str, Any]:
        return {"value": clean_number(self.value), "unit": self.unit,
                "si_value": clean_number(self.si_value), "si_unit": self.si_unit,
                "origin": self.origin, "source": self.source}


def dimension_of(unit: str) -> str:
    """Dimension name of a unit (``"m2/s"`` → ``"diffusivity"``; ``"1"``, ``"%"`` →
    ``"dimensionless"``)."""
    if unit in ("", "1"):
        return "dimensionless"
    return dimension_name(parse_unit(unit).dims)


def example(dimension: str) -> str:
    """A valid quantity of a dimension as a user writes it."""
    unit = EXAMPLE_UNITS[dimension].split(",")[0].split(" or ")[0].strip()
    return {"temperature": "150 degC", "temperature rate": "5 K/min", "time": "60 min",
            "length": "1 um"}.get(dimension, f"1 {unit}")


def expected(spec: Spec) -> str:
    """What a value of ``spec`` must be, for error messages (its bounds in words, or
    in SI when the declaration has no words for them)."""
    if spec.text.startswith(("a ", "an ")):
        return spec.text
    dim = dimension_of(spec.unit)
    noun = "a number" if dim == "dimensionless" else f"a {dim}"
    ex = spec.example or example(dim)
    text = spec.text or _bounds_text(spec, dim)
    return f"{noun} {text}, e.g. '{ex}'" if text else f"{noun}, e.g. '{ex}'"


def _bounds_text(spec: Spec, dim: str) -> str:
    unit = "" if dim == "dimensionless" else f" {SI_UNITS[dim]}"
    lo, hi = spec.lo, spec.hi
    if math.isfinite(lo) and math.isfinite(hi):
        return f"between {format_number(lo)} and {format_number(hi)}{unit}"
    if math.isfinite(lo):
        return f"{'>' if spec.lo_open else '>='} {format_number(lo)}{unit}"
    if math.isfinite(hi):
        return f"{'<' if spec.hi_open else '<='} {format_number(hi)}{unit}"
    return ""


_QUANTITY_TEXT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _split(text: str) -> tuple[float, str]:
    m = _QUANTITY_TEXT.match(text)
    return float(m.group(1)), (m.group(2) or "1")


class Reader:
    """Validation helpers that know which file a value came from."""

    def __init__(self, source: str):
        self.source = source

    def err(self, key: str, value: Any, expected: str) -> ConfigError:
        return ConfigError(self.source, key, value, expected)

    def table(self, raw: Any, key: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.err(key, raw, "a table")
        return raw

    def keys(self, raw: Mapping[str, Any], key: str, allowed) -> None:
        for k in raw:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                raise self.err(where, raw[k], f"one of the known keys {sorted(allowed)}")

    def quantity(self, raw: Any, key: str, dimension: str, *, positive: bool = True,
                 difference: bool = False, bounds: tuple[float, float] | None = None,
                 bounds_text: str = "") -> Parameter:
        """Parse a quantity written as ``"1 um"`` or ``{value, unit[, source]}``.

        Args:
            positive: require a value > 0.
            difference: a temperature difference (degC and K of the same size).
            bounds: optional inclusive (lo, hi) on the SI value; ``bounds_text`` says
                what they mean in the error message.
        """
        expect = (f"a {'positive ' if positive else ''}{dimension} with a unit, "
                  f"e.g. '{example(dimension)}' or {{ value = ..., unit = \"...\" }}")
        source = self.source
        form, plausible = "value", None
        if isinstance(raw, dict):
            self.keys(raw, key, {"value", "prefactor", "unit", "source", "plausible"})
            if "prefactor" in raw:
                if "value" in raw:
                    raise self.err(key, raw, "either value or prefactor, not both")
                raw = {**raw, "value": raw["prefactor"]}
                form = "prefactor"
            if "value" not in raw or "unit" not in raw:
                raise self.err(key, raw, expect + " (both value and unit)")
            value, unit = raw["value"], raw["unit"]
            if "plausible" in raw:
                plausible = self.plausible_range(raw["plausible"], unit, dimension, key)
            source = raw.get("source", source)
            if not isinstance(source, str):
                raise self.err(f"{key}.source", source, "a string")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.err(f"{key}.value", value, "a number")
            if not isinstance(unit, str):
                raise self.err(f"{key}.unit", unit,
                               "a unit string, e.g. " + EXAMPLE_UNITS[dimension])
            try:
                si = to_si(value, unit, dimension)
                if difference:
                    si -= parse_unit(unit).offset
            except UnitError as e:
                raise self.err(key, raw, f"{expect}: {e}") from None
            given = float(value)
        elif isinstance(raw, str):
            try:
                si = parse_quantity(raw, dimension)
                given, unit = _split(raw)
                if difference:
                    si -= parse_unit(unit).offset
            except UnitError as e:
                raise self.err(key, raw, f"{expect}: {e}") from None
        elif (dimension == "dimensionless" and isinstance(raw, (int, float))
              and not isinstance(raw, bool)):
            si, given, unit = float(raw), float(raw), "1"
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raise self.err(key, raw, expect + " (a bare number has no unit)")
        else:
            raise self.err(key, raw, expect)
        if not math.isfinite(si):
            raise self.err(key, raw, expect + " (finite)")
        if positive and not si > 0:
            raise self.err(key, raw, expect.replace("a positive", "a positive (> 0)"))
        if bounds is not None and not bounds[0] <= si <= bounds[1]:
            raise self.err(key, raw, f"a {dimension} between {format_number(bounds[0])} and "
                                     f"{format_number(bounds[1])} {SI_UNITS[dimension]}"
                                     + (f" ({bounds_text})" if bounds_text else ""))
        return Parameter(si, unit, given, source, self.source, form, plausible)

    def plausible_range(self, raw: Any, unit: str, dimension: str, key: str) -> tuple[float, float]:
        """``plausible = [lo, hi]`` in the item's unit → SI."""
        ok = (isinstance(raw, list) and len(raw) == 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in raw))
        if not ok or not raw[0] <= raw[1]:
            raise self.err(f"{key}.plausible", raw, f"[lo, hi] with lo <= hi, in {unit!r}")
        try:
            lo, hi = (to_si(v, unit, dimension) for v in raw)
        except UnitError as e:
            raise self.err(f"{key}.plausible", raw, str(e)) from None
        return float(lo), float(hi)

    def declared(self, raw: Any, key: str, spec: Spec) -> Parameter:
        """A quantity or number checked against its declaration's bounds."""
        dim = dimension_of(spec.unit)
        try:
            p = self.quantity(raw, key, dim, positive=False, difference=spec.difference)
        except ConfigError as e:
            if dim != "dimensionless":
                raise
            why = e.expected.split(": ", 1)[1] if ": " in e.expected else ""
            raise self.err(e.key, e.value,
                           expected(spec) + (f" ({why})" if why else "")) from None
        if not spec.ok(p.value):
            raise self.err(key, raw, expected(spec))
        return p

    def integer(self, raw: Any, key: str, minimum: int, maximum: int | None = None) -> int:
        if (isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum
                or (maximum is not None and raw > maximum)):
            rng = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise self.err(key, raw, f"an integer {rng}")
        return raw

    def number(self, raw: Any, key: str, spec: Spec) -> float:
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool) and spec.ok(raw)
        if not ok:
            rng = spec.text or (f"{'>' if spec.lo_open else '>='} {format_number(spec.lo)}"
                                + (f" and <= {format_number(spec.hi)}"
                                   if math.isfinite(spec.hi) else ""))
            raise self.err(key, raw, f"a number {rng}")
        return float(raw)

    def boolean(self, raw: Any, key: str) -> bool:
        if not isinstance(raw, bool):
            raise self.err(key, raw, "true or false")
        return raw

    def choice(self, raw: Any, key: str, choices) -> Any:
        if isinstance(raw, bool) or raw not in choices:
            raise self.err(key, raw, f"one of {list(choices)}")
        return raw


class Record:
    """Collects the :class:`Setting` of every resolved key, in order."""

    def __init__(self):
        self.items: dict[str, Setting] = {}
        #: dotted key → plausible (lo, hi) written next to its value (SI)
        self.plausible: dict[str, tuple[float, float]] = {}

    def param(self, key: str, p: Parameter, dimension: str, source: str = "",
              doc: str = "") -> None:
        si_unit = "K" if dimension == "temperature difference" else SI_UNITS[dimension]
        self.items[key] = Setting(key, p.given, p.unit, p.value, si_unit, p.origin, source, doc)

    def plain(self, key: str, value: Any, origin: str, si_value: Any = None,
              doc: str = "") -> None:
        self.items[key] = Setting(key, value, "", value if si_value is None else si_value, "",
                                  origin, "", doc)

    def default(self, key: str, si_value: Any, unit: str = "", dimension: str | None = None,
                doc: str = "") -> None:
        """A value nobody set, shown in ``unit`` (no dimension: shown as it is)."""
        if dimension is None:
            self.items[key] = Setting(key, si_value, "", si_value, "", DEFAULT_ORIGIN, "", doc)
            return
        if dimension == "temperature difference":
            shown, si_unit = si_value, "K"
        else:
            shown = clean_number(from_si(si_value, unit)) if si_value is not None else None
            si_unit = SI_UNITS[dimension]
        self.items[key] = Setting(key, shown, unit, si_value, si_unit, DEFAULT_ORIGIN, "", doc)

    def derived(self, key: str, si_value: float, unit: str, source: str, doc: str = "") -> None:
        dim = dimension_of(unit)
        self.items[key] = Setting(key, clean_number(from_si(si_value, unit)), unit, si_value,
                                  SI_UNITS[dim], "derived", source, doc)


def note(p: Parameter, raw: Any, reader: Reader, cell_reader: Reader) -> str:
    """Source note to show: cell values and tables with a ``source``; else none."""
    return p.source if reader is cell_reader or isinstance(raw, dict) else ""


__all__ = ["DEFAULT_ORIGIN", "MISSING", "Parameter", "Reader", "Record", "Setting",
           "dimension_of", "example", "expected", "note"]
