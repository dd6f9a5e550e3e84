"""The main job: reproduce the experiment of Kobayashi, Hitosugi et al. (2022) in one go.

Cases (all on one configuration, default the built-in cell):

=========================  ===============================================  ===========
case                       what is simulated                                paper
=========================  ===============================================  ===========
``pristine``               never exposed                                    ≈ 10 Ω cm²
``air``                    30 min humid air (the config's [exposure] RH)    degraded
``N2`` ``O2`` ``CO2``      30 min of the dry gas                            ≈ 10 (no
``H2``                                                                      change)
``H2O``                    30 min H2O vapour                                > 136
``H2O_annealed_150C_1h``   H2O, then the anneal program in battery form     10.3
``H2O_7days_25C``          H2O, then 7 days at 25 °C                        (still
                                                                            degraded)
=========================  ===============================================  ===========

For each case the cell's impedance spectrum is computed at 25 °C by small-signal solves
(:func:`fem_cell.jobs.impedance.cell_impedance`) and the interface resistance is the
fitted interface arc (what the experiment reports); the state's own R_interface is listed
beside it.  The anneal and the 7-day hold are full runs (heat + Li⁺/H⁺ transport) in
sub-folders ``anneal_H2O/`` and ``hold_7days_25C/`` (history, R(t), profiles, checkpoints).
A small coarse 2-D exposure + anneal (``anneal_2d_small/``, or the main mesh with
``--dim 2``) gives the 2-D proton field before and after.

Outputs: ``reproduction.csv`` (``case, R_interface_ohm_cm2, paper_R_interface_ohm_cm2,
relative_difference`` + the state's value, the criterion and whether it is met),
``nyquist.png`` (all cases), ``report.html`` (self-contained: table, figures, verdicts),
``summary.json``, ``run.json``, ``spectra/<case>.csv``.
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import html
import math
import time
from pathlib import Path

import numpy as np

from fem_cell import __version__
from fem_cell._dolfinx import MPI
from fem_cell.config import RunConfig, load_config
from fem_cell.errors import FemCellError
from fem_cell.jobs.anneal import anneal_job
from fem_cell.jobs.impedance import cell_impedance
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.jobs.lifecycle import Job, JobResult
from fem_cell.outputs import plots
from fem_cell.outputs.rundir import OUTPUTS

CASES = ("pristine", "air", "N2", "O2", "CO2", "H2", "H2O", "H2O_annealed_150C_1h",
         "H2O_7days_25C")
#: the paper's interface resistances (Ω cm²; None where it gives none) and the criterion
PAPER = {
    "pristine": (10.0, "8.6 <= R <= 10.3 (never exposed: ≈ 10; vacuum-made 8.6)"),
    "air": (None, "R > R(pristine): humid air degrades through its water"),
    "N2": (10.0, "8.6 <= R <= 10.3 (no degradation)"),
    "O2": (10.0, "8.6 <= R <= 10.3 (no degradation)"),
    "CO2": (10.0, "8.6 <= R <= 10.3 (no degradation)"),
    "H2": (10.0, "8.6 <= R <= 10.3 (no degradation)"),
    "H2O": (136.0, "R >= 136 (> 10x the unexposed value)"),
    "H2O_annealed_150C_1h": (10.3, "|R - 10.3| <= 10 %"),
    "H2O_7days_25C": (None, "R >= 0.9 R(H2O): no recovery at room temperature"),
}
SEVEN_DAYS = {"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "168 h"}]},
              "solver": {"dt_max": "1 h"}, "output": {"field_interval": "12 h"}}


def meets(case: str, R: float, ref: dict[str, float]) -> bool:
    """Whether a case's interface resistance meets the paper (see :data:`PAPER`)."""
    if case in ("pristine", "N2", "O2", "CO2", "H2"):
        return 8.6 <= R <= 10.3
    if case == "air":
        return R > ref.get("pristine", math.inf)
    if case == "H2O":
        return R >= 136.0
    if case == "H2O_annealed_150C_1h":
        return abs(R - 10.3) <= 0.10 * 10.3
    if case == "H2O_7days_25C":
        return R >= 0.9 * ref.get("H2O", math.inf)
    raise KeyError(case)


def _exposure(config: RunConfig, gas: str):
    ex = config.exposure
    return dataclasses.replace(ex, gas="vacuum" if gas == "pristine" else gas)


def reproduce_job(config: RunConfig, out: str | Path | None, comm: MPI.Comm, *,
                  overwrite: bool = False, progress: bool = True, guard=NO_GUARD,
                  announce=None, provenance: dict | None = None,
                  render_2d: bool = True) -> JobResult:
    """``fem-cell reproduce``: all cases, their spectra, the table and the report.

    A stop (Ctrl-C, a failure) after some cases keeps them: ``reproduction.csv`` and the
    report list the cases computed so far (the others as not computed).
    """
    inputs = (config.mesh.file,) if config.mesh.file else ()
    with Job("reproduce", out, comm, config=config, overwrite=overwrite,
             planned=OUTPUTS["reproduce"], inputs=inputs, announce=announce, guard=guard,
             progress=progress,
             info={"dim": config.mesh.dim, "provenance": provenance or {}}) as job:
        cases = _Cases(job, config)
        try:
            _run_cases(job, cases, config, overwrite, provenance, render_2d)
        except (Interrupted, FemCellError):
            if cases.results and job.folder is not None and comm.rank == 0:
                _write_outputs(job, _table(cases.results), cases.spectra, config, None)
            raise
        removed = cases.anneal.history.column("H_LiCoO2_mol_m2")
        removed_fraction = float(1.0 - removed[-1] / removed[0]) if removed[0] > 0 else 0.0
        rows = _table(cases.results)
        if job.folder is not None and comm.rank == 0:
            _write_outputs(job, rows, cases.spectra, config, removed_fraction)
        n_ok = sum(r["meets"] == "yes" for r in rows)
        res = cases.results["H2O_annealed_150C_1h"]
        summary = {"cases": {r["case"]: {k: r[k] for k in r if k != "case"} for r in rows},
                   "cases_meeting_paper": n_ok, "cases_total": len(rows),
                   "H_LiCoO2_removed_fraction_after_anneal": removed_fraction,
                   "case8_protons_removed_ge_90_percent": removed_fraction >= 0.90,
                   "R_interface_ohm_cm2": res["R_fit"],
                   "H_LiCoO2_mol_m2": res["H_LiCoO2_mol_m2"],
                   "H_Li3PO4_mol_m2": res["H_Li3PO4_mol_m2"]}
        job.say(f"done: {n_ok}/{len(rows)} cases meet the paper")
        return job.finish(summary, tables={"cases": _RowsTable(rows)})


class _Cases:
    """The cases computed so far (results, spectra) and the anneal's result."""

    def __init__(self, job: Job, config: RunConfig):
        self.job, self.config = job, config
        self.results: dict[str, dict] = {}
        self.spectra: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.anneal = None

    def keep(self, case: str, imp) -> None:
        s = imp.summary()
        self.results[case] = {"R_fit": s["R_interface_fit_ohm_cm2"],
                              "R_fit_stderr": s["R_interface_fit_stderr_ohm_cm2"],
                              "R_state": s["R_interface_ohm_cm2"],
                              "kk_residual_max": s["kk_residual_max"],
                              "H_LiCoO2_mol_m2": s.get("H_LiCoO2_mol_m2"),
                              "H_Li3PO4_mol_m2": s.get("H_Li3PO4_mol_m2")}
        self.spectra[case] = (imp.frequencies, imp.Z_ohm_cm2)
        r = self.results[case]
        self.job.say(f"{case:22s} R_interface {r['R_fit']:8.2f} Ω cm² (fit), "
                     f"{r['R_state']:8.2f} (state)")


def _run_cases(job: Job, cases: _Cases, config: RunConfig, overwrite: bool,
               provenance: dict | None, render_2d: bool) -> None:
    comm, guard = job.comm, job.guard
    with guard.deferred():
        for case in ("pristine", "air", "N2", "O2", "CO2", "H2", "H2O"):
            job.say(f"{case}: exposure + impedance")
            cases.keep(case, cell_impedance(config, comm,
                                            proton_fraction=_exposure(config, case)))
            job.check()

    def anneal_and_measure(case: str, cfg: RunConfig, sub: str):
        """The H2O-exposed cell through ``cfg``'s program (a run folder ``sub``), then
        the impedance of its last state."""
        where = None if job.folder is None else job.folder.path / sub
        res = anneal_job(cfg.with_exposure(gas="H2O", origin="reproduce"), where, comm,
                         overwrite=overwrite, progress=False, guard=guard,
                         provenance=provenance)
        job.tree(sub, "**/*")
        state = where if where is not None else None
        with guard.deferred():
            if state is not None:
                cases.keep(case, cell_impedance(cfg, comm, state=state))
        return res

    job.say("H2O_annealed_150C_1h: anneal of the H2O-exposed cell (heat + transport)")
    cases.anneal = anneal_and_measure("H2O_annealed_150C_1h", config, "anneal_H2O")
    job.say("H2O_7days_25C: 7 days at 25 °C after the H2O exposure")
    anneal_and_measure("H2O_7days_25C", _with_overrides(config, SEVEN_DAYS, provenance),
                       "hold_7days_25C")
    if render_2d and config.mesh.dim == 1 and job.folder is not None:
        job.say("small 2-D exposure + anneal for the proton field before/after")
        small_2d = _with_overrides(config, {"mesh": {
            "dim": 2, "cells_per_layer": 4, "lateral_cells": 16, "lateral_growth": 1.5,
            "growth": 1.5, "max_cell_size": "100 um"}, "output": {"field_interval": "0 min"}},
            provenance)
        anneal_job(small_2d.with_exposure(gas="H2O", origin="reproduce"),
                   job.folder.path / "anneal_2d_small", comm, overwrite=overwrite,
                   progress=False, guard=guard, provenance=provenance)
        job.tree("anneal_2d_small", "**/*")


class _RowsTable:
    """reproduction.csv's rows as a table."""

    def __init__(self, rows: list[dict]):
        self.rows = rows
        self.columns = list(rows[0]) if rows else []

    def column(self, name: str) -> list:
        return [r[name] for r in self.rows]


def _with_overrides(config: RunConfig, overrides: dict, provenance: dict | None) -> RunConfig:
    """The run's configuration with extra user-config overrides (same user file)."""
    path = (provenance or {}).get("config_file")
    cfg = load_config(path, overrides=overrides)
    if config.mesh.dim != cfg.mesh.dim and "mesh" not in overrides:
        cfg = cfg.with_mesh(dim=config.mesh.dim)
    return cfg


def _table(results: dict[str, dict]) -> list[dict]:
    ref = {k: v["R_fit"] for k, v in results.items()}
    rows = []
    for case in CASES:
        if case not in results:
            continue
        r = results[case]
        paper, crit = PAPER[case]
        R = r["R_fit"]
        rows.append({"case": case, "R_interface_ohm_cm2": R,
                     "paper_R_interface_ohm_cm2": paper,
                     "relative_difference": None if paper is None else (R - paper) / paper,
                     "R_interface_fit_stderr_ohm_cm2": r["R_fit_stderr"],
                     "R_interface_state_ohm_cm2": r["R_state"],
                     "kk_residual_max": r["kk_residual_max"],
                     "criterion": crit, "meets": "yes" if meets(case, R, ref) else "no"})
    return rows


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _write_outputs(job: Job, rows, spectra, config, removed_fraction) -> None:
    """reproduction.csv, spectra/, nyquist.png and report.html (rank 0)."""
    out = job.folder.path
    with open(job.file("reproduction.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: _fmt(v) for k, v in r.items()})
    (out / "spectra").mkdir(exist_ok=True)
    for case, (fr, Z) in spectra.items():
        np.savetxt(job.file(f"spectra/{case}.csv"),
                   np.column_stack([fr, Z.real, Z.imag]), delimiter=",",
                   header="frequency_Hz,Z_real_ohm_cm2,Z_imag_ohm_cm2", comments="")
    plots.plot_nyquist_overlay(spectra, job.file("nyquist.png"),
                               title=f"{config.title}: impedance at 25 °C")
    _write_report(job.file("report.html"), rows, config, removed_fraction)


def _img(path: Path) -> str:
    if not path.is_file():
        return "<p><em>(not produced)</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" style="max-width:100%">'


def _write_report(path: Path, rows, config, removed_fraction) -> None:
    out = path.parent
    n_ok = sum(r["meets"] == "yes" for r in rows)
    partial = len(rows) < len(CASES)
    trs = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_fmt(r[k]))}</td>" for k in (
            "case", "R_interface_ohm_cm2", "R_interface_fit_stderr_ohm_cm2",
            "R_interface_state_ohm_cm2", "paper_R_interface_ohm_cm2", "relative_difference",
            "criterion"))
        + f'<td style="color:{"green" if r["meets"] == "yes" else "red"}"><b>{r["meets"]}</b>'
          "</td></tr>" for r in rows)
    figs = [("Nyquist plots of all cases (25 °C)", out / "nyquist.png"),
            ("R_interface(t) through the anneal, with the plate program",
             out / "anneal_H2O" / "R_interface.png"),
            ("Proton profiles before, during and after the anneal (1-D)",
             out / "anneal_H2O" / "proton_profiles.png"),
            ("Proton field in 2-D before and after the anneal (thickness stretched)",
             (out / "anneal_2d_small" / "protons_2d.png") if (out / "anneal_2d_small").exists()
             else out / "anneal_H2O" / "protons_2d.png")]
    body = "\n".join(f"<h3>{html.escape(t)}</h3>{_img(p)}" for t, p in figs)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>fem_cell reproduction: {html.escape(config.name)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #999;padding:4px 8px}}</style>
</head><body>
<h1>Reproduction of Kobayashi, Hitosugi et al., ACS AMI 14, 2703 (2022)</h1>
<p>Cell: {html.escape(config.title)} ({html.escape(config.name)}), {config.mesh.dim}-D.
Interface resistance = the fitted interface arc of the simulated impedance spectrum at 25 °C
(impedance.py equivalent circuit); the state's own value is shown beside it.</p>
{_headline(n_ok, rows, partial, removed_fraction)}
<table><tr><th>case</th><th>R_interface [Ω cm²] (fit)</th><th>± stderr</th>
<th>state R [Ω cm²]</th><th>paper [Ω cm²]</th><th>relative difference</th><th>criterion</th>
<th>meets</th></tr>
{trs}</table>
{body}
<p style="color:#666">fem_cell {html.escape(_version())};
generated {time.strftime("%Y-%m-%d %H:%M")}</p>
</body></html>"""
    path.write_text(page, encoding="utf-8")


def _headline(n_ok: int, rows, partial: bool, removed_fraction) -> str:
    if partial:
        return (f"<p><b>The run stopped early: {len(rows)} of {len(CASES)} cases were "
                f"computed; {n_ok} of them meet the paper.</b></p>")
    return (f"<p><b>{n_ok} of {len(rows)} cases meet the paper.</b>\n"
            f"After the 150 °C / 1 h anneal, {100 * removed_fraction:.1f} % of the protons "
            f"have left\nLiCoO2 (reference case 8: at least 90 %: "
            f"<b>{'yes' if removed_fraction >= 0.9 else 'no'}</b>).</p>")


def _version() -> str:
    return __version__


__all__ = ["CASES", "PAPER", "meets", "reproduce_job"]
