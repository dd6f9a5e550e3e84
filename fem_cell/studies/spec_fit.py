"""The calibration part of a study spec (``kind = "calibration"``): its ``[[parameters]]``
(key, initial, lower, upper, log) and ``[[targets]]``, checked like the rest of the spec
(one-line :class:`~fem_cell.studies.spec_keys.SpecError`) before anything runs.

This module does not import dolfinx.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fem_cell.analysis.measured import MeasuredDataError, read_history, read_spectrum
from fem_cell.errors import UnitError
from fem_cell.studies.cases import JOBS, history_columns, spectrum_key, summary_keys
from fem_cell.studies.spec_keys import SpecReader, build_config, case_overrides, expand_keys
from fem_cell.units import from_si, parse_unit


@dataclass(frozen=True)
class FitSpec:
    """A calibration's parameters and targets (SI), see :mod:`fem_cell.studies.calibration`."""

    parameters: tuple = ()
    targets: tuple = ()
    #: ``"least_squares"`` or ``"posterior"`` (``[calibration] method``)
    method: str = "least_squares"
    #: the posterior sampler's settings (``[calibration]``)
    sampler: dict = field(default_factory=dict)
    #: the spec's ``[config]`` table (user-config structure), the calibration's base overrides
    config: dict = field(default_factory=dict)


def fit_spec(raw: dict, r: SpecReader, base: Path | None, common: dict, base_cfg,
             config: dict, root: Path | None = None) -> FitSpec:
    """``[[parameters]]`` (key, initial, lower, upper, log) and ``[[targets]]`` (name, job,
    overrides, quantity, value, sigma, transform, kind) of a calibration, as
    :class:`fem_cell.studies.calibration.FitParameter` / ``Target`` arguments (dicts; parameter
    values in ``unit``, the unit the base configuration writes the key in).  ``root``: the
    folder a target's relative ``data`` path is read from (the spec file's)."""
    params_raw = r.nonempty_list(raw.get("parameters"), "parameters",
                                 "one or more [[parameters]] with key, initial, lower, upper (log)")
    params = [_fit_parameter(p, i, r, base_cfg) for i, p in enumerate(params_raw)]
    targets_raw = r.nonempty_list(
        raw.get("targets"), "targets",
        "one or more [[targets]] with name, job, overrides, quantity, value, sigma")
    targets: list[dict] = []
    for i, t in enumerate(targets_raw):
        targets.extend(_fit_target(t, i, r, base, common, base_cfg,
                                   [x["name"] for x in targets], root))
    method, sampler = calibration_method(raw.get("calibration", {}), r)
    if method == "posterior" and sampler["walkers"] < 2 * len(params):
        raise r.err("calibration.walkers", sampler["walkers"],
                    f"at least twice the {len(params)} parameters")
    return FitSpec(tuple(params), tuple(targets), config=copy.deepcopy(config), method=method,
                   sampler=sampler)


def _fit_parameter(p: Any, i: int, r: SpecReader, base_cfg) -> dict:
    """One ``[[parameters]]`` table of a calibration: key, bounds in the key's unit (default:
    the cell file's plausible range), initial (default: the configuration's value), log,
    form (default: as the cell file writes the key), prior (``mean``, ``sd`` for normal)."""
    w = f"parameters[{i}]"
    p = r.table(p, w)
    r.keys(p, w, PARAMETER_KEYS)
    key = p.get("key")
    s = base_cfg.settings.get(key) if isinstance(key, str) else None
    if s is None or not isinstance(s.si_value, (int, float)) or isinstance(s.si_value, bool):
        raise r.err(f"{w}.key", key, "a numeric setting of the configuration, e.g. "
                    "'transport.exchange.velocity' (see `fem-cell config`)")
    si_unit = s.si_unit or "1"
    unit = s.unit if isinstance(s.unit, str) and s.unit else si_unit
    given_as = s.form
    form = r.choice(p.get("form", given_as), f"{w}.form", ("value", "prefactor"))
    if form != given_as and "initial" not in p:
        raise r.err(f"{w}.initial", "(missing)", f"an initial {form}: the configuration "
                    f"gives this key's {given_as}")
    plausible = base_cfg.plausible.get(key)
    if ("lower" in p) != ("upper" in p) or ("lower" not in p and plausible is None):
        raise r.err(w, {k: p.get(k) for k in ("lower", "upper")},
                    "lower and upper (this key has no plausible range in the cell file)")
    si = _bounds_si(p, w, r, si_unit, ("initial", "lower", "upper", "mean", "sd"))
    if "lower" not in p:
        si["lower"], si["upper"] = plausible
    vals = {k: _in_unit(x, unit) for k, x in si.items() if k in ("initial", "lower", "upper")}
    vals.setdefault("initial", float(s.value) if form == given_as and s.unit == unit
                    else _in_unit(float(s.si_value), unit))
    log = p.get("log", True)
    if not isinstance(log, bool):
        raise r.err(f"{w}.log", log, "true or false")
    if not vals["lower"] <= vals["initial"] <= vals["upper"]:
        raise r.err(w, {k: p.get(k, vals[k]) for k in ("initial", "lower", "upper")},
                    "lower <= initial <= upper")
    if not vals["lower"] < vals["upper"]:
        raise r.err(w, {k: p.get(k, vals[k]) for k in ("lower", "upper")}, "lower < upper")
    if log and not vals["lower"] > 0:
        raise r.err(f"{w}.lower", p.get("lower", vals["lower"]), "a value > 0 for log = true")
    prior = r.choice(p.get("prior", "auto"), f"{w}.prior",
                     ("auto", "uniform", "log-uniform", "normal"))
    if (prior == "normal") != ("mean" in p and "sd" in p) or (
            prior != "normal" and ("mean" in p or "sd" in p)):
        raise r.err(f"{w}.prior", prior, "'normal' with mean and sd, or another prior "
                    "without them")
    if prior == "log-uniform" and not vals["lower"] > 0:
        raise r.err(f"{w}.prior", prior, "a prior for lower > 0")
    mean = _in_unit(si["mean"], unit) if "mean" in si else None
    sd = _in_unit(si["sd"], unit) if "sd" in si else None
    if sd is not None and not sd > 0:
        raise r.err(f"{w}.sd", p["sd"], "a value > 0")
    return {"key": key, **vals, "log": log, "unit": unit, "form": form, "prior": prior,
            "prior_mean": mean, "prior_sd": sd}


#: the keys of a calibration's ``[[parameters]]`` table
PARAMETER_KEYS = ("key", "initial", "lower", "upper", "log", "form", "prior", "mean", "sd")
#: ``[calibration]``: the method and the posterior sampler's settings
METHODS = ("least_squares", "posterior")
SAMPLER_KEYS = {"walkers": 16, "steps": 200, "burn": None, "seed": 1, "init": "ball",
                "init_spread": 0.05}
#: ``[calibration] surrogate = "gp"``: its sizes (``surrogate_<field>``, defaults of
#: :class:`fem_cell.studies.surrogate.SurrogateSettings`)
SURROGATE_KEYS = ("points", "rounds", "refine", "check")
SURROGATES = ("none", "gp")


def calibration_method(raw: Any, r: SpecReader) -> tuple[str, dict]:
    """``[calibration]`` (method = "least_squares" | "posterior", and for the posterior the
    sampler's walkers, steps, burn, seed, init, init_spread, and surrogate = "none" | "gp"
    with surrogate_points, _rounds, _refine, _check) → (method, sampler settings)."""
    t = r.table(raw, "calibration")
    r.keys(t, "calibration", ("method", *SAMPLER_KEYS, "surrogate",
                              *(f"surrogate_{k}" for k in SURROGATE_KEYS)))
    method = r.choice(t.get("method", "least_squares"), "calibration.method", METHODS)
    sampler = dict(SAMPLER_KEYS)
    for k in ("walkers", "steps", "burn", "seed"):
        if k in t:
            v = t[k]
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise r.err(f"calibration.{k}", v, "a whole number >= 0")
            sampler[k] = v
    if "init" in t:
        sampler["init"] = r.choice(t["init"], "calibration.init", ("ball", "prior"))
    if "init_spread" in t:
        v = t["init_spread"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 < v <= 1:
            raise r.err("calibration.init_spread", v, "a number in (0, 1]")
        sampler["init_spread"] = float(v)
    kind = r.choice(t.get("surrogate", "none"), "calibration.surrogate", SURROGATES)
    sizes = {}
    for k in SURROGATE_KEYS:
        key = f"surrogate_{k}"
        if key in t:
            v = t[key]
            lo = 0 if k == "rounds" else 1
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= 10_000:
                raise r.err(f"calibration.{key}", v, f"a whole number from {lo} to 10000")
            if kind == "none":
                raise r.err(f"calibration.{key}", v, "only with surrogate = 'gp'")
            sizes[k] = v
    if kind == "gp":
        sampler["surrogate"] = {**sizes, "seed": sampler["seed"]}
    if method == "least_squares" and set(t) - {"method"}:
        raise r.err("calibration", sorted(set(t) - {"method"}), "sampler settings only with "
                    "method = 'posterior'")
    w, st, b = sampler["walkers"], sampler["steps"], sampler["burn"]
    if w < 2 or w % 2:
        raise r.err("calibration.walkers", w, "an even number >= 2 (and >= 2 x parameters)")
    if st < 2:
        raise r.err("calibration.steps", st, "at least 2")
    if b is not None and not b < st:
        raise r.err("calibration.burn", b, f"fewer than steps ({st})")
    return method, sampler


def _bounds_si(p: dict, w: str, r: SpecReader, si_unit: str,
               names: tuple[str, ...]) -> dict[str, float]:
    """SI values of those of ``names`` the table has (quantities with a unit of
    ``si_unit``'s dimension, or numbers taken as SI)."""
    vals = {}
    for k in names:
        if k not in p:
            continue
        v = p[k]
        try:
            if isinstance(v, str):
                vals[k] = _si_like(v, si_unit)
            elif isinstance(v, (int, float)) and not isinstance(v, bool):
                vals[k] = float(v)  # taken as SI
            else:
                raise UnitError(f"{v!r} is not a quantity")
        except UnitError as e:
            raise r.err(f"{w}.{k}", v, f"a value in a unit of {si_unit} ({e})") from None
    return vals


#: the keys of a ``[[targets]]`` table (``data``: a measured R(t) history instead of
#: ``quantity`` and ``value``)
TARGET_KEYS = ("name", "job", "overrides", "quantity", "value", "sigma", "transform", "kind",
               "data", "area_cm2", "units", "imag_sign", "spectrum", "state", "temperature")


def _fit_target(t: Any, i: int, r: SpecReader, base: Path | None, common: dict, base_cfg,
                names: list[str], root: Path | None = None) -> list[dict]:
    """One ``[[targets]]`` table of a calibration (``names``: the targets before it); its
    overrides must make a valid configuration.  A table with ``data`` (a measured R(t)
    history, :func:`fem_cell.analysis.measured.read_history`) becomes one target per
    measured point."""
    w = f"targets[{i}]"
    t = r.table(t, w)
    r.keys(t, w, TARGET_KEYS)
    name = t.get("name", f"target{i}")
    if not isinstance(name, str) or not name:
        raise r.err(f"{w}.name", name, "a non-empty string")
    if name in names:
        raise r.err(f"{w}.name", name, "a name no other target has")
    job = r.choice(t.get("job", "anneal"), f"{w}.job", JOBS)
    if job == "impedance":
        return _spectrum_targets(t, w, r, base, common, base_cfg, name, root)
    for k in ("units", "imag_sign", "spectrum", "state", "temperature"):
        if k in t:
            raise r.err(f"{w}.{k}", t[k], "only for a measured spectrum (job = 'impedance')")
    if "data" in t:
        return _history_targets(t, w, r, base, common, base_cfg, name, job, root)
    if "area_cm2" in t:
        raise r.err(f"{w}.area_cm2", t["area_cm2"], "only with data (a history in Ohm)")
    transform = r.choice(t.get("transform", "log"), f"{w}.transform", ("log", "linear"))
    kind = r.choice(t.get("kind", "equal"), f"{w}.kind", ("equal", "at_least", "at_most"))
    r.table(t.get("overrides", {}), f"{w}.overrides")
    q = t.get("quantity", "R_interface_ohm_cm2")
    bad = _bad_quantity(q, job)
    if bad:
        raise r.err(f"{w}.quantity", q, f"a recorded value of the {job} job: a summary "
                    f"key, '<history column>@<t>s' or 'a/b' ({bad})")
    _check_value_sigma(t, w, r, transform)
    expanded, _ = _case_overrides(t, w, r, base, common, base_cfg)
    return [{"name": name, "overrides": expanded, "job": job, "quantity": q,
             "value": float(t["value"]), "sigma": float(t["sigma"]),
             "transform": transform, "kind": kind}]


def _data_path(t: dict, w: str, r: SpecReader, root: Path | None, what: str) -> Path:
    path = t.get("data")
    if not isinstance(path, str) or not path:
        raise r.err(f"{w}.data", path if path is not None else "(missing)", f"a CSV file of {what}")
    return Path(path) if Path(path).is_absolute() or root is None else root / path


def _area(t: dict, w: str, r: SpecReader) -> float | None:
    """A target's ``area_cm2`` (a number; None when not given)."""
    area = t.get("area_cm2")
    if area is not None and (isinstance(area, bool) or not isinstance(area, (int, float))):
        raise r.err(f"{w}.area_cm2", area, "a number (cm2)")
    return area


def _relative_sigma(t: dict, w: str, r: SpecReader, what: str) -> float:
    sigma = t.get("sigma")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise r.err(f"{w}.sigma", sigma if sigma is not None else "(missing)",
                    f"a relative uncertainty > 0 of the measured {what} (0.05 = 5 %)")
    return float(sigma)


def _case_overrides(t: dict, w: str, r: SpecReader, base: Path | None, common: dict,
                    base_cfg):
    """A target's overrides, expanded, and the configuration they make."""
    ov = r.table(t.get("overrides", {}), f"{w}.overrides")
    expanded = expand_keys(ov, base_cfg, r, w)
    try:
        full = case_overrides(common, expanded, base_cfg)
    except KeyError as e:
        raise r.err(f"{w}.overrides", ov, f"keys of the configuration ({e.args[0]})") from None
    return expanded, build_config(base, full, r, f"{w}.overrides", "a valid configuration", ov)


def _spectrum_targets(t: dict, w: str, r: SpecReader, base: Path | None, common: dict,
                      base_cfg, name: str, root: Path | None) -> list[dict]:
    """A measured spectrum as targets (``job = "impedance"``): per frequency Z′ and Z″ of
    the model's spectrum of ``state`` at ``temperature`` equal to the measured ones, each
    with σ = ``sigma`` · |Z_data| (the modulus weighting of ``fem-cell fit-spectrum``)."""
    for k in ("quantity", "value", "transform", "kind"):
        if k in t:
            raise r.err(f"{w}.{k}", t[k], "nothing: a spectrum target's file gives the "
                        "quantities and the values (Z' and Z'' per frequency)")
    sigma = _relative_sigma(t, w, r, "impedances")
    p = _data_path(t, w, r, root, "a measured spectrum")
    units = t.get("units")
    if units is not None and units not in ("ohm", "ohm_cm2"):
        raise r.err(f"{w}.units", units, "'ohm' or 'ohm_cm2'")
    sign = t.get("imag_sign")
    if sign is not None and sign not in (1, -1):
        raise r.err(f"{w}.imag_sign", sign, "1 or -1")
    area = _area(t, w, r)
    try:
        s = read_spectrum(p, units=units, area_cm2=area, imag_sign=sign,
                          spectrum=t.get("spectrum"))
    except MeasuredDataError as e:
        raise r.err(f"{w}.data", t.get("data"), f"a readable spectrum ({e})") from None
    state = t.get("state", "pristine")
    if state not in ("pristine", "exposed"):
        if not isinstance(state, str) or not (root / state if root else Path(state)).exists():
            raise r.err(f"{w}.state", state, "'pristine', 'exposed' or a checkpoint / run "
                        "folder")
        state = str(root / state if root and not Path(state).is_absolute() else state)
    T = t.get("temperature", "25 degC")
    try:
        T_K = _si_like(T, "K") if isinstance(T, str) else None
    except UnitError:
        T_K = None
    if T_K is None or not 173.15 <= T_K <= 673.15:
        raise r.err(f"{w}.temperature", T, "a temperature with a unit from -100 to 400 degC, "
                    "e.g. '25 degC'")
    expanded, _ = _case_overrides(t, w, r, base, common, base_cfg)
    case = {"state": state, "temperature": T_K}
    out = []
    for f, z in zip(s.frequencies, s.Z_ohm_cm2, strict=True):
        for part, v, label in (("Z_real_ohm_cm2", z.real, "Z'"),
                               ("Z_imag_ohm_cm2", z.imag, "Z''")):
            out.append({"name": f"{name} {label} @ {f:.6g} Hz", "overrides": expanded,
                        "job": "impedance", "quantity": spectrum_key(part, f),
                        "value": float(v), "sigma": sigma * float(abs(z)),
                        "transform": "linear", "kind": "equal", "case": case})
    return out


def _history_targets(t: dict, w: str, r: SpecReader, base: Path | None, common: dict,
                     base_cfg, name: str, job: str, root: Path | None) -> list[dict]:
    """A measured R(t) history as targets: per point, ``<R column>@<t>s`` of the anneal
    (the column the file's resistance names: at 25 °C or at temperature) equal to the
    measured value, ``sigma`` relative (log transform)."""
    for k in ("quantity", "value", "transform", "kind"):
        if k in t:
            raise r.err(f"{w}.{k}", t[k], "nothing: with data the file gives the quantity "
                        "and the values (one log target per point)")
    if job != "anneal":
        raise r.err(f"{w}.job", job, "'anneal' for a measured R(t) history")
    sigma = _relative_sigma(t, w, r, "resistances")
    area = _area(t, w, r)
    p = _data_path(t, w, r, root, "a measured R(t) history")
    try:
        h = read_history(p, area_cm2=area)
    except MeasuredDataError as e:
        raise r.err(f"{w}.data", t["data"], f"a readable R(t) history ({e})") from None
    expanded, cfg = _case_overrides(t, w, r, base, common, base_cfg)
    end = cfg.anneal.duration if cfg is not None else float("inf")
    late = h.times[h.times > end * (1 + 1e-9)]
    if late.size:
        raise r.err(f"{w}.data", t["data"], f"times within the anneal program (it ends at "
                    f"{end:g} s; the file has {late[0]:g} s)")
    return [{"name": f"{name} @ {tp:g} s", "overrides": expanded, "job": job,
             "quantity": f"{h.model_column}@{tp:g}s", "value": float(Rp),
             "sigma": sigma, "transform": "log", "kind": "equal"}
            for tp, Rp in zip(h.times, h.R_ohm_cm2, strict=True)]


def _check_value_sigma(t: dict, w: str, r: SpecReader, transform: str) -> None:
    """A target's ``value`` and ``sigma``: finite numbers, sigma > 0, value > 0 for log."""
    for k in ("value", "sigma"):
        v = t.get(k)
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise r.err(f"{w}.{k}", v if v is not None else "(missing)", "a number")
    if not t["sigma"] > 0:
        raise r.err(f"{w}.sigma", t["sigma"], "a number > 0 (relative for transform = "
                    "'log', in the quantity's unit for 'linear')")
    if transform == "log" and not t["value"] > 0:
        raise r.err(f"{w}.value", t["value"], "a value > 0 for transform = 'log'")


def _in_unit(si: float, unit: str) -> float:
    return float(f"{from_si(si, unit):.12g}") if unit not in ("", "1") else si


def _bad_quantity(q: Any, job: str) -> str:
    """Why ``q`` is not a recorded value of ``job`` ('' when it is)."""
    if not isinstance(q, str) or not q.strip():
        return "not a string"
    for part in q.split("/"):
        part = part.strip()
        m = re.fullmatch(r"(?P<col>[A-Za-z_][A-Za-z0-9_]*)@(?P<t>[-+0-9.eE]+)s", part)
        if m:
            if job != "anneal":
                return f"{part}: history values need the anneal job"
            if m["col"] not in history_columns():
                return f"{m['col']} is not a history column ({history_columns()})"
            continue
        if part not in summary_keys(job):
            return f"{part} is not one of {sorted(summary_keys(job))}"
    return ""


def _si_like(text: str, si_unit: str) -> float:
    """SI value of ``text`` whose unit must have the dimension of ``si_unit``."""
    from fem_cell.units import _QUANTITY

    m = _QUANTITY.match(text)
    if not m:
        raise UnitError(f"{text!r} is not '<number> <unit>'")
    num, unit = m.groups()
    u, ref = parse_unit(unit or "1"), parse_unit(si_unit)
    if u.dims != ref.dims:
        raise UnitError(f"unit {unit or '1'!r} does not match {si_unit!r}")
    return float(num) * u.factor + u.offset


__all__ = ["FitSpec", "fit_spec"]
