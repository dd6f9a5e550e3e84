"""What sweeps and calibrations read alike from a spec: the one-line :class:`SpecError`
(with :class:`SpecReader`, which names the spec file in it), the configuration a spec's
values build, and dotted-key values → one case's user-config dict, with the
``program.*`` convenience keys written as a ramp-up / hold / ramp-down program.

This module does not import dolfinx.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.config import load_config
from fem_cell.config.keys import set_by_key
from fem_cell.errors import ConfigError

#: convenience keys that (re)write a ramp-up / hold / ramp-down program:
#: key → (dimension, display unit, dotted key of the written program)
PROGRAM_KEYS: dict[str, tuple[str, str, str]] = {
    "program.hold_temperature": ("temperature", "degC", "anneal.segments[0].ramp_to"),
    "program.hold_time": ("time", "min", "anneal.segments[1].hold"),
    "program.ramp_rate": ("temperature rate", "K/min", "anneal.segments[0].rate"),
}


class SpecError(ConfigError):
    """A study spec that cannot run (one line: spec file, key, value, expected)."""


class SpecReader:
    """Reads a spec's tables; its errors name the spec file."""

    def __init__(self, source: str):
        self.source = source

    def err(self, key: str, value: Any, expected: str) -> SpecError:
        return SpecError(self.source, key, value, expected)

    def table(self, raw: Any, key: str) -> dict:
        if not isinstance(raw, dict):
            raise self.err(key, raw, "a table")
        return raw

    def nonempty_list(self, raw: Any, key: str, expected: str) -> list:
        """``raw`` if it is a non-empty list (e.g. an array of tables ``[[key]]``)."""
        if not isinstance(raw, list) or not raw:
            raise self.err(key, raw if raw is not None else "(missing)", expected)
        return raw

    def keys(self, raw: Mapping, key: str, allowed) -> None:
        for k in raw:
            if k not in allowed:
                raise self.err(f"{key}.{k}" if key else k, raw[k],
                               f"one of the known keys {sorted(allowed)}")

    def choice(self, raw: Any, key: str, choices) -> str:
        if raw not in choices:
            raise self.err(key, raw, f"one of {list(choices)}")
        return raw


def build_config(base: Path | None, overrides: dict, r: SpecReader, key: str, expected: str,
                 value=None):
    """The configuration of ``base`` + ``overrides``; a problem is a :class:`SpecError` at
    ``key`` (showing ``value``, default ``[config]``) saying what was ``expected``."""
    try:
        return load_config(base, overrides)
    except ConfigError as e:
        raise r.err(key, value if value is not None else "[config]",
                    f"{expected}; the configuration says: {e}") from None


# ------------------------------------------------------------------ programs ------
def _program_defaults(cfg) -> dict[str, Any]:
    """Hold temperature (K), hold time (s), ramp rate (K/s) of the base program
    (None where it has none), and its initial temperature as written."""
    prog = cfg.anneal
    t, T = prog.times, prog.temperatures
    Tmax = float(T.max())
    at = np.nonzero(np.isclose(T, Tmax, rtol=0, atol=1e-9))[0]
    first, last = int(at[0]), int(at[-1])
    hold = float(t[last] - t[first]) if last > first else None
    rate = (Tmax - float(T[0])) / float(t[first]) if first > 0 and Tmax > T[0] else None
    spec = dict(cfg.anneal_spec)
    t0 = spec.get("initial_temperature", {"value": float(T[0]), "unit": "K"})
    return {"program.hold_temperature": {"value": Tmax, "unit": "K"} if Tmax > T[0] else None,
            "program.hold_time": {"value": hold, "unit": "s"} if hold else None,
            "program.ramp_rate": {"value": rate, "unit": "K/s"} if rate else None,
            "initial": t0}


def program_segments(values: Mapping[str, Any], defaults: Mapping[str, Any]) -> list[dict]:
    """Ramp-up / hold / ramp-down segments from ``program.*`` values (else defaults)."""
    v = {k: values.get(k, defaults.get(k)) for k in PROGRAM_KEYS}
    return [{"ramp_to": v["program.hold_temperature"], "rate": v["program.ramp_rate"]},
            {"hold": v["program.hold_time"]},
            {"ramp_to": defaults["initial"], "rate": v["program.ramp_rate"]}]


def expand_keys(values: Mapping[str, Any], base_cfg, r: SpecReader | None = None,
                where: str = "") -> dict[str, Any]:
    """Dotted-key values with the ``program.*`` keys turned into ``anneal.*`` ones.

    Raises:
        SpecError: a program key has no default in the base program (with ``r``).
    """
    out = {k: v for k, v in values.items() if k not in PROGRAM_KEYS}
    prog = {k: v for k, v in values.items() if k in PROGRAM_KEYS}
    if prog:
        d = _program_defaults(base_cfg)
        for k in PROGRAM_KEYS:
            if k not in prog and d[k] is None:
                what = k.split(".", 1)[1].replace("_", " ")
                msg = (f"a sweep of {k} too: the base program has no {what} to keep "
                       f"(it is not ramp-up / hold / ramp-down)")
                if r is None:
                    raise ValueError(msg)
                raise r.err(where or "parameters", sorted(prog), msg)
        out["anneal.segments"] = program_segments(prog, d)
        out.setdefault("anneal.initial_temperature", d["initial"])
    return out


def case_overrides(common: dict, values: Mapping[str, Any], base_cfg) -> dict:
    """The user-config dict of one case (``common`` + the case's dotted-key values).

    A key into a list of the program (``anneal.segments[1].hold``) that only the base
    (or the cell) defines gets that list first.
    """
    d = copy.deepcopy(common)
    for k, v in values.items():
        if k.startswith("anneal.") and "[" in k:
            head = k.split("[", 1)[0]  # anneal.segments / anneal.breakpoints
            name = head.split(".", 1)[1]
            a = d.setdefault("anneal", {})
            if name not in a and name in base_cfg.anneal_spec:
                a[name] = copy.deepcopy(list(base_cfg.anneal_spec[name]))
                if "initial_temperature" in base_cfg.anneal_spec:
                    a.setdefault("initial_temperature",
                                 copy.deepcopy(base_cfg.anneal_spec["initial_temperature"]))
        set_by_key(d, k, copy.deepcopy(v))
    return d


__all__ = ["PROGRAM_KEYS", "SpecError", "SpecReader", "build_config", "case_overrides",
           "expand_keys", "program_segments"]
