"""One job life cycle for every command, and the one result type every job returns.

A job (``anneal``, ``expose``, ``impedance``, ``reproduce``, ``study``) runs as::

    with Job("anneal", out, comm, config=cfg, planned=PLANNED, ...) as job:
        ...                       # work; job.file("history.csv") records an output
        return job.finish(summary, tables={"history": history})

* entering checks the run folder before anything is computed or touched (one-line
  :class:`~fem_cell.outputs.rundir.OutputError`), locks it, then calls ``announce``
  (the CLI's banner) and writes ``run.json`` with ``status: running``;
* :meth:`Job.finish` writes ``summary.json`` and ``run.json`` (``completed``) and
  returns a :class:`JobResult`;
* leaving with an exception records ``failed`` (with the reason) or ``interrupted``
  and a partial summary (the last row of the tracked history), then re-raises.  That
  bookkeeping is rank-0 file work only (no collective call), so it is safe when the
  ranks stopped at different points.

Without a folder (``out=None``: library use) the same code runs and only the result
is returned.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fem_cell.errors import FemCellError
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.outputs.history import History
from fem_cell.outputs.rundir import RunFolder


@dataclass
class JobResult:
    """What every job returns (on every rank).

    Attributes:
        job: the job's name.
        status: ``completed`` (a job that failed raises instead).
        summary: the headline numbers (what ``summary.json`` holds).
        tables: the job's tables, by name (``history``, ``spectrum``, ``profiles``,
            ``cases``, ...): objects with ``columns`` and ``column(name)``.
        folder: the run folder, or None (library use).
        wall_time: seconds.
        model: in-memory objects of the final state (library use: fields, the model).
        details: job-specific objects (e.g. the impedance's sweep and fit).
    """

    job: str
    status: str
    summary: dict[str, Any]
    tables: dict[str, Any] = field(default_factory=dict)
    folder: Path | None = None
    wall_time: float = 0.0
    model: Any = None
    details: dict[str, Any] = field(default_factory=dict)

    def __getitem__(self, key: str):
        return self.summary[key]

    @property
    def history(self) -> History:
        """The ``history`` table (KeyError if the job has none)."""
        return self.tables["history"]


class Job:
    """The life cycle of one job (see the module docstring).

    Args:
        name: job name (recorded in run.json).
        out: run folder, or None for no files.
        comm: the job's communicator.
        config: the resolved configuration (a RunConfig or a JSON-ready dict) for run.json.
        overwrite: reuse a folder of an earlier fem-cell run.
        planned: relative paths (glob patterns) the job may write.
        inputs: files and folders the job reads; an ``out`` that contains one is refused.
        announce: called once the folder passed its checks (the CLI prints its banner).
        guard: the interrupt guard polled by the job.
        progress: print progress lines (rank 0).
        info: extra keys for run.json.
        keep: files of an earlier run to keep rather than remove (glob patterns; a
            resumed study keeps its finished cases).
    """

    def __init__(self, name: str, out: str | Path | None, comm, *, config=None,
                 overwrite: bool = False, planned: tuple[str, ...] = (),
                 inputs: tuple = (), announce=None, guard=NO_GUARD, progress: bool = True,
                 info: dict[str, Any] | None = None, keep: tuple[str, ...] = ()):
        self.name = name
        self.out = None if out is None else Path(out)
        self.comm = comm
        self.config = config
        self.overwrite = overwrite
        self.planned = tuple(planned)
        self.inputs = tuple(inputs)
        self.announce = announce
        self.guard = guard
        self.progress = progress
        self.info = dict(info or {})
        self.keep = tuple(keep)
        self.folder: RunFolder | None = None
        self.history: History | None = None
        #: the summary to write if the job stops early (default: the last history row)
        self.partial = None
        self.wall0 = time.perf_counter()
        self._finished = False

    # -- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> Job:
        if self.out is not None:
            self.folder = RunFolder(self.out, self.comm, self.name, overwrite=self.overwrite,
                                    planned=self.planned, inputs=self.inputs, keep=self.keep)
        if self.announce is not None:
            self.announce()
        if self.folder is not None:
            cfg = (self.config if self.config is None or isinstance(self.config, dict)
                   else self.config.to_dict())
            self.folder.open(cfg, self.info)
        self.wall0 = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc is not None and not self._finished and self.folder is not None:
            self._record_stop(exc)
        if self.folder is not None:
            self.folder.release()
        return False

    def finish(self, summary: dict[str, Any], *, tables: dict[str, Any] | None = None,
               model: Any = None, details: dict[str, Any] | None = None,
               **info: Any) -> JobResult:
        """Record the run as completed and return its result (collective)."""
        wall = self.wall_time()
        summary = {**summary, "wall_time_s": summary.get("wall_time_s", wall)}
        if self.folder is not None:
            self.folder.add_tree(".", "**/*")  # every planned output now present
            self.folder.finish("completed", wall_time_s=wall, **info)
            self.folder.write_summary(summary)
            self.folder.update()
        self._finished = True
        return JobResult(self.name, "completed", summary, dict(tables or {}),
                         self.folder.path if self.folder is not None else None, wall, model,
                         dict(details or {}))

    # -- while running ------------------------------------------------------------------
    def wall_time(self) -> float:
        return time.perf_counter() - self.wall0

    def file(self, rel: str) -> Path | None:
        """Path of an output file (recorded in run.json), or None without a folder."""
        return self.folder.file(rel) if self.folder is not None else None

    def tree(self, rel_dir: str, pattern: str = "*") -> None:
        """Record the files now under ``rel_dir`` matching ``pattern``."""
        if self.folder is not None:
            self.folder.add_tree(rel_dir, pattern)

    def say(self, msg: str) -> None:
        """A progress line (rank 0, when progress is on)."""
        if self.progress and self.comm.rank == 0:
            print(f"[{self.name}] {msg}", flush=True)

    def check(self, t: float | None = None) -> None:
        """Collective interrupt check (see :mod:`fem_cell.jobs.interrupts`)."""
        self.guard.check(self.comm, t)

    def track(self, history: History) -> History:
        """The history whose last row becomes the partial summary if the job stops."""
        self.history = history
        return history

    # -- a stop -------------------------------------------------------------------------
    def _record_stop(self, e: BaseException) -> None:
        """Rank-0 bookkeeping of a job that stopped early (no collective calls)."""
        folder = self.folder
        folder.add_tree(".", "**/*")
        wall = self.wall_time()
        if isinstance(e, Interrupted):
            t = "" if e.t is None else f" at t = {e.t:.6g} s"
            folder.finish("interrupted", reason=f"{e.signal_name}{t}", wall_time_s=wall)
        elif isinstance(e, (FemCellError, KeyboardInterrupt)):
            folder.finish("failed", reason=str(e) or type(e).__name__, wall_time_s=wall)
        else:
            folder.finish("failed", reason=f"internal error: {type(e).__name__}: {e}",
                          wall_time_s=wall)
        partial: dict[str, Any] = {"reason": folder.reason}
        if self.partial is not None:
            partial.update(self.partial())
        elif self.history is not None and self.history.rows:
            partial["last_history_row"] = dict(zip(self.history.columns, self.history.rows[-1],
                                                   strict=True))
        folder.write_summary(partial)
        folder.update()


__all__ = ["Job", "JobResult"]
