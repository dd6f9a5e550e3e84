"""``[solver] transport_jacobian_reuse`` (default "no"): transport steps that start on an
earlier step's factorised Jacobian (fem_cell.model.transport.jacobian_reuse,
fem_cell.solvers.problem.TransientProblem._jacobian_due) take the same steps to the same
results as steps that assemble their own, within the Newton tolerance, with fewer
factorisations.  Also on 2 ranks (MUMPS, where "auto" reuses), every rank deciding alike.
"""

from types import SimpleNamespace

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal
from fem_cell.model.transport import jacobian_reuse

QUIET = {"output": {"fields": False, "plots": False, "render": False}}

#: summary numbers compared (relative): the Newton tolerance (1e-11 on fractions of
#: ~1e-3-1e-1) and the time-error control's response to it bound the difference;
#: measured 1e-11-2e-9 (the default 2-D anneal: R_interface 1.8e-11)
RTOL = 1e-7


def _settings(choice, linear_solver="direct"):
    cfg = load_config(overrides={"solver": {"transport_jacobian_reuse": choice,
                                            "linear_solver": linear_solver}})
    return cfg.solver


@pytest.mark.parametrize(("choice", "dim", "ranks", "solver", "expected"), [
    ("auto", 1, 1, "direct", False),      # the band LU: a factorisation ~ a back-solve
    ("auto", 1, 2, "direct", True),       # MUMPS
    ("auto", 2, 1, "direct", True),
    ("auto", 2, 2, "iterative", False),   # a Krylov solve is not a modified Newton step
    ("yes", 1, 1, "direct", True),
    ("no", 2, 2, "direct", False),
])
def test_auto_reuses_with_the_sparse_direct_solver_only(choice, dim, ranks, solver, expected):
    domain = SimpleNamespace(dim=dim, comm=SimpleNamespace(size=ranks))
    assert jacobian_reuse(_settings(choice, solver), domain) is expected


def test_yes_needs_the_direct_solver():
    with pytest.raises(Exception, match="transport_jacobian_reuse = 'yes' needs"):
        _settings("yes", "iterative")


def test_a_bad_choice_is_refused_with_the_choices():
    with pytest.raises(Exception, match="auto"):
        load_config(overrides={"solver": {"transport_jacobian_reuse": "always"}})


def _anneal(choice, comm):
    cfg = load_config(overrides={**QUIET, "mesh": {"dim": 1},
                                 "solver": {"transport_jacobian_reuse": choice}})
    return run_anneal(cfg, comm, progress=False)


@pytest.mark.mpi
def test_reused_jacobians_give_the_same_anneal():
    comm = MPI.COMM_WORLD
    no, yes = _anneal("no", comm), _anneal("yes", comm)
    sn, sy = no.details["stats"], yes.details["stats"]
    assert (sy.accepted, sy.rejected_error, sy.rejected_newton) == (
        sn.accepted, sn.rejected_error, sn.rejected_newton)
    for key in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2",
                "H_consumed_mol_m2", "H_trapped_mol_m2"):
        assert yes.summary[key] == pytest.approx(no.summary[key], rel=RTOL), key
    # the accumulated balance (time-integration error of the flux rule) is unchanged;
    # the per-step discrete balance is Newton's residual: at round-off after Newton's
    # quadratic last iterations (3e-10), at the modified Newton's linear contraction
    # with reuse (measured 1.5e-6; docs/transport.md)
    assert yes.summary["balance_error_mol_m2_max"] == pytest.approx(
        no.summary["balance_error_mol_m2_max"], rel=1e-6)
    assert no.summary["mass_balance_rel_max"] < 1e-8
    assert yes.summary["mass_balance_rel_max"] < 1e-5
    tn, ty = no.summary["solver"]["transport"], yes.summary["solver"]["transport"]
    assert ty["jacobian_reuses"] > sy.accepted // 4
    assert ty["jacobians"] < tn["jacobians"]
    assert ty["jacobians"] < sy.accepted + sy.rejected_error + sy.rejected_newton
    assert "jacobian_reuses" not in tn
    assert np.isfinite(ty["jacobian_retries"])
