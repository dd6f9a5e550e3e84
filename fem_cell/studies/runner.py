"""The study engine: cases spread over MPI groups, taken dynamically, gathered on rank 0.

:func:`run_study` splits the communicator into groups of ``group_size`` ranks
(``comm.Split``); each group runs one case at a time on its sub-communicator
(:func:`fem_cell.studies.cases.run_case`).  Cases are handed out **dynamically** by a
dispatcher on world rank 0 that also computes: group leaders ask rank 0 for the next
case (point-to-point messages on a duplicate of the communicator, sent with the result
of the case they just finished); rank 0 answers between its own time steps (its case
guard polls the dispatcher) and after its own cases.  So with 2 ranks and
``group_size = 1`` both ranks compute, and a slow case does not hold up the others.

Rank 0 writes every file: ``cases/<id>.json`` as each case's result arrives (completed
or failed, with its error), then ``results.csv`` (one row per case), ``summary.json``,
``run.json`` and the plots.  A case that raises is recorded as ``failed`` with its
message and the study goes on.

Interrupts (SIGINT/SIGTERM with an :class:`~fem_cell.jobs.interrupts.InterruptGuard`):
the whole study runs in deferred mode; every group checks collectively between cases
and between the time steps of its case, abandons the running case (its JSON is not
written) and tells rank 0, which hands out no more work; the folder is left with
status ``interrupted`` and a rerun into the same folder resumes (cases already in
``cases/`` are not computed again).
"""

from __future__ import annotations

import csv
import datetime as _dt
import json
import math
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.errors import ConfigError, FemCellError, on_root
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.outputs.rundir import OUTPUTS, OutputError, RunFolder, json_default, read_run_json
from fem_cell.studies import cases as _cases
from fem_cell.studies.spec import StudySpec, display_value, load_spec

_TAG_ASK, _TAG_ANSWER = 7301, 7302
_STATUSES_DONE = ("completed", "failed")


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


# ------------------------------------------------------------------ result --------
@dataclass
class StudyResult:
    """What :func:`run_study` returns (every rank; rows are complete on rank 0 and
    broadcast).

    Attributes:
        rows: one dict per case, in case order: ``case``, each parameter as given and
            ``<key>_si``, the recorded values, ``status`` (completed / failed /
            pending), ``error``, ``wall_time_s``.
        status: ``completed`` (every case ran, some may have failed) or ``interrupted``.
        out: the study folder (or None).
        summary: the headline numbers (as in ``summary.json``).
        calibration: the :class:`fem_cell.studies.calibration.CalibrationResult` of a
            calibration study.
    """

    spec: StudySpec
    rows: list[dict] = field(default_factory=list)
    status: str = "completed"
    out: Path | None = None
    summary: dict = field(default_factory=dict)
    wall_time: float = 0.0
    calibration: Any = None

    @property
    def failed(self) -> list[dict]:
        """The rows of the cases that failed."""
        return [r for r in self.rows if r.get("status") == "failed"]

    @property
    def completed(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") == "completed"]

    def to_pandas(self):
        """The table as a :class:`pandas.DataFrame` (one row per case)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def column(self, name: str) -> np.ndarray:
        return np.array([r.get(name, np.nan) for r in self.rows], dtype=float)

    def report(self) -> str:
        """One line for the CLI: counts, wall time, where the table is."""
        if self.spec.kind == "calibration":
            where = f"; table in {self.out / 'calibration.csv'}" if self.out else ""
            return f"calibration {self.spec.name}: {self.status} in {self.wall_time:.1f} s{where}"
        s = self.summary
        where = f"; table in {self.out / 'results.csv'}" if self.out else ""
        reused = (f", {s.get('reused_from_earlier_run')} from an earlier run"
                  if s.get("reused_from_earlier_run") else "")
        pending = f", {s.get('pending')} not run" if s.get("pending") else ""
        return (f"study {self.spec.name}: {s.get('cases')} cases ({s.get('completed')} "
                f"completed, {s.get('failed')} failed{pending}{reused}) in "
                f"{self.wall_time:.1f} s{where}")


# ------------------------------------------------------------------ guard ---------
def _pending(guard) -> int:
    return int(getattr(guard, "pending", None) or 0)


def _clear(guard) -> None:
    if getattr(guard, "pending", None) is not None:
        guard.pending = None


class _CaseGuard:
    """The guard a case's time loop polls: the user's signals, a stop from the
    dispatcher, and (on rank 0) a turn of the dispatcher."""

    def __init__(self, guard, dispatcher=None):
        self.guard = guard
        self.dispatcher = dispatcher

    def deferred(self):
        return self.guard.deferred()

    def check(self, comm, t: float | None = None) -> None:
        from mpi4py import MPI

        mine = _pending(self.guard)
        if self.dispatcher is not None:
            self.dispatcher.service()
            mine = mine or self.dispatcher.stop
        signum = comm.allreduce(mine, op=MPI.MAX)
        if signum:
            _clear(self.guard)
            raise Interrupted(signum, t, collective=True)


# ------------------------------------------------------------------ dispatcher ----
class _Dispatcher:
    """World rank 0: hands out case indices, collects results, writes case files.

    Messages from a remote leader: ``{"want": True, "record": ...}`` asks for a case
    (answered with an index or None), ``{"bye": True, "record": ..., "signal": ...}``
    says it stops (answered with None).  A record rides along with either.
    """

    def __init__(self, comm, todo: list[int], n_remote: int, on_record, progress,
                 n_groups: int = 1):
        self.comm = comm
        self.queue = deque(todo)
        self.n_remote = n_remote
        self.n_groups = n_groups
        self.said_bye = 0
        self.on_record = on_record
        self.progress = progress
        self.stop = 0
        self.assigned: set[int] = set()  # handed out, no record yet

    @property
    def running(self) -> range:
        return range(min(len(self.assigned), self.n_groups - self.said_bye))

    def take(self) -> int | None:
        if self.stop or not self.queue:
            return None
        idx = self.queue.popleft()
        self.assigned.add(idx)
        return idx

    def handle(self, msg: dict) -> int | None:
        rec = msg.get("record")
        if rec is not None:
            self.assigned.discard(rec["index"])
            self.on_record(rec)
        if msg.get("signal"):
            self.stop = self.stop or int(msg["signal"])
        idx = self.take() if msg.get("want") else None
        if msg.get("bye"):
            self.said_bye += 1
        if self.progress is not None:
            self.progress(self)
        return idx

    def service(self) -> None:
        """Answer every pending request (non-blocking)."""
        from mpi4py import MPI

        st = MPI.Status()
        while self.comm.iprobe(source=MPI.ANY_SOURCE, tag=_TAG_ASK, status=st):
            src = st.Get_source()
            msg = self.comm.recv(source=src, tag=_TAG_ASK)
            self.comm.send(self.handle(msg), dest=src, tag=_TAG_ANSWER)

    def drain(self) -> None:
        """After rank 0's own cases: serve until every remote leader has left."""
        while self.said_bye < self.n_remote:
            self.service()
            if self.said_bye < self.n_remote:
                time.sleep(0.002)


class _Client:
    """A remote group leader's side: it asks for its next case when it *starts* a case
    (one case of look-ahead), so it never waits for rank 0 — which answers only between
    its own time steps — when it finishes one."""

    def __init__(self, comm):
        self.comm = comm
        self.pending = None  # the outstanding look-ahead request

    def _post(self, msg: dict):
        self.comm.send(msg, dest=0, tag=_TAG_ASK)
        return self.comm.irecv(source=0, tag=_TAG_ANSWER)

    @staticmethod
    def _wait(req):
        while True:  # waits without spinning a core
            done, value = req.test()
            if done:
                return value
            time.sleep(0.001)

    def next(self, last: dict | None, signum: int) -> int | None:
        """Send ``last`` (the record of the case just run); return the case to run now
        (None: stop — then rank 0 has been told)."""
        idx = self._wait(self.pending) if self.pending is not None else None
        first = self.pending is None and not getattr(self, "_started", False)
        self.pending = None
        if first and not signum:
            self._started = True
            idx = self._wait(self._post({"want": True, "record": last}))
            last = None
        if signum or idx is None:
            self._wait(self._post({"bye": True, "record": last, "signal": signum}))
            return None
        self.pending = self._post({"want": True, "record": last})  # look-ahead
        return idx


def _warm_plotting() -> None:
    """Import matplotlib (~0.5 s) while rank 0 would otherwise only wait."""
    from fem_cell.outputs.plots import pyplot

    try:
        pyplot()
    except ImportError:  # pragma: no cover
        pass


class _Progress:
    """Rank-0 line: cases done, failed, running, ETA."""

    def __init__(self, total: int, reused: int, every: float = 2.0, label: str = "study"):
        self.total = total
        self.reused = reused
        self.done = 0
        self.failed = 0
        self.every = every
        self.label = label
        self.t0 = time.perf_counter()
        self._last = -math.inf

    def count(self, rec: dict) -> None:
        if rec["status"] == "failed":
            self.failed += 1
        else:
            self.done += 1

    def __call__(self, disp: _Dispatcher | None = None, final: bool = False) -> None:
        now = time.perf_counter()
        if not final and now - self._last < self.every:
            return
        self._last = now
        wall = now - self.t0
        new = self.done + self.failed
        finished = self.reused + new
        running = len(disp.running) if disp is not None else 0
        left = self.total - finished
        eta = "--" if new == 0 else f"{wall / new * max(left - 0.5 * running, 0):.0f} s"
        state = (finished, self.failed, running)
        if final and state == getattr(self, "_state", None):
            return
        self._state = state
        print(f"[{self.label}] {finished}/{self.total} cases done ({self.failed} failed"
              + (f", {self.reused} from an earlier run" if self.reused else "")
              + f"), {running} running | wall {wall:.1f} s | ETA {eta}", flush=True)


# ------------------------------------------------------------------ one case ------
def _cleanup(gcomm) -> None:
    """After every case, on every rank of its group in step: collect garbage and destroy
    the PETSc objects petsc4py deferred — each holds a duplicated communicator, and MPI
    runs out of them (2048) after ~100 cases otherwise.

    What survives the collection (modules, JIT caches, the study's own data) is frozen
    (``gc.freeze``), so the next collection scans only what the next case makes: a full
    collection of a dolfinx process costs ~50–80 ms, 5 % of a 1-D case; this one ~3 ms.
    :func:`run_cases` unfreezes at the end.
    """
    import gc

    gc.collect()
    gc.freeze()
    try:
        from petsc4py import PETSc

        PETSc.garbage_cleanup(gcomm)
    except ImportError:  # pragma: no cover
        pass


def _run_one(spec: StudySpec, idx: int, gcomm, guard, world_rank: int, group: int) -> dict:
    from fem_cell.config import load_config

    case = spec.cases[idx]
    started = _now()
    t0 = time.perf_counter()
    model_time = math.nan
    try:
        cfg = load_config(spec.base, case.overrides)
        t1 = time.perf_counter()
        values = _cases.run_case(cfg, gcomm, spec.job, spec.record, guard=guard)
        model_time = time.perf_counter() - t1
        status, error = "completed", None
    except Interrupted:
        raise
    except Exception as e:  # noqa: BLE001 - a failed case is recorded, the rest go on
        values = {}
        status = "failed"
        error = str(e) if isinstance(e, FemCellError) else f"{type(e).__name__}: {e}"
        error = " ".join((error or type(e).__name__).split())
    finally:
        _cleanup(gcomm)
    return {"id": case.id, "index": idx, "values": case.values, "si": case.si,
            "status": status, "error": error, "recorded": values,
            "wall_time_s": time.perf_counter() - t0, "model_time_s": model_time,
            "started": started, "finished": _now(), "rank": world_rank, "group": group,
            "ranks": gcomm.size, "spec_hash": spec.hash}


def run_cases(spec: StudySpec, comm, todo: list[int], *, guard=NO_GUARD, on_record=None,
              progress: _Progress | None = None, group_size: int | None = None
              ) -> tuple[dict[int, dict], int]:
    """Run the cases ``todo`` (indices) over groups of ``comm``; collective.

    Returns:
        (records by index — complete on rank 0, empty elsewhere —, the signal number
        that stopped the study or 0).
    """
    from mpi4py import MPI

    gs = group_size or spec.group_size
    if gs > comm.size:
        raise ConfigError(spec.source, "study.group_size", gs,
                          f"at most the number of MPI ranks ({comm.size}); pass "
                          f"--group-size to change it")
    wcomm = comm.Dup()
    group = comm.rank // gs
    gcomm = comm.Split(color=group, key=comm.rank)
    n_groups = (comm.size + gs - 1) // gs
    leader = gcomm.rank == 0
    records: dict[int, dict] = {}

    def record(rec: dict) -> None:
        records[rec["index"]] = rec
        if progress is not None:
            progress.count(rec)
        if on_record is not None:
            on_record(rec)

    disp = None
    if comm.rank == 0:
        disp = _Dispatcher(wcomm, list(todo), n_groups - 1, record, progress, n_groups)
    client = _Client(wcomm) if leader and disp is None else None
    case_guard = _CaseGuard(guard, disp)
    stop = 0
    try:
        with guard.deferred():
            last: dict | None = None
            signum = 0
            while True:
                mine = _pending(guard) or signum or (disp.stop if disp is not None else 0)
                signum = gcomm.allreduce(mine, op=MPI.MAX)
                _clear(guard)
                idx = None
                if disp is not None:
                    disp.service()  # cases without time steps (expose) poll nothing
                    idx = disp.handle({"record": last, "signal": signum, "want": True})
                elif client is not None:
                    idx = client.next(last, signum)
                idx = gcomm.bcast(idx, root=0)
                last = None
                if idx is None:
                    break
                try:
                    last = _run_one(spec, idx, gcomm, case_guard, comm.rank, group)
                except Interrupted as e:  # collective on gcomm: the case is abandoned
                    signum = e.signum
            if disp is not None:
                if disp.said_bye < disp.n_remote and spec.plot.value is not None:
                    _warm_plotting()  # rank 0 waits for the last cases anyway
                disp.drain()
                stop = disp.stop
        stop = comm.bcast(stop, root=0)
    finally:
        import gc

        gc.unfreeze()
        gcomm.Free()
        wcomm.Free()
    return records, stop


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


def _prepare_folder(spec: StudySpec, out, comm, overwrite: bool) -> tuple[RunFolder, str]:
    """Check DIR: a new folder, or the same study to resume (hash), else refuse."""
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
    planned = OUTPUTS["study"] if mode == "new" else tuple(
        f for f in OUTPUTS["study"] if not f.startswith("cases/"))
    # a resumed study keeps its finished cases; the rest is written again
    folder = RunFolder(out, comm, "study", overwrite=overwrite or mode == "resume",
                       planned=planned, keep=("cases/*",) if mode == "resume" else ())
    return folder, mode


# ------------------------------------------------------------------ table ---------
def table_rows(spec: StudySpec, records: dict[int, dict]) -> list[dict]:
    """One row per case (pending ones too), in case order."""
    cols = spec.value_columns()
    rows = []
    for case in spec.cases:
        rec = records.get(case.index)
        row: dict[str, Any] = {"case": case.id}
        for p in spec.parameters:
            row[p.key] = case.values[p.key]
            row[f"{p.key}_si"] = case.si.get(p.key)
        vals = rec.get("recorded", {}) if rec else {}
        for c in cols:
            row[c] = vals.get(c, math.nan)
        row["status"] = rec["status"] if rec else "pending"
        row["error"] = (rec.get("error") or "") if rec else ""
        row["wall_time_s"] = rec.get("wall_time_s", math.nan) if rec else math.nan
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) and math.isfinite(v) else
                            "" if isinstance(v, float) or v is None else v)
                        for k, v in r.items()})
    tmp.replace(path)


def read_results(path: str | Path):
    """``results.csv`` of a study folder (or the file) as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    return pd.read_csv(p / "results.csv" if p.is_dir() else p)


# ------------------------------------------------------------------ analysis ------
def _grid(spec: StudySpec, rows: list[dict], value: str) -> np.ndarray:
    shape = spec.grid_shape()
    return np.array([r.get(value, np.nan) for r in rows], dtype=float).reshape(shape)


def _axis(spec: StudySpec, i: int) -> np.ndarray:
    """Parameter i's levels in its display unit (grid studies)."""
    p = spec.parameters[i]
    n = int(np.prod(spec.grid_shape()[i + 1:]))
    out = []
    for j in range(len(p.values)):
        case = spec.cases[j * n]
        v = display_value(p, case.si.get(p.key))
        out.append(np.nan if v is None else v)
    return np.array(out, dtype=float)


def reach_analysis(spec: StudySpec, rows: list[dict], reach: dict) -> dict:
    """For each level of the other parameter: the smallest ``along`` value at which
    ``value`` falls to ``target``, interpolating log(value) against log(along) (or
    linearly with ``log = false``); ``"not reached"`` if no level gets there."""
    keys = [p.key for p in spec.parameters]
    along = keys.index(reach["along"])
    vals = _grid(spec, rows, reach["value"])
    axis = _axis(spec, along)
    p_along = spec.parameters[along]
    other = [i for i in range(len(keys)) if i != along]
    log = reach.get("log", True)
    target = float(reach["target"])
    results = []
    vals = np.moveaxis(vals, along, -1)
    for idx in np.ndindex(*vals.shape[:-1]):
        line = vals[idx]
        entry = {}
        for k, i in zip(other, idx, strict=True):
            entry[keys[k]] = spec.parameters[k].shown[i]
        order = np.argsort(axis)
        x, y = axis[order], line[order]
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        hit = np.nonzero(y <= target)[0]
        if len(hit) == 0:
            entry["reached"] = "not reached"
        elif hit[0] == 0:
            entry["reached"] = f"<= {x[0]:.4g} {p_along.unit}".strip()
            entry["value"] = float(x[0])
        else:
            j = hit[0]
            x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
            if log and min(x0, x1, y0, y1, target) > 0:
                f = (math.log(target) - math.log(y0)) / (math.log(y1) - math.log(y0))
                xr = math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))
            else:
                xr = x0 + (target - y0) * (x1 - x0) / (y1 - y0)
            entry["reached"] = f"{xr:.4g} {p_along.unit}".strip()
            entry["value"] = float(xr)
        results.append(entry)
    return {"value": reach["value"], "target": target, "along": reach["along"],
            "unit": p_along.unit, "interpolation": "log-log" if log else "linear",
            "results": results}


def headline(spec: StudySpec, rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for c in spec.value_columns():
        v = np.array([r.get(c, np.nan) for r in rows], dtype=float)
        v = v[np.isfinite(v)]
        if len(v):
            i_min = int(np.nanargmin([r.get(c, np.nan) if np.isfinite(r.get(c, np.nan))
                                      else np.inf for r in rows]))
            i_max = int(np.nanargmax([r.get(c, np.nan) if np.isfinite(r.get(c, np.nan))
                                      else -np.inf for r in rows]))
            out[c] = {"min": float(v.min()), "min_case": rows[i_min]["case"],
                      "max": float(v.max()), "max_case": rows[i_max]["case"]}
    return out


# ------------------------------------------------------------------ plots ---------
def _is_log(x: np.ndarray) -> bool:
    return len(x) > 2 and np.all(x > 0) and np.allclose(np.diff(np.log(x)),
                                                       np.log(x[1] / x[0]), rtol=1e-6)


def plot_study(spec: StudySpec, rows: list[dict], folder: Path) -> str | None:
    """Heat map (2 grid parameters) or line plot (1 parameter) of ``[plot] value``;
    returns the file name written (or None)."""
    value = spec.plot.value
    if value is None or spec.combine != "grid" or len(spec.parameters) not in (1, 2):
        return None
    from matplotlib.colors import LogNorm

    from fem_cell.outputs.plots import pyplot, save_figure

    plt = pyplot()

    z = _grid(spec, rows, value)
    ps = spec.parameters

    def label(p):
        return f"{p.key} ({p.unit})" if p.unit else p.key

    if len(ps) == 1:
        x = _axis(spec, 0)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, z, "o-")
        if _is_log(x):
            ax.set_xscale("log")
        if spec.plot.log:
            ax.set_yscale("log")
        ax.set_xlabel(label(ps[0]))
        ax.set_ylabel(value)
        ax.grid(True, which="both", alpha=0.3)
        name = "line.png"
    else:
        y, x = _axis(spec, 0), _axis(spec, 1)
        fig, ax = plt.subplots(figsize=(1.2 * len(x) + 3, 0.7 * len(y) + 2.5))
        finite = z[np.isfinite(z)]
        norm = None
        if spec.plot.log and len(finite) and finite.min() > 0:
            norm = LogNorm(vmin=finite.min(), vmax=finite.max())
        im = ax.imshow(np.ma.masked_invalid(z), origin="lower", aspect="auto", norm=norm,
                       cmap="viridis")
        fig.colorbar(im, ax=ax, label=value)
        ax.set_xticks(range(len(x)), [f"{v:.3g}" for v in x])
        ax.set_yticks(range(len(y)), [f"{v:.3g}" for v in y])
        for (i, j), v in np.ndenumerate(z):
            light = np.isfinite(v) and im.norm(v) > 0.6
            ax.text(j, i, "n/a" if not np.isfinite(v) else f"{v:.3g}", ha="center",
                    va="center", fontsize=7, color="k" if light else "w")
        ax.set_xlabel(label(ps[1]))
        ax.set_ylabel(label(ps[0]))
        name = "heatmap.png"
    ax.set_title(f"{spec.name}: {value}")
    save_figure(fig, folder / name, dpi=110)
    return name


# ------------------------------------------------------------------ the study -----
def _as_spec(spec, comm, group_size: int | None) -> StudySpec:
    if isinstance(spec, StudySpec):
        if group_size is not None and group_size != spec.group_size:
            import dataclasses

            spec = dataclasses.replace(spec, group_size=group_size)
        return spec
    return on_root(comm, lambda: load_spec(spec, group_size=group_size))


def run_study(spec, comm, out=None, *, progress: bool = True, guard=NO_GUARD,
              overwrite: bool = False, group_size: int | None = None,
              announce=None) -> StudyResult:
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

    Returns:
        The :class:`StudyResult` (every rank).

    Raises:
        SpecError / ConfigError: an invalid spec (before any case runs).
        OutputError: an unusable folder, or a folder of a different study.
        Interrupted: a signal stopped the study (after the folder was brought up to
            date; ``e.result`` is the partial result).
    """
    spec = _as_spec(spec, comm, group_size)
    t0 = time.perf_counter()
    if spec.group_size > comm.size:
        raise ConfigError(spec.source, "study.group_size", spec.group_size,
                          f"at most the number of MPI ranks ({comm.size}); pass "
                          f"--group-size to change it")
    folder, mode = (None, "new")
    if out is not None:
        folder, mode = _prepare_folder(spec, out, comm, overwrite)
    try:
        if announce is not None:
            announce()
        if spec.kind == "calibration":
            return _run_calibration(spec, comm, folder, progress, t0)
        return _run_sweep(spec, comm, folder, mode, progress, guard, t0)
    finally:
        if folder is not None:
            folder.release()


def _run_sweep(spec: StudySpec, comm, folder: RunFolder | None, mode: str, progress: bool,
               guard, t0: float) -> StudyResult:
    """The cases of a sweep study, into ``folder`` (new or resumed)."""
    done: dict[int, dict] = {}
    if folder is not None:
        base_cfg = None
        if comm.rank == 0:
            from fem_cell.config import load_config

            base_cfg = load_config(spec.base, spec.config).to_dict()
        folder.open(base_cfg, _run_info(spec, comm, mode))
        if comm.rank == 0:
            if mode == "resume":
                done = _read_case_files(folder.path, spec)
                for rec in done.values():
                    folder.add_file(f"cases/{rec['id']}.json")
            if spec.path is not None:
                folder.file("spec.toml").write_bytes(spec.path.read_bytes())
            (folder.path / "cases").mkdir(exist_ok=True)
        folder.update()  # lists spec.toml at once: a killed study still resumes
        done = comm.bcast(done, root=0)
    # costliest first (longest programs): the study does not end waiting for one long case
    todo = sorted((c.index for c in spec.cases if c.index not in done),
                  key=lambda i: -spec.cases[i].cost)
    bar = _Progress(len(spec.cases), len(done)) if progress and comm.rank == 0 else None

    def write_case(rec: dict) -> None:
        if folder is not None:
            p = folder.file(f"cases/{rec['id']}.json")
            tmp = p.with_name(f".{p.name}.tmp")
            tmp.write_text(json.dumps(rec, indent=1, default=json_default) + "\n",
                           encoding="utf-8")
            tmp.replace(p)

    try:
        new, stop = run_cases(spec, comm, todo, guard=guard, on_record=write_case,
                              progress=bar)
    except BaseException as e:
        if folder is not None:
            _finish_folder(folder, spec, done, "interrupted" if isinstance(e, Interrupted)
                           else "failed", time.perf_counter() - t0, reason=_reason(e))
        raise
    records = {**done, **new}
    if bar is not None:
        bar(final=True)
    status = "interrupted" if stop else "completed"
    result = StudyResult(spec, status=status, out=folder.path if folder else None)
    if comm.rank == 0:
        result.rows = table_rows(spec, records)
        result.summary = _summary(spec, result.rows, len(done), time.perf_counter() - t0, stop)
        if folder is not None:
            _write_outputs(folder, spec, result, stop, time.perf_counter() - t0)
    result.rows, result.summary = comm.bcast((result.rows, result.summary), root=0)
    if folder is not None:
        comm.Barrier()
    result.wall_time = time.perf_counter() - t0
    if stop:
        e = Interrupted(stop, None, collective=True)
        e.result = result
        raise e
    return result


def _reason(e: BaseException) -> str:
    if isinstance(e, Interrupted):
        return e.signal_name
    return str(e) if isinstance(e, FemCellError) else f"internal error: {type(e).__name__}: {e}"


def _run_info(spec: StudySpec, comm, mode: str) -> dict:
    fit = ({"fit_parameters": list(spec.fit.parameters), "targets": list(spec.fit.targets)}
           if spec.kind == "calibration" else {})
    return {**fit, "study": spec.name, "spec": str(spec.path) if spec.path else None,
            "spec_hash": spec.hash, "kind": spec.kind, "study_job": spec.job,
            "combine": spec.combine, "group_size": spec.group_size,
            "cases": len(spec.cases), "base": str(spec.base) if spec.base else None,
            "parameters": [{"key": p.key, "values": list(p.shown), "unit": p.unit}
                           for p in spec.parameters],
            "resumed": mode == "resume"}


def _summary(spec: StudySpec, rows: list[dict], reused: int, wall: float, stop: int) -> dict:
    n = {s: sum(r["status"] == s for r in rows) for s in ("completed", "failed", "pending")}
    out: dict[str, Any] = {
        "study": spec.name, "job": spec.job, "spec_hash": spec.hash,
        "cases": len(rows), **n, "reused_from_earlier_run": reused,
        "computed_now": n["completed"] + n["failed"] - reused,
        "wall_time_s": wall,
        "case_wall_time_mean_s": float(np.nanmean([r["wall_time_s"] for r in rows]))
        if any(np.isfinite(r["wall_time_s"]) for r in rows) else None,
        "headline": headline(spec, rows),
        "failed_cases": [{"case": r["case"], "error": r["error"]} for r in rows
                         if r["status"] == "failed"],
    }
    if spec.reach is not None:
        out["reach"] = reach_analysis(spec, rows, spec.reach)
    return out


def _write_outputs(folder: RunFolder, spec: StudySpec, result: StudyResult, stop: int,
                   wall: float) -> None:
    write_csv(result.rows, folder.file("results.csv"))
    plot = None
    try:
        plot = plot_study(spec, result.rows, folder.path)
    except Exception as e:  # noqa: BLE001 - a plot never loses the results
        result.summary["plot_error"] = f"{type(e).__name__}: {e}"
    if plot:
        folder.add_file(plot)
    folder.add_tree("cases", "case*.json")
    info = {"wall_time_s": wall, "counts": {k: result.summary[k] for k in
                                            ("completed", "failed", "pending")}}
    if stop:
        folder.finish("interrupted", reason=(f"{Interrupted(stop).signal_name}: "
                                             f"{result.summary['pending']} case(s) not run; "
                                             "run the same study into the same folder to "
                                             "resume"), **info)
    else:
        folder.finish("completed", **info)
    folder.write_summary(result.summary)
    folder.update()


def _finish_folder(folder: RunFolder, spec: StudySpec, done: dict, status: str, wall: float,
                   reason: str) -> None:
    """Rank-0 bookkeeping of a study stopped by an exception (no collectives)."""
    if folder.comm.rank != 0:
        return
    records = dict(done)
    records.update(_read_case_files(folder.path, spec))
    rows = table_rows(spec, records)
    try:
        write_csv(rows, folder.file("results.csv"))
    except OSError:
        pass
    folder.add_tree("cases", "case*.json")
    folder.finish(status, reason=reason, wall_time_s=wall)
    folder.write_summary(_summary(spec, rows, len(done), wall, 1))
    folder.update()


# ------------------------------------------------------------------ calibration ---
def _run_calibration(spec: StudySpec, comm, folder, progress: bool, t0: float) -> StudyResult:
    """``kind = "calibration"``: :func:`fem_cell.studies.calibration.calibrate` on the spec's
    parameters and targets."""
    try:
        from fem_cell.studies.calibration import FitParameter, Target, calibrate
    except ImportError as e:
        raise FemCellError(f"{spec.source}: study.kind = 'calibration' needs "
                           f"fem_cell.studies.calibration ({e})") from None
    params = [FitParameter(p["key"], p["initial"], lower=p["lower"], upper=p["upper"],
                           log=p["log"], unit=p["unit"]) for p in spec.fit.parameters]
    targets = [Target(t["name"], t["overrides"], t["job"], t["quantity"], t["value"],
                      t["sigma"], transform=t["transform"], kind=t["kind"])
               for t in spec.fit.targets]
    if folder is not None:
        folder.open(None, _run_info(spec, comm, "new"))
    sub = folder.path / "calibration" if folder is not None else None
    try:
        res = calibrate(spec.base, params, targets, comm, base_overrides=spec.fit.config,
                        out=sub, progress=progress)
    except BaseException as e:
        if folder is not None and comm.rank == 0:
            folder.add_tree("calibration", "**/*")
            folder.finish("interrupted" if isinstance(e, Interrupted) else "failed",
                          reason=_reason(e), wall_time_s=time.perf_counter() - t0)
            folder.write_summary({"study": spec.name})
            folder.update()
        raise
    rows = [dict(p) for p in res.parameters]
    result = StudyResult(spec, rows=rows, out=folder.path if folder else None,
                         calibration=res)
    result.summary = {"study": spec.name, "kind": "calibration",
                      "calibration": res.to_dict()}
    result.wall_time = time.perf_counter() - t0
    if folder is not None:
        if comm.rank == 0:
            write_csv(rows, folder.file("calibration.csv"))
            folder.file("calibration.txt").write_text(res.table() + "\n", encoding="utf-8")
            folder.add_tree("calibration", "**/*")
        folder.finish("completed", wall_time_s=result.wall_time)
        folder.write_summary(result.summary)
        folder.update()
    return result
