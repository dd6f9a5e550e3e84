"""Typed errors.  Every error a user can cause derives from :class:`FemCellError`;
the CLI prints its message (no traceback) and exits with status 2."""

from __future__ import annotations

import signal
from typing import Any


class FemCellError(Exception):
    """Base class of all user-facing fem_cell errors."""


class ConfigError(FemCellError, ValueError):
    """Bad input in a cell file or user configuration.

    The message names the file, the key (dotted path), the offending value and what
    was expected, e.g.::

        my.toml: [layers.Li3PO4].thickness = '-1 um': expected a positive length
    """

    def __init__(self, source: str | None, key: str, value: Any, expected: str):
        self.source = source or "<config>"
        self.key = key
        self.value = value
        self.expected = expected
        super().__init__(f"{self.source}: {key} = {value!r}: expected {expected}")

    def __reduce__(self):  # picklable, so rank 0 can broadcast it
        return (type(self), (self.source, self.key, self.value, self.expected))


class UnitError(FemCellError, ValueError):
    """A unit string could not be parsed or has the wrong dimension."""


class MeshError(FemCellError):
    """A mesh could not be built or read, or lacks the required tags."""


class ConvergenceError(FemCellError, RuntimeError):
    """A nonlinear solve failed and the time step could not be cut back further.

    Attributes:
        reason: PETSc ``SNESConvergedReason`` code (negative = diverged), see
            https://petsc.org/release/manualpages/SNES/SNESConvergedReason/
    """

    def __init__(self, message: str, reason: int | None = None):
        self.reason = reason
        self.message = message
        super().__init__(message if reason is None else f"{message} (SNES reason {reason})")

    def __reduce__(self):
        return (type(self), (self.message, self.reason))


class RunAborted(FemCellError):
    """A run stopped because continuing would be meaningless or invalid: a physical
    guard tripped (the Li layer melted), or nothing could be computed.  The CLI exits
    with status 3 and records the reason in run.json."""


class InputError(FemCellError):
    """An input that could not be read for a reason nobody anticipated (a library raised
    something other than a FemCellError while rank 0 read it); the message names it."""


class SizeError(FemCellError):
    """A job larger than fem-cell starts without being asked (the CLI's ``--yes``)."""


class Interrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """The run was stopped by a signal.

    Attributes:
        signum: the signal number (``signal.SIGINT`` or ``signal.SIGTERM``).
        t: simulated time (s) when the run stopped, if a time loop was running.
    """

    def __init__(self, signum: int, t: float | None = None, collective: bool = False):
        super().__init__(signum, t, collective)
        self.signum = int(signum)
        self.t = t
        #: True when raised by the collective :meth:`InterruptGuard.check` (every rank
        #: stops at the same point); False when raised at once on this rank only.
        self.collective = collective

    @property
    def exit_status(self) -> int:
        return 128 + self.signum

    @property
    def signal_name(self) -> str:
        try:
            return signal.Signals(self.signum).name
        except ValueError:  # pragma: no cover
            return f"signal {self.signum}"


def on_ranks(comm, tasks, owners=None):
    """Run independent rank-local ``tasks`` (callables) spread over the ranks, task i on
    rank ``owners[i]`` (default i mod size), and return every task's result, in order,
    on every rank.

    The rank-0 post-processing of a job (plots, renders, the interactive view) so takes
    the time of its largest share instead of the sum while the other ranks wait.  A
    task's failure reaches every rank as in :func:`on_root` (the first failed task's, in
    task order): a :class:`FemCellError` as itself, an :class:`Interrupted` as a
    collective interruption, anything else as an :class:`InputError` with its message.
    Results must be picklable (they are gathered).
    """
    if owners is None:
        owners = [i % comm.size for i in range(len(tasks))]
    if len(owners) != len(tasks) or not all(0 <= r < comm.size for r in owners):
        raise ValueError(f"owners {list(owners)}: one rank of {comm.size} per task")
    mine = [(i, *_attempt(tasks[i])) for i, r in enumerate(owners) if r == comm.rank]
    done = sorted((item for part in (comm.allgather(mine) if comm.size > 1 else [mine])
                   for item in part), key=lambda item: item[0])
    return [_outcome(status, value) for _, status, value in done]


def on_root(comm, fn):
    """Run ``fn()`` on rank 0 and broadcast its result.

    Whatever ``fn`` raises there reaches every rank: a :class:`FemCellError` as itself,
    an :class:`Interrupted` (a long rank-0 step that polls for Ctrl-C, e.g. validating a
    study's cases) as a collective interruption, anything else (an exception from a file
    reader, a ``SystemExit`` from a library that calls ``sys.exit``) as an
    :class:`InputError` with its message — never a rank 0 that died while the others
    wait in the broadcast.
    """
    return _outcome(*comm.bcast(_attempt(fn) if comm.rank == 0 else None, root=0))


def _attempt(fn) -> tuple[str, object]:
    """``fn()``'s outcome as a picklable pair for the other ranks: ("ok", result),
    ("error", a FemCellError: itself, anything else an InputError with its message) or
    ("interrupted", the signal number)."""
    try:
        return "ok", fn()
    except FemCellError as e:
        return "error", e
    except Interrupted as e:
        return "interrupted", e.signum
    except (Exception, SystemExit) as e:  # noqa: BLE001 - any failure reaches all ranks
        return "error", InputError(f"{type(e).__name__}: {str(e)[:300]}")


def _outcome(status: str, value):
    """An :func:`_attempt`'s outcome on this rank: the result, or the error raised (an
    interruption as a collective one)."""
    if status == "error":
        raise value
    if status == "interrupted":
        raise Interrupted(value, collective=True)
    return value
