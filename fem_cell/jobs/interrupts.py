"""Ctrl-C (SIGINT) and SIGTERM that stop a run cleanly, on every MPI rank.

Two modes:

* **immediate** (only outside ``deferred()``; the CLI never uses it): the handler raises
  :class:`Interrupted` at once, wherever Python is — unsafe when Python runs inside a
  C++ call (dolfinx calls Python mesh markers and callbacks; an exception there aborts
  the process), hence:
* **deferred** (the whole of a CLI command): the handler only sets a flag.  Raising
  inside a PETSc callback would be wrapped by petsc4py into a solver
  error and the stepper would retry the step as a Newton failure (this is what used
  to happen); instead the job polls :meth:`InterruptGuard.check` between steps and
  Newton retries.  ``check`` is collective — an ``MPI.LOR`` reduction of the flags —
  so every rank stops at the same step even if the signal reached only some of them
  (``mpirun`` forwards SIGINT/SIGTERM to all ranks; a signal sent to one process
  reaches only that one).

A second signal while the first is pending raises at once (the user insists).

Exit statuses follow the shell convention: 128 + signal number (130 for SIGINT, 143
for SIGTERM).
"""

from __future__ import annotations

import signal
from contextlib import contextmanager

from fem_cell.errors import Interrupted


class InterruptGuard:
    """Installs SIGINT/SIGTERM handlers for the lifetime of a command (main thread only)."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self):
        self.pending: int | None = None
        self._deferred = 0
        self._previous: dict[int, object] = {}

    def install(self) -> InterruptGuard:
        """Install the handlers (again).

        Call it again after importing petsc4py: PETSc's initialisation installs its
        own SIGTERM handler, which prints a PETSc error banner and aborts MPI.
        """
        for s in self.SIGNALS:
            try:
                prev = signal.signal(s, self._handle)
            except ValueError:  # pragma: no cover - not in the main thread (e.g. notebooks)
                continue
            self._previous.setdefault(s, prev)
        return self

    def uninstall(self) -> None:
        for s, h in self._previous.items():
            signal.signal(s, h)
        self._previous.clear()

    def _handle(self, signum, frame) -> None:  # noqa: ARG002
        if self._deferred and self.pending is None:
            self.pending = signum
            return
        raise Interrupted(signum)

    def defer(self) -> None:
        """Enter deferred mode for good (the console script, from its first line)."""
        self._deferred += 1

    @contextmanager
    def deferred(self):
        """Inside this block a signal only sets the flag; poll with :meth:`check`."""
        self._deferred += 1
        try:
            yield self
        finally:
            self._deferred -= 1

    def check(self, comm, t: float | None = None) -> None:
        """Collective: raise :class:`Interrupted` on every rank if any rank got a signal."""
        from mpi4py import MPI

        mine = self.pending if self.pending is not None else 0
        signum = comm.allreduce(mine, op=MPI.MAX)
        if signum:
            self.pending = None
            raise Interrupted(signum, t, collective=True)


class _NoGuard:
    """Stand-in when no guard is installed (library use): never interrupts."""

    pending = None

    def defer(self) -> None:
        """Enter deferred mode for good (the console script, from its first line)."""
        self._deferred += 1

    @contextmanager
    def deferred(self):
        yield self

    def check(self, comm, t: float | None = None) -> None:  # noqa: ARG002
        return None


NO_GUARD = _NoGuard()
