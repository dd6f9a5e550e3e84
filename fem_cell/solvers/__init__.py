"""Solvers, separate from physics: composing blocks into a transient problem, time
stepping, (later) small-signal solves and checkpoints."""

#: ``[solver] linear_solver`` values (fem_cell.solvers.linear; declared here so that the
#: configuration can name them without importing PETSc)
LINEAR_SOLVERS = ("direct", "iterative")
