"""Predictions with bands: a sweep study run over a subsample of a sampled posterior.

``fem-cell study SPEC.toml --posterior POST --out OUT [--samples N]`` draws ``N`` samples
(without replacement, seeded) from ``POST/posterior.csv`` (a posterior calibration's
folder, :mod:`fem_cell.studies.posterior`), and runs the sweep once per sample with the
sample's parameter values on top of every case's configuration, each into
``OUT/samples/s<NNN>/`` (an ordinary study folder: it resumes like one).  Then, per case
of the sweep, every recorded quantity gets its 5/50/95 % over the samples
(``OUT/bands.csv``: ``<value>_p05``, ``<value>_p50``, ``<value>_p95``, ``n_samples``), and a
``[summary] reach`` analysis (e.g. the shortest hold reaching 12 Ω cm² at each
temperature) gets the same quantiles of its answer, with the number of samples that
do not reach the target (``summary.json`` ``reach_bands``, ``bands.png``).

The bands are the spread of the model's predictions over the posterior: the parameter
uncertainty the calibration left, nothing else (no model-form error, no measurement
noise of a future experiment).  With a posterior whose chains did not converge, the
bands are indicative only: the summary repeats the posterior's diagnostics.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.config.posterior_draws import PosteriorDraws, read_draws
from fem_cell.errors import ConfigError, on_root
from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.jobs.lifecycle import Job
from fem_cell.outputs.rundir import OutputError, read_run_json
from fem_cell.studies.calibration import apply_overrides
from fem_cell.studies.result import StudyResult, guarded_plot, write_csv
from fem_cell.studies.runner import as_spec, run_study
from fem_cell.studies.spec import StudySpec

#: the quantiles of the bands
QUANTILES = (0.05, 0.5, 0.95)
#: the files of a posterior sweep (a subset of the study job's outputs)
PLANNED = ("run.json", "summary.json", "bands.csv", "bands.png", "spec.toml",
           "posterior_samples.csv", "samples/*", "samples/*/*", "samples/*/*/*",
           "error_log.txt")


def spec_for_sample(spec: StudySpec, draws: PosteriorDraws, i: int) -> StudySpec:
    """The sweep with posterior sample ``i`` applied on top of every case."""
    ov = draws.overrides(i)
    cases = tuple(dataclasses.replace(c, overrides=apply_overrides(c.overrides, ov))
                  for c in spec.cases)
    h = hashlib.sha256(f"{spec.hash}:{json.dumps(ov, sort_keys=True)}".encode()).hexdigest()
    return dataclasses.replace(spec, cases=cases, hash=h[:16], name=f"{spec.name}_s{i:03d}",
                               config=apply_overrides(spec.config, ov))


def run_posterior_study(spec, posterior: str | Path, comm, out, *, samples: int = 20,
                        seed: int = 0, progress: bool = True, guard=NO_GUARD,
                        overwrite: bool = False, group_size: int | None = None,
                        announce=None, max_runs: int | None = None) -> StudyResult:
    """Run a sweep over a posterior subsample and write its bands (collective).

    Args:
        spec: the sweep (spec path, dict or :class:`StudySpec`).
        posterior: folder of a posterior calibration.
        comm: communicator (each sample's sweep spreads its cases over it).
        out: the study folder; an earlier run of the same spec and subsample resumes.
        samples: posterior samples to run the sweep for; seed: which ones.
        max_runs: refuse more than this many model runs (cases × samples; SizeError)
            before validating every case; None = any size.

    Returns:
        A :class:`StudyResult` whose rows are the bands (one per case).
    """
    spec = as_spec(spec, comm, group_size, progress, guard, max_runs, samples)
    if spec.kind != "sweep":
        raise ConfigError(spec.source, "study.kind", spec.kind,
                          "'sweep' with --posterior (a calibration is not run over a "
                          "posterior)")
    draws = on_root(comm, lambda: read_draws(posterior, samples, seed))
    key = hashlib.sha256(f"{spec.hash}:{draws.digest}".encode()).hexdigest()[:16]
    resume = _resumable(out, key, comm, overwrite)
    info = {"study": spec.name, "spec": str(spec.path) if spec.path else None,
            "spec_hash": key, "kind": "posterior_sweep", "posterior": str(draws.folder),
            "samples": samples, "sample_seed": seed, "resumed": resume}
    t0 = time.perf_counter()
    job = Job("study", out, comm, overwrite=overwrite or resume, planned=PLANNED,
              announce=announce, guard=guard, progress=progress, info=info,
              keep=("samples/*", "samples/*/*", "samples/*/*/*") if resume else ())
    with job:
        if job.folder is not None and comm.rank == 0:
            if spec.path is not None:
                job.file("spec.toml").write_bytes(spec.path.read_bytes())
            _write_draws(draws, job.file("posterior_samples.csv"))
        per_sample: list[StudyResult] = []
        job.partial = lambda: {"study": spec.name, "samples_done": len(per_sample),
                               "samples": samples,
                               "resume": "run the same command again to continue"}
        for i in range(samples):
            sub = None if out is None else Path(out) / "samples" / f"s{i:03d}"
            t1 = time.perf_counter()
            res = run_study(spec_for_sample(spec, draws, i), comm, sub, progress=False,
                            guard=guard)
            per_sample.append(res)
            job.say(f"posterior sample {i + 1}/{samples}: {len(res.rows)} cases in "
                    f"{time.perf_counter() - t1:.1f} s")
        rows = band_rows(spec, per_sample)
        summary = {"study": spec.name, "kind": "posterior_sweep", "samples": samples,
                   "posterior": str(draws.folder), "posterior_converged": draws.converged,
                   "cases": len(rows), "quantiles": list(QUANTILES),
                   "failed_runs": sum(r.get("n_failed", 0) for r in rows)}
        if spec.reach is not None:
            summary["reach_bands"] = reach_bands(per_sample)
        result = StudyResult(spec, rows=rows, out=Path(out) if out is not None else None,
                             summary=summary, samples=per_sample)
        result.wall_time = time.perf_counter() - t0
        if job.folder is not None and comm.rank == 0:
            write_csv(rows, job.file("bands.csv"))
            guarded_plot(summary, plot_bands, spec, rows, summary, job.file("bands.png"))
        job.finish(summary)
    return result


def _resumable(out, key: str, comm, overwrite: bool) -> bool:
    """True when ``out`` holds this posterior sweep (same spec and subsample)."""
    err, resume = None, False
    if out is not None and comm.rank == 0 and not overwrite:
        p = Path(out)
        if p.is_dir() and any(p.iterdir()):
            try:
                info = read_run_json(p)
            except (OSError, ValueError):
                info = None
            if isinstance(info, dict) and info.get("kind") == "posterior_sweep":
                if info.get("spec_hash") == key:
                    resume = True
                else:
                    err = (f"--out {p}: holds a posterior sweep of another spec or subsample; "
                           "pass --overwrite or choose another folder")
    err, resume = comm.bcast((err, resume), root=0)
    if err:
        raise OutputError(err)
    return resume


def _write_draws(draws: PosteriorDraws, path: Path) -> None:
    rows = [{"sample": i, **dict(zip(draws.keys, v, strict=True))}
            for i, v in enumerate(draws.table)]
    write_csv(rows, path)


def band_rows(spec: StudySpec, per_sample: list[StudyResult]) -> list[dict]:
    """One row per case: its parameters and, for every recorded value, the quantiles over
    the samples whose run completed."""
    cols = spec.value_columns()
    rows = []
    for j, case in enumerate(spec.cases):
        row: dict[str, Any] = {"case": case.id}
        for p in spec.parameters:
            row[p.key] = case.values[p.key]
        runs = [r.rows[j] for r in per_sample]
        ok = [r for r in runs if r.get("status") == "completed"]
        row["n_samples"] = len(ok)
        row["n_failed"] = sum(r.get("status") == "failed" for r in runs)
        for c in cols:
            v = np.array([r.get(c, np.nan) for r in ok], dtype=float)
            v = v[np.isfinite(v)]
            q = np.quantile(v, QUANTILES) if v.size else [np.nan] * len(QUANTILES)
            for name, x in zip(("p05", "p50", "p95"), q, strict=True):
                row[f"{c}_{name}"] = float(x)
        rows.append(row)
    return rows


def reach_bands(per_sample: list[StudyResult]) -> dict:
    """Quantiles over the samples of each entry of the reach analysis (e.g. the shortest
    hold reaching the target at each temperature); samples that never reach it are
    counted, and the quantiles are of the others."""
    first = per_sample[0].summary["reach"]
    out = {k: first[k] for k in ("value", "target", "along", "unit", "interpolation")}
    entries = []
    for k, e in enumerate(first["results"]):
        level = {kk: v for kk, v in e.items() if kk not in ("reached", "value")}
        res = [r.summary["reach"]["results"][k] for r in per_sample]
        vals = [e2.get("value") for e2 in res]
        reached = np.array([v for v in vals if v is not None], dtype=float)
        q = np.quantile(reached, QUANTILES) if reached.size else [None] * 3
        # reached already at the sweep's first point: the value is an upper bound
        first = sum(str(e2.get("reached", "")).startswith("<=") for e2 in res)
        entries.append({**level, "p05": q[0], "p50": q[1], "p95": q[2],
                        "reached_in": int(reached.size), "at_first_point": int(first),
                        "samples": len(vals)})
    out["results"] = entries
    return out


def plot_bands(spec: StudySpec, rows: list[dict], summary: dict, path: Path) -> None:
    """The reach analysis (median and 90 % band against the other parameter) or, for a
    one-parameter sweep, the plotted value's median and band."""
    from fem_cell.outputs.plots import pyplot

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    if "reach_bands" in summary and len(spec.parameters) == 2:
        rb = summary["reach_bands"]
        other = next(p for p in spec.parameters if p.key != rb["along"])
        x = np.array([_number(e[other.key]) for e in rb["results"]], dtype=float)
        med = np.array([np.nan if e["p50"] is None else e["p50"] for e in rb["results"]])
        lo = np.array([np.nan if e["p05"] is None else e["p05"] for e in rb["results"]])
        hi = np.array([np.nan if e["p95"] is None else e["p95"] for e in rb["results"]])
        ax.fill_between(x, lo, hi, alpha=0.3, label="90 % band (posterior)")
        ax.plot(x, med, "o-", label="median")
        ax.set_yscale("log")
        ax.set_xlabel(f"{other.key} ({other.unit})" if other.unit else other.key)
        ax.set_ylabel(f"{rb['along']} to reach {rb['value']} ≤ {rb['target']:g} "
                      f"({rb['unit']})", fontsize=8)
        fin = x[np.isfinite(x)]
        if fin.size:
            pad = 0.05 * (fin.max() - fin.min() or 1.0)
            ax.set_xlim(fin.min() - pad, fin.max() + pad)
        tr = ax.get_xaxis_transform()
        for xi, e in zip(x, rb["results"], strict=True):
            notes = []
            if e["reached_in"] < e["samples"]:
                notes.append(f"{e['samples'] - e['reached_in']}/{e['samples']}\nnot reached")
            if e.get("at_first_point"):
                notes.append(f"{e['at_first_point']}/{e['samples']} at the\nfirst point (≤)")
            if notes:
                ax.text(xi, 0.97, "\n".join(notes), transform=tr, fontsize=7, ha="center",
                        va="top")
    elif len(spec.parameters) == 1 and spec.plot.value:
        p = spec.parameters[0]
        v = spec.plot.value
        x = np.array([_number(r[p.key]) for r in rows], dtype=float)
        ax.fill_between(x, [r[f"{v}_p05"] for r in rows], [r[f"{v}_p95"] for r in rows],
                        alpha=0.3, label="90 % band (posterior)")
        ax.plot(x, [r[f"{v}_p50"] for r in rows], "o-", label="median")
        ax.set_xlabel(f"{p.key} ({p.unit})" if p.unit else p.key)
        ax.set_ylabel(v)
        if spec.plot.log:
            ax.set_yscale("log")
    else:
        plt.close(fig)
        return
    conv = summary.get("posterior_converged")
    ax.set_title(f"{spec.name}: {summary['samples']} posterior samples"
                 + ("" if conv else " (posterior chains NOT converged)"), fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _number(text) -> float:
    """The number at the start of a shown value ("120 degC" → 120)."""
    try:
        return float(str(text).split()[0])
    except (ValueError, IndexError):
        return float("nan")


__all__ = ["PosteriorDraws", "band_rows", "reach_bands", "read_draws", "run_posterior_study",
           "spec_for_sample"]
