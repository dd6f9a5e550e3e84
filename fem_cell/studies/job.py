"""The study job: a spec TOML → many cases over MPI → one study folder.

``fem-cell study SPEC.toml --out DIR [--overwrite] [--group-size N] [--quiet]`` calls
:func:`study_job`.  The study folder (run-folder contract, :mod:`fem_cell.outputs.rundir`):

* ``run.json``: status (running → completed / failed / interrupted), the spec's hash,
  its parameters, the resolved base configuration, the files written;
* ``spec.toml``: a copy of the spec;
* ``cases/<id>.json``: one per finished case (completed or failed), written as it
  finishes — a rerun of the same spec into the same folder skips these;
* ``results.csv``: one row per case (parameters as given and in SI, recorded values,
  status, error, wall time);
* ``summary.json``: counts, headline numbers (min/max of each value), failed cases,
  the ``[summary] reach`` analysis;
* ``heatmap.png`` (two grid parameters) or ``line.png`` (one).

See :mod:`fem_cell.studies.runner` for the engine and ``docs/studies.md``.
"""

from __future__ import annotations

from pathlib import Path

from fem_cell.jobs.interrupts import NO_GUARD
from fem_cell.studies.result import StudyResult
from fem_cell.studies.runner import run_study


def study_job(spec_path: str | Path, out: str | Path, comm, *, overwrite: bool = False,
              progress: bool = True, guard=NO_GUARD, announce=None,
              group_size: int | None = None, kind: str | None = None,
              max_runs: int | None = None) -> StudyResult:
    """``fem-cell study``: validate the spec on rank 0 (one-line
    :class:`~fem_cell.studies.spec.SpecError` before anything runs), check the folder,
    call ``announce()``, run the cases and write the study folder.

    Args:
        spec_path: the spec TOML.
        out: the study folder; an existing folder of the same study is resumed, one of
            another spec (or anything else) is refused unless ``overwrite``.
        comm: communicator to spread the cases over.
        overwrite: discard what ``out`` holds from an earlier fem-cell run and start again.
        progress: rank-0 progress line.
        guard: SIGINT/SIGTERM guard (the CLI's :class:`InterruptGuard`).
        announce: called once the spec and folder have passed their checks.
        group_size: MPI ranks per case (overrides ``[study] group_size``).
        kind: the study kind the caller expects (``fem-cell calibrate``: "calibration"),
            or None for any.
        max_runs: refuse a sweep of more cases (SizeError) before validating them all;
            None = any size (the CLI passes ``LARGE_STUDY_RUNS`` unless ``--yes``).

    Returns:
        The :class:`~fem_cell.studies.result.StudyResult`.

    Raises:
        SpecError: invalid spec.  OutputError: unusable folder.  SizeError: too large.
        Interrupted: a signal stopped the study (status ``interrupted``, resumable).
    """
    return run_study(Path(spec_path), comm, out, progress=progress, guard=guard,
                     overwrite=overwrite, group_size=group_size, announce=announce, kind=kind,
                     max_runs=max_runs)
