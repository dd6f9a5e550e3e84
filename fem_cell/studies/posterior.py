"""Posterior calibration: sample the parameters that the targets allow, with their priors.

Where :func:`fem_cell.studies.calibration.calibrate` finds one best point (and linearised
errors), :func:`sample_posterior` draws the whole posterior distribution

    p(θ | targets) ∝ p(θ) · exp(−½ Σ r_i(θ)²)

with the affine-invariant ensemble sampler of emcee (Foreman-Mackey et al. 2013, the
usual sampler of the field: no tuning beyond the number of walkers, robust to the strong
parameter correlations of rate laws — a detrapping energy and its attempt frequency move
along a ridge).

Likelihood
----------
``r_i`` is the weighted residual of :func:`fem_cell.studies.calibration.residual_of`:
``(f(model) − f(value)) / sigma`` for ``kind = "equal"`` (a Gaussian measurement error of
width sigma on f = log or identity), and for a one-sided target (``"at_least"``,
``"at_most"``, e.g. the paper's "> 136 Ω cm²") the hinge ``min(d, 0)`` / ``max(d, 0)``:
the likelihood is flat while the bound holds and falls off like a Gaussian of width sigma
beyond it (the bound itself is uncertain by sigma).

Priors
------
Each :class:`~fem_cell.studies.calibration.FitParameter` carries a prior on its value
(``prior``): ``"uniform"`` on [lower, upper], ``"log-uniform"`` (uniform in log10 of the
value, needs lower > 0) or ``"normal"`` (``prior_mean``, ``prior_sd`` in the parameter's
unit, truncated to [lower, upper]); ``"auto"`` is log-uniform for ``log=True`` parameters
and uniform otherwise.  The walkers move in the parameters' fit space (log10 of the value
for ``log=True``); the prior density is transformed with its Jacobian, so the posterior
is the same whatever the fit space.

Sampler
-------
``walkers`` walkers (≥ 2 × the number of parameters, even) start in a ball around the
start values (``init_spread`` × the prior's fit-space width, clipped inside the bounds) —
or, with ``init = "prior"``, drawn from the prior — and take ``steps`` steps; the first
``burn`` steps (default a third) are discarded.  A model evaluation that fails inside the
model's own domain (a solver that does not converge, an exposure outside its validity)
has posterior 0 (log −inf) and is counted; any other error stops the calibration on every
rank.

Diagnostics (:class:`PosteriorResult`.diagnostics): mean acceptance fraction (healthy
0.1–0.8), the integrated autocorrelation time τ of every parameter (emcee's estimator),
the effective sample size ``walkers × kept steps / τ``, and the split-R̂ over the walkers.
The chains count as converged when the kept steps exceed 50 τ for every parameter and
R̂ < 1.1; otherwise a warning says so (a short chain is still a result: its bands are
wider or narrower than the truth, and it says which diagnostic failed).

Surrogate
---------
With ``settings.surrogate`` (``[calibration] surrogate = "gp"``) the chain runs on a
Gaussian-process emulator of every target's model value
(:mod:`fem_cell.studies.surrogate`): design runs on a Latin hypercube over the priors'
box, refinement runs at draws of the emulator's posterior, then held-out model runs that
check it (:func:`surrogate_check`, recorded in ``PosteriorResult.surrogate``, a warning
above :data:`~fem_cell.studies.surrogate.CHECK_LIMIT` sigma).  Its model runs are
checkpointed after every round of runs (one per group of ranks; :data:`SURROGATE_RUNS`
beside the chain's checkpoint, the interrupt check between rounds) and replayed on resume;
the chain itself is not checkpointed (it costs seconds).

MPI and reproducibility
-----------------------
The ranks are split into groups of ``group_size`` ranks; each step's walker evaluations
are dealt out round-robin over the groups; the results are gathered on every rank, and
every rank runs the same sampler with the same seed in lock-step, so the chain is the
same on every rank and for any number of ranks (with ``group_size = 1`` every model
evaluation is a serial run; evaluations with more ranks per case agree to round-off).

Resume
------
With ``checkpoint`` a file, rank 0 writes the chain, the acceptance counts and the random
generator's state after every step (atomically).  A later call with the same checkpoint
continues from the last step: the result equals an uninterrupted run (same seed, same
states).  A checkpoint of a different calibration (other parameters, targets, walkers or
seed) is refused.
"""

from __future__ import annotations

import gc
import hashlib
import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.errors import FemCellError
from fem_cell.outputs.rundir import atomic_open
from fem_cell.studies.calibration import (
    CalibrationError,
    FitParameter,
    Target,
    _check_setup,
    _override_value,
    _resolve,
    case_plan,
    evaluate_targets,
    residual_of,
)
from fem_cell.studies.surrogate import (
    CHECK_LIMIT,
    SurrogateSettings,
    TargetSurrogate,
    latin_hypercube,
)
from fem_cell.units import format_duration

__all__ = ["SURROGATE_RUNS", "SamplerSettings", "PosteriorResult", "sample_posterior", "log_prior",
           "log_prior_many", "residuals_of", "surrogate_check",
           "prior_interval", "CONVERGED_TAU_FACTOR", "RHAT_LIMIT", "CONSTRAINED_SHRINKAGE"]

#: kept steps per autocorrelation time for a chain to count as converged (emcee's advice)
CONVERGED_TAU_FACTOR = 50.0
#: healthy mean acceptance of the stretch move (it is ~0.7 on a 2-parameter Gaussian, lower
#: in more dimensions; below 0.1 the walkers are stuck)
ACCEPTANCE = (0.1, 0.8)
#: split-R̂ below which the walkers agree
RHAT_LIMIT = 1.1
#: a parameter counts as constrained by the targets when its posterior 90 % interval is at
#: most half its prior 90 % interval (shrinkage ≥ 0.5)
CONSTRAINED_SHRINKAGE = 0.5


@dataclass(frozen=True)
class SamplerSettings:
    """Settings of the ensemble sampler (see the module docstring)."""

    walkers: int = 16
    steps: int = 200
    burn: int | None = None
    seed: int = 1
    init: str = "ball"
    init_spread: float = 0.05
    group_size: int = 1
    #: sample a Gaussian-process emulator of the model (None: the model itself);
    #: :class:`~fem_cell.studies.surrogate.SurrogateSettings` or a dict of its fields
    surrogate: Any = None

    def __post_init__(self):
        if isinstance(self.surrogate, Mapping):
            try:
                object.__setattr__(self, "surrogate", SurrogateSettings(**self.surrogate))
            except (TypeError, ValueError) as e:
                raise CalibrationError(f"sampler surrogate: {e}") from None
        if self.walkers < 2 or self.walkers % 2:
            raise CalibrationError(f"sampler walkers {self.walkers}: an even number >= 2")
        if self.steps < 2:
            raise CalibrationError(f"sampler steps {self.steps}: at least 2")
        if self.burn is not None and not 0 <= self.burn < self.steps:
            raise CalibrationError(f"sampler burn {self.burn}: 0 <= burn < steps "
                                   f"({self.steps})")
        if self.init not in ("ball", "prior"):
            raise CalibrationError(f"sampler init {self.init!r}: 'ball' or 'prior'")
        if not 0 < self.init_spread <= 1:
            raise CalibrationError(f"sampler init_spread {self.init_spread}: in (0, 1]")
        if self.group_size < 1:
            raise CalibrationError(f"sampler group_size {self.group_size}: >= 1")

    @property
    def burn_steps(self) -> int:
        return self.steps // 3 if self.burn is None else self.burn


# ------------------------------------------------------------------ priors ---------
def _prior_kind(p: FitParameter) -> str:
    if p.prior == "auto":
        return "log-uniform" if p.log else "uniform"
    return p.prior


def log_prior(p: FitParameter, z: float) -> float:
    """Log prior density of parameter ``p`` at fit-space coordinate ``z`` (log10 of the
    value when ``p.log``), up to a constant; −inf outside [lower, upper]
    (:func:`log_prior_many` at one point)."""
    return float(log_prior_many(p, np.array([z], dtype=float))[0])


def _prior_cdf(p: FitParameter, n: int = 20001) -> tuple[np.ndarray, np.ndarray]:
    """(fit-space grid over the bounds, the prior's CDF on it) (trapezoidal rule)."""
    z = np.linspace(p.to_fit(p.lower), p.to_fit(p.upper), n)
    lp = log_prior_many(p, z)
    w = np.exp(lp - lp.max())
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (w[1:] + w[:-1]) * np.diff(z))])
    return z, cdf / cdf[-1]


def prior_interval(p: FitParameter, q: Sequence[float] = (0.05, 0.5, 0.95)) -> np.ndarray:
    """Quantiles of the prior, in the parameter's unit (numerically, on a fit-space grid)."""
    z, cdf = _prior_cdf(p)
    return np.array([p.from_fit(float(np.interp(qi, cdf, z))) for qi in q])


def _sample_prior(p: FitParameter, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` fit-space draws from the prior (inverse CDF on a grid)."""
    z, cdf = _prior_cdf(p)
    return np.interp(rng.uniform(size=n), cdf, z)


# ------------------------------------------------------------------ evaluation -----
class _Evaluator:
    """Log posterior of fit-space points, each evaluated by one group of ranks."""

    def __init__(self, parameters, targets, units, base_config, base_overrides, comm,
                 group_size: int, runner: Callable | None):
        if comm.size % group_size:
            raise CalibrationError(f"group_size {group_size} does not divide the {comm.size} "
                                   "ranks")
        self.parameters, self.targets, self.units = parameters, targets, units
        self.base_config, self.base_overrides, self.runner = base_config, base_overrides, runner
        self.comm = comm
        self.ngroups = comm.size // group_size
        self.color = comm.rank // group_size
        self.sub = comm.Split(self.color, comm.rank) if self.ngroups > 1 else comm
        self.plan = case_plan(targets)
        self.failures: list[str] = []
        self.evaluations = 0

    def free(self) -> None:
        """Free the group communicator, and unfreeze what the cases froze
        (:func:`~fem_cell.studies.calibration.default_case_runner`)."""
        gc.unfreeze()
        if self.sub is not self.comm:
            self.sub.Free()

    def one(self, z: np.ndarray, lp: float) -> tuple[float, np.ndarray, str | None, bool]:
        """(log posterior, model values of the targets, failure message, whether the model
        ran) at z with log prior ``lp`` (on ``self.sub``, collectively)."""
        nan = np.full(len(self.targets), np.nan)
        if not math.isfinite(lp):
            return -math.inf, nan, None, False
        vals = [p.from_fit(float(zi)) for p, zi in zip(self.parameters, z, strict=True)]
        ov = {p.key: _override_value(p, u, v)
              for p, u, v in zip(self.parameters, self.units, vals, strict=True)}
        try:
            model = evaluate_targets(self.base_config, self.targets, ov, self.sub,
                                     base_overrides=self.base_overrides, runner=self.runner,
                                     plan=self.plan)
            r = np.array([residual_of(t, model[t.name]) for t in self.targets])
        except (FemCellError, CalibrationError) as e:  # outside the model's domain
            return -math.inf, nan, f"{type(e).__name__}: {e}", True
        m = np.array([model[t.name] for t in self.targets], dtype=float)
        return lp - 0.5 * float(r @ r), m, None, True

    def many(self, zs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log posterior and model values of every point (collective on ``comm``): points
        dealt round-robin over the groups, results gathered on every rank."""
        mine = {}
        lps = log_priors(self.parameters, zs) if len(zs) else np.zeros(0)
        for i in range(self.color, len(zs), self.ngroups):
            try:
                mine[i] = self.one(zs[i], float(lps[i]))
            except Exception as e:  # noqa: BLE001 — reported on every rank below
                mine[i] = ("error", f"{type(e).__name__}: {e}", None, True)
        gathered = self.comm.allgather(mine if self.sub.rank == 0 else {})
        res: dict[int, tuple] = {}
        for d in gathered:
            res.update(d)
        errors = [v[1] for v in res.values() if isinstance(v[0], str)]
        if errors:
            raise CalibrationError(f"model evaluation failed: {errors[0]}")
        lp = np.array([res[i][0] for i in range(len(zs))], dtype=float)
        blobs = np.array([res[i][1] for i in range(len(zs))], dtype=float)
        self.failures += [res[i][2] for i in range(len(zs)) if res[i][2]]
        self.evaluations += sum(1 for i in range(len(zs)) if res[i][3])
        return lp, blobs


class _Pool:
    """emcee's ``pool``: ``map`` evaluates a step's walkers over the MPI groups."""

    def __init__(self, ev: _Evaluator):
        self.ev = ev

    def map(self, fn, points):  # noqa: ARG002 — the evaluator is the log-probability
        lp, blobs = self.ev.many(np.asarray(list(points), dtype=float))
        return [(float(a), b) for a, b in zip(lp, blobs, strict=True)]


def _never(z):  # emcee needs a callable; the pool does the evaluation
    raise AssertionError("evaluated through the pool")


class _SurrogateEvaluator:
    """:class:`_Evaluator`'s ``many`` on a :class:`TargetSurrogate`: the log posterior from
    the emulated model values (no model run)."""

    def __init__(self, parameters, targets, surrogate: TargetSurrogate):
        self.parameters, self.targets, self.surrogate = parameters, targets, surrogate
        self.failures: list[str] = []
        self.evaluations = 0

    def many(self, zs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        zs = np.atleast_2d(np.asarray(zs, dtype=float))
        lp = log_priors(self.parameters, zs)
        m = np.full((len(zs), len(self.targets)), np.nan)
        ok = np.isfinite(lp)
        if ok.any():
            m[ok] = self.surrogate.predict(zs[ok])
            for j, t in enumerate(self.targets):
                lp[ok] -= 0.5 * residuals_of(t, m[ok, j]) ** 2
        return lp, m


def residuals_of(t: Target, values: np.ndarray) -> np.ndarray:
    """:func:`~fem_cell.studies.calibration.residual_of` of many model values at once
    (a value it would refuse: nan, or ≤ 0 with a log transform, gives an infinite
    residual: zero posterior)."""
    v = np.asarray(values, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if t.transform == "log":
            d = (np.log(np.where(v > 0, v, np.nan)) - math.log(t.value)) / t.sigma
        else:
            d = (v - t.value) / t.sigma
    if t.kind == "at_least":
        d = np.minimum(d, 0.0)
    elif t.kind == "at_most":
        d = np.maximum(d, 0.0)
    return np.where(np.isfinite(d), d, np.inf)


def log_priors(parameters: Sequence[FitParameter], zs: np.ndarray) -> np.ndarray:
    """Joint log prior (independent parameters) of many fit-space points, the rows of
    ``zs`` (one column per parameter)."""
    zs = np.atleast_2d(np.asarray(zs, dtype=float))
    lp = np.zeros(len(zs))
    for j, p in enumerate(parameters):
        lp += log_prior_many(p, zs[:, j])
    return lp


def log_prior_many(p: FitParameter, z: np.ndarray) -> np.ndarray:
    """Log prior density of parameter ``p`` at many fit-space coordinates ``z`` (log10 of
    the value when ``p.log``), up to a constant; −inf outside [lower, upper]."""
    z = np.asarray(z, dtype=float)
    with np.errstate(over="ignore"):
        x = 10.0 ** z if p.log else z
    inside = np.isfinite(x) & (x >= p.lower) & (x <= p.upper)
    xs = np.where(inside, x, 1.0)
    kind = _prior_kind(p)
    if kind == "uniform":
        lp = np.zeros_like(xs)
    elif kind == "log-uniform":
        lp = -np.log(xs)
    else:  # normal, in the value
        lp = -0.5 * ((xs - p.prior_mean) / p.prior_sd) ** 2
    if p.log:  # density in fit space: p(z) = p(x) |dx/dz|, dx/dz = x ln 10 for z = log10 x
        lp = lp + np.log(xs)
    return np.where(inside, lp, -np.inf)


class _RunCache:
    """Model runs of the surrogate stage, remembered by point and saved (rank 0) after
    every batch: a rerun of the same calibration replays them instead of running the
    model again, so a killed calibration resumes and ends with the same result."""

    def __init__(self, ev: _Evaluator, path: Path | None, sig: str):
        self.ev, self.path, self.sig = ev, path, sig
        self.runs: dict[bytes, tuple[float, np.ndarray]] = {}
        comm = ev.comm
        data = None
        if path is not None and comm.rank == 0 and path.is_file():
            try:
                with np.load(path) as d:
                    data = {k: d[k] for k in d.files}
            except (OSError, ValueError) as e:
                data = CalibrationError(f"{path}: not a readable surrogate checkpoint ({e}); "
                                        "remove it or pass --overwrite")
            if isinstance(data, dict) and str(data["signature"]) != sig:
                data = CalibrationError(f"{path}: model runs of a different calibration; "
                                        "pass --overwrite")
        data = comm.bcast(data, root=0)
        if isinstance(data, Exception):
            raise data
        if data is not None:
            for z, lp, m in zip(data["z"], data["lp"], data["m"], strict=True):
                self.runs[np.asarray(z, float).tobytes()] = (float(lp), np.asarray(m, float))
        self.replayed = len(self.runs)

    def run(self, zs: np.ndarray, check: Callable | None = None
            ) -> tuple[np.ndarray, np.ndarray]:
        """Log posterior and model values at ``zs``: the model runs the new points, one
        per group of ranks at a time; after each such round the runs are saved and
        ``check`` (an interrupt check) is called, so Ctrl-C waits for one model run, not
        for a whole design."""
        zs = np.asarray(zs, dtype=float)
        new = [i for i, z in enumerate(zs) if z.tobytes() not in self.runs]
        step = self.ev.ngroups
        for k in range(0, len(new), step):
            chunk = new[k:k + step]
            lp, m = self.ev.many(zs[chunk])
            for j, i in enumerate(chunk):
                self.runs[zs[i].tobytes()] = (float(lp[j]), m[j])
            self._save()
            if check is not None:
                check()
        lp = np.array([self.runs[z.tobytes()][0] for z in zs])
        m = np.array([self.runs[z.tobytes()][1] for z in zs])
        return lp, m

    def _save(self) -> None:
        if self.path is None or self.ev.comm.rank != 0:
            return
        keys = list(self.runs)
        z = np.array([np.frombuffer(k, dtype=float) for k in keys])
        with atomic_open(self.path, "wb") as f:
            np.savez(f, signature=np.array(self.sig), z=z,
                     lp=np.array([self.runs[k][0] for k in keys]),
                     m=np.array([self.runs[k][1] for k in keys]))


def _box(parameters) -> tuple[np.ndarray, np.ndarray]:
    """The priors' box in fit space (lower and upper corners)."""
    return (np.array([p.to_fit(p.lower) for p in parameters]),
            np.array([p.to_fit(p.upper) for p in parameters]))


def _fit_surrogate(z, m, parameters, targets, comm) -> TargetSurrogate:
    """The emulator of every target, fitted on rank 0 and broadcast (every rank samples
    the same chain)."""
    lo, hi = _box(parameters)
    sur = None
    if comm.rank == 0:
        try:
            sur = TargetSurrogate(z, m, lo, hi, [t.transform == "log" for t in targets])
        except ValueError as e:
            sur = CalibrationError(f"surrogate: {e}")
    sur = comm.bcast(sur, root=0)
    if isinstance(sur, Exception):
        raise sur
    return sur


#: steps of the ensemble that draws a refinement's or the check's points from the surrogate
DRAW_STEPS = 400


def _surrogate_draws(sur: TargetSurrogate, parameters, targets, z_train, lp_train,
                     settings: SamplerSettings, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` draws from the surrogate's posterior: an ensemble started at the best training
    points (by surrogate log posterior), :data:`DRAW_STEPS` steps, draws from the second
    half (a refinement needs points where the posterior is, not a converged chain)."""
    import emcee

    sev = _SurrogateEvaluator(parameters, targets, sur)
    lp_sur, _ = sev.many(z_train)
    order = np.argsort(-np.where(np.isfinite(lp_sur), lp_sur, -np.inf))
    w = settings.walkers
    start = z_train[order[:w]] if len(order) >= w else z_train[order[np.arange(w) % len(order)]]
    lo, hi = _box(parameters)
    start = np.clip(start + 1e-3 * (hi - lo) * rng.standard_normal(start.shape),
                    lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo))
    sampler = emcee.EnsembleSampler(w, len(parameters), lambda z: sev.many(z)[0],
                                    vectorize=True)
    sampler._random = np.random.mtrand.RandomState(int(rng.integers(2**31)))  # noqa: SLF001
    steps = DRAW_STEPS
    sampler.run_mcmc(start, steps)
    pool = sampler.get_chain(discard=steps // 2, flat=True)
    lp = sampler.get_log_prob(discard=steps // 2, flat=True)
    pool = pool[np.isfinite(lp)]
    return pool[rng.choice(len(pool), size=n, replace=len(pool) < n)]


def _surrogate_stage(parameters, targets, settings: SamplerSettings, ev: _Evaluator,
                     cache: _RunCache, say, check: Callable | None = None
                     ) -> tuple[TargetSurrogate, dict]:
    """Design, refinement rounds and the held-out check (module
    :mod:`fem_cell.studies.surrogate`); returns the final emulator and the check's record."""
    ss = settings.surrogate
    comm = ev.comm
    rng = np.random.default_rng(ss.seed)
    lo, hi = _box(parameters)
    z = lo + (hi - lo) * latin_hypercube(ss.points, len(parameters), rng)
    say(f"surrogate: {ss.points} model runs on a Latin hypercube over the priors' box")
    lp, m = cache.run(z, check)
    for k in range(ss.rounds):
        sur = _fit_surrogate(z, m, parameters, targets, comm)
        znew = _surrogate_draws(sur, parameters, targets, z, lp, settings, rng, ss.refine)
        say(f"surrogate: refinement {k + 1}/{ss.rounds}: {ss.refine} model runs at draws of "
            f"its posterior ({len(z)} so far)")
        lpn, mn = cache.run(znew, check)
        z, lp, m = np.vstack([z, znew]), np.concatenate([lp, lpn]), np.vstack([m, mn])
    sur = _fit_surrogate(z, m, parameters, targets, comm)
    zc = _surrogate_draws(sur, parameters, targets, z, lp, settings, rng, ss.check)
    say(f"surrogate: check on {ss.check} held-out model runs at draws of its posterior")
    _, mc = cache.run(zc, check)
    return sur, surrogate_check(sur, targets, zc, mc, len(z), ss)


def surrogate_check(sur: TargetSurrogate, targets, zc: np.ndarray, mc: np.ndarray,
                    n_train: int, ss: SurrogateSettings) -> dict[str, Any]:
    """The emulator against held-out model runs: per target the rms and largest
    |f(m_GP) − f(m_model)| / σ (f: the target's transform) and a warning above
    :data:`~fem_cell.studies.surrogate.CHECK_LIMIT`."""
    pred = sur.predict(zc)
    rows, worst = [], 0.0
    for j, t in enumerate(targets):
        a, b = pred[:, j], mc[:, j]
        ok = np.isfinite(a) & np.isfinite(b) & ((a > 0) & (b > 0) if t.transform == "log"
                                                 else True)
        if t.transform == "log":
            e = (np.log(a[ok]) - np.log(b[ok])) / t.sigma
        else:
            e = (a[ok] - b[ok]) / t.sigma
        rms = float(np.sqrt(np.mean(e**2))) if e.size else float("nan")
        mx = float(np.max(np.abs(e))) if e.size else float("nan")
        worst = max(worst, mx) if math.isfinite(mx) else worst
        rows.append({"target": t.name, "points": int(ok.sum()), "rms_error_sigma": rms,
                     "max_error_sigma": mx})
    passed = all(math.isfinite(r["max_error_sigma"]) and r["max_error_sigma"] <= CHECK_LIMIT
                 for r in rows)
    return {"kind": "gp", "settings": ss.__dict__, "training_runs": int(n_train),
            "check_runs": int(len(zc)), "check": rows, "check_limit_sigma": CHECK_LIMIT,
            "passed": passed, "largest_error_sigma": worst,
            "check_points": zc.tolist(), "check_model": mc.tolist(),
            "check_surrogate": pred.tolist()}


# ------------------------------------------------------------------ result ---------
@dataclass
class PosteriorResult:
    """A sampled posterior (identical on every rank).

    Attributes:
        parameters: the free parameters; ``units`` their units (the values' unit).
        targets: the targets.
        chain: fit-space positions, shape (steps, walkers, parameters).
        log_prob: log posterior, shape (steps, walkers).
        model: model value of every target at every position, (steps, walkers, targets).
        accepted: accepted moves per walker (over all steps).
        settings: the sampler settings.
        diagnostics: acceptance, τ, ESS, R̂, converged, warnings (see the module docstring).
    """

    parameters: Sequence[FitParameter]
    units: list[str]
    targets: Sequence[Target]
    chain: np.ndarray
    log_prob: np.ndarray
    model: np.ndarray
    accepted: np.ndarray
    settings: SamplerSettings
    wall_time: float = 0.0
    evaluations: int = 0
    failures: list[str] = field(default_factory=list)
    diagnostics: dict[str, Any] = field(default_factory=dict)
    #: with a surrogate: its check against held-out model runs (see surrogate_check)
    surrogate: dict[str, Any] | None = None

    @property
    def keys(self) -> list[str]:
        return [p.key for p in self.parameters]

    def kept(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(values in the parameters' units, log posterior, model values) of the samples
        after burn-in, flattened to (samples, ·)."""
        b = self.settings.burn_steps
        z = self.chain[b:].reshape(-1, self.chain.shape[2])
        vals = np.column_stack([[p.from_fit(float(v)) for v in z[:, j]]
                                for j, p in enumerate(self.parameters)])
        return (vals, self.log_prob[b:].reshape(-1),
                self.model[b:].reshape(-1, self.model.shape[2]))

    def chain_values(self) -> np.ndarray:
        """The whole chain (steps, walkers, parameters) in the parameters' units."""
        out = np.empty_like(self.chain)
        for j, p in enumerate(self.parameters):
            out[:, :, j] = 10.0 ** self.chain[:, :, j] if p.log else self.chain[:, :, j]
        return out

    def samples(self):
        """The posterior samples as a pandas DataFrame: ``walker``, ``step``, one column per
        parameter key (in its unit), ``log_posterior`` and ``model:<target>`` columns."""
        import pandas as pd

        b = self.settings.burn_steps
        steps, walkers = self.chain.shape[:2]
        vals, lp, model = self.kept()
        d = {"step": np.repeat(np.arange(b, steps), walkers),
             "walker": np.tile(np.arange(walkers), steps - b)}
        for j, k in enumerate(self.keys):
            d[k] = vals[:, j]
        d["log_posterior"] = lp
        for j, t in enumerate(self.targets):
            d[f"model:{t.name}"] = model[:, j]
        return pd.DataFrame(d)

    def identifiability(self):
        """One row per parameter (pandas DataFrame): ``parameter``, ``unit``, ``form``
        (``value`` or ``prefactor``), ``log`` (fit space), ``prior``,
        ``prior_low``, ``prior_high`` (the bounds), ``prior_p05``, ``prior_p95``, ``p05``,
        ``p50``, ``p95``, ``shrinkage`` = 1 − (posterior 90 % width) / (prior 90 % width),
        widths in fit space (decades for log parameters), and ``constrained``
        (shrinkage ≥ :data:`CONSTRAINED_SHRINKAGE`; ``unknown`` while the chains have not
        converged: a short chain's spread is its start ball's, not the data's)."""
        import pandas as pd

        vals = self.kept()[0]
        converged = bool(self.diagnostics.get("converged"))
        rows = []
        for j, p in enumerate(self.parameters):
            q = np.quantile(vals[:, j], [0.05, 0.5, 0.95])
            pq = prior_interval(p)
            w_post = p.to_fit(q[2]) - p.to_fit(q[0])
            w_prior = p.to_fit(pq[2]) - p.to_fit(pq[0])
            shrink = 1.0 - w_post / w_prior if w_prior > 0 else float("nan")
            rows.append({"parameter": p.key, "unit": self.units[j], "form": p.form,
                         "log": p.log, "prior": _prior_kind(p),
                         "prior_low": p.lower, "prior_high": p.upper,
                         "prior_p05": pq[0], "prior_p95": pq[2],
                         "p05": q[0], "p50": q[1], "p95": q[2], "shrinkage": shrink,
                         "constrained": ("yes" if shrink >= CONSTRAINED_SHRINKAGE else "no")
                         if converged else "unknown (chains not converged)"})
        return pd.DataFrame(rows)

    def predictions(self):
        """p05/p50/p95 of every target's model value over the kept samples."""
        import pandas as pd

        model = self.kept()[2]
        rows = []
        for j, t in enumerate(self.targets):
            m = model[:, j][np.isfinite(model[:, j])]
            q = np.quantile(m, [0.05, 0.5, 0.95]) if m.size else [np.nan] * 3
            rows.append({"target": t.name, "quantity": t.quantity, "kind": t.kind,
                         "value": t.value, "sigma": t.sigma, "p05": q[0], "p50": q[1],
                         "p95": q[2]})
        return pd.DataFrame(rows)

    def to_dict(self) -> dict[str, Any]:
        ident = self.identifiability().to_dict(orient="records")
        return {"method": "posterior", "sampler": "emcee",
                "settings": self.settings.__dict__, "evaluations": self.evaluations,
                "failed_evaluations": len(self.failures),
                "first_failure": self.failures[0] if self.failures else None,
                "wall_time_s": self.wall_time, "identifiability": ident,
                "targets": self.predictions().to_dict(orient="records"),
                "diagnostics": self.diagnostics,
                "surrogate": None if self.surrogate is None else {
                    k: v for k, v in self.surrogate.items()
                    if k not in ("check_points", "check_model", "check_surrogate")}}

    def table(self) -> str:
        """The identifiability table as text."""
        lines = [f"{'parameter':52s} {'unit':>5s} {'p05':>10s} {'p50':>10s} {'p95':>10s} "
                 f"{'shrinkage':>9s}  constrained"]
        for r in self.identifiability().to_dict(orient="records"):
            lines.append(f"{r['parameter']:52s} {r['unit']:>5s} {r['p05']:10.4g} "
                         f"{r['p50']:10.4g} {r['p95']:10.4g} {r['shrinkage']:9.2f}  "
                         f"{r['constrained']}")
        d = self.diagnostics
        lines.append(f"acceptance {d['acceptance']:.2f}; tau {fmt_list(d['tau'])}; "
                     f"ESS {fmt_list(d['ess'])}; R-hat {fmt_list(d['rhat'], '.3f')}; "
                     f"converged: {'yes' if d['converged'] else 'no'}")
        lines += [f"warning: {w}" for w in d["warnings"]]
        return "\n".join(lines)


def fmt_list(xs, spec: str = ".3g") -> str:
    return "[" + ", ".join("nan" if x is None else format(float(x), spec) for x in xs) + "]"


def diagnostics(chain: np.ndarray, accepted: np.ndarray, burn: int) -> dict[str, Any]:
    """Acceptance, autocorrelation time, effective sample size and split-R̂ of a chain
    (steps, walkers, parameters) after ``burn`` steps; ``converged`` and warnings."""
    import emcee

    kept = chain[burn:]
    n, w, d = kept.shape
    steps = chain.shape[0]
    acc = float(np.mean(accepted) / steps)
    tau = np.asarray(emcee.autocorr.integrated_time(kept, tol=0, quiet=True), dtype=float)
    # below one step the estimate means "too short to tell", not "independent samples"
    tau = np.where(np.isfinite(tau) & (tau >= 1.0), tau, np.nan)
    ess = w * n / tau
    rhat = np.array([_split_rhat(kept[:, :, j]) for j in range(d)])
    warnings = []
    if not ACCEPTANCE[0] <= acc <= ACCEPTANCE[1]:
        warnings.append(f"mean acceptance {acc:.2f} outside {ACCEPTANCE[0]}-{ACCEPTANCE[1]}")
    if np.isnan(tau).any() or (n < CONVERGED_TAU_FACTOR * tau).any():
        warnings.append(f"chains too short: {n} kept steps < {CONVERGED_TAU_FACTOR:g} x tau "
                        f"(tau {fmt_list(tau)}; nan: too short to estimate); the bands are "
                        "not converged")
    if np.isnan(rhat).any() or (rhat > RHAT_LIMIT).any():
        warnings.append(f"split R-hat {fmt_list(rhat, '.3f')} not below {RHAT_LIMIT} (walkers "
                        "disagree, or too few steps to tell)")
    return {"acceptance": acc, "tau": _finite_or_none(tau), "ess": _finite_or_none(ess),
            "rhat": _finite_or_none(rhat), "kept_steps": int(n), "converged": not warnings,
            "warnings": warnings}


def _finite_or_none(a: np.ndarray) -> list[float | None]:
    """A list for JSON: nan → None."""
    return [float(x) if math.isfinite(x) else None for x in np.asarray(a, dtype=float)]


def _split_rhat(x: np.ndarray) -> float:
    """Split-R̂ (Gelman et al. 2013) of x (steps, walkers): every walker's kept chain cut in
    two halves, each half a chain."""
    n = x.shape[0] // 2
    if n < 2:
        return float("nan")
    chains = np.concatenate([x[:n], x[-n:]], axis=1)  # (n, 2w)
    means = chains.mean(axis=0)
    b = n * means.var(ddof=1)
    wv = chains.var(axis=0, ddof=1).mean()
    if wv <= 0:
        return float("nan")
    var = (n - 1) / n * wv + b / n
    return float(math.sqrt(var / wv))


# ------------------------------------------------------------------ checkpoint -----
def _signature(parameters, targets, units, settings: SamplerSettings, base_overrides) -> str:
    text = json.dumps({"parameters": [p.__dict__ for p in parameters],
                       "targets": [{**t.__dict__, "overrides": dict(t.overrides)}
                                   for t in targets],
                       "units": units, "walkers": settings.walkers, "seed": settings.seed,
                       "init": settings.init, "init_spread": settings.init_spread,
                       "base_overrides": base_overrides}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _save(path: Path, sig: str, chain, log_prob, model, accepted_cum, rstate) -> None:
    with atomic_open(path, "wb") as f:
        np.savez(f, signature=np.array(sig), chain=chain, log_prob=log_prob, model=model,
                 accepted=accepted_cum, rs_name=np.array(rstate[0]), rs_key=rstate[1],
                 rs_pos=np.array(rstate[2]), rs_gauss=np.array(rstate[3]),
                 rs_cached=np.array(rstate[4]))


def _load(path: Path, sig: str) -> dict | None:
    if not path.is_file():
        return None
    try:
        with np.load(path) as d:
            data = {k: d[k] for k in d.files}
    except (OSError, ValueError) as e:
        raise CalibrationError(f"{path}: not a readable posterior checkpoint ({e}); remove it "
                               "or pass --overwrite") from None
    if str(data["signature"]) != sig:
        raise CalibrationError(f"{path}: a checkpoint of a different calibration (other "
                               "parameters, targets, walkers or seed); pass --overwrite")
    data["rstate"] = (str(data["rs_name"]), data["rs_key"], int(data["rs_pos"]),
                      int(data["rs_gauss"]), float(data["rs_cached"]))
    return data


# ------------------------------------------------------------------ driver ---------
def sample_posterior(base_config, parameters: Sequence[FitParameter], targets: Sequence[Target],
                     comm, *, settings: SamplerSettings | None = None,
                     base_overrides: Mapping[str, Any] | None = None,
                     checkpoint: str | Path | None = None, progress: bool = True,
                     runner: Callable | None = None, check: Callable | None = None,
                     say: Callable[[str], None] | None = None) -> PosteriorResult:
    """Sample the posterior of the free parameters (collective over ``comm``).

    Args:
        base_config: None (built-in cell), a user-config path or dict.
        parameters: free parameters with bounds and priors.
        targets: the targets (their sigmas are the measurement uncertainties).
        comm: communicator; split into groups of ``settings.group_size`` ranks.
        settings: :class:`SamplerSettings`.
        base_overrides: overrides of every case (e.g. a coarser mesh).
        checkpoint: file of the chain so far (written after every step by rank 0); an
            existing one of the same calibration is continued.
        progress: one line per step (rank 0).
        runner: case runner (see :func:`fem_cell.studies.calibration.evaluate_targets`).
        check: called (collectively) after every step, e.g. an interrupt check.
        say: progress printer (default ``print`` on rank 0).

    Returns:
        The :class:`PosteriorResult`, identical on every rank.
    """
    import emcee

    settings = settings or SamplerSettings()
    _check_setup(parameters, targets, "trf")
    ndim = len(parameters)
    if settings.walkers < 2 * ndim:
        raise CalibrationError(f"sampler walkers {settings.walkers}: at least twice the "
                               f"{ndim} parameters")
    t_start = time.perf_counter()
    units, x0 = _resolve(parameters, base_config, base_overrides, comm)
    ev = _Evaluator(parameters, targets, units, base_config, base_overrides, comm,
                    settings.group_size, runner)
    say = say or (lambda s: print(f"[calibrate] {s}", flush=True) if comm.rank == 0 else None)
    sig = _signature(parameters, targets, units, settings, base_overrides)
    ckpt = Path(checkpoint) if checkpoint is not None else None
    loaded = None
    check_record, sampled, cache = None, ev, None
    try:
        if settings.surrogate is not None:
            # model runs for the emulator (checkpointed run by run); the chain itself then
            # runs on the emulator in seconds and is not checkpointed
            ss_sig = hashlib.sha256(f"{sig}:{settings.surrogate}".encode()).hexdigest()[:16]
            cache = _RunCache(ev, None if ckpt is None else ckpt.with_name(SURROGATE_RUNS),
                              ss_sig)
            if cache.replayed and progress:
                say(f"surrogate: {cache.replayed} model runs replayed from the checkpoint")
            sur, check_record = _surrogate_stage(parameters, targets, settings, ev, cache,
                                                 say if progress else (lambda s: None), check)
            sampled = _SurrogateEvaluator(parameters, targets, sur)
            ckpt = None
        if ckpt is not None:
            loaded = comm.bcast(_load_or_error(ckpt, sig) if comm.rank == 0 else None, root=0)
            if isinstance(loaded, Exception):
                raise loaded
        sampler = emcee.EnsembleSampler(settings.walkers, ndim, _never, pool=_Pool(sampled),
                                        blobs_dtype=[("model", float, (len(targets),))])
        sampler._random = np.random.mtrand.RandomState(settings.seed)  # noqa: SLF001
        accepted: list[np.ndarray] = []
        if loaded is not None and loaded["chain"].shape[0] > 0:
            start, accepted = _replay(sampler, loaded, settings)
        else:
            z0, lp0, m0 = _start(parameters, x0, settings, sampled)
            start = emcee.State(z0, log_prob=lp0, blobs=_as_blobs(m0),
                                random_state=sampler.random_state)
        done = sampler.iteration
        t_loop = time.perf_counter()
        for i, state in enumerate(sampler.sample(start, iterations=settings.steps - done,
                                                 store=True), start=done + 1):
            accepted.append(np.array(sampler.backend.accepted, dtype=float))
            if ckpt is not None and comm.rank == 0:
                _save(ckpt, sig, sampler.get_chain(), sampler.get_log_prob(),
                      sampler.get_blobs()["model"], np.array(accepted), sampler.random_state)
            if progress:
                el = time.perf_counter() - t_loop
                eta = el / (i - done) * (settings.steps - i)
                acc = float(np.mean(sampler.acceptance_fraction))
                best = float(np.max(state.log_prob))
                if sampled is ev or i % max(1, settings.steps // 4) == 0:
                    say(f"step {i}/{settings.steps}  acceptance {acc:.2f}  "
                        f"best log-posterior {best:.3g}  "
                        f"{ev.evaluations} model evaluations  ETA {format_duration(eta)}")
            if check is not None:
                check()
        chain = sampler.get_chain()
        res = PosteriorResult(parameters, units, targets, chain, sampler.get_log_prob(),
                              sampler.get_blobs()["model"], np.asarray(sampler.backend.accepted),
                              settings, failures=list(ev.failures), surrogate=check_record)
    finally:
        ev.free()
    res.evaluations = int(comm.bcast(ev.evaluations if cache is None else len(cache.runs),
                                     root=0))
    res.diagnostics = diagnostics(res.chain, res.accepted, settings.burn_steps)
    if check_record is not None and not check_record["passed"]:
        res.diagnostics["warnings"].append(
            f"surrogate check: the emulator misses held-out model runs by up to "
            f"{check_record['largest_error_sigma']:.2g} sigma (limit {CHECK_LIMIT:g}): "
            "more surrogate_points / surrogate_refine, or sample the model itself")
    res.wall_time = float(comm.bcast(time.perf_counter() - t_start, root=0))
    return res


def _load_or_error(path: Path, sig: str):
    try:
        return _load(path, sig)
    except CalibrationError as e:
        return e


def _as_blobs(m: np.ndarray) -> np.ndarray:
    b = np.empty(len(m), dtype=[("model", float, (m.shape[1],))])
    b["model"] = m
    return b


def _replay(sampler, data: dict, settings: SamplerSettings):
    """Fill a fresh sampler's backend with a checkpoint's steps; return the last state and
    the cumulative accepted counts after every step."""
    import emcee

    chain, lp, model, acc = data["chain"], data["log_prob"], data["model"], data["accepted"]
    n = chain.shape[0]
    if n > settings.steps:
        raise CalibrationError(f"the checkpoint holds {n} steps, more than the {settings.steps} "
                               "asked for; pass --overwrite or ask for more steps")
    b = sampler.backend
    b.grow(n, _as_blobs(model[0]))
    prev = np.zeros(chain.shape[1])
    hist = []
    for k in range(n):
        st = emcee.State(chain[k], log_prob=lp[k], blobs=_as_blobs(model[k]))
        b.save_step(st, (acc[k] - prev) > 0.5)
        prev = acc[k]
        hist.append(acc[k])
    return emcee.State(chain[-1], log_prob=lp[-1], blobs=_as_blobs(model[-1]),
                       random_state=data["rstate"]), hist


#: the surrogate stage's model runs, next to the chain's checkpoint
SURROGATE_RUNS = "surrogate_runs.npz"

#: redraws of initial walkers whose posterior is zero (a failed model point)
INIT_REDRAWS = 5


def _start(parameters, x0, settings: SamplerSettings, ev: _Evaluator):
    """Initial walkers (fit space), their log posterior and model values; walkers with zero
    posterior are drawn again (up to :data:`INIT_REDRAWS` times), so the ensemble starts
    where the model runs."""
    rng = np.random.default_rng(settings.seed)
    z = _initial(parameters, x0, settings, rng, settings.walkers)
    lp, m = ev.many(z)
    for _ in range(INIT_REDRAWS):
        bad = ~np.isfinite(lp)
        if not bad.any():
            break
        z[bad] = _initial(parameters, x0, settings, rng, int(bad.sum()))
        lp[bad], m[bad] = ev.many(z[bad])
    if not np.isfinite(lp).all():
        raise CalibrationError(f"{int((~np.isfinite(lp)).sum())} of {settings.walkers} initial "
                               "walkers have zero posterior after redrawing (outside the "
                               "priors, or the model failed: "
                               f"{ev.failures[0] if ev.failures else 'priors'})")
    return z, lp, m


def _initial(parameters: Sequence[FitParameter], x0: Sequence[float],
             settings: SamplerSettings, rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` initial fit-space walker positions (the seed makes them the same on every
    rank)."""
    cols = []
    for p, x in zip(parameters, x0, strict=True):
        lo, hi = p.to_fit(p.lower), p.to_fit(p.upper)
        if settings.init == "prior":
            cols.append(_sample_prior(p, rng, n))
        else:
            w = settings.init_spread * (hi - lo)
            z = p.to_fit(x) + w * rng.standard_normal(n)
            cols.append(np.clip(z, lo + 1e-9 * (hi - lo), hi - 1e-9 * (hi - lo)))
    return np.column_stack(cols)

