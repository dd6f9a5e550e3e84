"""Fit the finite-element model's own impedance spectrum to measured spectra.

``fem-cell fit-spectrum DATA [DATA ...] [CONFIG.toml] --free KEY[,KEY...] --out DIR``.

The model is the impedance job's small-signal model (:func:`fem_cell.jobs.impedance.
model_spectrum`, ROM sweep at the data's frequencies) of the configured cell at a state
(pristine, ``exposed``, or a checkpoint / run folder), at each spectrum's temperature.
Free parameters are configuration keys with units (default: :data:`DEFAULT_FREE` — the
Li3PO4 conductivity, the pristine interface resistance, the electrode double-layer
capacitance and the Li diffusivity in LiCoO2), fitted in log10 space within a factor
:data:`BOUND_FACTOR` of their start values (or given bounds).

Weighted least squares (:func:`scipy.optimize.least_squares`, trf), residuals stacked over
the real and imaginary parts of every spectrum:

* ``weighting = "modulus"`` (default): r = (Z_model − Z_data) / |Z_data| — every point
  counts by its relative error, the usual choice for spectra spanning decades in |Z|;
* ``"proportional"``: r_re = ΔZ′ / |Z′_data|, r_im = ΔZ″ / |Z″_data| (each part relative
  to itself; floors at 1e-6 |Z| keep a zero crossing from dominating).

Standard errors from the Jacobian at the optimum: cov = s² (JᵀJ)⁻¹ in log10 space with
s² = χ² / (2N − p) (the scatter of the residuals estimates the noise); a value's error is
``value · ln 10 · σ_log10``.  Correlations are those of the same covariance.  Several
spectra (e.g. at several temperatures) are fitted jointly: they share the parameters,
which determines activation energies when those are free.

The data are Kramers–Kronig checked before the fit (Lin-KK, :func:`fem_cell.analysis.eis.
kramers_kronig_checked`); a residual above :data:`KK_ACCEPT` gives a warning (the fit still
runs: drift and noise are the experimenter's to judge).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.analysis import eis
from fem_cell.analysis.measured import MeasuredSpectrum, read_spectrum
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import FemCellError, InputError, on_root
from fem_cell.jobs.impedance import model_spectrum
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job
from fem_cell.studies.calibration import (
    FitParameter,
    _override_value,
    _resolve,
    case_config,
)

#: the free parameters when none are named
DEFAULT_FREE = ("materials.Li3PO4.ionic_conductivity", "degraded_layer.pristine_resistance",
                "electrochemistry.electrode_double_layer_capacitance",
                "materials.LiCoO2.li_chemical_diffusivity")
#: default bounds: start ÷/× this factor
BOUND_FACTOR = 100.0
#: Lin-KK residual above which the data get a warning: measurement noise alone gives
#: residuals of a few times its level (1 % proportional noise on the default cell's
#: spectrum: 1.3 %), so this flags drift and non-linearity rather than noise
KK_ACCEPT = 3e-2
WEIGHTINGS = ("modulus", "proportional")
PLANNED = ("run.json", "summary.json", "fit.json", "fitted.toml", "fit_spectrum.csv",
           "nyquist_fit.png", "bode_fit.png", "residuals.png", "error_log.txt")


class FitSpectrumError(InputError):
    """A spectrum fit that cannot be set up (unknown or non-positive free key, no data)."""


@dataclass
class SpectrumFit:
    """The result of :func:`fit_spectra` (identical on every rank)."""

    parameters: list[dict]
    correlation: np.ndarray
    chi2: float
    dof: int
    weighting: str
    spectra: list[MeasuredSpectrum]
    model: list[np.ndarray]
    initial_model: list[np.ndarray]
    kk: list[dict]
    evaluations: int
    success: bool
    message: str
    wall_time: float = 0.0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"parameters": self.parameters,
                "correlation": np.asarray(self.correlation).tolist(),
                "chi2": self.chi2, "dof": self.dof,
                "reduced_chi2": self.chi2 / self.dof if self.dof > 0 else None,
                "weighting": self.weighting, "evaluations": self.evaluations,
                "success": self.success, "message": self.message,
                "wall_time_s": self.wall_time, "kramers_kronig": self.kk,
                "spectra": [{"source": s.source, "points": int(s.frequencies.size),
                             "temperature_K": s.temperature, "notes": s.notes}
                            for s in self.spectra],
                "warnings": self.warnings}

    @property
    def params(self) -> dict[str, float]:
        """Fitted values by configuration key, in the configuration's units."""
        return {p["key"]: p["value"] for p in self.parameters}

    @property
    def stderr(self) -> dict[str, float]:
        """Standard errors by configuration key, in the configuration's units."""
        return {p["key"]: p["stderr"] for p in self.parameters}

    def to_pandas(self):
        """The parameter table (one row per free key: unit, initial, value, stderr,
        relative_stderr, factor, lower, upper) as a DataFrame indexed by key."""
        import pandas as pd

        return pd.DataFrame(self.parameters).set_index("key")

    def plot(self, kind: str = "nyquist", path: str | Path | None = None):
        """The data and the fitted model as a matplotlib Figure: ``kind`` = ``"nyquist"``,
        ``"bode"`` or ``"residuals"``; saved to ``path`` when given."""
        from fem_cell.outputs import eis_plots

        makers = {"nyquist": lambda: eis_plots.nyquist_fit_figure(self.spectra, self.model),
                  "bode": lambda: eis_plots.bode_fit_figure(self.spectra, self.model),
                  "residuals": lambda: eis_plots.residual_fit_figure(
                      self.spectra, self.model, self.weighting)}
        if kind not in makers:
            raise ValueError(f"kind {kind!r}: one of {sorted(makers)}")
        fig = makers[kind]()
        if path is not None:
            fig.savefig(path, dpi=120)
        return fig

    def overlay_toml(self) -> str:
        """A user-config overlay with the fitted values (dotted keys as TOML tables)."""
        lines = ["# fitted by fem-cell fit-spectrum: use as (part of) a user config"]
        tables: dict[str, list[str]] = {}
        for p in self.parameters:
            section, _, name = p["key"].rpartition(".")
            form = "prefactor" if p.get("form") == "prefactor" else "value"
            err = f"  # +- {p['stderr']:.3g} {p['unit']}" if math.isfinite(p["stderr"]) else ""
            tables.setdefault(section, []).append(
                f'{name} = {{ {form} = {p["value"]:.6g}, unit = "{p["unit"]}", source = '
                f'"fitted to measured spectra (fem-cell fit-spectrum)" }}{err}')
        for section, items in tables.items():
            lines += ["", f"[{section}]", *items]
        return "\n".join(lines) + "\n"


def residuals(Z_model: np.ndarray, Z_data: np.ndarray, weighting: str) -> np.ndarray:
    """Weighted residuals [real parts, imaginary parts] (see the module docstring)."""
    d = Z_model - Z_data
    if weighting == "modulus":
        w = np.abs(Z_data)
        return np.concatenate([d.real / w, d.imag / w])
    floor = 1e-6 * np.abs(Z_data)
    return np.concatenate([d.real / np.maximum(np.abs(Z_data.real), floor),
                           d.imag / np.maximum(np.abs(Z_data.imag), floor)])


def fit_spectra(base_config, spectra: Sequence[MeasuredSpectrum], comm, *,
                free: Sequence[str | FitParameter] = DEFAULT_FREE,
                states: Sequence[Any] | None = None, weighting: str = "modulus",
                initial: dict[str, float] | None = None, max_nfev: int = 200,
                progress: bool = True, say=None, check=None, model=None) -> SpectrumFit:
    """Fit the model's spectra to measured ones (collective over ``comm``).

    Args:
        base_config: None (built-in cell), a user-config path or dict.
        spectra: the measured spectra (``temperature`` None = 25 °C).
        free: configuration keys (bounds: start ÷/× :data:`BOUND_FACTOR`) or
            :class:`FitParameter` objects.
        states: per spectrum: None (pristine), ``"exposed"``, or a checkpoint/run folder.
        weighting: ``"modulus"`` or ``"proportional"``.
        initial: key → start value in the key's unit (default: the configuration's).
        model: ``model(config, comm, f, state=, proton_fraction=, temperature=) -> Z``
            (default :func:`fem_cell.jobs.impedance.model_spectrum`), e.g. for tests.
    """
    from scipy.optimize import least_squares

    t0 = time.perf_counter()
    if weighting not in WEIGHTINGS:
        raise FitSpectrumError(f"weighting {weighting!r}: one of {WEIGHTINGS}")
    if not spectra:
        raise FitSpectrumError("no spectra to fit")
    states = list(states) if states is not None else [None] * len(spectra)
    if len(states) != len(spectra):
        raise FitSpectrumError(f"{len(states)} states for {len(spectra)} spectra")
    model = model or model_spectrum
    say = say or (lambda s: print(f"[fit-spectrum] {s}", flush=True) if comm.rank == 0
                  else None)
    params = _parameters(free, base_config, comm, initial or {})
    units, x0 = _resolve(params, base_config, None, comm)
    z0 = np.array([p.to_fit(x) for p, x in zip(params, x0, strict=True)])
    lo = np.array([p.to_fit(p.lower) for p in params])
    hi = np.array([p.to_fit(p.upper) for p in params])
    kk = [_kk(s) for s in spectra]
    warn = [f"{s.source}: Lin-KK residual {k['residual_max']:.2g} > {KK_ACCEPT:g}: the data "
            "are not Kramers-Kronig consistent (drift, noise or a non-linear response); "
            "the fit still ran" for s, k in zip(spectra, kk, strict=True)
            if not k["consistent"]]
    for w in warn:
        if progress:
            say(f"warning: {w}")
    count = {"n": 0}
    cache: dict[bytes, list[np.ndarray]] = {}

    def spectra_at(z: np.ndarray) -> list[np.ndarray]:
        key = np.asarray(z, float).tobytes()
        if key in cache:
            return cache[key]
        ov = {p.key: _override_value(p, u, p.from_fit(float(zi)))
              for p, u, zi in zip(params, units, z, strict=True)}
        out = []
        for s, st in zip(spectra, states, strict=True):
            cfg = on_root(comm, lambda: case_config(base_config, ov))  # noqa: B023
            kw = ({"proton_fraction": "exposed"} if st == "exposed" else {"state": st})
            Z = model(cfg, comm, s.frequencies, temperature=s.temperature or 298.15, **kw)
            out.append(comm.bcast(np.asarray(Z, dtype=complex), root=0))
        count["n"] += 1
        cache[key] = out
        if check is not None:
            check()
        return out

    def fun(z):
        Zs = spectra_at(z)
        r = np.concatenate([residuals(Zm, s.Z_ohm_cm2, weighting)
                            for Zm, s in zip(Zs, spectra, strict=True)])
        if progress:
            vals = " ".join(f"{p.key.split('.')[-1]}={p.from_fit(float(zi)):.4g}"
                            for p, zi in zip(params, z, strict=True))
            say(f"evaluation {count['n']}: chi2 {float(r @ r):.4g}  {vals}")
        return r

    initial_model = spectra_at(z0)
    try:
        ls = least_squares(fun, z0, bounds=(lo, hi), method="trf", x_scale=1.0,
                           diff_step=1e-4, max_nfev=max_nfev, xtol=1e-6, ftol=1e-8)
    except (FemCellError, ValueError) as e:
        raise FitSpectrumError(f"the fit failed: {e}") from None
    z = ls.x
    r = fun(z)
    J = np.asarray(ls.jac, dtype=float)
    m, n = r.size, z.size
    dof = m - n
    chi2 = float(r @ r)
    s2 = chi2 / dof if dof > 0 else 1.0
    cov = s2 * np.linalg.pinv(J.T @ J)
    sd = np.sqrt(np.maximum(np.diag(cov), 0.0))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    rows = []
    at_bound = []
    for j, (p, u) in enumerate(zip(params, units, strict=True)):
        v = p.from_fit(float(z[j]))
        err = v * math.log(10) * sd[j]
        if min(z[j] - lo[j], hi[j] - z[j]) < 1e-6 * (hi[j] - lo[j]):
            at_bound.append(p.key)
        rows.append({"key": p.key, "unit": u, "form": p.form, "initial": x0[j], "value": v,
                     "stderr": float(err), "relative_stderr": float(err / v) if v else None,
                     "factor": float(10 ** sd[j]), "lower": p.lower, "upper": p.upper})
    if at_bound:
        warn.append(f"at a bound: {', '.join(at_bound)} (widen the bounds or fix it)")
    res = SpectrumFit(rows, corr, chi2, dof, weighting, list(spectra), spectra_at(z),
                      initial_model, kk, count["n"], bool(ls.success), str(ls.message),
                      time.perf_counter() - t0, warn)
    return res


def read_spectra(items: Sequence, temperatures_C: Sequence[float | None], *,
                 units: str | None = None, area_cm2: float | None = None,
                 imag_sign: int | None = None, flag: str = "temperature",
                 spectrum: int | str | None = None) -> list:
    """The spectra to fit (rank 0): each item a file (read with ``units``, ``area_cm2``,
    ``imag_sign``, ``spectrum``), a DataFrame from ``fem_cell.read_spectrum`` or a
    :class:`MeasuredSpectrum`, with its temperature (°C; None: keep the item's).  ``flag``
    names the temperature in errors (the CLI's ``--temperature-C``)."""
    out = []
    for item, t in zip(items, temperatures_C, strict=True):
        if t is not None and not -100.0 <= float(t) <= 400.0:
            raise FitSpectrumError(f"{flag} {t:g}: outside -100..400 °C")
        if isinstance(item, MeasuredSpectrum):
            s = item
        elif isinstance(item, (str, Path)):
            s = read_spectrum(item, units=units, area_cm2=area_cm2, imag_sign=imag_sign,
                              spectrum=spectrum)
        elif hasattr(item, "columns"):
            s = MeasuredSpectrum.from_pandas(item)
        else:
            raise FitSpectrumError(f"cannot fit a {type(item).__name__}: give a file, a "
                                   "DataFrame from fem_cell.read_spectrum or a "
                                   "MeasuredSpectrum")
        if t is not None:
            s.temperature = float(t) + ZERO_CELSIUS
        out.append(s)
    return out


def fit_spectrum(data, comm, config=None, *, free: Sequence[str] = DEFAULT_FREE,
                 temperature_C: float | Sequence[float] | None = None, state=None,
                 weighting: str = "modulus", units: str | None = None,
                 area_cm2: float | None = None, imag_sign: int | None = None,
                 spectrum: int | str | None = None,
                 initial: dict[str, float] | None = None,
                 progress: bool = False) -> SpectrumFit:
    """``fem_cell.fit_spectrum``: fit the model to measured spectra, in memory (collective).

    Args:
        data: a file path, a DataFrame from ``fem_cell.read_spectrum``, a
            :class:`MeasuredSpectrum`, or a list of these (fitted jointly).
        comm: the communicator the model runs on (e.g. ``MPI.COMM_SELF``).
        config: None (built-in cell), a user-config path or dict.
        free: configuration keys to fit (default :data:`DEFAULT_FREE`).
        temperature_C: each spectrum's temperature (°C): one value for all, one per
            spectrum, or None (a table's ``temperature_K`` attribute, else 25 °C).
        state: None (pristine), ``"exposed"``, or a checkpoint / run folder.
        weighting: ``"modulus"`` or ``"proportional"`` (module docstring).
        units, area_cm2, imag_sign, spectrum: how to read files (:func:`read_spectrum`;
            ``spectrum`` picks one of several spectra in an instrument file).
        initial: start values by key (config units; default the configuration's).

    Returns:
        :class:`SpectrumFit`: ``.params`` and ``.stderr`` (dicts by key, config units),
        ``.to_pandas()``, ``.plot()``, ``.overlay_toml()``.

    Example::

        from mpi4py import MPI
        import fem_cell
        fit = fem_cell.fit_spectrum("docs/examples/spectrum_circuit.csv", MPI.COMM_SELF,
                                    units="ohm", area_cm2=0.01)
        fit.params["degraded_layer.pristine_resistance"]      # Ω cm²
        fit.plot("nyquist", "nyquist.png")
    """
    items = list(data) if isinstance(data, (list, tuple)) else [data]
    if not items:
        raise FitSpectrumError("no spectra to fit")
    temps = (temperature_C if isinstance(temperature_C, (list, tuple)) else
             [temperature_C] * len(items))
    if len(temps) != len(items):
        raise FitSpectrumError(f"{len(temps)} temperatures for {len(items)} spectra")

    spectra = on_root(comm, lambda: read_spectra(items, temps, units=units, area_cm2=area_cm2,
                                                 imag_sign=imag_sign, spectrum=spectrum))
    return fit_spectra(config, spectra, comm, free=list(free), states=[state] * len(spectra),
                       weighting=weighting, initial=initial, progress=progress)


def _parameters(free, base_config, comm, initial: dict[str, float]) -> list[FitParameter]:
    """FitParameters of the free keys: log10, bounds start ÷/× BOUND_FACTOR, unit and form
    as the configuration writes the key."""
    keys = [f for f in free if isinstance(f, str)]

    def starts():
        cfg = case_config(base_config, {})
        out = {}
        for k in keys:
            st = cfg.settings.get(k)
            if st is None or isinstance(st.value, bool) or not isinstance(st.value,
                                                                           (int, float)):
                raise FitSpectrumError(f"--free {k}: not a numeric setting of the "
                                       "configuration (see `fem-cell config`)")
            out[k] = (st.unit or st.si_unit or "1", float(st.value), st.form)
        return out

    given = on_root(comm, starts) if keys else {}
    out = []
    for f in free:
        if isinstance(f, FitParameter):
            out.append(f)
            continue
        unit, x0, form = given[f]
        x0 = float(initial.get(f, x0))
        if not x0 > 0:
            raise FitSpectrumError(f"--free {f}: start value {x0:g} {unit}: only positive "
                                   "quantities can be fitted (in log10)")
        out.append(FitParameter(f, x0, lower=x0 / BOUND_FACTOR, upper=x0 * BOUND_FACTOR,
                                log=True, unit=unit, form=form))
    if len({p.key for p in out}) != len(out):
        raise FitSpectrumError(f"free parameters must be unique: {[p.key for p in out]}")
    return out


def _kk(s: MeasuredSpectrum) -> dict:
    try:
        k = eis.kramers_kronig_checked(s.frequencies, s.Z_ohm_cm2)
        res = float(k.residual_max)
        return {"source": s.source, "M": k.M, "residual_max": res,
                "consistent": bool(res <= KK_ACCEPT)}
    except Exception as e:  # noqa: BLE001 - a failed check is reported, not fatal
        return {"source": s.source, "M": None, "residual_max": None, "consistent": False,
                "error": f"{type(e).__name__}: {e}"}


# ------------------------------------------------------------------ the job --------
def fit_spectrum_job(base_config, spectra: Sequence[MeasuredSpectrum], out, comm, *,
                     free=DEFAULT_FREE, states=None, weighting: str = "modulus",
                     overwrite: bool = False, progress: bool = True, guard=NO_GUARD,
                     announce=None, inputs: tuple = ()) -> SpectrumFit:
    """:func:`fit_spectra` into a run folder: ``fit.json``, ``fitted.toml``,
    ``fit_spectrum.csv``, ``nyquist_fit.png``, ``bode_fit.png``, ``residuals.png``."""
    if weighting not in WEIGHTINGS:
        raise FitSpectrumError(f"weighting {weighting!r}: one of {WEIGHTINGS}")
    free = _parameters(free, base_config, comm, {})  # checked before the folder is touched
    info = {"spectra": [s.source for s in spectra], "free": [p.key for p in free],
            "weighting": weighting}
    with Job("fit-spectrum", out, comm, overwrite=overwrite, planned=PLANNED,
             announce=announce, guard=guard, progress=progress, info=info,
             inputs=inputs) as job:
        res = fit_spectra(base_config, spectra, comm, free=free, states=states,
                          weighting=weighting, progress=progress, say=job.say,
                          check=job.check)
        if job.folder is not None and comm.rank == 0:
            job.file("fit.json").write_text(json.dumps(res.to_dict(), indent=2) + "\n",
                                            encoding="utf-8")
            job.file("fitted.toml").write_text(res.overlay_toml(), encoding="utf-8")
            _write_table(res, job.file("fit_spectrum.csv"))
            from fem_cell.outputs.eis_plots import plot_fit_overlay

            plot_fit_overlay(res.spectra, res.model, job.file("nyquist_fit.png"),
                             job.file("bode_fit.png"), job.file("residuals.png"),
                             weighting)
        summary = {"chi2": res.chi2, "reduced_chi2": res.chi2 / res.dof if res.dof else None,
                   "evaluations": res.evaluations, "success": res.success,
                   **{f"{p['key']} [{p['unit']}]": p["value"] for p in res.parameters},
                   **{f"{p['key']} stderr [{p['unit']}]": p["stderr"]
                      for p in res.parameters},
                   "kk_consistent": all(k["consistent"] for k in res.kk),
                   "warnings": res.warnings}
        job.finish(summary)
    return res


def _write_table(res: SpectrumFit, path: Path) -> None:
    import csv

    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["spectrum", "frequency_Hz", "Z_real_data_ohm_cm2", "Z_imag_data_ohm_cm2",
                    "Z_real_model_ohm_cm2", "Z_imag_model_ohm_cm2", "rel_residual_real",
                    "rel_residual_imag"])
        for s, Zm in zip(res.spectra, res.model, strict=True):
            a = np.abs(s.Z_ohm_cm2)
            for fi, zd, zm, ai in zip(s.frequencies, s.Z_ohm_cm2, Zm, a, strict=True):
                w.writerow([s.label, f"{fi:.8g}", f"{zd.real:.8g}", f"{zd.imag:.8g}",
                            f"{zm.real:.8g}", f"{zm.imag:.8g}", f"{(zm - zd).real / ai:.4g}",
                            f"{(zm - zd).imag / ai:.4g}"])


__all__ = ["DEFAULT_FREE", "FitSpectrumError", "SpectrumFit", "fit_spectra",
           "fit_spectrum", "fit_spectrum_job", "read_spectra", "residuals"]
