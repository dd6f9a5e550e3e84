"""The iterative linear solver on any number of ranks.  Run under ``mpirun -n 2 python -m
pytest -m mpi`` (``scripts/run_tests.sh``); serially it still runs (one rank).

The coarse 2-D exposure + anneal of tests/verification/test_iterative_solver.py on all
ranks (COMM_WORLD) with ``linear_solver = "iterative"`` against the direct solver on the
same ranks: every summary.json number to 1e-8 relative (GAMG's aggregates, and so the
Krylov iterates, depend on the partition; the converged states do not), the same step
sequence, and identical summaries on every rank (all diagnostics are all-reduced).
"""

from __future__ import annotations

import json

import pytest

from fem_cell._dolfinx import MPI
from tests.verification.test_iterative_solver import COARSE_2D, assert_same, run


@pytest.mark.mpi
def test_iterative_equals_direct_on_every_rank():
    comm = MPI.COMM_WORLD
    direct = run(COARSE_2D, "direct", comm)
    iterative = run(COARSE_2D, "iterative", comm)
    assert_same(direct, iterative)
    assert direct["steps_accepted"] == iterative["steps_accepted"]
    mine = json.dumps({k: v for k, v in iterative.items() if k != "wall_time_s"},
                      sort_keys=True)
    assert all(other == mine for other in comm.allgather(mine))
