"""The ``fem-cell`` console script (and ``python -m fem_cell``).

Its first statements install the interrupt handlers in deferred mode, so a Ctrl-C during
start-up (importing dolfinx and PETSc takes a second or more) only sets a flag that the
CLI then checks collectively: exit 130, one line, never a KeyboardInterrupt traceback.
Only the console script imports this module; ``import fem_cell`` changes no signal.
"""

from fem_cell.jobs.interrupts import InterruptGuard

_GUARD = InterruptGuard().install()
_GUARD.defer()


def main() -> int:
    """Run the CLI with the guard installed at start-up."""
    from fem_cell.cli import main as cli_main

    return cli_main(guard=_GUARD)
