"""Solvers, separate from physics: composing blocks into a transient problem, time
stepping, (later) small-signal solves and checkpoints."""
