"""The run-folder contract: a run never loses a user's data.

A job writes into ``--out DIR``:

* ``run.json`` — written when the run starts with ``"status": "running"``, rewritten
  when it ends with ``completed``, ``failed`` (+ ``reason``) or ``interrupted``
  (+ ``reason``, the simulated time reached); it lists every file the run wrote
  (``"files"``, paths relative to DIR);
* ``summary.json`` — the job's headline numbers and its status;
* histories (CSV) appended and flushed as the run goes;
* fields, plots, and states under ``DIR/checkpoints/``.

Rules (checked before any work starts, one-line :class:`OutputError` otherwise):

* DIR must be creatable and writable: not a file, not under a file, not on a
  read-only or pseudo file system;
* an existing non-empty DIR is refused unless ``overwrite=True``;
* with ``overwrite=True`` only the files listed in DIR's previous ``run.json`` are
  removed (so no stale file of an earlier run survives, e.g. a 2-D render after a 1-D
  run); everything else in DIR — the user's files — is left untouched, and a run that
  would have to replace a file it did not write is refused.

All file-system work happens on rank 0; decisions are broadcast so every rank raises
the same error.  Every method is collective.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import sys
from pathlib import Path
from typing import Any

from fem_cell.errors import FemCellError

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"
STATUSES = ("running", "completed", "failed", "interrupted")


class OutputError(FemCellError):
    """An output path that cannot be used (not writable, a file, would lose data)."""


def _check_path_local(path: Path, overwrite: bool, planned: tuple[str, ...]) -> list[str]:
    """Rank-0 checks; returns the previous run's files to remove (relative paths)."""
    shown = str(path)
    # a component of the path that exists and is not a folder
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            if parent == path:
                raise OutputError(f"--out {shown}: is a file, not a folder")
            raise OutputError(f"--out {shown}: {parent} is a file, so no folder can be made under it")
    if path.exists():
        entries = list(path.iterdir())
        if entries and not overwrite:
            raise OutputError(f"--out {shown}: folder exists and is not empty (pass --overwrite to "
                              f"replace the files of an earlier fem-cell run there; other files "
                              f"are never touched)")
        previous = _previous_files(path) if entries else []
        prev_set = set(previous)
        for pattern in planned:  # relative paths, glob patterns allowed
            for p in sorted(path.glob(pattern)):
                rel = str(p.relative_to(path))
                if rel not in prev_set:
                    raise OutputError(f"--out {shown}: {rel} exists and was not written by "
                                      f"fem-cell (not listed in {RUN_JSON}); refusing to "
                                      f"replace it")
        _probe_writable(path, shown)
        return previous
    # does not exist: can it be made?
    try:
        path.mkdir(parents=True)
    except OSError as e:
        raise OutputError(f"--out {shown}: cannot create the folder ({e.strerror or e})") from None
    _probe_writable(path, shown)
    path.rmdir()  # made again by open(); leaves nothing behind if set-up fails later
    return []


def _probe_writable(path: Path, shown: str) -> None:
    probe = path / f".fem_cell_write_probe_{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"--out {shown}: folder is not writable ({e.strerror or e})") from None


def _previous_files(path: Path) -> list[str]:
    """Files listed by an earlier run's run.json (relative, inside DIR only)."""
    rj = path / RUN_JSON
    if not rj.is_file():
        return []
    try:
        info = json.loads(rj.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(info, dict) or not isinstance(info.get("files"), list):
        return []
    out = []
    root = path.resolve()
    for rel in info["files"]:
        if not isinstance(rel, str):
            continue
        p = (path / rel).resolve()
        if p == root or root not in p.parents:
            continue  # never anything outside DIR
        out.append(rel)
    if RUN_JSON not in out:
        out.append(RUN_JSON)
    return out


def check_output_dir(path: str | Path, comm, overwrite: bool = False,
                     planned: tuple[str, ...] = ()) -> list[str]:
    """Collective check of an output folder before any work starts.

    Args:
        path: the folder (``--out``).
        comm: communicator; rank 0 checks, all ranks raise the same error.
        overwrite: allow an existing non-empty folder (see module docstring).
        planned: relative paths the job will write; existing ones not written by an
            earlier fem-cell run are refused.

    Returns:
        The earlier run's files that :class:`RunFolder` will remove (rank 0; [] elsewhere).

    Raises:
        OutputError: one line naming the path and the problem.
    """
    payload: tuple[str, Any] = ("ok", [])
    if comm.rank == 0:
        try:
            payload = ("ok", _check_path_local(Path(path), overwrite, tuple(planned)))
        except OutputError as e:
            payload = ("error", str(e))
    status, value = comm.bcast(payload, root=0)
    if status == "error":
        raise OutputError(value)
    return value if comm.rank == 0 else []


class RunFolder:
    """One job's output folder (see the module docstring for the contract).

    Args:
        path: the folder.
        comm: communicator of the job (rank 0 writes).
        job: job name recorded in run.json (``"anneal"``, ...).
        overwrite: see :func:`check_output_dir`.
        planned: relative paths the job will write (for the collision check).
    """

    def __init__(self, path: str | Path, comm, job: str, overwrite: bool = False,
                 planned: tuple[str, ...] = ()):
        self.path = Path(path)
        self.comm = comm
        self.job = job
        self._stale = check_output_dir(self.path, comm, overwrite, planned)
        self._files: list[str] = []
        self._info: dict[str, Any] = {}
        self.status: str | None = None

    # -- life cycle ---------------------------------------------------------------------
    def open(self, config: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> None:
        """Remove the earlier run's files, create DIR, write run.json (``running``)."""
        from fem_cell.outputs.metadata import versions

        if self.comm.rank == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            for rel in sorted(self._stale, key=lambda r: -r.count("/")):
                p = self.path / rel
                try:
                    if p.is_file() or p.is_symlink():
                        p.unlink()
                    elif p.is_dir() and not any(p.iterdir()):
                        p.rmdir()
                except OSError:
                    pass
            # folders emptied by the removal (e.g. fields/ of the earlier run)
            for rel in sorted({str(Path(r).parent) for r in self._stale if "/" in r},
                              key=lambda r: -r.count("/")):
                d = self.path / rel
                try:
                    if d.is_dir() and not any(d.iterdir()):
                        d.rmdir()
                except OSError:
                    pass
        self.comm.Barrier()
        self._info = {
            "job": self.job,
            "status": "running",
            "started": _now(),
            "command": sys.argv,
            "mpi_size": self.comm.size,
            "versions": versions(),
            **(extra or {}),
            "config": config,
        }
        self.add_file(RUN_JSON)
        self.status = "running"
        self._write_run_json()

    def add_file(self, rel: str | Path) -> Path:
        """Record a file (relative to DIR) as written by this run; returns its path."""
        rel = str(rel)
        if rel not in self._files:
            self._files.append(rel)
        return self.path / rel

    def file(self, rel: str | Path) -> Path:
        """Path of a file this run writes (recorded in run.json)."""
        return self.add_file(rel)

    def add_tree(self, rel_dir: str | Path, pattern: str = "*") -> None:
        """Record the files now under a sub-folder that match ``pattern`` (e.g. the
        ``temperature*`` pieces of fields/ — not a user's own files there).

        Not collective: only rank 0 keeps the file list (it alone writes run.json), so
        this is safe in error paths that may run on some ranks only.
        """
        if self.comm.rank != 0:
            return
        d = self.path / rel_dir
        if d.is_dir():
            for p in sorted(d.glob(pattern)):
                if p.is_file():
                    self.add_file(p.relative_to(self.path))

    def update(self, **info: Any) -> None:
        """Merge keys into run.json and rewrite it."""
        self._info.update(info)
        self._write_run_json()

    def finish(self, status: str, reason: str | None = None, **info: Any) -> None:
        """Final status (``completed``/``failed``/``interrupted``) and rewrite run.json."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}")
        self.status = status
        self._info.update(info)
        self._info["status"] = status
        self._info["finished"] = _now()
        if reason is not None:
            self._info["reason"] = reason
        self._write_run_json()

    def write_json(self, rel: str, data: dict[str, Any]) -> None:
        """Write a JSON file (rank 0) and record it."""
        p = self.add_file(rel)
        if self.comm.rank == 0:
            _atomic_write(p, json.dumps(data, indent=2, default=json_default) + "\n")

    def write_summary(self, data: dict[str, Any]) -> None:
        self.write_json(SUMMARY_JSON, {"status": self.status, **data})

    def _write_run_json(self) -> None:
        if self.comm.rank != 0:
            return
        self._info["files"] = list(self._files)
        _atomic_write(self.path / RUN_JSON, json.dumps(self._info, indent=2, default=json_default) + "\n")


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (np.floating, np.integer)):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    return str(o)


def read_run_json(path: str | Path) -> dict[str, Any]:
    """Read DIR/run.json (or the given run.json)."""
    p = Path(path)
    if p.is_dir():
        p = p / RUN_JSON
    return json.loads(p.read_text(encoding="utf-8"))
