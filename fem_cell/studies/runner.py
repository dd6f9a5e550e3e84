"""The study engine: a spec's cases spread over MPI groups, one study folder.

:func:`run_study` runs a sweep's cases with :func:`fem_cell.studies.dispatch.run_cases`
(groups of ``group_size`` ranks, cases handed out dynamically by rank 0, which also
computes), or a calibration with :func:`fem_cell.studies.calibration.calibrate`.

The study folder follows the one job life cycle (:class:`fem_cell.jobs.lifecycle.Job`,
the run-folder contract of :mod:`fem_cell.outputs.rundir`).  Rank 0 writes every file:
``cases/<id>.json`` as each case's result arrives (completed or failed, with its
error), then ``results.csv`` (one row per case, :mod:`fem_cell.studies.result`),
``summary.json``, ``run.json`` and the plots.  A case that raises is recorded as
``failed`` with its message and the study goes on.

Interrupts (SIGINT/SIGTERM with an :class:`~fem_cell.jobs.interrupts.InterruptGuard`):
every group stops taking cases and abandons the running one (its JSON is not written);
the folder is left with status ``interrupted``, its counts in ``summary.json`` and a
reason telling how to resume: a rerun into the same folder resumes (cases already in
``cases/`` are not computed again).
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any

from fem_cell.config import load_config
from fem_cell.errors import ConfigError, on_root
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.jobs.lifecycle import Job
from fem_cell.limits import check_size
from fem_cell.outputs.rundir import (
    OUTPUTS,
    OutputError,
    atomic_write,
    json_default,
    read_run_json,
)
from fem_cell.studies import calibration as _calibration
from fem_cell.studies.calibration import FitParameter, Target
from fem_cell.studies.dispatch import CaseProgress, run_cases
from fem_cell.studies.posterior import SURROGATE_RUNS, SamplerSettings, sample_posterior
from fem_cell.studies.posterior_output import write_posterior
from fem_cell.studies.result import (
    StudyResult,
    guarded_plot,
    headline,
    plot_study,
    reach_analysis,
    read_results,
    study_summary,
    table_rows,
    write_csv,
)
from fem_cell.studies.spec import StudySpec, load_spec
from fem_cell.units import format_duration

_STATUSES_DONE = ("completed", "failed")


# ------------------------------------------------------------------ the study -----
#: a sweep with at least this many cases shows its validation's progress
VALIDATION_PROGRESS_CASES = 200


def validation_progress(progress: bool, guard, label: str = "study", *,
                        max_runs: int | None = None, samples: int = 1, source: str = "study"):
    """``load_spec``'s ``progress`` callback on rank 0: stops at once on a pending
    Ctrl-C/SIGTERM (``on_root`` makes that collective), refuses a sweep above ``max_runs``
    model runs (× ``samples``) as soon as its size is known (:func:`check_size`, before
    the long validation), and for a large sweep prints ``validating the cases:
    done/total`` every 2 s (a 10,000-case spec takes a minute)."""
    t0 = last = time.perf_counter()

    def callback(done: int, total: int) -> None:
        nonlocal last
        if done == 1:
            check_size(total, max_runs, source, samples)
        if guard.pending is not None:
            raise Interrupted(guard.pending)
        now = time.perf_counter()
        if (progress and total >= VALIDATION_PROGRESS_CASES and now - last >= 2.0):
            last = now
            print(f"[{label}] validating the cases: {done}/{total} "
                  f"({format_duration(now - t0)})", flush=True)

    return callback


def as_spec(spec, comm, group_size: int | None, progress: bool = False,
            guard=NO_GUARD, max_runs: int | None = None, samples: int = 1) -> StudySpec:
    """A :class:`StudySpec` from a spec, a path or a dict (validated on rank 0), refused
    above ``max_runs`` model runs (× ``samples``)."""
    if isinstance(spec, StudySpec):
        if group_size is not None and group_size != spec.group_size:
            spec = dataclasses.replace(spec, group_size=group_size)
        check_size(len(spec.cases), max_runs, str(spec.source), samples)
        return spec
    source = str(spec) if isinstance(spec, (str, Path)) else "study"
    check = validation_progress(progress, guard, max_runs=max_runs, samples=samples,
                                source=source)
    return on_root(comm, lambda: load_spec(spec, group_size=group_size, progress=check))


def run_study(spec, comm, out=None, *, progress: bool = True, guard=NO_GUARD,
              overwrite: bool = False, group_size: int | None = None,
              announce=None, kind: str | None = None,
              max_runs: int | None = None) -> StudyResult:
    """Run a study (sweep or calibration); collective over ``comm``.

    Args:
        spec: a :class:`~fem_cell.studies.spec.StudySpec`, a spec TOML path or a spec
            dict (validated on rank 0 before anything runs).
        comm: the communicator to spread the cases over.
        out: the study folder (run-folder contract); None = no files (no resume).
        progress: rank-0 progress line.
        guard: an :class:`~fem_cell.jobs.interrupts.InterruptGuard` (SIGINT/SIGTERM)
            or the default that never interrupts.
        overwrite: discard an earlier study in ``out`` (also one made from another
            spec) and start again; without it the same study resumes.
        group_size: ranks per case (overrides the spec).
        announce: called once the folder has passed its checks.
        kind: the kind the spec must be (None: any), e.g. "calibration" for
            ``fem-cell calibrate``.
        max_runs: refuse a sweep of more cases than this (SizeError) before validating
            them all; None = any size (the CLI passes :data:`LARGE_STUDY_RUNS` unless
            ``--yes``).

    Returns:
        The :class:`StudyResult` (every rank).

    Raises:
        SpecError / ConfigError: an invalid spec (before any case runs).
        SizeError: more cases than ``max_runs``.
        OutputError: an unusable folder, or a folder of a different study.
        Interrupted: a signal stopped the study (after the folder was brought up to
            date; ``e.result`` is the partial result).
    """
    spec = as_spec(spec, comm, group_size, progress, guard, max_runs)
    if kind is not None and spec.kind != kind:
        raise ConfigError(spec.source, "study.kind", spec.kind,
                          f"{kind!r} here (fem-cell calibrate runs calibration specs; run "
                          "a sweep with fem-cell study)")
    t0 = time.perf_counter()
    if spec.group_size > comm.size:
        raise ConfigError(spec.source, "study.group_size", spec.group_size,
                          f"at most the number of MPI ranks ({comm.size}); pass "
                          f"--group-size to change it")
    mode = _folder_mode(spec, out, comm, overwrite) if out is not None else "new"
    with _study_job(spec, out, comm, mode, overwrite=overwrite, progress=progress,
                    guard=guard, announce=announce) as job:
        if spec.kind == "calibration" and spec.fit.method == "posterior":
            return _run_posterior(spec, job, progress, t0)
        if spec.kind == "calibration":
            return _run_calibration(spec, job, progress, t0)
        return _run_sweep(spec, job, mode, progress, guard, t0)


def _study_job(spec: StudySpec, out, comm, mode: str, *, overwrite: bool, progress: bool,
               guard, announce) -> Job:
    """The study's :class:`~fem_cell.jobs.lifecycle.Job` (not entered yet).

    A resumed study keeps its finished cases (``keep``) and does not plan to write them
    again (``planned`` without ``cases/``); the rest of the earlier run is replaced.
    run.json carries the resolved base configuration of a sweep and :func:`_run_info`.
    """
    resume = mode == "resume"
    kept = "checkpoints/" if spec.kind == "calibration" else "cases/"
    planned = tuple(f for f in OUTPUTS["study"] if not (resume and f.startswith(kept)))
    config = None
    if out is not None and spec.kind != "calibration" and comm.rank == 0:
        config = load_config(spec.base, spec.config).to_dict()
    posterior = spec.kind == "calibration" and spec.fit.method == "posterior"
    info = _run_info(spec, mode if spec.kind != "calibration" or posterior else "new")
    return Job("study", out, comm, config=config, overwrite=overwrite or resume,
               planned=planned, announce=announce, guard=guard, progress=progress,
               info=info, keep=(f"{kept}*",) if resume else ())


def _run_info(spec: StudySpec, mode: str) -> dict:
    fit = ({"fit_parameters": list(spec.fit.parameters), "targets": list(spec.fit.targets),
            "method": spec.fit.method, "sampler": dict(spec.fit.sampler)}
           if spec.kind == "calibration" else {})
    return {**fit, "study": spec.name, "spec": str(spec.path) if spec.path else None,
            "spec_hash": spec.hash, "kind": spec.kind, "study_job": spec.job,
            "combine": spec.combine, "group_size": spec.group_size,
            "cases": len(spec.cases), "base": str(spec.base) if spec.base else None,
            "parameters": [{"key": p.key, "values": list(p.shown), "unit": p.unit}
                           for p in spec.parameters],
            "resumed": mode == "resume"}


# ------------------------------------------------------------------ folder --------
def _read_case_files(path: Path, spec: StudySpec) -> dict[int, dict]:
    out = {}
    ids = {c.id: c.index for c in spec.cases}
    d = path / "cases"
    if not d.is_dir():
        return out
    for p in sorted(d.glob("case*.json")):
        try:
            rec = json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if (isinstance(rec, dict) and rec.get("spec_hash") == spec.hash
                and rec.get("id") in ids and rec.get("status") in _STATUSES_DONE):
            out[ids[rec["id"]]] = rec
    return out


def _folder_mode(spec: StudySpec, out, comm, overwrite: bool) -> str:
    """Check DIR: ``"new"`` (a new folder, or ``overwrite``) or ``"resume"`` (it holds
    the same study: same spec hash); a folder holding another study is refused."""
    mode = "new"
    err = None
    if comm.rank == 0:
        p = Path(out)
        try:
            if p.is_dir() and any(p.iterdir()) and not overwrite:
                try:
                    info = read_run_json(p)
                except (OSError, ValueError):
                    info = None
                if isinstance(info, dict) and info.get("job") == "study":
                    if info.get("spec_hash") != spec.hash:
                        err = (f"--out {p}: holds the study {info.get('study')!r} made from a "
                               f"different spec (hash {info.get('spec_hash')} here, "
                               f"{spec.hash} now); pass --overwrite to discard its results "
                               f"and start again, or choose another folder")
                    else:
                        mode = "resume"
        except OSError:
            pass
    err, mode = comm.bcast((err, mode), root=0)
    if err:
        raise OutputError(err)
    return mode


def _open_cases(spec: StudySpec, job: Job, mode: str) -> dict[int, dict]:
    """The sweep's start in its folder (rank 0 writes): the finished cases of a resumed
    study (listed in run.json again), a copy of the spec (listed at once: a killed study
    still resumes) and ``cases/``.  Returns the finished cases by index (every rank)."""
    if job.folder is None:
        return {}
    done: dict[int, dict] = {}
    if job.comm.rank == 0:
        if mode == "resume":
            done = _read_case_files(job.folder.path, spec)
            for rec in done.values():
                job.file(f"cases/{rec['id']}.json")
        if spec.path is not None:
            job.file("spec.toml").write_bytes(spec.path.read_bytes())
        (job.folder.path / "cases").mkdir(exist_ok=True)
    return job.comm.bcast(done, root=0)


class _SweepRecords:
    """Rank 0's account of a running sweep: the cases found done, the records arriving
    (each written to ``cases/<id>.json`` at once), and the study's partial record.

    :meth:`partial` is the job's :attr:`~fem_cell.jobs.lifecycle.Job.partial`: a study
    that stops early still writes its counts into summary.json (and results.csv).
    """

    def __init__(self, spec: StudySpec, job: Job, done: dict[int, dict], t0: float):
        self.spec = spec
        self.job = job
        self.done = done
        self.t0 = t0
        self.new: dict[int, dict] = {}
        #: the summary once the outputs are written (rank 0)
        self.summary: dict[str, Any] | None = None

    def record(self, rec: dict) -> None:
        """A finished case (rank 0): keep it and write its JSON."""
        self.new[rec["index"]] = rec
        p = self.job.file(f"cases/{rec['id']}.json")
        if p is not None:
            atomic_write(p, json.dumps(rec, indent=1, default=json_default) + "\n")

    def outputs(self) -> tuple[list[dict], dict]:
        """Rows and summary of the cases done (rank 0); results.csv and the plot."""
        rows = table_rows(self.spec, {**self.done, **self.new})
        summary = study_summary(self.spec, rows, len(self.done), time.perf_counter() - self.t0)
        if self.job.folder is not None:
            write_csv(rows, self.job.file("results.csv"))
            plot = guarded_plot(summary, plot_study, self.spec, rows, self.job.folder.path)
            if plot:
                self.job.file(plot)
        self.summary = summary
        return rows, summary

    def partial(self) -> dict[str, Any]:
        """The summary of a study that stopped early (rank 0; {} elsewhere): the counts
        of the cases done so far; an interrupted study's reason says how to resume."""
        folder = self.job.folder
        if self.job.comm.rank != 0 or folder is None:
            return {}
        summary = self.summary
        if summary is None:
            rows = table_rows(self.spec, {**self.done, **self.new})
            summary = study_summary(self.spec, rows, len(self.done),
                                    time.perf_counter() - self.t0)
            try:
                write_csv(rows, self.job.file("results.csv"))
            except OSError:
                pass
        info: dict[str, Any] = {"counts": _counts(summary)}
        if folder.status == "interrupted":
            info["reason"] = (f"{folder.reason}: {summary['pending']} case(s) not run; run "
                              "the same study into the same folder to resume")
        folder.update(**info)
        return {"reason": folder.reason, **summary}


def _counts(summary: dict) -> dict[str, int]:
    return {k: summary[k] for k in ("completed", "failed", "pending")}


# ------------------------------------------------------------------ sweep ---------
def _run_sweep(spec: StudySpec, job: Job, mode: str, progress: bool, guard,
               t0: float) -> StudyResult:
    """The cases of a sweep study, into the job's folder (new or resumed)."""
    comm = job.comm
    done = _open_cases(spec, job, mode)
    sweep = _SweepRecords(spec, job, done, t0)
    job.partial = sweep.partial
    # costliest first (longest programs): the study does not end waiting for one long case
    todo = sorted((c.index for c in spec.cases if c.index not in done),
                  key=lambda i: -spec.cases[i].cost)
    bar = CaseProgress(len(spec.cases), len(done)) if progress and comm.rank == 0 else None
    _, stop = run_cases(spec, comm, todo, guard=guard, on_record=sweep.record, progress=bar)
    if bar is not None:
        bar(final=True)
    result = StudyResult(spec, status="interrupted" if stop else "completed",
                         out=job.folder.path if job.folder is not None else None)
    if comm.rank == 0:
        result.rows, result.summary = sweep.outputs()
    result.rows, result.summary = comm.bcast((result.rows, result.summary), root=0)
    result.wall_time = time.perf_counter() - t0
    if stop:  # the job records the stop: status interrupted, sweep.partial's summary
        e = Interrupted(stop, None, collective=True)
        e.result = result
        raise e
    job.finish(result.summary, counts=_counts(result.summary))
    if job.folder is not None:
        comm.Barrier()
    return result


# ------------------------------------------------------------------ calibration ---
def _run_calibration(spec: StudySpec, job: Job, progress: bool, t0: float) -> StudyResult:
    """``kind = "calibration"``: :func:`fem_cell.studies.calibration.calibrate` on the spec's
    parameters and targets."""
    params, targets = fit_definitions(spec)
    job.partial = lambda: {"study": spec.name}
    sub = job.folder.path / "calibration" if job.folder is not None else None
    res = _calibration.calibrate(spec.base, params, targets, job.comm,
                                 base_overrides=spec.fit.config, out=sub, progress=progress)
    rows = [dict(p) for p in res.parameters]
    result = StudyResult(spec, rows=rows, out=job.folder.path if job.folder else None,
                         calibration=res)
    result.summary = {"study": spec.name, "kind": "calibration",
                      "calibration": res.to_dict()}
    result.wall_time = time.perf_counter() - t0
    if job.folder is not None and job.comm.rank == 0:
        write_csv(rows, job.file("calibration.csv"))
        job.file("calibration.txt").write_text(res.table() + "\n", encoding="utf-8")
    job.finish(result.summary)
    return result


def fit_definitions(spec: StudySpec) -> tuple[list[FitParameter], list[Target]]:
    """The calibration's free parameters and targets, from the spec."""
    params = [FitParameter(p["key"], p["initial"], lower=p["lower"], upper=p["upper"],
                           log=p["log"], unit=p["unit"], form=p["form"], prior=p["prior"],
                           prior_mean=p["prior_mean"], prior_sd=p["prior_sd"])
              for p in spec.fit.parameters]
    targets = [Target(t["name"], t["overrides"], t["job"], t["quantity"], t["value"],
                      t["sigma"], transform=t["transform"], kind=t["kind"],
                      case=t.get("case", {}))
               for t in spec.fit.targets]
    return params, targets


def _run_posterior(spec: StudySpec, job: Job, progress: bool, t0: float) -> StudyResult:
    """``kind = "calibration"``, ``[calibration] method = "posterior"``:
    :func:`fem_cell.studies.posterior.sample_posterior`; the chain is checkpointed after
    every step (``checkpoints/posterior_chain.npz``), so a rerun into the same folder
    resumes it."""
    params, targets = fit_definitions(spec)
    settings = SamplerSettings(**spec.fit.sampler, group_size=spec.group_size)
    if settings.surrogate is None:
        ck = job.file("checkpoints/posterior_chain.npz")
    else:  # the emulator's model runs are checkpointed beside it (the chain is not)
        ck = job.file(f"checkpoints/{SURROGATE_RUNS}")
        ck = None if ck is None else ck.with_name("posterior_chain.npz")
    if job.comm.rank == 0 and ck is not None:
        ck.parent.mkdir(parents=True, exist_ok=True)
    ck = job.comm.bcast(ck, root=0)
    job.partial = lambda: {"study": spec.name, "kind": "calibration", "method": "posterior",
                           "resume": "run the same command again to continue the chain"}
    res = sample_posterior(spec.base, params, targets, job.comm, settings=settings,
                           base_overrides=spec.fit.config, checkpoint=ck, progress=progress,
                           check=job.check, say=job.say)
    ident = res.identifiability()
    result = StudyResult(spec, rows=ident.to_dict(orient="records"),
                         out=job.folder.path if job.folder else None, calibration=res)
    result.summary = {"study": spec.name, "kind": "calibration", "method": "posterior",
                      "calibration": res.to_dict()}
    result.wall_time = time.perf_counter() - t0
    if job.folder is not None and job.comm.rank == 0:
        write_posterior(res, job.file)
    for w in res.diagnostics["warnings"]:
        job.say(f"warning: {w}")
    job.finish(result.summary)
    return result


__all__ = ["StudyResult", "as_spec", "headline",
           "plot_study", "reach_analysis", "read_results", "run_cases", "run_study",
           "table_rows", "write_csv"]
