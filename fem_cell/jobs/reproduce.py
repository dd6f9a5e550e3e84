"""The main job: reproduce the experiment of Kobayashi, Hitosugi et al. (2022) in one go.

The rows, their paper values, criteria and roles (input / by construction / fitted /
predicted) are defined in :mod:`fem_cell.jobs.reproduce_cases`.  For every exposure,
anneal and prediction case the cell's impedance spectrum is computed at 25 °C by
small-signal solves (:func:`fem_cell.jobs.impedance.cell_impedance`) and the interface
resistance is the fitted interface arc (what the experiment reports); the diagnostic
integral of the state is listed beside it.  The anneals, the 7-day hold and the
predicted programs are full runs (exposure simulation, heat, Li⁺/H⁺ transport) in
sub-folders (``anneal_H2O/``, ``hold_7days_25C/``, ``predictions/<case>/``).  Predictions
carry the calibration's linearised uncertainty (:mod:`fem_cell.config.calibration_record`)
when the cell's calibration record applies.  A small 2-D exposure + anneal
(``anneal_2d_small/``) shows the proton field before and after, with R_interface under
the Li pad beside the film average; its figure says how far its coarse mesh puts the
exposed R from the 1-D value.

Outputs: ``reproduction.csv`` (:data:`COLUMNS`), ``nyquist.png``, ``report.html``
(self-contained: roles, table, parameters and their origins, predictions, limits,
figures), ``summary.json``, ``run.json``, ``spectra/<case>.csv``.
"""

from __future__ import annotations

import csv
import dataclasses
import gc
from pathlib import Path

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.config import RunConfig, load_config
from fem_cell.config.calibration_record import propagate, record_for
from fem_cell.config.keys import overrides_from_keys
from fem_cell.config.posterior_draws import PosteriorDraws, read_draws
from fem_cell.errors import ConfigError, FemCellError, on_root
from fem_cell.jobs.anneal import anneal_job, run_anneal
from fem_cell.jobs.impedance import cell_impedance
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.jobs.reproduce_cases import (
    ALL_CASES,
    EXPOSURE_CASES,
    LIMITS,
    PREDICTION_CASES,
    PROGRAMS,
    ROLES,
    Case,
    air_expectation,
    meets,
)
from fem_cell.model import CellModel, ChemistryDiagnostics
from fem_cell.outputs import plots, section
from fem_cell.outputs.report import write_report
from fem_cell.outputs.rundir import OUTPUTS
from fem_cell.params import Arrhenius
from fem_cell.physics.exposure import water_activity
from fem_cell.solvers.problem import collect_garbage

#: columns of reproduction.csv
COLUMNS = ("case", "role", "quantity", "value", "uncertainty", "p05", "p50", "p95", "paper",
           "relative_difference", "criterion", "meets", "R_interface_state_ohm_cm2",
           "R_interface_fit_stderr_ohm_cm2", "kk_residual_max", "what")
SEVEN_DAYS = {"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "168 h"}]},
              "solver": {"dt_max": "1 h"}, "output": {"field_interval": "12 h"}}
QUIET = {"output": {"fields": False, "plots": False, "render": False, "checkpoints": False}}
#: the small 2-D run's mesh: coarse laterally, 32 cells per layer through the thickness
#: (exposed R -0.39 % from mesh-converged; 16 would give -1.5 %: scripts/mesh_convergence.py)
SMALL_2D_MESH = {"dim": 2, "cells_per_layer": 32, "lateral_cells": 16, "lateral_growth": 1.5,
                 "growth": 1.5, "max_cell_size": "100 um"}


def _exposure(config: RunConfig, gas: str):
    return dataclasses.replace(config.exposure, gas="vacuum" if gas == "pristine" else gas)


def reproduce_job(config: RunConfig, out, comm: MPI.Comm, *, overwrite: bool = False,
                  progress: bool = True, guard=NO_GUARD, announce=None,
                  provenance: dict | None = None, render_2d: bool = True,
                  posterior: str | Path | None = None, samples: int = 20,
                  sample_seed: int = 0) -> JobResult:
    """``fem-cell reproduce``: all rows, their spectra, the table and the report.

    A stop (Ctrl-C, a failure) after some cases keeps them: ``reproduction.csv`` and the
    report list the rows computed so far.  ``posterior``: the folder of a posterior
    calibration; the predicted rows then also get 5/50/95 % bands over ``samples`` of its
    samples (``sample_seed`` chooses them): columns ``p05``, ``p50``, ``p95``.
    """
    draws = None
    if posterior is not None:
        draws = on_root(comm, lambda: read_draws(posterior, samples, sample_seed))
    inputs = tuple(p for p in (config.mesh.file, posterior) if p)
    with Job("reproduce", out, comm, config=config, overwrite=overwrite,
             planned=OUTPUTS["reproduce"], inputs=inputs, announce=announce, guard=guard,
             progress=progress,
             info={"dim": config.mesh.dim, "provenance": provenance or {}}) as job:
        run = _Reproduction(job, config, overwrite, provenance, draws)
        try:
            run.exposures()
            run.anneals()
            run.predictions()
            run.derived()
            if render_2d and config.mesh.dim == 1 and job.folder is not None:
                run.small_2d()
        except (Interrupted, FemCellError):
            run.write(partial=True)
            raise
        rows = run.write(partial=False)
        n_ok = sum(r["meets"] == "yes" for r in rows)
        n_crit = sum(r["meets"] in ("yes", "no") for r in rows)
        res = run.results["H2O_annealed_150C_1h"]
        summary = {"cases": {r["case"]: {k: r[k] for k in r if k != "case"} for r in rows},
                   "cases_meeting_paper": n_ok, "cases_total": n_crit,
                   "by_role": _count_roles(rows),
                   "H_LiCoO2_removed_fraction_after_anneal": run.values["case8_protons_removed"],
                   "case8_protons_removed_ge_90_percent":
                       run.values["case8_protons_removed"] >= 0.90,
                   "R_interface_ohm_cm2": res["R_fit"],
                   "predictions": {c.name: {"R_interface_ohm_cm2": run.values[c.name],
                                            "uncertainty_ohm_cm2": run.uncertainty.get(c.name),
                                            "band_ohm_cm2": run.bands.get(c.name)}
                                   for c in (*PREDICTION_CASES, EXPOSURE_CASES[-1])},
                   "posterior_bands": run.band_info,
                   "calibration_record": run.record.source if run.record else None,
                   "small_2d": run.small_2d_info}
        job.say(f"done: {n_ok}/{n_crit} rows meet their criterion ("
                + ", ".join(f"{k} {v}" for k, v in summary["by_role"].items()) + ")")
        return job.finish(summary, tables={"cases": _RowsTable(rows)})


def _count_roles(rows) -> dict[str, str]:
    out = {}
    for role in ("input", "by_construction", "fitted", "predicted"):
        rr = [r for r in rows if r["role"] == role]
        ok = sum(r["meets"] == "yes" for r in rr)
        crit = sum(r["meets"] in ("yes", "no") for r in rr)
        out[role] = f"{ok}/{crit} met" + (f", {len(rr) - crit} without criterion"
                                           if len(rr) > crit else "")
    return out


class _Reproduction:
    """The rows computed so far (values, spectra, uncertainties) and how to compute them."""

    def __init__(self, job: Job, config: RunConfig, overwrite: bool, provenance,
                 draws: PosteriorDraws | None = None):
        self.job, self.config, self.overwrite, self.provenance = job, config, overwrite, provenance
        self.draws = draws
        #: predicted case → its (p05, p50, p95) over the posterior draws
        self.bands: dict[str, tuple[float, float, float]] = {}
        self.band_info: dict | None = None
        self.comm = job.comm
        self.results: dict[str, dict] = {}
        self.values: dict[str, float] = {}
        self.spectra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.uncertainty: dict[str, float] = {}
        self.record = record_for(config)
        self.anneal = None
        self.small_2d_info: dict | None = None

    # -- cases ---------------------------------------------------------------------------
    def keep(self, case: str, imp) -> None:
        s = imp.summary()
        self.results[case] = {"R_fit": s["R_interface_fit_ohm_cm2"],
                              "R_fit_stderr": s["R_interface_fit_stderr_ohm_cm2"],
                              "R_state": s["R_interface_ohm_cm2"],
                              "kk_residual_max": s["kk_residual_max"],
                              "apex_interface_Hz": s["apex_frequencies_Hz"]["interface"]}
        self.values[case] = s["R_interface_fit_ohm_cm2"]
        self.spectra[case] = (imp.frequencies, imp.Z_ohm_cm2)
        r = self.results[case]
        self.job.say(f"{case:24s} R_interface {r['R_fit']:8.2f} Ω cm² (spectrum's arc), "
                     f"{r['R_state']:8.2f} (diagnostic)")

    def exposures(self) -> None:
        job = self.job
        with job.guard.deferred():
            for c in EXPOSURE_CASES:
                job.say(f"{c.name}: exposure (simulated) + impedance")
                self.keep(c.name, cell_impedance(self.config, self.comm,
                                                 proton_fraction=_exposure(self.config, c.name)))
                job.check()
        a_w = water_activity(_exposure(self.config, "air"))
        self.values["air_expected"] = air_expectation(self.values["H2O"],
                                                      self.values["pristine"], a_w)

    def _anneal_and_measure(self, case: str, cfg: RunConfig, sub: str):
        """The H2O-exposed cell through ``cfg``'s program (run folder ``sub``), then the
        impedance of its last state."""
        job = self.job
        where = None if job.folder is None else job.folder.path / sub
        res = anneal_job(cfg.with_exposure(gas="H2O", origin="reproduce"), where, self.comm,
                         overwrite=self.overwrite, progress=False, guard=job.guard,
                         provenance=self.provenance)
        job.tree(sub, "**/*")
        with job.guard.deferred():
            if where is not None:
                self.keep(case, cell_impedance(cfg, self.comm, state=where))
            else:  # no folder: the diagnostic of the last state
                self.values[case] = res.summary["R_interface_ohm_cm2"]
        return res

    def anneals(self) -> None:
        self.job.say("H2O_annealed_150C_1h: anneal of the H2O-exposed cell (heat + transport)")
        self.anneal = self._anneal_and_measure("H2O_annealed_150C_1h", self.config,
                                               "anneal_H2O")
        self.job.say("H2O_7days_25C: 7 days at 25 °C after the H2O exposure")
        self._anneal_and_measure("H2O_7days_25C", self._with(SEVEN_DAYS), "hold_7days_25C")

    def predictions(self) -> None:
        for c in PREDICTION_CASES:
            self.job.say(f"{c.name}: prediction ({c.what})")
            self._anneal_and_measure(c.name, self._with({"anneal": {"segments":
                                                                    PROGRAMS[c.name]}}),
                                     f"predictions/{c.name}")
        names = [c.name for c in PREDICTION_CASES] + ["air"]
        if self.record is None:
            self.job.say("no calibration record applies: predictions without linearised "
                         "uncertainty")
        else:
            self.job.say("uncertainty of the predictions (linearised, calibration covariance)")
            base = self._diagnostics({})
            with self.job.guard.deferred():
                sd = propagate(self.record, self._diagnostics, base)
            self.uncertainty = {n: sd[n] for n in names}
        if self.draws is not None:
            self._posterior_bands(names)

    def _posterior_bands(self, names: list[str]) -> None:
        """5/50/95 % of the predictions over the posterior draws."""
        d = self.draws
        n = len(d.table)
        self.job.say(f"posterior bands of the predictions: {n} samples of {d.folder}"
                     + ("" if d.converged else " (its chains did NOT converge: the bands are "
                        "indicative only)"))
        per = []
        try:
            for i in range(n):
                per.append(self._diagnostics(d.overrides(i)))
                # each sample's models and communicators; what survives is frozen, so the
                # next sample's collection scans only what that sample made
                collect_garbage(self.comm, freeze=True)
                self.job.say(f"posterior sample {i + 1}/{n}: "
                             + ", ".join(f"{k} {per[-1][k]:.4g}" for k in names))
        finally:
            gc.unfreeze()
        self.bands = {k: tuple(float(q) for q in np.quantile([v[k] for v in per],
                                                              (0.05, 0.5, 0.95)))
                      for k in names}
        self.band_info = {"posterior": str(d.folder), "samples": n, "converged": d.converged,
                          "keys": list(d.keys)}

    def _diagnostics(self, overrides: dict) -> dict[str, float]:
        """The predictions' diagnostic R_interface (Ω cm², no spectra) with overrides."""
        out = {}
        for c in PREDICTION_CASES:
            cfg = self._with({**QUIET, "anneal": {"segments": PROGRAMS[c.name]}},
                             overrides).with_exposure(gas="H2O", origin="reproduce")
            out[c.name] = run_anneal(cfg, self.comm, progress=False).summary[
                "R_interface_ohm_cm2"]
            self.job.check()
        cfg = self._with(QUIET, overrides)
        model = CellModel(cfg, self.comm)
        try:
            chem = model.chemistry(exposure=_exposure(cfg, "air"))
        finally:
            model.destroy()
        out["air"] = ChemistryDiagnostics(chem, cfg.solver)(after_step=False)[
            "R_interface_ohm_cm2"]
        return out

    def derived(self) -> None:
        h = self.anneal.history.column("H_LiCoO2_mol_m2")
        self.values["case8_protons_removed"] = float(1.0 - h[-1] / h[0]) if h[0] > 0 else 0.0
        p, w = self.results["pristine"], self.results["H2O"]
        self.values["case5_arc_frequency_shift"] = (
            (p["apex_interface_Hz"] / w["apex_interface_Hz"]) / (w["R_fit"] / p["R_fit"]))
        sigma = self.config.materials["Li3PO4"]
        law = Arrhenius(sigma["ionic_conductivity"], sigma["ionic_conductivity_activation_energy"])
        self.values["case6_Li3PO4_bulk_ratio"] = law(423.15) / law(298.15)
        try:
            load_config(overrides={"anneal": {"segments": [
                {"ramp_to": "190 degC", "rate": "5 K/min"}, {"hold": "10 min"}]}})
            self.values["case7_above_Li_melting_refused"] = 0.0
        except ConfigError:
            self.values["case7_above_Li_melting_refused"] = 1.0

    def small_2d(self) -> None:
        """A small 2-D exposure + anneal: the proton field before and after, R under the
        pad beside the film average; its figure states how coarse the mesh is."""
        job = self.job
        job.say("small 2-D exposure + anneal for the proton field before/after")
        cfg = self._with({"mesh": SMALL_2D_MESH, "output": {"field_interval": "0 min"}})
        res = anneal_job(cfg.with_exposure(gas="H2O", origin="reproduce"),
                         job.folder.path / "anneal_2d_small", self.comm,
                         overwrite=self.overwrite, progress=False, guard=job.guard,
                         provenance=self.provenance)
        job.tree("anneal_2d_small", "**/*")
        s = res.summary
        r1 = self.results["H2O"]["R_state"]
        off = s["R_interface_ohm_cm2_initial"] / r1 - 1.0
        self.small_2d_info = {
            "R_exposed_film_ohm_cm2": s["R_interface_ohm_cm2_initial"],
            "R_exposed_pad_ohm_cm2": s.get("R_interface_pad_ohm_cm2_initial"),
            "R_annealed_film_ohm_cm2": s["R_interface_ohm_cm2"],
            "R_annealed_pad_ohm_cm2": s.get("R_interface_pad_ohm_cm2"),
            "R_exposed_1d_ohm_cm2": r1, "relative_to_1d": off}
        note = (f"coarse mesh ({SMALL_2D_MESH['cells_per_layer']} cells/layer): exposed R "
                f"{s['R_interface_ohm_cm2_initial']:.1f} vs 1-D {r1:.1f} Ohm cm2 "
                f"({100 * off:+.1f} %)" if abs(off) > 0.01 else
                f"exposed R within 1 % of the 1-D value ({100 * off:+.2f} %)")
        self.small_2d_info["note"] = note
        pvd = job.folder.path / "anneal_2d_small" / "fields" / "films.pvd"
        if self.comm.rank == 0 and pvd.is_file():
            times = res.details["output_times"]
            section.render_protons_2d(pvd, [times[0], times[-1]],
                                      job.folder.path / "anneal_2d_small" / "protons_2d.png",
                                      note=note)
        self.comm.Barrier()

    def _with(self, overrides: dict, extra: dict | None = None) -> RunConfig:
        """The run's configuration with extra overrides (same user file)."""
        path = (self.provenance or {}).get("config_file")
        ov = overrides_from_keys(overrides, extra or {})
        cfg = load_config(path, overrides=ov)
        if self.config.mesh.dim != cfg.mesh.dim and "mesh" not in overrides:
            cfg = cfg.with_mesh(dim=self.config.mesh.dim)
        return cfg

    # -- outputs -----------------------------------------------------------------------------
    def rows(self) -> list[dict]:
        rows = []
        for c in ALL_CASES:
            if c.name not in self.values:
                continue
            rows.append(_row(c, self.values[c.name], self.results.get(c.name, {}),
                             self.uncertainty.get(c.name), self.values,
                             self.bands.get(c.name)))
        return rows

    def write(self, partial: bool) -> list[dict]:
        rows = self.rows()
        job = self.job
        if rows and job.folder is not None and self.comm.rank == 0:
            _write_outputs(job, rows, self.spectra, self.config, self.record,
                           self.small_2d_info, partial)
        return rows


def _row(c: Case, value: float, res: dict, unc: float | None, ref: dict,
         band: tuple[float, float, float] | None = None) -> dict:
    ok = meets(c, value, ref)
    crit = c.criterion
    if c.name == "air" and "air_expected" in ref:
        crit += f" (expected {ref['air_expected']:.4g} Ohm cm2)"
    p05, p50, p95 = band if band is not None else (None, None, None)
    return {"case": c.name, "role": c.role, "quantity": c.quantity, "value": value,
            "uncertainty": unc, "p05": p05, "p50": p50, "p95": p95, "paper": c.paper_text,
            "relative_difference": (None if c.paper is None or c.paper_bound
                                    else (value - c.paper) / c.paper),
            "criterion": crit, "meets": "-" if ok is None else ("yes" if ok else "no"),
            "R_interface_state_ohm_cm2": res.get("R_state"),
            "R_interface_fit_stderr_ohm_cm2": res.get("R_fit_stderr"),
            "kk_residual_max": res.get("kk_residual_max"), "what": c.what}


class _RowsTable:
    """reproduction.csv's rows as a table."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.columns = list(COLUMNS)

    def column(self, name: str) -> list:
        return [r[name] for r in self.rows]


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _write_outputs(job: Job, rows, spectra, config, record, small_2d, partial) -> None:
    """reproduction.csv, spectra/, nyquist.png and report.html (rank 0)."""
    out = job.folder.path
    with open(job.file("reproduction.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(r[k]) for k in COLUMNS})
    (out / "spectra").mkdir(exist_ok=True)
    for case, (fr, Z) in spectra.items():
        np.savetxt(job.file(f"spectra/{case}.csv"),
                   np.column_stack([fr, Z.real, Z.imag]), delimiter=",",
                   header="frequency_Hz,Z_real_ohm_cm2,Z_imag_ohm_cm2", comments="")
    if spectra:
        plots.plot_nyquist_overlay(spectra, job.file("nyquist.png"),
                                   title=f"{config.title}: impedance at 25 °C")
    write_report(job.file("report.html"), rows, config, record, small_2d, partial,
                 total=len(ALL_CASES), roles=ROLES, limits=LIMITS)


__all__ = ["COLUMNS", "reproduce_job"]
