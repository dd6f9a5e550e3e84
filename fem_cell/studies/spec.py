"""Study specs (TOML) → validated cases, before anything runs.

A spec (``studies/*.toml``, reference in ``docs/studies.md``)::

    [study]
    name = "recovery_map"
    base = "../my_config.toml"   # a user config, relative to the spec; omitted = built-in cell
    job = "anneal"               # "anneal" | "expose"
    kind = "sweep"               # "sweep" (default) | "calibration"
    combine = "grid"             # "grid" (default, every combination) | "zip" (side by side)
    group_size = 1               # MPI ranks per case

    [config]                     # optional: user-config values applied to every case
    mesh = { cells_per_layer = 8 }

    [[parameters]]
    key = "program.hold_temperature"
    range = { start = 60, stop = 175, num = 6, unit = "degC" }

    [[parameters]]
    key = "anneal.segments[1].hold"
    values = ["10 min", "1 h"]

    [record]
    summary = ["R_interface_ohm_cm2"]
    history = [{ column = "R_interface_ohm_cm2", times = ["10 min", "1 h"] }]

    [plot]
    value = "R_interface_ohm_cm2"
    log = true

Everything is checked by :func:`load_spec`: the spec's own keys, every parameter
(empty ranges, units), every case's configuration (built with
:func:`fem_cell.config.load_config`, so an unknown key, a wrong unit or a program that
would melt the Li is refused naming the case), and the record keys.  A problem raises
:class:`SpecError` (a :class:`~fem_cell.errors.ConfigError`): one line naming the spec
file, the key and what was expected.

This module does not import dolfinx.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from fem_cell.config import deep_merge as _merge
from fem_cell.config import load_config, read_toml
from fem_cell.errors import ConfigError, UnitError
from fem_cell.studies.cases import JOBS, QUIET_OUTPUT, Record, history_columns, summary_keys
from fem_cell.studies.spec_fit import FitSpec, fit_spec
from fem_cell.studies.spec_keys import (
    PROGRAM_KEYS,
    SpecError,
    SpecReader,
    build_config,
    case_overrides,
    expand_keys,
    program_segments,
)
from fem_cell.units import format_number, from_si, parse_quantity, parse_unit, to_si

KINDS = ("sweep", "calibration")
COMBINE = ("grid", "zip")
TOP_KEYS = ("study", "config", "parameters", "record", "plot", "summary", "targets",
            "calibration")
STUDY_KEYS = ("name", "description", "base", "job", "kind", "combine", "group_size")
#: largest number of cases a spec may expand to
MAX_CASES = 100_000


@dataclass(frozen=True)
class Parameter:
    """One swept parameter.

    Attributes:
        key: dotted user-config key (or a ``program.*`` key).
        values: the values written into the configuration, one per level (strings with
            units, numbers, or ``{value, unit}`` tables for ranges).
        shown: the values as text, as given (``"150 degC"``).
        unit: display unit (the range's, the base setting's, or the program key's).
    """

    key: str
    values: tuple
    shown: tuple[str, ...]
    unit: str = ""


@dataclass(frozen=True)
class Case:
    """One case of a sweep.

    Attributes:
        index: position in the study (0-based).
        id: ``"case0007"``: its JSON is ``cases/<id>.json``.
        values: parameter key → value as given (text).
        si: parameter key → SI value (None when not a number).
        overrides: the user-config dict (spec ``[config]`` + output defaults + this
            case's values) passed to :func:`~fem_cell.config.load_config` with the base.
        cost: a relative cost estimate (the anneal program's duration in s; 1 for
            expose): the engine hands out the costliest cases first, so the study does
            not end waiting for one long case.
    """

    index: int
    id: str
    values: dict
    si: dict
    overrides: dict
    cost: float = 1.0


@dataclass(frozen=True)
class PlotSpec:
    value: str | None = None
    log: bool = False


@dataclass(frozen=True)
class StudySpec:
    """A validated study."""

    path: Path | None
    name: str
    base: Path | None
    job: str
    kind: str
    combine: str
    group_size: int
    parameters: tuple[Parameter, ...]
    record: Record
    plot: PlotSpec
    config: dict
    cases: tuple[Case, ...]
    hash: str
    description: str = ""
    fit: FitSpec = field(default_factory=FitSpec)
    reach: dict | None = None

    @property
    def source(self) -> str:
        return str(self.path) if self.path is not None else "<study>"

    def value_columns(self) -> list[str]:
        """Names of the recorded values, in order (summary keys, then history values)."""
        cols = list(self.record.summary)
        cols += [history_label(c, t) for c, t in self.record.history]
        return cols

    def grid_shape(self) -> tuple[int, ...]:
        if self.combine == "zip":
            return (len(self.cases),)
        return tuple(len(p.values) for p in self.parameters)


def history_label(column: str, t: float) -> str:
    """Name of a history value at a time (as :func:`~fem_cell.studies.cases.run_case`)."""
    return f"{column}@{t:g}s"


# ------------------------------------------------------------------ loading -------
def load_spec(path: str | Path | Mapping[str, Any], *, group_size: int | None = None,
              source: str | None = None, base_dir: str | Path | None = None,
              progress: Callable[[int, int], None] | None = None) -> StudySpec:
    """Read and validate a study spec; build (and validate) every case's configuration.

    Args:
        path: the spec TOML, or a spec dict (then ``source`` names it in errors and
            ``base_dir`` resolves a relative ``base``; default the working directory).
        group_size: overrides ``[study] group_size`` (CLI ``--group-size``).
        progress: called as ``progress(done, total)`` while a sweep's cases are built and
            validated (a 10,000-case sweep takes about a minute); it may raise
            :class:`~fem_cell.errors.Interrupted` to stop (the CLI does on Ctrl-C).

    Raises:
        SpecError: one line naming the spec file, the key and what was expected.
    """
    raw, spath, src, root = _read_spec(path, source, base_dir)
    r = SpecReader(src)
    if "design" in raw:
        raise r.err("design", "[design]", "no [design] table in a study: a design spec runs "
                    "with `fem-cell design SPEC --posterior DIR`")
    r.keys(raw, "", TOP_KEYS)
    head = _study_table(raw, r, spath, root, group_size)
    config = r.table(raw.get("config", {}), "config")
    common = _merge(copy.deepcopy(QUIET_OUTPUT), config)
    base_cfg = build_config(head.base, common, r, "config",
                            "a valid configuration for every case")
    if head.kind == "calibration":
        fit = fit_spec(raw, r, head.base, common, base_cfg, config, root)
        text = _hash_text(raw, head.base, exclude=("plot",))
        return StudySpec(spath, head.name, head.base, "calibration", head.kind, head.combine,
                         head.group_size, (), Record(), PlotSpec(), common, (), _digest(text),
                         head.description, fit)
    return _sweep_spec(raw, r, spath, head, common, base_cfg, progress)


def _read_spec(path: str | Path | Mapping[str, Any], source: str | None,
               base_dir: str | Path | None) -> tuple[dict, Path | None, str, Path]:
    """(the spec's tables, its file or None, its name in errors, the folder a relative
    ``base`` is resolved in)."""
    if isinstance(path, Mapping):
        root = Path(base_dir) if base_dir is not None else Path.cwd()
        return copy.deepcopy(dict(path)), None, source or "<study>", root
    spath = Path(path)
    try:
        raw = read_toml(spath)
    except ConfigError as e:
        raise SpecError(e.source, e.key, e.value, e.expected) from None
    return raw, spath, str(spath), spath.resolve().parent


class _StudyTable(NamedTuple):
    """The checked ``[study]`` table."""

    name: str
    description: str
    kind: str
    job: str
    combine: str
    group_size: int
    base: Path | None


def _study_table(raw: dict, r: SpecReader, spath: Path | None, root: Path,
                 group_size: int | None) -> _StudyTable:
    st = r.table(raw.get("study", {}), "study")
    r.keys(st, "study", STUDY_KEYS)
    name = st.get("name", spath.stem if spath else "study")
    if not isinstance(name, str) or not name:
        raise r.err("study.name", name, "a non-empty string")
    desc = st.get("description", "")
    kind = r.choice(st.get("kind", "sweep"), "study.kind", KINDS)
    job = st.get("job", "anneal")
    if kind == "sweep":
        job = r.choice(job, "study.job", JOBS)
    combine = r.choice(st.get("combine", "grid"), "study.combine", COMBINE)
    gs = st.get("group_size", 1) if group_size is None else group_size
    if isinstance(gs, bool) or not isinstance(gs, int) or gs < 1:
        raise r.err("study.group_size" if group_size is None else "--group-size", gs,
                    "an integer >= 1 (MPI ranks per case)")
    base = None
    if "base" in st:
        b = st["base"]
        if not isinstance(b, str) or not b:
            raise r.err("study.base", b, "a path to a user config TOML (relative to the spec)")
        base = Path(b) if Path(b).is_absolute() else (root / b)
        if not base.is_file():
            raise r.err("study.base", b, f"an existing user config file ({base} does not exist)")
    return _StudyTable(name, desc, kind, job, combine, gs, base)


def _sweep_spec(raw: dict, r: SpecReader, spath: Path | None, head: _StudyTable, common: dict,
                base_cfg, progress: Callable[[int, int], None] | None = None) -> StudySpec:
    """A sweep: its parameters, record, plot and reach, and every case (validated)."""
    for k, shown in (("targets", "[[targets]]"), ("calibration", "[calibration]")):
        if k in raw:
            raise r.err(k, shown, f"no {shown} in a sweep (it belongs to "
                        "kind = \"calibration\")")
    params_raw = r.nonempty_list(raw.get("parameters"), "parameters",
                                 "one or more [[parameters]] tables with key and values or range")
    params = tuple(_parameter(p, i, r, base_cfg) for i, p in enumerate(params_raw))
    combos = _combinations(params, head.combine, r)
    job, base, combine = head.job, head.base, head.combine
    record = _record(raw.get("record", {}), r, job)
    plot = _plot(raw.get("plot", {}), r, record, params, combine)
    reach = _reach(raw.get("summary", {}), r, record, params, combine)
    cases = []
    for n, combo in enumerate(combos):
        values = {p.key: p.values[i] for p, i in zip(params, combo, strict=True)}
        shown = {p.key: p.shown[i] for p, i in zip(params, combo, strict=True)}
        cases.append(_case(n, values, shown, common, base, base_cfg, r, record, job))
        if progress is not None:
            progress(n + 1, len(combos))
    text = _hash_text(raw, base, exclude=("plot",), study_exclude=("group_size", "name",
                                                                   "description"))
    return StudySpec(spath, head.name, base, job, head.kind, combine, head.group_size, params,
                     record, plot, common, tuple(cases), _digest(text), head.description,
                     reach=reach)


def _combinations(params: tuple[Parameter, ...], combine: str, r: SpecReader) -> list[tuple]:
    """The level indices of every case: every combination (grid) or side by side (zip)."""
    keys = [p.key for p in params]
    dup = sorted({k for k in keys if keys.count(k) > 1})
    if dup:
        raise r.err("parameters", dup, "each key once")
    if combine == "zip":
        n = {p.key: len(p.values) for p in params}
        if len(set(n.values())) > 1:
            raise r.err("study.combine", "zip", f"parameters with the same number of values "
                        f"to zip (they have {n})")
        return list(zip(*(range(len(p.values)) for p in params), strict=True))
    total = math.prod(len(p.values) for p in params)
    if total > MAX_CASES:
        raise r.err("parameters", f"{total} cases", f"at most {MAX_CASES} cases")
    return list(itertools.product(*(range(len(p.values)) for p in params)))


def _parameter(p: Any, i: int, r: SpecReader, base_cfg) -> Parameter:
    where = f"parameters[{i}]"
    p = r.table(p, where)
    r.keys(p, where, ("key", "values", "range"))
    key = p.get("key")
    if not isinstance(key, str) or not key.strip():
        raise r.err(f"{where}.key", key if key is not None else "(missing)",
                    "a dotted config key, e.g. 'exposure.relative_humidity', "
                    "'anneal.segments[1].hold' or 'program.hold_temperature'")
    key = key.strip()
    where = f"parameters[{i}] (key = {key!r})"
    if key.startswith("program.") and key not in PROGRAM_KEYS:
        raise r.err(f"{where}.key", key, f"one of the program keys {sorted(PROGRAM_KEYS)}")
    has_v, has_r = "values" in p, "range" in p
    if has_v == has_r:
        raise r.err(where, {k: v for k, v in p.items() if k != "key"},
                    "exactly one of values = [...] or range = { start, stop, num, log, unit }")
    default_unit = _unit_of_key(key, base_cfg)
    if has_v:
        return _values_parameter(p["values"], key, where, r, default_unit)
    return _range_parameter(p["range"], key, where, r, default_unit)


def _values_parameter(vals: Any, key: str, where: str, r: SpecReader,
                      default_unit: str) -> Parameter:
    """A parameter given by ``values = [...]``."""
    if not isinstance(vals, list) or not vals:
        raise r.err(f"{where}.values", vals, "a non-empty list of values (strings with "
                    "units as in a config, e.g. '150 degC', or numbers)")
    for j, v in enumerate(vals):
        if v is None or (isinstance(v, float) and not math.isfinite(v)):
            raise r.err(f"{where}.values[{j}]", v, "a finite value")
        if key in PROGRAM_KEYS:
            dim = PROGRAM_KEYS[key][0]
            try:
                parse_quantity(v, dim) if isinstance(v, str) else _reject(v, dim)
            except UnitError as e:
                raise r.err(f"{where}.values[{j}]", v, f"a {dim} with a unit ({e})") from None
    shown = tuple(v if isinstance(v, str) else format_number(v) if not isinstance(v, dict)
                  else f"{format_number(v.get('value'))} {v.get('unit', '')}".strip()
                  for v in vals)
    return Parameter(key, tuple(vals), shown, default_unit)


def _range_parameter(rg: Any, key: str, where: str, r: SpecReader,
                     default_unit: str) -> Parameter:
    """A parameter given by ``range = { start, stop, num, log, unit }``."""
    rg = r.table(rg, f"{where}.range")
    r.keys(rg, f"{where}.range", ("start", "stop", "num", "log", "unit"))
    for k in ("start", "stop", "num"):
        if k not in rg:
            raise r.err(f"{where}.range.{k}", "(missing)", "start, stop and num")
    start, stop, num = rg["start"], rg["stop"], rg["num"]
    for k, v in (("start", start), ("stop", stop)):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise r.err(f"{where}.range.{k}", v, "a finite number (the unit goes in unit = ...)")
    if isinstance(num, bool) or not isinstance(num, int) or num < 1:
        raise r.err(f"{where}.range.num", num, "an integer >= 1 (an empty range runs nothing)")
    if num == 1 and start != stop:
        raise r.err(f"{where}.range.num", num, "num >= 2 when start != stop")
    log = rg.get("log", False)
    if not isinstance(log, bool):
        raise r.err(f"{where}.range.log", log, "true or false")
    if log and not (start > 0 and stop > 0):
        raise r.err(f"{where}.range", rg, "start and stop > 0 for log = true")
    unit = _range_unit(rg, key, where, r)
    nums = np.geomspace(start, stop, num) if log else np.linspace(start, stop, num)
    nums = [float(f"{x:.12g}") for x in nums]  # no float noise in the written values
    vals = tuple({"value": x, "unit": unit} if unit else x for x in nums)
    shown = tuple(f"{x:.6g} {unit}".strip() for x in nums)  # the values keep 12 digits
    return Parameter(key, vals, shown, unit or default_unit)


def _range_unit(rg: dict, key: str, where: str, r: SpecReader) -> str:
    """A range's ``unit`` ('' for none): a unit, of a program key's dimension."""
    unit = rg.get("unit", "")
    if not isinstance(unit, str):
        raise r.err(f"{where}.range.unit", unit, "a unit string, e.g. 'degC', 'min', 'm/s'")
    if unit:
        try:
            parse_unit(unit)
        except UnitError as e:
            raise r.err(f"{where}.range.unit", unit, f"a unit ({e})") from None
        if key in PROGRAM_KEYS:
            dim = PROGRAM_KEYS[key][0]
            try:
                to_si(1.0, unit, dim)
            except UnitError as e:
                raise r.err(f"{where}.range.unit", unit, f"a {dim} unit ({e})") from None
    elif key in PROGRAM_KEYS:
        raise r.err(f"{where}.range.unit", "(missing)",
                    f"a {PROGRAM_KEYS[key][0]} unit, e.g. '{PROGRAM_KEYS[key][1]}'")
    return unit


def _reject(v: Any, dim: str) -> None:
    if isinstance(v, dict) and set(v) == {"value", "unit"}:
        to_si(v["value"], v["unit"], dim)
        return
    raise UnitError(f"{v!r} has no unit")


def _unit_of_key(key: str, cfg) -> str:
    if key in PROGRAM_KEYS:
        return PROGRAM_KEYS[key][1]
    s = cfg.settings.get(key)
    return s.unit if s is not None and isinstance(s.unit, str) else ""


def _case(n: int, values: dict, shown: dict, common: dict, base: Path | None, base_cfg,
          r: SpecReader, record: Record, job: str) -> Case:
    label = ", ".join(f"{k} = {v}" for k, v in shown.items())
    where = f"case {n} ({label})"
    expanded = expand_keys(values, base_cfg, r, f"case {n}")
    try:
        ov = case_overrides(common, expanded, base_cfg)
    except KeyError as e:
        raise r.err(f"case {n}", label, f"keys that exist in the configuration "
                    f"({e.args[0]})") from None
    try:
        cfg = load_config(base, ov)
    except ConfigError as e:
        inner = str(e).removeprefix("<overrides>: ")
        raise r.err(f"case {n}", label, f"a configuration the model accepts, but {inner}") from None
    si = {}
    for k in values:
        sk = PROGRAM_KEYS[k][2] if k in PROGRAM_KEYS else k
        s = cfg.settings.get(sk)
        if s is None and not any(x.startswith(sk + ".") or x.startswith(sk + "[")
                                 for x in cfg.settings):
            raise r.err(f"case {n}", label, f"a key the configuration uses ({k} is not one of its "
                        f"settings; see `fem-cell config`)")
        v = None if s is None else s.si_value
        si[k] = float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    if job == "anneal":
        T = cfg.anneal.duration
        for col, t in record.history:
            if not 0.0 <= t <= T + 1e-9:
                raise r.err("record.history", f"{col} at {format_number(t)} s",
                            f"times within the program of every case ({where} lasts "
                            f"{format_number(T)} s)")
    if job in ("anneal", "expose") and cfg.chemistry is None:
        needs = [k for k in record.summary if k.startswith(("R_interface", "H_"))]
        if needs:
            raise r.err("record.summary", needs, f"keys the case computes ({where} has no "
                        f"chemistry parameters)")
    cost = float(cfg.anneal.duration) if job == "anneal" else 1.0
    return Case(n, f"case{n:04d}", dict(shown), si, ov, cost)


# ------------------------------------------------------------------ record, plot --
def _record(raw: Any, r: SpecReader, job: str) -> Record:
    raw = r.table(raw, "record")
    r.keys(raw, "record", ("summary", "history"))
    known = summary_keys(job)
    summ = raw.get("summary", ["R_interface_ohm_cm2"])
    if not isinstance(summ, list) or not all(isinstance(s, str) for s in summ):
        raise r.err("record.summary", summ, "a list of summary keys")
    for s in summ:
        if s not in known:
            raise r.err("record.summary", s, f"a summary key of the {job} job, one of "
                        f"{sorted(known)}")
    hist = raw.get("history", [])
    if not isinstance(hist, list):
        raise r.err("record.history", hist, "a list of { column = ..., times = [...] }")
    if hist and job != "anneal":
        raise r.err("record.history", hist, "no history for the expose job (it has no time "
                    "loop); use record.summary")
    cols = history_columns()
    pairs = []
    for i, h in enumerate(hist):
        w = f"record.history[{i}]"
        h = r.table(h, w)
        r.keys(h, w, ("column", "times"))
        c = h.get("column")
        if c not in cols:
            raise r.err(f"{w}.column", c, f"a history column, one of {cols}")
        ts = h.get("times")
        if not isinstance(ts, list) or not ts:
            raise r.err(f"{w}.times", ts, "a non-empty list of times, e.g. ['10 min', '1 h']")
        for j, t in enumerate(ts):
            try:
                tv = parse_quantity(t, "time") if isinstance(t, str) else _reject(t, "time")
            except UnitError as e:
                raise r.err(f"{w}.times[{j}]", t, f"a time with a unit ({e})") from None
            pairs.append((c, tv))
    return Record(tuple(summ), tuple(pairs))


def _plot(raw: Any, r: SpecReader, record: Record, params, combine: str) -> PlotSpec:
    raw = r.table(raw, "plot")
    r.keys(raw, "plot", ("value", "log"))
    cols = list(record.summary) + [history_label(c, t) for c, t in record.history]
    value = raw.get("value", cols[0] if cols else None)
    if value is not None and value not in cols:
        raise r.err("plot.value", value, f"one of the recorded values {cols}")
    log = raw.get("log", False)
    if not isinstance(log, bool):
        raise r.err("plot.log", log, "true or false")
    return PlotSpec(value, log)


def _reach(raw: Any, r: SpecReader, record: Record, params, combine: str) -> dict | None:
    """``[summary] reach = { value, target, along, log = true }``: per level of the other
    parameter, the smallest ``along`` value where ``value`` falls to ``target``."""
    raw = r.table(raw, "summary")
    r.keys(raw, "summary", ("reach",))
    if "reach" not in raw:
        return None
    rc = r.table(raw["reach"], "summary.reach")
    r.keys(rc, "summary.reach", ("value", "target", "along", "log"))
    cols = list(record.summary) + [history_label(c, t) for c, t in record.history]
    if rc.get("value") not in cols:
        raise r.err("summary.reach.value", rc.get("value", "(missing)"),
                    f"one of the recorded values {cols}")
    t = rc.get("target")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or not math.isfinite(t):
        raise r.err("summary.reach.target", t if t is not None else "(missing)", "a number")
    keys = [p.key for p in params]
    if rc.get("along") not in keys:
        raise r.err("summary.reach.along", rc.get("along", "(missing)"),
                    f"one of the swept keys {keys}")
    if combine != "grid" or len(keys) > 2:
        raise r.err("summary.reach", rc, "a grid study of one or two parameters")
    log = rc.get("log", True)
    if not isinstance(log, bool):
        raise r.err("summary.reach.log", log, "true or false")
    return {"value": rc["value"], "target": float(t), "along": rc["along"], "log": log}


# ------------------------------------------------------------------ hashing -------
def _hash_text(raw: dict, base: Path | None, exclude=(), study_exclude=()) -> str:
    d = {k: v for k, v in raw.items() if k not in exclude}
    if "study" in d:
        d["study"] = {k: v for k, v in d["study"].items() if k not in study_exclude}
        d["study"].pop("base", None)
    d["__base__"] = base.read_text(encoding="utf-8") if base is not None else None
    return json.dumps(d, sort_keys=True, default=str)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def display_value(p: Parameter, si: float | None) -> float | None:
    """A case's SI value of ``p`` in its display unit (for tables and plots)."""
    if si is None:
        return None
    if not p.unit:
        return si
    try:
        return from_si(si, p.unit)
    except UnitError:
        return si


__all__ = ["COMBINE", "KINDS", "MAX_CASES", "PROGRAM_KEYS", "STUDY_KEYS", "TOP_KEYS", "Case",
           "FitSpec", "Parameter", "PlotSpec", "SpecError", "StudySpec", "case_overrides",
           "display_value", "expand_keys", "history_label", "load_spec", "program_segments"]
