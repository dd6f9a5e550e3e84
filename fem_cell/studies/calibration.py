"""Weighted least-squares calibration of configuration parameters against target values of
study cases.

A calibration has

* **free parameters** (:class:`FitParameter`): dotted configuration keys
  (``"transport.exchange.velocity"``) with bounds, fitted in log10 space (``log=True``,
  positive rate-like quantities) or linearly (activation energies);
* **targets** (:class:`Target`): a recorded value of one case (a job run with this target's
  configuration overrides) and what it should be — equal to a value within ``sigma``, or at
  least / at most a value (one-sided hinge);
* **a base configuration** on which every case runs.

:func:`calibrate` minimises ½ Σ r_i² with :func:`scipy.optimize.least_squares` (bounds
respected; the optimiser sees every parameter scaled to [0, 1] over its bounds in its fit
space), and returns a :class:`CalibrationResult` with the fitted values, standard errors
from the Jacobian at the optimum, and the residual of every target.

Units
-----
Parameter values (``initial``, ``lower``, ``upper``, the fitted value) are numbers **in the
parameter's ``unit``** — a unit string the configuration understands (``"m/s"``, ``"eV"``,
``"nm"``, ``"1"``).  ``unit=None`` takes the unit the base configuration writes the key in
(the cell file's ``unit``; for ``transport.exchange.velocity`` that is ``"m/s"``), and
``initial=None`` takes the base configuration's value.  A case receives a parameter as the
override ``{value = v, unit = "<unit>"}`` (dimensionless: a bare number), so the
configuration's own validation and unit conversion apply unchanged.

Residuals
---------
With ``f`` the target's transform (``"log"``: natural log, ``"linear"``: identity),
``d = (f(model) − f(value)) / sigma``:

* ``kind="equal"``:    r = d;
* ``kind="at_least"``: r = min(d, 0) — zero (and without gradient) while satisfied;
* ``kind="at_most"``:  r = max(d, 0).

So ``sigma`` is a **relative** tolerance for ``transform="log"`` (0.05 ≈ 5 %) and an absolute
one, in the quantity's unit, for ``"linear"``.

Quantities
----------
A target's ``quantity`` names a value :func:`fem_cell.studies.cases.run_case` records: a
summary value (``"R_interface_ohm_cm2"`` = final value of an anneal,
``"R_interface_ohm_cm2_initial"``, ``"H_LiCoO2_removed_fraction"``, …), a history column at
a time (``"R_interface_ohm_cm2@604800s"``), or the ratio of two of them
(``"R_interface_ohm_cm2@604800s/R_interface_ohm_cm2_initial"``).  Targets with the same
job and overrides share one case run per evaluation.

Standard errors
---------------
With J the Jacobian of the weighted residuals with respect to the fit-space parameters
(log10 of the value, or the value) at the optimum, the covariance is
``s² (JᵀJ)⁻¹`` (pseudo-inverse by SVD; directions with singular values below 1e-8 of the
largest are reported as not identifiable, error ``inf``).  ``s²`` is the residual variance
``Σ r² / (m − n)`` over the m *active* targets (one-sided targets that hold are inactive:
they carry no information at the optimum) when m > n.  When the problem is exactly
determined (m = n) or under-determined, there is no residual variance to estimate: ``s² = 1``
is used, i.e. the errors are the target sigmas propagated through the Jacobian — how far each
parameter moves when the targets move by one sigma.  ``error_basis`` in the result says which
was used.  The errors are linear: for a log parameter the error is a factor
``10**stderr_log10`` (``stderr`` gives the linearised absolute error value·ln10·σ).

The Jacobian is by forward differences in fit space, step ``fd_step`` × (upper − lower)
(default 1e-3: e.g. 0.006 decades over 6 decades; far above the time-stepping noise of
the cases, far below the scale of their nonlinearity); evaluations are cached, so the
optimiser's evaluation at the current point is reused.

MPI
---
Every case runs on the full ``comm`` (collectively).  Rank 0 drives the optimiser and
broadcasts each point to evaluate; the other ranks evaluate in step; the result is
broadcast, so it is identical on all ranks.  Only rank 0 prints and writes files.
"""

from __future__ import annotations

import copy
import functools
import gc
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.config import deep_merge as _deep_merge
from fem_cell.config import load_config
from fem_cell.config.keys import set_by_key
from fem_cell.config.posterior_draws import override_value
from fem_cell.solvers.problem import collect_garbage
from fem_cell.studies import cases as _cases
from fem_cell.studies.calibration_result import (
    CalibrationResult,
    Optimum,
    calibration_result,
    jsonable,
)
from fem_cell.studies.cases import IMPEDANCE_OPTIONS, JOBS, Record, spectrum_key
from fem_cell.units import format_duration, from_si

__all__ = ["FitParameter", "Target", "CalibrationResult", "CalibrationError", "calibrate",
           "evaluate_targets", "parse_quantity_name", "residual_of"]

KINDS = ("equal", "at_least", "at_most")
PRIORS = ("auto", "uniform", "log-uniform", "normal")
TRANSFORMS = ("log", "linear")
#: the output settings of every calibration case (no files, no field breakpoints)
QUIET_OUTPUT = {"output": {"fields": False, "plots": False, "render": False,
                           "field_interval": "0 s"}}


class CalibrationError(RuntimeError):
    """A calibration that cannot be set up (bad parameter, target or quantity)."""


# ----------------------------------------------------------------- definitions ----
@dataclass(frozen=True)
class FitParameter:
    """A free parameter: a dotted configuration key, its bounds and fit space.

    Attributes:
        key: dotted configuration key, e.g. ``"transport.exchange.velocity"``.
        initial: start value in ``unit``; None = the base configuration's value.
        lower: lower bound in ``unit`` (> 0 when ``log``).
        upper: upper bound in ``unit``.
        log: fit log10(value) (rates, diffusivities); False: fit the value (energies).
        unit: unit string of the values; None = the unit the base configuration uses.
        form: ``"value"`` or, for an Arrhenius rate, ``"prefactor"``: the fitted number is
            the rate's prefactor k(T → ∞) (written ``{ prefactor = ..., unit = ... }``).
        prior: prior of a posterior calibration (:mod:`fem_cell.studies.posterior`):
            ``"uniform"`` on [lower, upper], ``"log-uniform"``, ``"normal"`` (truncated
            to the bounds) or ``"auto"`` (log-uniform when ``log``, else uniform).  The
            least-squares calibration ignores it.
        prior_mean, prior_sd: the normal prior's mean and standard deviation (``unit``).
    """

    key: str
    initial: float | None = None
    lower: float = field(default=-math.inf, kw_only=True)
    upper: float = field(default=math.inf, kw_only=True)
    log: bool = field(default=True, kw_only=True)
    unit: str | None = field(default=None, kw_only=True)
    form: str = field(default="value", kw_only=True)
    prior: str = field(default="auto", kw_only=True)
    prior_mean: float | None = field(default=None, kw_only=True)
    prior_sd: float | None = field(default=None, kw_only=True)

    def __post_init__(self):
        if self.prior not in PRIORS:
            raise CalibrationError(f"{self.key}: prior {self.prior!r}: one of {PRIORS}")
        if self.prior == "normal" and not (
                self.prior_mean is not None and math.isfinite(self.prior_mean)
                and self.prior_sd is not None and self.prior_sd > 0):
            raise CalibrationError(f"{self.key}: a normal prior needs a finite prior_mean and "
                                   f"prior_sd > 0 (got {self.prior_mean}, {self.prior_sd})")
        if self.prior != "normal" and (self.prior_mean is not None
                                       or self.prior_sd is not None):
            raise CalibrationError(f"{self.key}: prior_mean/prior_sd belong to a normal prior "
                                   f"(prior is {self.prior!r})")
        if self.prior == "log-uniform" and not self.lower > 0:
            raise CalibrationError(f"{self.key}: a log-uniform prior needs lower > 0 "
                                   f"(got {self.lower})")
        if self.form not in ("value", "prefactor"):
            raise CalibrationError(f"{self.key}: form {self.form!r}: expected 'value' or "
                                   "'prefactor'")
        if not (math.isfinite(self.lower) and math.isfinite(self.upper)
                and self.lower < self.upper):
            raise CalibrationError(f"{self.key}: bounds must be finite with lower < upper "
                                   f"(got {self.lower}, {self.upper})")
        if self.log and self.lower <= 0:
            raise CalibrationError(f"{self.key}: log=True needs lower > 0 (got {self.lower})")
        if self.initial is not None and not self.lower <= self.initial <= self.upper:
            raise CalibrationError(f"{self.key}: initial {self.initial} outside "
                                   f"[{self.lower}, {self.upper}]")

    def to_fit(self, value: float) -> float:
        """Value (in ``unit``) → fit space (log10 or the value)."""
        return math.log10(value) if self.log else float(value)

    def from_fit(self, p: float) -> float:
        """Fit space → value in ``unit``."""
        return float(10.0 ** p) if self.log else float(p)


@dataclass(frozen=True)
class Target:
    """What one recorded value of one case should be.

    Attributes:
        name: label (unique within a calibration).
        overrides: dotted configuration keys → values for this target's case (an anneal
            program, an exposure, solver settings), on top of the base overrides.
        job: ``"anneal"`` or ``"expose"``.
        quantity: recorded value name, ``"<column>@<t>s"`` history value, or ``"a/b"``.
        value: target value (the quantity's unit, e.g. Ω cm²).
        sigma: tolerance: relative for ``transform="log"``, absolute for ``"linear"``.
        transform: ``"log"`` or ``"linear"``.
        kind: ``"equal"``, ``"at_least"`` or ``"at_most"`` (one-sided hinge).
        case: options of the case beyond the configuration (the ``"impedance"`` job's
            ``state`` and ``temperature`` in K); part of the case's identity.
    """

    name: str
    overrides: Mapping[str, Any] = field(default_factory=dict)
    job: str = "anneal"
    quantity: str = "R_interface_ohm_cm2"
    value: float = 0.0
    sigma: float = 1.0
    transform: str = "log"
    kind: str = "equal"
    case: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self):
        if self.job not in JOBS:
            raise CalibrationError(f"target {self.name}: job {self.job!r} not one of {JOBS}")
        if self.transform not in TRANSFORMS:
            raise CalibrationError(f"target {self.name}: transform {self.transform!r} not one "
                                   f"of {TRANSFORMS}")
        if self.kind not in KINDS:
            raise CalibrationError(f"target {self.name}: kind {self.kind!r} not one of {KINDS}")
        if not self.sigma > 0:
            raise CalibrationError(f"target {self.name}: sigma must be > 0 (got {self.sigma})")
        if self.transform == "log" and not self.value > 0:
            raise CalibrationError(f"target {self.name}: transform 'log' needs value > 0")
        allowed = IMPEDANCE_OPTIONS if self.job == "impedance" else ()
        bad = sorted(set(self.case) - set(allowed))
        if bad:
            raise CalibrationError(f"target {self.name}: case options {bad} (the {self.job} "
                                   f"job takes {list(allowed) or 'none'})")
        parse_quantity_name(self.quantity)

    def case_key(self) -> str:
        """Identifies the case (job + overrides): targets with equal keys share a run."""
        return json.dumps([self.job, jsonable(self.overrides), jsonable(self.case)],
                          sort_keys=True)


def parse_quantity_name(quantity: str) -> tuple[list[str], list[tuple[str, float]]]:
    """Summary names and (column, time) history requests a quantity needs.

    ``"a"`` → one value; ``"a/b"`` → the ratio; each part is a summary name,
    ``"<column>@<time>s"`` or, for the impedance job, ``"<part>@<f>Hz"`` (returned among
    the history requests as (part, f)).

    Raises:
        CalibrationError: an empty part or an unparsable time.
    """
    parts = quantity.split("/")
    if len(parts) > 2 or not all(p.strip() for p in parts):
        raise CalibrationError(f"quantity {quantity!r}: expected 'name', 'col@<t>s' or 'a/b'")
    summary, history = [], []
    for p in parts:
        p = p.strip()
        if "@" in p:
            col, t = p.split("@", 1)
            n = 2 if t.endswith("Hz") else 1
            if not (t.endswith("s") or t.endswith("Hz")):
                raise CalibrationError(f"quantity {quantity!r}: time must be in s ('{col}@600s')"
                                       f" or a frequency in Hz ('{col}@1000Hz')")
            try:
                history.append((col, float(t[:-n])))
            except ValueError:
                raise CalibrationError(f"quantity {quantity!r}: bad time {t!r}") from None
        else:
            summary.append(p)
    return summary, history


def quantity_value(quantity: str, values: Mapping[str, float]) -> float:
    """Value of a quantity from a case's recorded values (see :func:`parse_quantity_name`)."""
    def one(p: str) -> float:
        p = p.strip()
        if "@" in p:
            col, t = p.split("@", 1)
            p = (spectrum_key(col, float(t[:-2])) if t.endswith("Hz")
                 else f"{col}@{float(t[:-1]):g}s")
        if p not in values:
            raise CalibrationError(f"the case recorded no {p!r}; it has {sorted(values)}")
        return float(values[p])

    parts = quantity.split("/")
    v = one(parts[0])
    return v / one(parts[1]) if len(parts) == 2 else v


def residual_of(target: Target, model: float) -> float:
    """Weighted residual of one target (see the module docstring)."""
    if not np.isfinite(model):
        raise CalibrationError(f"target {target.name}: model value {model} is not finite")
    if target.transform == "log":
        if model <= 0:
            raise CalibrationError(f"target {target.name}: model value {model} <= 0 with a "
                                   f"log transform")
        d = (math.log(model) - math.log(target.value)) / target.sigma
    else:
        d = (model - target.value) / target.sigma
    if target.kind == "at_least":
        return min(d, 0.0)
    if target.kind == "at_most":
        return max(d, 0.0)
    return d


# ----------------------------------------------------------------- case evaluation -
def _base_user_dict(base_config) -> tuple[str | Path | None, dict]:
    """(path for load_config, user-config dict) of a base configuration."""
    if base_config is None or isinstance(base_config, (str, Path)):
        return base_config, {}
    if isinstance(base_config, Mapping):
        return None, copy.deepcopy(dict(base_config))
    raise CalibrationError("base_config must be None (built-in default cell), a user-config "
                           f"path or a user-config dict; got {type(base_config).__name__}")


def _override_value(p: FitParameter, unit: str, value: float):
    return override_value(p.form, unit, value)


def apply_overrides(user: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict:
    """A deep copy of the user-config dict ``user`` with ``overrides`` applied.

    A dotted key (``"transport.exchange.velocity"``, ``"anneal.segments"``) sets that value
    (replacing it whole, e.g. a ``{value, unit}`` table); a plain key whose value is a table
    (``"mesh": {"cells_per_layer": 32}``, i.e. the user-config structure) is merged into
    the existing table key by key.
    """
    d = copy.deepcopy(dict(user))
    for k, v in overrides.items():
        if "." not in k and "[" not in k and isinstance(v, Mapping):
            d[k] = _deep_merge(d.get(k, {}) if isinstance(d.get(k), dict) else {}, v)
        else:
            set_by_key(d, k, copy.deepcopy(v))
    return d


def case_config(base_config, *overrides: Mapping[str, Any]):
    """The validated RunConfig of a base configuration + override layers applied in order
    (each as in :func:`apply_overrides`)."""
    path, user = _base_user_dict(base_config)
    for layer in overrides:
        user = apply_overrides(user, layer)
    return load_config(path, overrides=user)


def default_case_runner(base_config, overrides, job: str, record, comm):
    """Run one case (collective on ``comm``) and return its recorded values.

    ``overrides``: one mapping or a sequence of mappings applied in order (see
    :func:`case_config`).  The case's solvers are destroyed by the job itself; what is
    left (meshes, forms, with their duplicated communicators) is collected afterwards
    (:func:`~fem_cell.solvers.problem.collect_garbage`): MPI allows only ~2000
    communicators per process, so a leak per case would end a long calibration.  What
    survives the collection is frozen, so the next case's collection scans only what
    that case made (a full one took 33–44 ms of a 0.3–0.4 s 1-D case, a frozen one
    0.6 ms); :func:`calibrate` and
    :func:`~fem_cell.studies.posterior.sample_posterior` unfreeze when they end.
    """
    try:
        layers = [overrides] if isinstance(overrides, Mapping) else list(overrides)
        return _cases.run_case(case_config(base_config, *layers), comm, job, record)
    finally:
        collect_garbage(comm, freeze=True)


@dataclass(frozen=True)
class CaseGroup:
    """Targets that share one run (equal :meth:`Target.case_key`) and what it records."""

    targets: tuple[Target, ...]
    summary: tuple[str, ...]
    history: tuple[tuple[str, float], ...]


def case_plan(targets: Sequence[Target]) -> tuple[CaseGroup, ...]:
    """The runs the targets need, in their first target's order (each case once)."""
    groups: dict[str, list[Target]] = {}
    for t in targets:
        groups.setdefault(t.case_key(), []).append(t)
    plan = []
    for group in groups.values():
        summary, history = [], []
        for t in group:
            s, h = parse_quantity_name(t.quantity)
            summary += [x for x in s if x not in summary]
            history += [x for x in h if x not in history]
        plan.append(CaseGroup(tuple(group), tuple(summary), tuple(history)))
    return tuple(plan)


def evaluate_targets(base_config, targets: Sequence[Target], values: Mapping[str, Any],
                     comm, *, base_overrides: Mapping[str, Any] | None = None,
                     runner: Callable | None = None,
                     plan: Sequence[CaseGroup] | None = None) -> dict[str, float]:
    """Model value of every target with the given parameter overrides (collective).

    Args:
        base_config: None (built-in default cell), a user-config path, or a user-config dict.
        targets: the targets.
        values: dotted key → override value (as a config accepts it) of the parameters.
        comm: communicator every case runs on.
        base_overrides: overrides for every case (before the target's): dotted keys, or
            the user-config structure (``{"mesh": {"cells_per_layer": 32}}``).
        runner: ``runner(base_config, overrides, job, record, comm) -> dict`` (default: the
            in-process case of :func:`fem_cell.studies.cases.run_case`); ``overrides`` is
            the list [quiet output, base overrides, target overrides, parameter values],
            applied in that order (:func:`apply_overrides`).
        plan: :func:`case_plan` of ``targets`` (computed here if not given; a sampler
            that evaluates the same targets many times computes it once).

    Returns:
        target name → model value.
    """
    runner = runner or default_case_runner
    out: dict[str, float] = {}
    for group in case_plan(targets) if plan is None else plan:
        first = group.targets[0]
        ov = [QUIET_OUTPUT, dict(base_overrides or {}), dict(first.overrides), dict(values)]
        rec = runner(base_config, ov, first.job,
                     Record(group.summary, group.history, dict(first.case)), comm)
        for t in group.targets:
            out[t.name] = quantity_value(t.quantity, rec)
    return out


# ----------------------------------------------------------------- driver ---------
def _resolve(parameters: Sequence[FitParameter], base_config, base_overrides, comm):
    """(units, initial values) of the parameters, from the base configuration as needed."""
    need = [p for p in parameters if p.unit is None or p.initial is None]
    settings = {}
    if need:
        cfg = None
        if comm.rank == 0:
            try:
                cfg = case_config(base_config, dict(base_overrides or {}))
            except Exception as e:  # noqa: BLE001 — broadcast and re-raise on every rank
                cfg = e
        cfg = comm.bcast(None if cfg is None else (cfg if isinstance(cfg, Exception) else
                                                   {p.key: cfg.settings.get(p.key)
                                                    for p in need}), root=0)
        if isinstance(cfg, Exception):
            raise cfg
        settings = cfg
    units, initial = [], []
    for p in parameters:
        s = settings.get(p.key)
        if (p.unit is None or p.initial is None) and s is None:
            raise CalibrationError(f"{p.key}: not a setting of the base configuration; give "
                                   f"unit and initial explicitly")
        unit = p.unit if p.unit is not None else (s.unit or "1")
        if p.initial is not None:
            x0 = float(p.initial)
        elif p.form == "prefactor" and s.form != "prefactor":
            raise CalibrationError(f"{p.key}: the base configuration gives its value, not its "
                                   "prefactor; give the initial prefactor explicitly")
        elif p.form == "value" and s.form == "prefactor":
            raise CalibrationError(f"{p.key}: the base configuration gives its prefactor, not "
                                   "its value at 25 °C; fit it with form='prefactor' or give "
                                   "the initial value explicitly")
        else:
            x0 = (float(s.value) if (s.unit or "1") == unit
                  else from_si(float(s.si_value), unit))
        if not p.lower <= x0 <= p.upper:
            raise CalibrationError(f"{p.key}: initial value {x0:g} {unit} outside the bounds "
                                   f"[{p.lower:g}, {p.upper:g}]")
        units.append(unit)
        initial.append(x0)
    return units, initial


def calibrate(base_config, parameters: Sequence[FitParameter], targets: Sequence[Target], comm,
              *, base_overrides: Mapping[str, Any] | None = None, out: str | Path | None = None,
              progress: bool = True, method: str = "trf", max_nfev: int | None = 40,
              fd_step: float = 1e-3, xtol: float = 1e-6, ftol: float = 1e-8,
              gtol: float = 1e-8, runner: Callable | None = None) -> CalibrationResult:
    """Fit the free parameters so that the targets hold (weighted least squares).

    Args:
        base_config: None (built-in default cell), a user-config path, or a user-config dict.
        parameters: the free parameters (values in their units; see the module docstring).
        targets: the targets (names unique).
        comm: communicator every case runs on (collective; rank 0 drives the optimiser).
        base_overrides: overrides for every case (dotted keys or the user-config
            structure, e.g. ``{"mesh": {"cells_per_layer": 32}}``).
        out: folder to write the result into (rank 0), or None.
        progress: print one line per evaluation (rank 0).
        method: ``"trf"`` or ``"dogbox"`` (bounded methods of least_squares).
        max_nfev: limit on optimiser evaluations (Jacobian evaluations not counted).
        fd_step: finite-difference step as a fraction of each parameter's fit-space range.
        xtol, ftol, gtol: least_squares tolerances (in the scaled [0, 1] variables).
        runner: case runner (see :func:`evaluate_targets`), e.g. a cheap model in tests.

    Returns:
        The :class:`CalibrationResult`, identical on every rank.

    Raises:
        CalibrationError: bad set-up, or a model value a target cannot use.
    """
    from scipy.optimize import least_squares

    _check_setup(parameters, targets, method)
    t_start = time.perf_counter()
    units, x_init = _resolve(parameters, base_config, base_overrides, comm)
    points = _Points(parameters, targets, units, base_config, base_overrides, comm,
                     runner=runner, progress=progress,
                     limit=None if max_nfev is None else max_nfev * (len(parameters) + 1))
    u_init = points.scaled(x_init)
    try:
        if comm.rank == 0:
            solve = functools.partial(least_squares, bounds=(0.0, 1.0), method=method,
                                      x_scale=1.0, max_nfev=max_nfev, xtol=xtol, ftol=ftol,
                                      gtol=gtol)
            opt = _drive(points, u_init, solve, fd_step)
            comm.bcast(points.evaluations, root=0)
        else:
            opt = _follow(points)
            points.evaluations = comm.bcast(None, root=0)
    finally:
        gc.unfreeze()       # the cases froze what survived them (default_case_runner)
    result = calibration_result(parameters, targets, units, x_init, points.values_of(opt.u),
                                points.span, opt, method=method,
                                wall_time=time.perf_counter() - t_start,
                                evaluations=points.evaluations)
    result.wall_time = float(comm.bcast(result.wall_time, root=0))
    if out is not None and comm.rank == 0:
        result.write(out)
    return result


def _check_setup(parameters: Sequence[FitParameter], targets: Sequence[Target],
                 method: str) -> None:
    """A method with bounds, some parameters and targets, unique keys and names."""
    if method not in ("trf", "dogbox"):
        raise CalibrationError(f"method {method!r}: use 'trf' or 'dogbox' (bounds)")
    if not parameters:
        raise CalibrationError("no free parameters")
    if not targets:
        raise CalibrationError("no targets")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise CalibrationError(f"target names must be unique: {names}")
    keys = [p.key for p in parameters]
    if len(set(keys)) != len(keys):
        raise CalibrationError(f"parameter keys must be unique: {keys}")


class _Points:
    """The points a calibration evaluates: each parameter scaled to [0, 1] over its bounds
    in its fit space (``u``); an evaluation runs every target's case (collective: every
    rank calls with the same u), is cached, recorded in :attr:`evaluations` and (rank 0,
    ``progress``) printed."""

    def __init__(self, parameters: Sequence[FitParameter], targets: Sequence[Target],
                 units: list[str], base_config, base_overrides, comm, *,
                 runner: Callable | None, progress: bool, limit: int | None = None):
        self.parameters, self.targets, self.units = parameters, targets, units
        #: most evaluations the optimiser can ask for (its limit × (1 + the Jacobian's))
        self.limit = limit
        self.t0 = time.perf_counter()
        self.base_config, self.base_overrides = base_config, base_overrides
        self.comm, self.runner, self.progress = comm, runner, progress
        self.lo = np.array([p.to_fit(p.lower) for p in parameters])
        hi = np.array([p.to_fit(p.upper) for p in parameters])
        self.span = hi - self.lo
        self.cache: dict[bytes, tuple[np.ndarray, dict]] = {}
        self.evaluations: list[dict] = []

    def scaled(self, values: Sequence[float]) -> np.ndarray:
        """Values (in the parameters' units) → u (clipped to [0, 1])."""
        p = np.array([q.to_fit(x) for q, x in zip(self.parameters, values, strict=True)])
        return np.clip((p - self.lo) / self.span, 0.0, 1.0)

    def values_of(self, u: np.ndarray) -> list[float]:
        """u → values in the parameters' units."""
        return [p.from_fit(self.lo[i] + self.span[i] * u[i])
                for i, p in enumerate(self.parameters)]

    def run(self, u: np.ndarray) -> tuple[np.ndarray, dict]:
        """Weighted residuals and model values at u (collective)."""
        k = np.asarray(u, dtype=float).tobytes()
        if k in self.cache:
            return self.cache[k]
        vals = self.values_of(u)
        ov = {p.key: _override_value(p, unit, v) for p, unit, v in zip(self.parameters,
                                                                      self.units, vals,
                                                                      strict=True)}
        t0 = time.perf_counter()
        model = evaluate_targets(self.base_config, self.targets, ov, self.comm,
                                 base_overrides=self.base_overrides, runner=self.runner)
        r = np.array([residual_of(t, model[t.name]) for t in self.targets])
        self.cache[k] = (r, model)
        n = len(self.evaluations) + 1
        self.evaluations.append({"n": n, "values": vals, "model": model,
                                 "cost": 0.5 * float(r @ r)})
        if self.progress and self.comm.rank == 0:
            pv = " ".join(f"{v:.4g}" for v in vals)
            mv = " ".join(f"{t.name}={model[t.name]:.4g}" for t in self.targets)
            most = "" if self.limit is None else f" of at most {self.limit}"
            print(f"[calibrate] evaluation {n}{most} ({time.perf_counter() - t0:.1f} s; "
                  f"{format_duration(time.perf_counter() - self.t0)} in all) params {pv} | "
                  f"{mv} | cost {0.5 * float(r @ r):.4g}", flush=True)
        return r, model


# ---- rank 0 drives; the others evaluate the points it broadcasts -----------------------
_STOP, _EVAL = 0, 1


def _drive(points: _Points, u_init: np.ndarray, solve: Callable, fd_step: float) -> Optimum:
    """Rank 0: run the optimiser ``solve(fun, u_init, jac=jac)``, broadcasting every point
    to evaluate; then stop the other ranks and broadcast the outcome (an error raised here
    is raised on every rank)."""
    comm = points.comm

    def fun(u):
        comm.bcast((_EVAL, np.array(u, dtype=float)), root=0)
        return points.run(np.array(u, dtype=float))[0]

    def jac(u):  # each point is broadcast by fun()
        u = np.array(u, dtype=float)
        r0 = fun(u)
        J = np.empty((len(points.targets), len(points.parameters)))
        for j in range(len(points.parameters)):
            h = fd_step if u[j] + fd_step <= 1.0 else -fd_step
            uj = u.copy()
            uj[j] += h
            J[:, j] = (fun(uj) - r0) / h
        return J

    error = None
    try:
        ls = solve(fun, u_init, jac=jac)
        u_opt = np.array(ls.x)
        J_u = jac(u_opt)
        r_opt, model_opt = fun(u_opt), points.cache[u_opt.tobytes()][1]
        r_init, model_init = fun(u_init), points.cache[u_init.tobytes()][1]
        info = Optimum(u_opt, J_u, r_opt, model_opt, r_init, model_init, int(ls.nfev),
                       bool(ls.success), int(ls.status), str(ls.message))
    except Exception as e:  # noqa: BLE001 — stop the workers, then re-raise
        error = e
        info = None
    comm.bcast((_STOP, None), root=0)
    info = comm.bcast(info if error is None else error, root=0)
    if error is not None:
        raise error
    return info


def _follow(points: _Points) -> Optimum:
    """Ranks > 0: evaluate the points rank 0 broadcasts until it stops; its outcome (see
    :func:`_drive`), or its error raised here too."""
    comm = points.comm
    while True:
        cmd, u = comm.bcast(None, root=0)
        if cmd == _STOP:
            break
        points.run(u)
    info = comm.bcast(None, root=0)
    if isinstance(info, Exception):
        raise info
    return info
