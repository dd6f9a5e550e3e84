"""Filling a declared dataclass (:mod:`fem_cell.params`) from a merged TOML table.

One function, :func:`read_declared`, reads every section whose keys are declared:
the physics' parameter tables (``[transport.*]``, ``[degraded_layer]``, ...) and the
run settings (``[mesh]``, ``[solver]``, ``[output]``).  For each declared field it
finds the TOML key, parses the value with its unit, checks the declared bounds, and
records a :class:`~fem_cell.config.reader.Setting` (value as written, unit, SI value,
origin, source note, meaning).  Unknown keys, missing required keys and bad values are
one-line :class:`~fem_cell.errors.ConfigError` naming the file that holds them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fem_cell.config.reader import (
    MISSING,
    Reader,
    Record,
    Setting,
    dimension_of,
    expected,
    note,
)
from fem_cell.params import EV, T_REF, Arrhenius, Spec, defaults, key_of, specs
from fem_cell.units import SI_UNITS, format_number

Items = dict[str, tuple[Any, Reader]]


def merged_items(cell: Mapping[str, Any], user: Mapping[str, Any], path: tuple[str, ...],
                 cr: Reader, ur: Reader) -> Items:
    """``key → (value, reader)`` of the table at ``path``: the cell's, then the user's."""
    out: Items = {}
    for raw, r in ((cell, cr), (user, ur)):
        t: Any = raw
        for i, name in enumerate(path):
            t = r.table(t, ".".join(path[:i]) or name).get(name, {})
        out.update({k: (v, r) for k, v in r.table(t, ".".join(path)).items()})
    return out


def record_plausible(cell: Mapping[str, Any], path: tuple[str, ...], cr: Reader,
                     rec: Record) -> None:
    """Record the plausible ranges written in the cell file's table at ``path``
    (``key = { value = ..., unit = ..., plausible = [lo, hi] }``): they stay the ranges
    of those parameters when a user file overrides the value alone."""
    t: Any = cell
    for name in path:
        t = t.get(name, {}) if isinstance(t, Mapping) else {}
    if not isinstance(t, Mapping):
        return
    section = ".".join(path)
    for k, raw in t.items():
        if isinstance(raw, Mapping) and "plausible" in raw and isinstance(raw.get("unit"), str):
            try:
                dim = dimension_of(raw["unit"])
            except Exception:  # a bad unit is reported when the value is read
                continue
            rec.plausible[f"{section}.{k}"] = cr.plausible_range(raw["plausible"], raw["unit"], dim,
                                                            f"{section}.{k}")


def only(items: Mapping[str, tuple[Any, Reader]], section: str, allowed) -> None:
    """Refuse keys that are not ``allowed`` (naming the file that has them)."""
    for k, (v, r) in items.items():
        if k not in allowed:
            raise r.err(f"{section}.{k}", v, f"one of the known keys {sorted(allowed)}")


def toml_keys(cls) -> list[str]:
    """Every TOML key a declared section accepts (rates: value and energy keys)."""
    out = []
    for name, s in specs(cls).items():
        if s.kind == "derived":
            continue
        out.append(key_of(name, s))
        if s.kind == "rate":
            out.append(s.energy_key)
    return out


def energy_spec(s: Spec) -> Spec:
    """The declaration of a rate's activation energy."""
    lo, hi = s.energy_lo / EV, s.energy_hi / EV
    return Spec("quantity", "eV", f"activation energy of {s.doc}", lo=s.energy_lo,
                hi=s.energy_hi, text=f"from {format_number(lo)} to {format_number(hi)} eV",
                example="1.3 eV" if lo >= 0 else "0 eV")


def read_declared(cls, items: Items, section: str, rec: Record, cr: Reader, *,
                  blame: Reader | None = None, why: str = "", t_ref: float | str = T_REF,
                  given: Mapping[str, Any] | None = None, base: Path | None = None):
    """An instance of the declared dataclass ``cls`` from ``items``.

    Args:
        items: merged ``key → (raw value, reader)`` (:func:`merged_items`).
        section: dotted name of the table, for keys in messages and the record.
        rec: where each resolved setting is recorded.
        cr: the cell file's reader (its values show their source notes).
        blame: the reader blamed for a missing required key (default ``cr``).
        why: appended to "missing" messages.
        t_ref: reference temperature of the section's rates (K), or the name of the
            field holding it.
        given: values of fields set by the caller (``derived`` fields).
        base: folder relative ``path`` values are resolved against.

    Raises:
        ConfigError: unknown key, missing required key, bad value.
    """
    sp = specs(cls)
    only(items, section, toml_keys(cls))
    dflt = defaults(cls)
    kw: dict[str, Any] = dict(given or {})
    # plain values first: a rate's reference temperature may be one of them
    order = sorted(sp, key=lambda n: sp[n].kind == "rate")
    for name in order:
        s = sp[name]
        if s.kind == "derived" or name in kw:
            continue
        key = key_of(name, s)
        full = f"{section}.{key}"
        if key not in items or (s.optional and items[key][0] in (None, "saturated")):
            kw[name] = _absent(name, s, full, dflt, items.get(key), rec, blame or cr, why)
            continue
        v, r = items[key]
        if s.kind == "rate":
            T0 = kw[t_ref] if isinstance(t_ref, str) else t_ref
            kw[name] = _rate(s, items, section, key, rec, cr, blame or cr, why, T0)
        else:
            kw[name] = _value(s, v, r, full, rec, cr, base)
    try:
        return cls(**kw)
    except ValueError as e:  # a cross-field check of the class itself
        r = next((rr for _, rr in items.values()), blame or cr)
        raise r.err(section, {k: v for k, v in kw.items() if not dataclasses.is_dataclass(v)},
                    f"consistent values ({e})") from None


def _absent(name: str, s: Spec, full: str, dflt: Mapping[str, Any], item, rec: Record,
            blame: Reader, why: str):
    if s.optional:
        origin = item[1].source if item is not None else "default"
        rec.items[full] = Setting(full, "(not set)", "", None, _si_unit(s), origin, "", s.doc)
        return None
    if name not in dflt:
        what = expected(s) if s.kind not in ("choice",) else f"one of {list(s.choices)}"
        raise blame.err(full, MISSING, what + why)
    v = dflt[name]
    dim = dimension_of(s.unit) if s.kind == "quantity" else None
    if s.difference:
        dim = "temperature difference"
    if dim is not None and v is not None:
        rec.default(full, v, s.unit, dim, doc=s.doc)
    else:
        rec.default(full, v, doc=s.doc)
    return v


def _si_unit(s: Spec) -> str:
    return SI_UNITS[dimension_of(s.unit)] if s.unit else ""


def _value(s: Spec, v: Any, r: Reader, full: str, rec: Record, cr: Reader, base: Path | None):
    if s.kind in ("quantity", "number"):
        p = r.declared(v, full, s)
        if p.form == "prefactor":
            raise r.err(full, v, "a value (only Arrhenius rates take a prefactor)")
        dim = "temperature difference" if s.difference else dimension_of(s.unit)
        rec.param(full, p, dim, note(p, v, r, cr), s.doc)
        if p.plausible is not None:
            rec.plausible[full] = p.plausible
        return p.value
    if s.kind == "integer":
        hi = None if s.hi == float("inf") else int(s.hi)
        out = r.integer(v, full, int(s.lo), hi)
    elif s.kind == "boolean":
        out = r.boolean(v, full)
    elif s.kind == "choice":
        out = r.choice(v, full, s.choices)
    elif s.kind == "path":
        if not isinstance(v, str):
            raise r.err(full, v, "a path to a file")
        p = Path(v)
        if base is not None and not p.is_absolute():
            p = base / p
        if not p.is_file():
            raise r.err(full, v, "an existing file")
        rec.plain(full, v, r.source, str(p), doc=s.doc)
        return str(p)
    else:  # pragma: no cover - kinds are checked by Spec
        raise ValueError(s.kind)
    rec.plain(full, v, r.source, out, doc=s.doc)
    return out


def _rate(s: Spec, items: Items, section: str, key: str, rec: Record, cr: Reader,
          blame: Reader, why: str, T_ref: float) -> Arrhenius:
    full = f"{section}.{key}"
    v, r = items[key]
    es = energy_spec(s)
    efull = f"{section}.{s.energy_key}"
    if s.energy_key not in items:
        raise blame.err(efull, MISSING, expected(es) + why)
    ev, er = items[s.energy_key]
    e = er.declared(ev, efull, es)
    dim = dimension_of(s.unit)
    p = r.quantity(v, full, dim, positive=False)
    if p.form == "prefactor":
        law = Arrhenius.from_prefactor(p.value, e.value, T_ref)
        if not (math.isfinite(law.value) and s.ok(law.value)):
            raise r.err(full, v, f"a prefactor giving a value at {T_ref - 273.15:g} °C "
                                 f"{s.text or 'within its bounds'} (it gives "
                                 f"{format_number(law.value)} {SI_UNITS[dim]})")
        src = note(p, v, r, cr)
        rec.param(full, p, dim, ("prefactor k(T -> inf); " + src) if src else
                  "prefactor k(T -> inf)", s.doc)
    else:
        p = r.declared(v, full, s)
        law = Arrhenius(p.value, e.value, T_ref)
        rec.param(full, p, dim, note(p, v, r, cr), s.doc)
    rec.param(efull, e, "energy", note(e, ev, er, cr), es.doc)
    if p.plausible is not None:
        rec.plausible[full] = p.plausible
    return law


def plausibility_warnings(obj, section: str, ranges: Mapping[str, tuple[float, float]]
                          | None = None) -> list[str]:
    """Warnings for declared values outside their physically plausible range (for a
    rate: its prefactor k(T → ∞)).  The range is the one written next to the value in a
    file (``plausible = [lo, hi]``, in ``ranges`` by dotted key, SI), else the
    declaration's."""
    out = []
    for name, s in specs(type(obj)).items():
        given = (ranges or {}).get(f"{section}.{key_of(name, s)}")
        if s.plausible is None and given is None:
            continue
        v = getattr(obj, name)
        if v is None or not isinstance(v, (int, float, Arrhenius)):
            continue
        x = v.prefactor if isinstance(v, Arrhenius) else float(v)
        lo, hi = given if given is not None else s.plausible
        if not lo <= x <= hi:
            what = "prefactor" if isinstance(v, Arrhenius) else "value"
            out.append(f"{section}.{key_of(name, s)}: implied {what} {format_number(x)} "
                       f"{_si_unit(s)} lies outside the plausible range {format_number(lo)}-"
                       f"{format_number(hi)} {_si_unit(s)}"
                       + (f" ({s.plausible_note})" if s.plausible_note else ""))
    return out


__all__ = ["Items", "energy_spec", "merged_items", "only", "plausibility_warnings",
           "record_plausible",
           "read_declared", "toml_keys"]
