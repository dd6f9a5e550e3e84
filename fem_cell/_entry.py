"""The ``fem-cell`` console script (and ``python -m fem_cell``).

Its first statements catch SIGINT/SIGTERM with a standard-library-only handler that only
records the signal, before anything else is imported; then the interrupt handlers are
installed in deferred mode and take the recorded signal over.  A Ctrl-C during start-up
(importing dolfinx and PETSc takes a second or more) thus only sets a flag that the CLI
then checks collectively: exit 130, one line, never a KeyboardInterrupt traceback.  (A
signal that arrives while the interpreter itself is still starting, before this module's
first line, gets Python's default behaviour: no code of ours runs yet.)  Only the console
script imports this module; ``import fem_cell`` changes no signal.

It also sets one BLAS/OpenMP thread per process (:data:`THREAD_DEFAULTS`) unless the
environment already says otherwise, before numpy loads.
"""

import signal as _signal

_EARLY: list[int] = []


def _record(signum, frame):  # noqa: ARG001
    if not _EARLY:
        _EARLY.append(signum)


_DEFAULTS = {_s: _signal.signal(_s, _record) for _s in (_signal.SIGINT, _signal.SIGTERM)}

import os as _os  # noqa: E402

#: one BLAS/OpenMP thread per process unless the user set one: read once, when numpy's
#: OpenBLAS loads (below).  Its default, a thread per core in *every* rank, oversubscribes
#: the cores under mpirun: the 2-D impedance sweep (139,128 unknowns, 4 factorisations)
#: took 12.7–16.3 s on 2 ranks of this 2-core machine with it and 3.3–4.6 s without;
#: on 1 rank 6.5–7.5 s with it, 5.7–6.4 s without (its dense steps are small).
THREAD_DEFAULTS = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
for _var, _value in THREAD_DEFAULTS.items():
    _os.environ.setdefault(_var, _value)

from fem_cell.jobs.interrupts import InterruptGuard  # noqa: E402 - after the early handler

_GUARD = InterruptGuard()
_GUARD.defer()
_GUARD.install()
_GUARD._previous.update(_DEFAULTS)  # noqa: SLF001 - uninstall restores Python's, not _record
if _EARLY:  # a signal during the imports above
    _GUARD.pending = _EARLY[0]


def main() -> int:
    """Run the CLI with the guard installed at start-up."""
    from fem_cell.cli import main as cli_main

    return cli_main(guard=_GUARD)
