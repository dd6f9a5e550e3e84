"""Which experiment next: rank candidate measurements by how much each would narrow a
prediction, over a sampled posterior.

``fem-cell design SPEC.toml --posterior POST --out OUT [--samples N]``.  The spec is a sweep
(its cases are the candidate experiments, e.g. anneals at several temperatures and
times) with a ``[design]`` table::

    [design]
    measure = "R_interface_ohm_cm2"        # what each candidate would measure (recorded)
    sigma = 0.05                           # its measurement error (relative: transform log)
    transform = "log"                      # or "linear" (sigma in the quantity's unit)
    prediction = { overrides = { "program.hold_temperature" = "120 degC",
                                 "program.hold_time" = "2 h" },
                   quantity = "R_interface_ohm_cm2", transform = "log" }

Every candidate and the prediction are run for ``N`` posterior samples (as
:mod:`fem_cell.studies.posterior_study`, into ``OUT/candidates`` and ``OUT/prediction``).

Criterion: the expected reduction of the prediction's posterior variance, in the
linear-Gaussian (ensemble Kalman) approximation.  With q the (transformed) prediction and
y_c the candidate's (transformed) model value over the samples, a measurement of y_c with
error σ_c leaves the prediction the expected variance

    V_c = Var(q) − Cov(q, y_c)² / (Var(y_c) + σ_c²),

so candidate c removes the fraction 1 − V_c / Var(q) (0: tells nothing about q; → 1: pins
it down).  It is exact for a linear model with Gaussian posterior and noise, and a
first-order estimate otherwise; it needs no extra model runs beyond the samples.
``design.csv`` ranks the candidates; ``design.png`` draws the reductions.
"""

from __future__ import annotations

import copy
import math
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.config import read_toml
from fem_cell.errors import on_root
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job
from fem_cell.outputs.rundir import read_run_json
from fem_cell.studies.posterior_study import run_posterior_study
from fem_cell.studies.result import guarded_plot, write_csv
from fem_cell.studies.runner import validation_progress
from fem_cell.studies.spec import StudySpec, load_spec
from fem_cell.studies.spec_keys import SpecReader

DESIGN_KEYS = ("measure", "sigma", "transform", "prediction")
PLANNED = ("run.json", "summary.json", "design.csv", "design.png", "spec.toml",
           "candidates/*", "prediction/*", "error_log.txt")


def load_design(path: str | Path, group_size: int | None = None, progress=None
                ) -> tuple[StudySpec, StudySpec, dict]:
    """(candidate sweep, one-case prediction sweep, design settings) of a design spec;
    ``progress`` is the candidates' ``load_spec`` callback (size check, Ctrl-C, progress
    lines: :func:`~fem_cell.studies.runner.validation_progress`)."""
    path = Path(path)
    raw = read_toml(path)
    r = SpecReader(str(path))
    d = r.table(raw.pop("design", None), "design")
    if not d:
        raise r.err("design", "(missing)", "a [design] table with measure, sigma and "
                    "prediction")
    r.keys(d, "design", DESIGN_KEYS)
    transform = r.choice(d.get("transform", "log"), "design.transform", ("log", "linear"))
    sigma = d.get("sigma")
    if isinstance(sigma, bool) or not isinstance(sigma, (int, float)) or not sigma > 0:
        raise r.err("design.sigma", sigma, "the measurement error, a number > 0")
    pred = r.table(d.get("prediction"), "design.prediction")
    r.keys(pred, "design.prediction", ("overrides", "quantity", "transform"))
    pt = r.choice(pred.get("transform", "log"), "design.prediction.transform",
                  ("log", "linear"))
    cand = load_spec(raw, group_size=group_size, source=str(path), base_dir=path.parent,
                     progress=progress)
    if cand.kind != "sweep":
        raise r.err("study.kind", cand.kind, "a sweep (its cases are the candidates)")
    measure = d.get("measure")
    if measure not in cand.value_columns():
        raise r.err("design.measure", measure, f"a recorded value: {cand.value_columns()}")
    q = pred.get("quantity", measure)
    ov = r.table(pred.get("overrides", {}), "design.prediction.overrides")
    praw = {k: copy.deepcopy(v) for k, v in raw.items() if k in ("study", "config")}
    praw.setdefault("study", {})
    praw["study"] = {**praw["study"], "name": f"{cand.name}_prediction", "combine": "zip"}
    if not ov:
        raise r.err("design.prediction.overrides", ov, "the configuration keys of the "
                    "predicted case, e.g. program.hold_temperature")
    praw["parameters"] = [{"key": k, "values": [v]} for k, v in ov.items()]
    praw["record"] = {"summary": [q]}
    pred_spec = load_spec(praw, group_size=group_size, source=f"{path} [design.prediction]",
                          base_dir=path.parent)
    settings = {"measure": measure, "sigma": float(sigma), "transform": transform,
                "prediction": {"overrides": ov, "quantity": q, "transform": pt}}
    return cand, pred_spec, settings


def _t(x: np.ndarray, transform: str) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(x) if transform == "log" else np.asarray(x, dtype=float)


def rank_candidates(y: np.ndarray, q: np.ndarray, sigma: float) -> list[dict]:
    """Expected variance reduction of q by measuring each candidate (columns of y, rows:
    samples; both transformed); samples with a missing value are left out per candidate."""
    out = []
    for c in range(y.shape[1]):
        ok = np.isfinite(y[:, c]) & np.isfinite(q)
        if ok.sum() < 3:
            out.append({"n": int(ok.sum()), "var_q": math.nan, "var_y": math.nan,
                        "corr": math.nan, "reduction": math.nan, "var_after": math.nan})
            continue
        yy, qq = y[ok, c], q[ok]
        vq, vy = float(np.var(qq, ddof=1)), float(np.var(yy, ddof=1))
        cov = float(np.cov(qq, yy, ddof=1)[0, 1])
        after = vq - cov**2 / (vy + sigma**2)
        corr = cov / math.sqrt(vq * vy) if vq > 0 and vy > 0 else math.nan
        out.append({"n": int(ok.sum()), "var_q": vq, "var_y": vy, "corr": corr,
                    "reduction": 1.0 - after / vq if vq > 0 else math.nan,
                    "var_after": after})
    return out


def run_design(spec_path: str | Path, posterior: str | Path, comm, out, *, samples: int = 20,
               seed: int = 0, progress: bool = True, guard=NO_GUARD, overwrite: bool = False,
               group_size: int | None = None, announce=None,
               max_runs: int | None = None) -> dict[str, Any]:
    """Run the candidates and the prediction over posterior samples and rank the
    candidates (collective); returns the summary (with the ranked ``table``).  More than
    ``max_runs`` model runs (candidates × samples) are refused (SizeError) before the
    candidates are validated; None = any size."""
    check = validation_progress(progress, guard, "design", max_runs=max_runs,
                                samples=samples, source=str(spec_path))
    cand, pred, st = on_root(comm, lambda: load_design(spec_path, group_size, check))
    t0 = time.perf_counter()
    info = {"study": cand.name, "kind": "design", "posterior": str(posterior),
            "samples": samples, "sample_seed": seed}
    resume = not overwrite and _earlier_design(out, comm)
    job = Job("design", out, comm, overwrite=overwrite or resume, planned=PLANNED,
              announce=announce, guard=guard, progress=progress,
              info={**info, "resumed": resume},
              keep=("candidates/*", "prediction/*") if resume else ())
    with job:
        sub = (lambda n: None) if out is None else (lambda n: Path(out) / n)
        if job.folder is not None and comm.rank == 0:
            job.file("spec.toml").write_bytes(Path(spec_path).read_bytes())
        job.say(f"prediction over {samples} posterior samples")
        pr = run_posterior_study(pred, posterior, comm, sub("prediction"), samples=samples,
                                 seed=seed, progress=False, guard=guard)
        job.say(f"{len(cand.cases)} candidates over {samples} posterior samples")
        cr = run_posterior_study(cand, posterior, comm, sub("candidates"), samples=samples,
                                 seed=seed, progress=progress, guard=guard)
        ptf = st["prediction"]["transform"]
        q = _t(np.array([r.rows[0].get(st["prediction"]["quantity"], np.nan)
                         for r in pr.samples], dtype=float), ptf)
        y = _t(np.array([[row.get(st["measure"], np.nan) for row in r.rows]
                         for r in cr.samples], dtype=float), st["transform"])
        ranks = rank_candidates(y, q, st["sigma"])
        table = []
        for case, rk in zip(cand.cases, ranks, strict=True):
            row = {"case": case.id, **{p.key: case.values[p.key] for p in cand.parameters}}
            raw = np.exp(y[:, case.index]) if st["transform"] == "log" else y[:, case.index]
            fin = raw[np.isfinite(raw)]
            for name, qq in (("p05", 0.05), ("p50", 0.5), ("p95", 0.95)):
                row[f"{st['measure']}_{name}"] = (float(np.quantile(fin, qq)) if fin.size
                                                 else math.nan)
            row.update({"samples": rk["n"], "corr_with_prediction": rk["corr"],
                        "variance_reduction": rk["reduction"],
                        "prediction_sd_before": math.sqrt(rk["var_q"])
                        if rk["var_q"] == rk["var_q"] else math.nan,
                        "prediction_sd_after": math.sqrt(max(rk["var_after"], 0.0))
                        if rk["var_after"] == rk["var_after"] else math.nan})
            table.append(row)
        order = sorted(range(len(table)), key=lambda i: -(table[i]["variance_reduction"]
                                                         if table[i]["variance_reduction"]
                                                         == table[i]["variance_reduction"]
                                                         else -1))
        for rank, i in enumerate(order, start=1):
            table[i]["rank"] = rank
        table = [table[i] for i in order]
        qfin = q[np.isfinite(q)]
        qv = np.exp(qfin) if ptf == "log" else qfin
        summary = {"kind": "design", "criterion": "expected variance reduction of the "
                   "prediction (linear-Gaussian / ensemble Kalman estimate)",
                   "measure": st["measure"], "sigma": st["sigma"],
                   "transform": st["transform"], "prediction": st["prediction"],
                   "prediction_p05": float(np.quantile(qv, 0.05)) if qv.size else None,
                   "prediction_p50": float(np.quantile(qv, 0.5)) if qv.size else None,
                   "prediction_p95": float(np.quantile(qv, 0.95)) if qv.size else None,
                   "samples": samples, "posterior_converged": cr.summary.get(
                       "posterior_converged"),
                   "best": table[0] if table else None, "table": table,
                   "wall_time_s": time.perf_counter() - t0}
        if job.folder is not None and comm.rank == 0:
            write_csv(table, job.file("design.csv"))
            guarded_plot(summary, _plot, table, cand, summary, job.file("design.png"))
        job.finish(summary)
    return summary


def _earlier_design(out, comm) -> bool:
    """Whether ``out`` holds an earlier design run (its sample sweeps then resume; they
    refuse themselves if made from another spec or subsample)."""
    found = False
    if out is not None and comm.rank == 0:
        try:
            found = read_run_json(Path(out)).get("job") == "design"
        except (OSError, ValueError, AttributeError):
            found = False
    return bool(comm.bcast(found, root=0))


def _plot(table: list[dict], cand: StudySpec, summary: dict, path: Path) -> None:
    from fem_cell.outputs.plots import pyplot

    plt = pyplot()
    labels = [", ".join(str(r[p.key]) for p in cand.parameters) for r in table]
    red = [r["variance_reduction"] for r in table]
    fig, ax = plt.subplots(figsize=(6.4, 0.35 * len(table) + 1.6))
    ax.barh(range(len(table))[::-1], red, color="tab:blue")
    ax.set_yticks(range(len(table))[::-1], labels, fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("expected reduction of the prediction's variance")
    p = summary["prediction"]
    what = ", ".join(f"{k.split('.')[-1]} {v}" for k, v in p["overrides"].items())
    conv = "" if summary.get("posterior_converged") else " — posterior NOT converged"
    ax.set_title(f"measure {summary['measure']} (σ {summary['sigma']:g}, {summary['transform']}) "
                 f"to predict {p['quantity']} at {what}{conv}", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


__all__ = ["load_design", "rank_candidates", "run_design"]
