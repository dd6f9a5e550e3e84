"""Algorithmic scalability of ``[solver] linear_solver = "iterative"`` (issue 18, item 4).

The Krylov iterations per Newton iteration of each problem stay within 1.5x when the
mesh is refined through the films, the direction where they did not before the
fractions' block got ILU(0) instead of AMG
(``fem_cell.model.transport.TRANSPORT_LOCAL_SPLITS``, docs/scaling.md):

* 2-D: the coarse cross-section at 3 and 12 cells per layer (ramp 25 -> 150 degC at
  5 K/min, 1-min hold).  Measured: transport 16.9 -> 18.7 per Newton iteration (before:
  17.2 -> 153.3, up to 561 in one solve), heat 17.7 -> 16.3.
* 1-D: 8 and 64 cells per layer, with the exposure, whose trapping front is the stiffest
  system (before: at 64 cells per layer up to the 1000-iteration limit, 4,160 Newton
  iterations and rejected steps; now 9.5 per Newton iteration, 91 Newton iterations).

The longer refinement series (3 -> 48 cells per layer, and laterally) is
``scripts/solver_scaling.py``; these two pairs are the part that fits in the suite.
"""

from __future__ import annotations

import pytest

from fem_cell._dolfinx import MPI
from tests.verification.test_iterative_solver import COARSE_2D, PROGRAM, run

#: the ramp of test_iterative_solver, then a 1-min hold
SHORT = {**PROGRAM, "segments": [PROGRAM["segments"][0], {"hold": "1 min"}]}
#: the issue's bound on the growth of the Krylov iterations per Newton iteration
BOUND = 1.5


def solver_counts(mesh: dict) -> dict:
    return run(mesh, "iterative", MPI.COMM_SELF, program=SHORT)["solver"]


def growth(coarse: dict, fine: dict, problem: str) -> float:
    a, b = coarse[problem], fine[problem]
    assert a["linear_solver"] == b["linear_solver"] == "iterative", (a, b)
    assert a["krylov_per_newton"] > 1 and b["krylov_per_newton"] > 1
    return b["krylov_per_newton"] / a["krylov_per_newton"]


@pytest.mark.slow
def test_2d_krylov_iterations_bounded_through_the_films():
    coarse = solver_counts(COARSE_2D)                       # 3 cells per layer
    fine = solver_counts({**COARSE_2D, "cells_per_layer": 12})
    for problem in ("heat", "transport"):
        assert growth(coarse, fine, problem) <= BOUND, (problem, coarse, fine)
    # far from the 1000-iteration limit that fails a step (measured most: 22)
    assert fine["transport"]["krylov_max"] <= 60, fine


def test_1d_exposure_and_transport_bounded_through_the_films():
    coarse = solver_counts({"dim": 1, "cells_per_layer": 8})
    fine = solver_counts({"dim": 1, "cells_per_layer": 64})
    for problem in ("exposure", "transport"):
        assert growth(coarse, fine, problem) <= BOUND, (problem, coarse, fine)
    # no rejected steps' worth of extra Newton work at the fine level (before: 4,160
    # exposure Newton iterations instead of 91)
    assert fine["exposure"]["newton_iterations"] <= 1.5 * coarse["exposure"]["newton_iterations"]
