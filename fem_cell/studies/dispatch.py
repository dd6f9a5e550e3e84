"""The study's cases over MPI: groups of ranks, cases handed out dynamically by rank 0.

:func:`run_cases` splits the communicator into groups of ``group_size`` ranks
(``comm.Split``); each group runs one case at a time on its sub-communicator
(:func:`fem_cell.studies.cases.run_case`).  Cases are handed out **dynamically** by a
dispatcher on world rank 0 that also computes: group leaders ask rank 0 for the next
case (point-to-point messages on a duplicate of the communicator, sent with the result
of the case they just finished); rank 0 answers between its own time steps (its case
guard polls the dispatcher) and after its own cases.  So with 2 ranks and
``group_size = 1`` both ranks compute, and a slow case does not hold up the others.

A case that raises is recorded as ``failed`` with its message and the study goes on.
Every record reaches rank 0 (``on_record``), which writes it as it arrives.

Interrupts (SIGINT/SIGTERM with an :class:`~fem_cell.jobs.interrupts.InterruptGuard`):
the whole study runs in deferred mode; every group checks collectively between cases
and between the time steps of its case, abandons the running case (no record) and
tells rank 0, which hands out no more work; :func:`run_cases` returns the signal.
"""

from __future__ import annotations

import datetime as _dt
import math
import time
from collections import deque

from fem_cell.config import load_config
from fem_cell.errors import ConfigError, FemCellError
from fem_cell.jobs.interrupts import NO_GUARD, Interrupted
from fem_cell.solvers.problem import collect_garbage
from fem_cell.studies import cases as _cases
from fem_cell.studies.spec import StudySpec
from fem_cell.units import format_duration

_TAG_ASK, _TAG_ANSWER = 7301, 7302


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="milliseconds")


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


class CaseProgress:
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
        eta = format_duration(None if new == 0 else wall / new * max(left - 0.5 * running, 0))
        state = (finished, self.failed, running)
        if final and state == getattr(self, "_state", None):
            return
        self._state = state
        print(f"[{self.label}] {finished}/{self.total} cases done ({self.failed} failed"
              + (f", {self.reused} from an earlier run" if self.reused else "")
              + f"), {running} running | wall {format_duration(wall)} | ETA {eta}", flush=True)


# ------------------------------------------------------------------ one case ------
def _cleanup(gcomm) -> None:
    """After every case, on every rank of its group in step: collect garbage and destroy
    the PETSc objects petsc4py deferred — each holds a duplicated communicator, and MPI
    runs out of them (2048) after ~100 cases otherwise.  What survives is frozen
    (:func:`~fem_cell.solvers.problem.collect_garbage`), so the next collection scans
    only what the next case makes; :func:`run_cases` unfreezes at the end.
    """
    collect_garbage(gcomm, freeze=True)


def _run_one(spec: StudySpec, idx: int, gcomm, guard, world_rank: int, group: int) -> dict:
    """Run case ``idx`` on its group's communicator (collective on ``gcomm``) and return
    its record: completed with the recorded values, or failed with the error (one line).
    An :class:`Interrupted` (the case abandoned) propagates."""
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
              progress: CaseProgress | None = None, group_size: int | None = None
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


__all__ = ["CaseProgress", "run_cases"]
