"""Human- and machine-readable listing of a resolved :class:`~fem_cell.config.RunConfig`.

``fem-cell config`` prints :func:`render` (``"text"``, or ``"json"`` with ``--json``).
Every resolved setting is shown — cell parameters, layers, heat boundary conditions,
the anneal program, ``[mesh]``, ``[solver]`` and ``[output]`` — with

* the value as written (or the default, expressed in a readable unit),
* its unit,
* the SI value the model uses and its SI unit,
* its origin: the user config's path, the cell file (``<built-in cell NAME>`` or the
  cell's path), ``default`` (nobody set it), ``command line`` or ``derived``,
* the source note of cell parameters.

The chemistry sections (``[exposure]``, ``[transport.*]``, ``[degraded_layer]``,
``[exposure_model]``) are listed like the rest; values derived from materials (a
phase's Li diffusivity and site density) have origin ``derived`` and name the material
key they come from.

Numbers are printed with at most 12 significant digits, so converted values show no
floating-point noise (``9e-08``, not ``9.000000000000001e-08``).

Example:
    >>> from fem_cell.config import load_config
    >>> text = render(load_config())
    >>> "layers.LiCoO2.thickness" in text and "9e-08" in text
    True
"""

from __future__ import annotations

import json
import textwrap
from typing import Any

from fem_cell.config.reader import Setting
from fem_cell.config.run import RunConfig, physics_dict
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.units import clean_number, clean_numbers, format_number

FORMATS = ("text", "json")
COLUMNS = ("key", "value", "unit", "SI value", "origin", "source")
#: the value column's width (a longer text value runs into the next columns)
VALUE_WIDTH = 24


def render(cfg: RunConfig, fmt: str = "text") -> str:
    """The resolved configuration as text or JSON.

    Args:
        cfg: a validated configuration (from :func:`fem_cell.config.load_config`).
        fmt: ``"text"``: an aligned listing, one setting per line, grouped by
            section, then the program's breakpoints and any warnings;
            ``"json"``: the same content as a JSON document (see :func:`as_json_dict`).

    Returns:
        The listing, ending with a newline.

    Raises:
        ValueError: unknown ``fmt``.
    """
    if fmt == "text":
        return _text(cfg)
    if fmt == "json":
        return json.dumps(as_json_dict(cfg), indent=2, ensure_ascii=False) + "\n"
    raise ValueError(f"unknown format {fmt!r}; expected one of {list(FORMATS)}")


def as_json_dict(cfg: RunConfig) -> dict[str, Any]:
    """JSON-ready dict: ``cell``, ``files``, ``settings`` (dotted key → value, unit,
    si_value, si_unit, origin, source), ``program`` (derived breakpoints),
    ``li_layers``, ``li_melting_point_K``, ``physics`` (SI values of every physical
    parameter, energies in J) and ``warnings``."""
    prog = cfg.anneal
    return {
        "cell": {"name": cfg.name, "title": cfg.title, "reference": cfg.reference},
        "files": list(cfg.files),
        "settings": {k: s.as_dict() for k, s in cfg.settings.items()},
        "program": {
            "breakpoints_s": [clean_number(float(t)) for t in prog.times],
            "breakpoints_K": [clean_number(float(T)) for T in prog.temperatures],
            "duration_s": clean_number(prog.duration),
            "max_temperature_K": clean_number(prog.max_temperature),
        },
        "li_layers": list(cfg.li_layers),
        "li_melting_point_K": clean_number(cfg.li_melting_point),
        "physics": clean_numbers(physics_dict(cfg)),
        "warnings": list(cfg.warnings),
    }


def exposure_summary(cfg: RunConfig) -> str:
    """One line describing the exposure, e.g.
    ``exposure: H2O, 30 min at 25 degC, water pressure: saturated``."""
    e = cfg.exposure
    if e is None:
        return "exposure: none"
    text = (f"exposure: {e.gas}, {format_number(clean_number(e.duration / 60))} min at "
            f"{format_number(clean_number(e.temperature - ZERO_CELSIUS))} degC")
    if e.gas == "air":
        text += f", relative humidity {format_number(clean_number(100 * e.relative_humidity))} %"
    elif e.gas == "H2O":
        text += (", water pressure: saturated" if e.water_pressure is None else
                 f", water pressure {format_number(clean_number(e.water_pressure))} Pa")
    else:
        text += " (no water: leaves no protons)"
    return text


#: width of the text listing (a terminal, a printed page)
WIDTH = 120
#: origins shown as themselves (the others, files, get a short tag: cell, user, user2, ...)
PLAIN_ORIGINS = ("default", "derived", "command line")


def _show(value: Any, digits: int = 12) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and digits < 12:
        return f"{value:.{digits}g}"
    if isinstance(value, (int, float)):
        return format_number(value)
    return str(value)


def _origin_tags(cfg: RunConfig) -> dict[str, str]:
    """File origins → short tags: the cell file ``cell``, user files ``user``, ``user2``…"""
    tags: dict[str, str] = {}
    users = 0
    for o in dict.fromkeys(s.origin for s in cfg.settings.values()):
        if o in PLAIN_ORIGINS:
            continue
        if o.startswith("<built-in cell") or (cfg.files and o == cfg.files[0]
                                               and o.endswith(".toml") and "cells" in o):
            tags[o] = "cell"
        else:
            users += 1
            tags[o] = "user" if users == 1 else f"user{users}"
    return tags


def _row(s: Setting, tags: dict[str, str]) -> tuple[str, ...]:
    """key, value, unit, SI value, SI unit, origin (tag).  No SI column where it says
    nothing new: a plain number, or an energy in eV (the model's J are an internal
    matter: ``fem-cell config --json`` has them)."""
    same = not s.unit and not s.si_unit and _show(s.si_value) == _show(s.value)
    number = isinstance(s.si_value, (int, float)) and not isinstance(s.si_value, bool)
    hide = same or s.unit == "eV" or not number
    si = "" if hide else f"{_show(s.si_value, 6)} {s.si_unit}".rstrip()
    return (s.key, _show(s.value), s.unit, si, tags.get(s.origin, s.origin))


def _section(key: str) -> str:
    return key.split(".", 1)[0].split("[", 1)[0]


def _text(cfg: RunConfig) -> str:
    out = [f"cell {cfg.name}: {cfg.title}"]
    if cfg.reference:
        out.append(f"reference: {cfg.reference}")
    out.append("files: " + (", ".join(cfg.files) if cfg.files else "(none: built-in defaults)"))
    tags = _origin_tags(cfg)
    legend = ("origin: " + ", ".join([f"{t} = {o}" for o, t in tags.items()]
                                     + ["default = nobody set it",
                                        "derived = computed from other keys"])
              + ".  SI value: what the model uses (energies stay in eV here; --json has "
              "J).  Indented lines: the source note of the key above.")
    out += textwrap.wrap(legend, WIDTH, subsequent_indent="  ", break_on_hyphens=False)
    out.append("")
    rows = [_row(s, tags) for s in cfg.settings.values()]
    widths = [max(len(COLUMNS[i]), *(len(r[i]) for r in rows)) if rows else len(COLUMNS[i])
              for i in range(len(COLUMNS) - 1)]
    widths[1] = min(widths[1], VALUE_WIDTH)

    def line(cells) -> str:
        text = ""
        for i, (c, w) in enumerate(zip(cells, widths, strict=True)):
            text += c.ljust(w) if i == 0 or len(text) <= sum(widths[:i]) + 2 * i else c
            text += "  "
        return text.rstrip()

    indent = " " * 4
    out.append(line(COLUMNS[:-1]))
    out.append(line(["-" * w for w in widths]))
    section = None
    for s, r in zip(cfg.settings.values(), rows, strict=True):
        sec = _section(s.key)
        if sec != section:
            if section is not None:
                out.append("")
            out.append(f"[{sec}]")
            section = sec
        out.append(line(r))
        if s.source:
            out += textwrap.wrap(s.source, WIDTH, initial_indent=indent,
                                 subsequent_indent=indent, break_on_hyphens=False)

    prog = cfg.anneal
    out += ["", "anneal program (derived breakpoints):",
            f"  {'t [s]':>12}  {'t [min]':>10}  {'T [K]':>8}  {'T [degC]':>8}"]
    for t, T in zip(prog.times, prog.temperatures, strict=True):
        out.append(f"  {format_number(clean_number(float(t))):>12}  "
                   f"{format_number(clean_number(float(t) / 60)):>10}  "
                   f"{format_number(clean_number(float(T))):>8}  "
                   f"{format_number(clean_number(float(T) - ZERO_CELSIUS)):>8}")
    out.append(f"  duration {format_number(clean_number(prog.duration))} s, "
               f"max plate temperature {format_number(clean_number(prog.max_temperature))} K")
    if cfg.exposure is not None:
        out.append(exposure_summary(cfg))
    if cfg.li_layers:
        tm = ("no melting point" if cfg.li_melting_point is None else
              f"melting point {format_number(clean_number(cfg.li_melting_point))} K")
        out.append(f"Li metal layers: {', '.join(cfg.li_layers)} ({tm})")
    else:
        out.append("Li metal layers: none")
    if cfg.warnings:
        out += ["", "warnings:"] + [f"  WARNING: {w}" for w in cfg.warnings]
    return "\n".join(out) + "\n"


__all__ = ["as_json_dict", "exposure_summary", "render"]
