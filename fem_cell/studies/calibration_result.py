"""The outcome of a calibration (:func:`fem_cell.studies.calibration.calibrate`): the
statistics at the optimum and :class:`CalibrationResult`, with its tables and files.

:func:`fit_statistics` computes, from the Jacobian of the weighted residuals in fit space,
the covariance, standard errors and correlations as the "Standard errors" section of
:mod:`fem_cell.studies.calibration` describes (residual variance over the active targets,
or the target sigmas when the problem is not over-determined; unidentifiable directions
by SVD).  :func:`parameter_rows` and :func:`target_rows` make the result's tables.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_SINGULAR_RTOL = 1e-8


def jsonable(obj):
    """``obj`` with numpy scalars as Python numbers and mappings/sequences as dicts/lists."""
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, np.integer)):
        return obj.item()
    return obj


def listify(a: np.ndarray) -> list[list[float]]:
    """A matrix as a list of lists of floats (JSON-ready)."""
    return [[float(x) for x in row] for row in np.asarray(a)]


# ----------------------------------------------------------------- statistics -----
@dataclass
class FitStatistics:
    """The statistics at the optimum, in fit space (log10 of the value, or the value).

    Attributes:
        active: per target, whether it contributes at the optimum (a one-sided target that
            holds does not).
        dof: active targets − free parameters.
        residual_variance: s², and ``error_basis`` the way it was chosen.
        singular_values: of the Jacobian of the active targets.
        identifiable: per parameter.
        covariance: s² (JᵀJ)⁻¹; ``correlation`` from it.
        stderr: per parameter, √diag(covariance); ``stderr_sigmas`` the same with s² = 1.
    """

    active: np.ndarray
    dof: int
    residual_variance: float
    error_basis: str
    singular_values: np.ndarray
    identifiable: list[bool]
    covariance: np.ndarray
    correlation: np.ndarray
    stderr: np.ndarray
    stderr_sigmas: np.ndarray


def fit_statistics(J: np.ndarray, r_opt: np.ndarray, kinds: Sequence[str]) -> FitStatistics:
    """Statistics of the weighted residuals ``r_opt`` (one per target, of the given
    ``kinds``) with Jacobian ``J`` (∂r_i/∂p_j in fit space) at the optimum."""
    active = np.array([not (k != "equal" and r == 0.0) for k, r in
                       zip(kinds, r_opt, strict=True)])
    m_active = int(active.sum())
    n = J.shape[1]
    dof = m_active - n
    if dof > 0:
        s2 = float(np.sum(r_opt[active] ** 2) / dof)
        basis = "residual variance"
    else:
        s2 = 1.0
        basis = ("target sigmas (exactly determined)" if dof == 0
                 else "target sigmas (under-determined)")
    Ja = J[active]
    _, sv, vt = np.linalg.svd(Ja, full_matrices=True)
    tol = _SINGULAR_RTOL * (sv.max() if sv.size else 1.0)
    rank = int(np.sum(sv > tol))
    null = vt[rank:].T                              # n × (n − rank): unidentifiable directions
    identifiable = [bool(np.all(np.abs(null[j]) < 1e-6)) for j in range(n)]
    inv = np.zeros(n)
    inv[:rank] = 1.0 / sv[:rank] ** 2
    cov1 = (vt.T * inv) @ vt                       # (JᵀJ)⁻¹: errors from the target sigmas
    for j in range(n):
        if not identifiable[j]:
            cov1[j, :] = np.inf
            cov1[:, j] = np.inf
    cov = s2 * cov1
    std1 = np.sqrt(np.abs(np.diag(cov1)))
    std = np.sqrt(np.abs(np.diag(cov)))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(std, std)
    return FitStatistics(active, dof, s2, basis, sv, identifiable, cov, corr, std, std1)


def parameter_rows(parameters: Sequence, units: Sequence[str], initial: Sequence[float],
                   values: Sequence[float], u_opt: np.ndarray,
                   stats: FitStatistics) -> list[dict]:
    """The result's row of every free parameter (see :attr:`CalibrationResult.parameters`);
    ``u_opt``: the optimum scaled to [0, 1] over the bounds."""
    params_out = []
    for j, p in enumerate(parameters):
        v = values[j]
        sf = float(stats.stderr[j])
        params_out.append({
            "key": p.key, "unit": units[j], "form": p.form, "log": p.log, "lower": p.lower,
            "upper": p.upper,
            "initial": float(initial[j]), "value": v, "stderr_fit": sf,
            "stderr": (v * math.log(10.0) * sf) if p.log else sf,
            "stderr_fit_sigmas": float(stats.stderr_sigmas[j]),
            "factor": (10.0 ** sf if math.isfinite(sf) else math.inf) if p.log else None,
            "identifiable": stats.identifiable[j],
            "at_bound": bool(u_opt[j] <= 1e-6 or u_opt[j] >= 1 - 1e-6)})
    return params_out


def target_rows(targets: Sequence, r_opt: np.ndarray, r_init: np.ndarray,
                model_opt: Mapping[str, float], model_init: Mapping[str, float],
                active: np.ndarray) -> list[dict]:
    """The result's row of every target (see :attr:`CalibrationResult.targets`)."""
    targets_out = []
    for i, t in enumerate(targets):
        r = float(r_opt[i])
        targets_out.append({
            "name": t.name, "job": t.job, "quantity": t.quantity, "kind": t.kind,
            "transform": t.transform, "value": t.value, "sigma": t.sigma,
            "overrides": jsonable(dict(t.overrides)),
            "model_initial": float(model_init[t.name]), "model": float(model_opt[t.name]),
            "residual_initial": float(r_init[i]), "residual": r, "active": bool(active[i]),
            "satisfied": bool(abs(r) <= 1.0) if t.kind == "equal" else r == 0.0})
    return targets_out


# ----------------------------------------------------------------- result ---------
@dataclass
class Optimum:
    """What the optimiser found (the same on every rank): the point ``u`` (every parameter
    scaled to [0, 1] over its bounds in fit space), ∂r/∂u there, the residuals and model
    values at the optimum and at the start, and least_squares' report."""

    u: np.ndarray
    jacobian_u: np.ndarray
    residuals: np.ndarray
    model: dict[str, float]
    residuals_initial: np.ndarray
    model_initial: dict[str, float]
    nfev: int
    success: bool
    status: int
    message: str


def calibration_result(parameters: Sequence, targets: Sequence, units: Sequence[str],
                       initial: Sequence[float], values: Sequence[float], span: np.ndarray,
                       opt: Optimum, *, method: str, wall_time: float,
                       evaluations: list[dict]) -> CalibrationResult:
    """The :class:`CalibrationResult` at the optimum ``opt``: ``values`` the fitted values
    (in ``units``), ``span`` each parameter's fit-space range (u = p / span); statistics
    in fit space (:func:`fit_statistics`)."""
    J = opt.jacobian_u / span[None, :]                   # ∂r/∂p = ∂r/∂u / span
    r_opt, r_init = opt.residuals, opt.residuals_initial
    st = fit_statistics(J, r_opt, [t.kind for t in targets])
    return CalibrationResult(
        parameters=parameter_rows(parameters, units, initial, values, opt.u, st),
        targets=target_rows(targets, r_opt, r_init, opt.model, opt.model_initial, st.active),
        cost=0.5 * float(r_opt @ r_opt), cost_initial=0.5 * float(r_init @ r_init),
        nfev=opt.nfev, dof=st.dof, residual_variance=st.residual_variance,
        error_basis=st.error_basis, covariance=listify(st.covariance),
        correlation=listify(st.correlation), jacobian=listify(J),
        singular_values=[float(s) for s in st.singular_values], success=opt.success,
        status=opt.status, message=opt.message, wall_time=wall_time, method=method,
        evaluations=evaluations)


@dataclass
class CalibrationResult:
    """Outcome of :func:`~fem_cell.studies.calibration.calibrate` (identical on all ranks).

    Attributes:
        parameters: one dict per free parameter: ``key``, ``unit``, ``log``, ``lower``,
            ``upper``, ``initial``, ``value``, ``stderr_fit`` (in fit space: decades for log
            parameters, else the unit), ``stderr`` (linearised, in ``unit``),
            ``factor`` (10**stderr_fit for log parameters), ``stderr_fit_sigmas`` (fit
            space, from the target sigmas alone, s² = 1), ``identifiable``, ``at_bound``.
        targets: one dict per target: its definition, ``model_initial``, ``model``,
            ``residual_initial``, ``residual``, ``active`` (contributes at the optimum),
            ``satisfied`` (|residual| ≤ 1 for equal targets, hinge holds for one-sided).
        cost: ½ Σ r² at the optimum; ``cost_initial`` at the start.
        nfev: case-set evaluations (each runs every distinct case once).
        dof: active targets − free parameters; ``residual_variance`` s² used for the errors;
            ``error_basis``: ``"residual variance"`` or ``"target sigmas (exactly or
            under-determined)"``.
        covariance, correlation: in fit space (lists of lists, JSON-ready).
        jacobian: ∂r_i/∂p_j in fit space at the optimum.
        singular_values: of the Jacobian; ``identifiable``: per parameter.
        success, status, message: from scipy.optimize.least_squares.
        wall_time: s.
        evaluations: every evaluated point (fit-space parameters, model values, cost).
    """

    parameters: list[dict]
    targets: list[dict]
    cost: float
    cost_initial: float
    nfev: int
    dof: int
    residual_variance: float
    error_basis: str
    covariance: list[list[float]]
    correlation: list[list[float]]
    jacobian: list[list[float]]
    singular_values: list[float]
    success: bool
    status: int
    message: str
    wall_time: float
    method: str = "trf"
    evaluations: list[dict] = field(default_factory=list)

    @property
    def values(self) -> dict[str, float]:
        """Dotted key → fitted value (in the parameter's unit)."""
        return {p["key"]: p["value"] for p in self.parameters}

    def overrides(self) -> dict[str, Any]:
        """Dotted key → config override of the fitted values (``{value, unit}``)."""
        def one(p):
            if p.get("form") == "prefactor":
                return {"prefactor": p["value"], "unit": p["unit"] or "1"}
            if p["unit"] in ("", "1"):
                return p["value"]
            return {"value": p["value"], "unit": p["unit"]}

        return {p["key"]: one(p) for p in self.parameters}

    def to_dict(self) -> dict[str, Any]:
        return jsonable({
            "parameters": self.parameters, "targets": self.targets, "cost": self.cost,
            "cost_initial": self.cost_initial, "nfev": self.nfev, "dof": self.dof,
            "residual_variance": self.residual_variance, "error_basis": self.error_basis,
            "covariance_fit_space": self.covariance, "correlation": self.correlation,
            "jacobian_fit_space": self.jacobian, "singular_values": self.singular_values,
            "success": self.success, "status": self.status, "message": self.message,
            "method": self.method, "wall_time_s": self.wall_time})

    def table(self) -> str:
        """Human-readable parameter and target tables."""
        lines = [f"{'parameter':55s} {'initial':>11s} {'fitted':>11s}  {'std. error':22s} unit"]
        for p in self.parameters:
            if p["log"]:
                err = (f"x/ {p['factor']:.3g} ({p['stderr_fit']:.2g} dec)"
                       if math.isfinite(p["stderr_fit"]) else "not identifiable")
            else:
                err = (f"+- {p['stderr']:.3g}" if math.isfinite(p["stderr"])
                       else "not identifiable")
            flag = " (at bound)" if p["at_bound"] else ""
            lines.append(f"{p['key']:55s} {p['initial']:11.4g} {p['value']:11.4g}  "
                         f"{err:22s} {p['unit']}{flag}")
        lines.append("")
        lines.append(f"{'target':24s} {'kind':9s} {'value':>9s} {'sigma':>7s} {'initial':>10s} "
                     f"{'fitted':>10s} {'r_init':>8s} {'r':>8s}  ok")
        sym = {"equal": "=", "at_least": ">=", "at_most": "<="}
        for t in self.targets:
            lines.append(f"{t['name']:24s} {sym[t['kind']]:9s} {t['value']:9.4g} "
                         f"{t['sigma']:7.3g} {t['model_initial']:10.5g} {t['model']:10.5g} "
                         f"{t['residual_initial']:8.3f} {t['residual']:8.3f}  "
                         f"{'yes' if t['satisfied'] else 'NO'}")
        lines.append("")
        lines.append(f"cost {self.cost_initial:.4g} -> {self.cost:.4g}, {self.nfev} evaluations, "
                     f"dof {self.dof}, errors from {self.error_basis} (s2 = "
                     f"{self.residual_variance:.3g}), {self.wall_time:.1f} s; "
                     f"{self.message}")
        return "\n".join(lines)

    def write(self, out: str | Path) -> None:
        """Write ``parameters.json`` (everything in :meth:`to_dict`), ``targets.csv`` and
        ``evaluations.csv`` into the folder ``out`` (created). Call on rank 0 only."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "parameters.json").write_text(json.dumps(self.to_dict(), indent=2) + "\n")
        cols = ["name", "job", "quantity", "kind", "transform", "value", "sigma",
                "model_initial", "model", "residual_initial", "residual", "active",
                "satisfied", "overrides"]
        with open(out / "targets.csv", "w", newline="") as f:
            w = csv.writer(f)
            w.writerow(cols)
            for t in self.targets:
                w.writerow([json.dumps(jsonable(t[c])) if c == "overrides" else t[c]
                            for c in cols])
        if self.evaluations:
            keys = [p["key"] for p in self.parameters]
            names = [t["name"] for t in self.targets]
            with open(out / "evaluations.csv", "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["evaluation", *keys, *names, "cost"])
                for e in self.evaluations:
                    w.writerow([e["n"], *e["values"], *[e["model"][n] for n in names],
                                e["cost"]])


__all__ = ["CalibrationResult", "FitStatistics", "Optimum", "calibration_result", "fit_statistics",
           "jsonable", "listify", "parameter_rows", "target_rows"]
