"""Output observers of a time integration (see :mod:`fem_cell.solvers.observers`).

Each writes one kind of output as the run goes; each is collective where its writer is
(field series, checkpoints), rank-0 only where it writes a table (history):

* :class:`HistoryObserver` — one row of ``snapshot.values`` per snapshot (``history.csv``);
* :class:`FieldObserver` — a ``.pvd`` series at output times (with an optional
  update callback, e.g. T in °C);
* :class:`ProfileObserver` — 1-D proton profiles at output times;
* :class:`CheckpointObserver` — the stepper state at output times (``checkpoints/``).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fem_cell.outputs.history import History
from fem_cell.solvers.checkpoint import save_checkpoint
from fem_cell.solvers.observers import Snapshot
from fem_cell.solvers.time_stepping import StepperState


class HistoryObserver:
    """Appends ``snapshot.values[c]`` for every column of the history."""

    def __init__(self, history: History):
        self.history = history

    def __call__(self, snap: Snapshot) -> None:
        self.history.append(**{c: snap.values[c] for c in self.history.columns})

    def close(self) -> None:
        self.history.close()


class FieldObserver:
    """Writes a field series at output times.

    Args:
        writer: an object with ``write(t)`` and ``close()`` (e.g.
            :class:`~fem_cell.outputs.fields.FieldSeriesWriter`,
            :class:`~fem_cell.outputs.film_fields.FilmFields`).
        before: called before each write (e.g. to update derived fields).
        after: called after each write (e.g. to record the new files).
    """

    def __init__(self, writer, before: Callable[[], None] | None = None,
                 after: Callable[[], None] | None = None):
        self.writer = writer
        self.before = before
        self.after = after

    def __call__(self, snap: Snapshot) -> None:
        if not snap.at_output:
            return
        if self.before is not None:
            self.before()
        self.writer.write(snap.t)
        if self.after is not None:
            self.after()

    def close(self) -> None:
        self.writer.close()


class ProfileObserver:
    """Records 1-D profiles at output times (a
    :class:`~fem_cell.outputs.film_fields.ProfileRecorder`)."""

    def __init__(self, recorder):
        self.recorder = recorder

    def __call__(self, snap: Snapshot) -> None:
        if snap.at_output:
            self.recorder.record(snap.t)


class CheckpointObserver:
    """Saves the stepper state at output times, with the snapshot's row as metadata.

    Args:
        path_of: time (s) → checkpoint file path.
        comm: the problem's communicator (saving is collective).
        spaces: field name → function space, in the problem's field order.
        initial_state: the state to save for the initial snapshot (no stepper state yet).
        meta: metadata stored in every checkpoint.
        meta_of: extra metadata from the snapshot (e.g. the initial inventory).
        describe, length_scale_m: units and meanings of the fields, metres per mesh unit
            (:func:`~fem_cell.solvers.checkpoint.save_checkpoint`).
    """

    def __init__(self, path_of: Callable[[float], Path], comm, spaces: dict[str, Any],
                 initial_state: Callable[[], StepperState], meta: dict[str, Any],
                 meta_of: Callable[[Snapshot], dict] | None = None, *,
                 describe: dict[str, tuple[str, str]] | None = None,
                 length_scale_m: float | None = None):
        self.path_of = path_of
        self.comm = comm
        self.spaces = spaces
        self.initial_state = initial_state
        self.meta = meta
        self.meta_of = meta_of
        self.describe = describe
        self.length_scale_m = length_scale_m

    def __call__(self, snap: Snapshot) -> None:
        if not snap.at_output:
            return
        st = snap.stepper_state if snap.stepper_state is not None else self.initial_state()
        meta = {**self.meta, "last_dt": snap.dt, "newton_iterations": snap.newton_iterations,
                "history_row": {k: float(v) for k, v in snap.values.items()
                                if isinstance(v, (int, float))}}
        if self.meta_of is not None:
            meta.update(self.meta_of(snap))
        save_checkpoint(self.path_of(snap.t), self.comm, self.spaces, st, meta,
                        describe=self.describe, length_scale_m=self.length_scale_m)


__all__ = ["CheckpointObserver", "FieldObserver", "HistoryObserver", "ProfileObserver"]
