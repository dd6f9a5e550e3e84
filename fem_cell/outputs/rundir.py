"""The run-folder contract: a run never loses a user's data.

A job writes into ``--out DIR``:

* ``run.json`` — written when the run starts with ``"status": "running"`` and
  rewritten whenever the run records a new file, and when it ends with ``completed``,
  ``failed`` (+ ``reason``) or ``interrupted``; it lists every file the run wrote
  (``"files"``, relative to DIR) and carries fem-cell's signature;
* ``summary.json`` — the job's headline numbers and its status;
* histories (CSV) appended and flushed as the run goes;
* fields, plots, and states under ``DIR/checkpoints/``.

Rules, checked before any work starts (one-line :class:`OutputError` otherwise):

* DIR must be creatable and writable: not a file, not under a file, not on a
  read-only or pseudo file system, a name the file system accepts;
* DIR must not contain an input of the run (a state to restart from, the config);
* only one run at a time: the folder is locked (``.fem_cell.lock``) for the run's
  lifetime; a second run into it is refused;
* an existing non-empty DIR is refused unless ``overwrite=True``;
* with ``overwrite=True`` only the files listed in DIR's previous ``run.json`` are
  removed — and only if that record is fem-cell's own (its signature checks out) and
  the files are ones that job writes (:data:`OUTPUTS`); everything else in DIR, the
  user's files, is left untouched; a run that would have to replace a file it did not
  write is refused, and so is one that could not replace a file it did write
  (read-only or immutable files are probed first).

All file-system work happens on rank 0; decisions are broadcast so every rank raises
the same error.  Every method is collective unless it says otherwise.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fnmatch
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from fem_cell.errors import FemCellError, on_root
from fem_cell.files import replaced_whole

RUN_JSON = "run.json"
SUMMARY_JSON = "summary.json"
LOCK_FILE = ".fem_cell.lock"
STATUSES = ("running", "completed", "failed", "interrupted")
GENERATOR = "fem_cell"
_SALT = "fem_cell-run-record-2"

#: the files (glob patterns, relative to DIR) each job may write
OUTPUTS: dict[str, tuple[str, ...]] = {
    "anneal": ("run.json", "summary.json", "history.csv", "history.png", "temperature_2d.png",
               "fields/temperature*", "fields/films*", "checkpoints/t*.h5", "R_interface.png",
               "proton_profiles.png", "proton_profiles.csv", "protons_2d.png",
               "protons_2d.html", "data_comparison.csv", "solver_log.txt", "error_log.txt"),
    "expose": ("run.json", "summary.json", "fields/films*", "checkpoints/t*.h5",
               "proton_profiles.csv", "proton_profiles.png", "exposure_history.csv",
               "exposure_history.png", "error_log.txt"),
    "impedance": ("run.json", "summary.json", "impedance.csv", "contributions.csv",
                  "spectrum_impedancepy.csv", "nyquist.png", "bode.png", "fields/impedance*",
                  "impedance_2d.png", "data_comparison.csv", "error_log.txt"),
    "reproduce": ("run.json", "summary.json", "reproduction.csv", "nyquist.png", "report.html",
                  "spectra/*", "anneal_H2O/*", "anneal_H2O/*/*", "hold_7days_25C/*",
                  "hold_7days_25C/*/*", "anneal_2d_small/*", "anneal_2d_small/*/*",
                  "predictions/*", "predictions/*/*", "predictions/*/*/*", "error_log.txt"),
    "study": ("run.json", "summary.json", "results.csv", "cases/case*.json", "heatmap.png",
              "line.png", "spec.toml", "calibration.csv", "calibration.txt", "calibration/*",
              "calibration/*/*", "posterior.csv", "identifiability.csv",
              "posterior_targets.csv", "posterior_diagnostics.json", "corner.png", "chains.png",
              "checkpoints/posterior_chain.npz", "checkpoints/surrogate_runs.npz",
              "surrogate_check.csv", "bands.csv", "bands.png",
              "posterior_samples.csv", "samples/*", "samples/*/*", "samples/*/*/*",
              "error_log.txt"),
    "fit-spectrum": ("run.json", "summary.json", "fit.json", "fitted.toml",
                     "fit_spectrum.csv", "nyquist_fit.png", "bode_fit.png", "residuals.png",
                     "error_log.txt"),
    "design": ("run.json", "summary.json", "design.csv", "design.png", "spec.toml",
               "candidates/*", "prediction/*", "error_log.txt"),
}


class OutputError(FemCellError):
    """An output path that cannot be used (not writable, a file, would lose data)."""


def signature(job: str, started: str) -> str:
    """The signature fem-cell puts in its run records."""
    return hashlib.sha256(f"{_SALT}:{job}:{started}".encode()).hexdigest()[:20]


def _matches(rel: str, patterns) -> bool:
    return any(fnmatch.fnmatchcase(rel, p) for p in patterns)


def _check_path_local(path: Path, overwrite: bool, planned: tuple[str, ...],
                      inputs: tuple) -> list[str]:
    """Rank-0 checks; returns the previous run's files to remove (relative paths)."""
    shown = str(path)
    _check_name(path, shown)
    for parent in [path, *path.parents]:
        if parent.exists() and not parent.is_dir():
            if parent == path:
                raise OutputError(f"--out {shown}: is a file, not a folder")
            raise OutputError(f"--out {shown}: {parent} is a file, so no folder can be made "
                              "under it")
    root = path.resolve()
    for inp in inputs:
        p = Path(inp).resolve()
        if p == root or root in p.parents:
            raise OutputError(f"--out {shown}: contains {inp}, an input of this run; choose "
                              "another output folder")
    if not path.exists():
        return []
    entries = [e for e in path.iterdir() if e.name != LOCK_FILE]
    if entries and not overwrite:
        raise OutputError(f"--out {shown}: folder exists and is not empty (pass --overwrite to "
                          f"replace the files of an earlier fem-cell run there; other files "
                          f"are never touched)")
    previous = _previous_files(path) if entries else []
    prev_set = set(previous)
    for pattern in planned:
        for p in sorted(path.glob(pattern)):
            rel = str(p.relative_to(path))
            if p.is_file() and rel not in prev_set:
                raise OutputError(f"--out {shown}: {rel} exists and was not written by "
                                  f"fem-cell (not listed in a fem-cell {RUN_JSON}); refusing "
                                  "to replace it")
    _probe_replaceable(path, shown, previous, planned)
    return previous


def _check_name(path: Path, shown: str) -> None:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        raise OutputError(f"--out {shown!r}: the folder name is not valid UTF-8 text") from None
    try:
        limit = os.pathconf(next((p for p in [path, *path.parents] if p.exists()), Path(".")),
                            "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    for part in path.parts:
        if len(part.encode("utf-8")) > limit:
            raise OutputError(f"--out: the name {part[:40]}... is longer than the file system "
                              f"allows ({len(part.encode())} > {limit} bytes)")


def _probe_replaceable(path: Path, shown: str, previous: list[str], planned=()) -> None:
    """Every file to be removed or replaced, and every existing folder the run writes
    into, can be (read-only or immutable ones are found before any work)."""
    probe_dirs = ({path} | {(path / rel).parent for rel in previous}
                  | {path / p.split("/")[0] for p in planned if "/" in p})
    for rel in previous:
        p = path / rel
        if p.is_file():
            try:
                with open(p, "ab"):
                    pass
            except OSError as e:
                raise OutputError(f"--out {shown}: {rel} cannot be replaced "
                                  f"({e.strerror or e}); fix its permissions or choose "
                                  "another folder") from None
    for d in sorted(probe_dirs):
        if d.is_dir():
            _probe_writable(d, f"{shown}/{d.relative_to(path)}" if d != path else shown)


def _probe_writable(path: Path, shown: str) -> None:
    probe = path / f".fem_cell_write_probe_{os.getpid()}"
    try:
        probe.write_text("")
        probe.unlink()
    except OSError as e:
        raise OutputError(f"--out {shown}: folder is not writable ({e.strerror or e})") from None


def _previous_files(path: Path) -> list[str]:
    """Files listed by an earlier fem-cell run's run.json (relative, inside DIR only,
    only those that job writes); [] for a record that is not fem-cell's own."""
    rj = path / RUN_JSON
    if not rj.is_file():
        return []
    try:
        info = json.loads(rj.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return []
    if not isinstance(info, dict) or not is_fem_cell_record(info):
        return []
    patterns = OUTPUTS.get(info.get("job"), ())
    out = []
    root = path.resolve()
    for rel in info.get("files", []):
        if not isinstance(rel, str) or not _matches(rel, patterns):
            continue
        p = (path / rel).resolve()
        if p == root or root not in p.parents:
            continue  # never anything outside DIR
        out.append(rel)
    if RUN_JSON not in out:
        out.append(RUN_JSON)
    return out


def is_fem_cell_record(info: dict) -> bool:
    """Whether a run.json dict was written by fem-cell (its signature checks out)."""
    return (info.get("generator") == GENERATOR and isinstance(info.get("job"), str)
            and isinstance(info.get("started"), str)
            and info.get("signature") == signature(info["job"], info["started"]))


class _Lock:
    """An exclusive lock on DIR (rank 0), held for the run's lifetime."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.created_dir = False

    def acquire(self) -> None:
        import fcntl

        if not self.path.exists():
            try:
                self.path.mkdir(parents=True)
            except OSError as e:
                raise OutputError(f"--out {self.path}: cannot create the folder "
                                  f"({e.strerror or e})") from None
            self.created_dir = True
        _probe_writable(self.path, str(self.path))
        fd = os.open(self.path / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OutputError(f"--out {self.path}: another fem-cell run is writing into this "
                              "folder; wait for it or choose another folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self.fd = fd

    def release(self) -> None:
        import fcntl

        if self.fd is None:
            return
        try:
            (self.path / LOCK_FILE).unlink(missing_ok=True)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
        if self.created_dir:
            try:
                self.path.rmdir()  # only if the run left nothing (failed before writing)
            except OSError:
                pass


def check_output_dir(path: str | Path, comm, overwrite: bool = False,
                     planned: tuple[str, ...] = (), inputs: tuple = ()) -> list[str]:
    """Collective check of an output folder before any work starts (no lock).

    Returns:
        The earlier run's files a run would remove (rank 0; [] elsewhere).

    Raises:
        OutputError: one line naming the path and the problem.
    """
    stale = _decided_on_root(comm, path, lambda: _check_path_local(
        Path(path), overwrite, tuple(planned), tuple(inputs)))
    return stale if comm.rank == 0 else []


def _decided_on_root(comm, path, check):
    """``check()`` run on rank 0, its result on every rank (:func:`fem_cell.errors.on_root`),
    an ``OSError`` or ``ValueError`` of it as the :class:`OutputError` "--out <path>:
    cannot be used (…)" on every rank."""
    def attempt():
        try:
            return check()
        except (OSError, ValueError) as e:
            raise OutputError(f"--out {path}: cannot be used ({e})") from e

    return on_root(comm, attempt)


class RunFolder:
    """One job's output folder (see the module docstring for the contract).

    Constructing it checks the folder and takes its lock (collective); :meth:`release`
    frees the lock.

    Args:
        path: the folder.
        comm: communicator of the job (rank 0 writes).
        job: job name recorded in run.json (a key of :data:`OUTPUTS`).
        overwrite: see the module docstring.
        planned: relative paths (glob patterns) the job will write; default
            ``OUTPUTS[job]``.
        inputs: paths the job reads; a folder containing one is refused.
        keep: previous files (glob patterns) to keep rather than remove (a resumed study
            keeps its finished cases).
    """

    def __init__(self, path: str | Path, comm, job: str, overwrite: bool = False,
                 planned: tuple[str, ...] | None = None, inputs: tuple = (),
                 keep: tuple[str, ...] = ()):
        self.path = Path(path)
        self.comm = comm
        self.job = job
        self.planned = tuple(planned) if planned is not None else OUTPUTS[job]
        self._lock = _Lock(self.path)
        def check():
            stale = _check_path_local(self.path, overwrite, self.planned, tuple(inputs))
            self._lock.acquire()
            return [f for f in stale if not _matches(f, keep)]

        stale = _decided_on_root(comm, path, check)
        self._stale = stale if comm.rank == 0 else []
        self._files: list[str] = []
        self._info: dict[str, Any] = {}
        self.status: str | None = None

    # -- life cycle ---------------------------------------------------------------------
    def open(self, config: dict[str, Any] | None, extra: dict[str, Any] | None = None) -> None:
        """Remove the earlier run's files, write run.json (``running``)."""
        from fem_cell.outputs.metadata import versions

        if self.comm.rank == 0:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock.created_dir = False  # the folder now holds this run
            _remove(self.path, self._stale)
        self.comm.Barrier()
        started = _now()
        self._info = {
            "job": self.job,
            "status": "running",
            "started": started,
            "generator": GENERATOR,
            "signature": signature(self.job, started),
            "command": [os.fsdecode(a) if isinstance(a, bytes) else a for a in sys.argv],
            "mpi_size": self.comm.size,
            "versions": versions(),
            **(extra or {}),
            "config": config,
        }
        self._info["started"] = started
        self.add_file(RUN_JSON)
        self.status = "running"
        self._write_run_json()

    def release(self) -> None:
        """Free the folder's lock (rank 0; not collective)."""
        if self.comm.rank == 0:
            self._lock.release()

    def add_file(self, rel: str | Path) -> Path:
        """Record a file (relative to DIR) as written by this run; returns its path.

        A running run rewrites run.json at once (rank 0), so a run killed later still
        lists what it wrote.
        """
        rel = str(rel)
        if rel not in self._files:
            self._files.append(rel)
            if self.status == "running":
                self._write_run_json()
        return self.path / rel

    def file(self, rel: str | Path) -> Path:
        """Path of a file this run writes (recorded in run.json)."""
        return self.add_file(rel)

    def add_tree(self, rel_dir: str | Path, pattern: str = "*") -> None:
        """Record the files now under a sub-folder matching ``pattern`` *and* the job's
        planned outputs (never a user's own files there).  Rank 0 only (not collective)."""
        if self.comm.rank != 0:
            return
        d = self.path / rel_dir
        if not d.is_dir():
            return
        new = []
        for p in sorted(d.glob(pattern)):
            rel = str(p.relative_to(self.path))
            if p.is_file() and _matches(rel, self.planned) and rel not in self._files:
                new.append(rel)
        if new:
            self._files.extend(new)
            if self.status == "running":
                self._write_run_json()

    @property
    def reason(self) -> str | None:
        return self._info.get("reason")

    def update(self, **info: Any) -> None:
        """Merge keys into run.json and rewrite it (rank 0 writes)."""
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
            atomic_write(p, json.dumps(data, indent=2, default=json_default,
                                        allow_nan=True) + "\n")

    def write_summary(self, data: dict[str, Any]) -> None:
        self.write_json(SUMMARY_JSON, {"status": self.status, **_finite(data)})

    def _write_run_json(self) -> None:
        if self.comm.rank != 0 or not self._info:
            return
        self._info["files"] = list(self._files)
        atomic_write(self.path / RUN_JSON,
                      json.dumps(_finite(self._info), indent=2, default=json_default) + "\n")


def _remove(path: Path, stale: list[str]) -> None:
    """Remove an earlier run's files, then the folders that removal emptied."""
    for rel in sorted(stale, key=lambda r: -r.count("/")):
        p = path / rel
        try:
            if p.is_file() or p.is_symlink():
                p.unlink()
        except OSError:
            pass
    for rel in sorted({str(Path(r).parent) for r in stale if "/" in r},
                      key=lambda r: -r.count("/")):
        d = path / rel
        while d != path:
            try:
                if d.is_dir() and not any(d.iterdir()):
                    d.rmdir()
            except OSError:
                break
            d = d.parent


def _finite(obj):
    """JSON has no inf/nan: they become None (with the key kept)."""
    import math

    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", **kwargs):
    """Open a file that replaces ``path`` whole when the block ends
    (:func:`fem_cell.files.replaced_whole`): it is written beside it (``.<name>.tmp``)
    and renamed over it, so a reader (or a run killed while writing) never sees a
    half-written file.  If the block raises, ``path`` is left as it was and the
    temporary file removed.  ``mode``: ``"w"`` (UTF-8 text unless
    ``encoding`` is given) or ``"wb"``; ``kwargs`` go to ``open`` (e.g. ``newline``)."""
    path = Path(path)
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes a file whole: mode 'w' or 'wb', not {mode!r}")
    if mode == "w":
        kwargs.setdefault("encoding", "utf-8")
    with replaced_whole(path) as tmp, open(tmp, mode, **kwargs) as f:
        yield f


def atomic_write(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` whole (:func:`atomic_open`)."""
    with atomic_open(path) as f:
        f.write(text)


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="microseconds")


def json_default(o):
    import numpy as np

    if isinstance(o, np.ndarray):
        return _finite(o.tolist())
    if isinstance(o, (np.floating, np.integer)):
        return _finite(o.item())
    if isinstance(o, Path):
        return str(o)
    return str(o)


def read_run_json(path: str | Path) -> dict[str, Any]:
    """Read DIR/run.json (or the given run.json)."""
    p = Path(path)
    if p.is_dir():
        p = p / RUN_JSON
    return json.loads(p.read_text(encoding="utf-8"))


__all__ = ["GENERATOR", "LOCK_FILE", "OUTPUTS", "OutputError", "RUN_JSON", "RunFolder",
           "SUMMARY_JSON", "check_output_dir", "is_fem_cell_record", "json_default",
           "read_run_json", "signature"]
