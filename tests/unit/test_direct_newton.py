"""Newton without SNES on one rank (fem_cell.solvers.newton.DirectNewton): the same
iterates as SNES's newtonls, bit for bit, and the same outcomes when a solve fails.

Every comparison runs the same problem twice, once with ``TransientProblem.DIRECT_NEWTON``
False (SNES, as before) and once True, and requires exact equality: DirectNewton makes
SNES's calls in SNES's order on the same vectors, so nothing may differ by even one
rounding.
"""

import dolfinx
import numpy as np
import pytest
import ufl

from fem_cell._dolfinx import MPI, PETSc, fem
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal
from fem_cell.model import CellModel
from fem_cell.model.chemistry import clear_exposure_cache, clear_kept_anneals
from fem_cell.solvers.newton import DirectNewton
from fem_cell.solvers.problem import Field, TransientProblem

QUIET = {"output": {"fields": False, "plots": False, "render": False}}
REASONS = PETSc.SNES.ConvergedReason


@pytest.fixture
def snes_or_direct(monkeypatch):
    """``use(direct)``: problems built next run DirectNewton (True) or SNES (False);
    nothing kept between the two runs (a kept model would carry the first run's
    choice)."""
    def use(direct: bool):
        clear_kept_anneals()
        clear_exposure_cache()
        monkeypatch.setattr(TransientProblem, "DIRECT_NEWTON", direct)
    yield use
    clear_kept_anneals()
    clear_exposure_cache()


def _steps(tp, dts, predictor=3):
    """Backward Euler then BDF2 steps from the problem's state, the ``predictor``-th and
    later started from the linear extrapolation of the last two states (the stepper's
    predictor; the earlier ones, right after the jump to the hold's temperature, from
    the last state), so that steps take one to several Newton iterations.  Returns the
    states and iterations."""
    prev = tp.get_state()
    tp.set_history(prev, prev)
    older, t, dt_prev, out = None, 0.0, None, []
    for i, dt in enumerate(dts):
        t += dt
        order = 1 if i == 0 else 2
        tp.set_time_level(t, dt, order, dt_prev)
        tp.set_history(prev, older if older is not None else prev)
        if i >= predictor:
            w = dt / dt_prev
            tp.set_state([p + w * (p - o) for p, o in zip(prev, older, strict=True)])
        ok, its, reason = tp.solve()
        assert ok, (i, reason, tp.last_error)
        state = tp.get_state()
        out.append((state, its))
        older, prev, dt_prev = prev, state, dt
    return out


def _logged(name):
    return PETSc.Log.Event(name).getPerfInfo()["count"]


def _transport_run(use, direct, dts, solver=None):
    use(direct)
    PETSc.Log.begin()
    over = {**QUIET, "mesh": {"dim": 1, "cells_per_layer": 12}}
    if solver:
        over["solver"] = solver
    model = CellModel(load_config(overrides=over), MPI.COMM_SELF)
    chem = model.chemistry(expose=True)
    chem.T_film.x.array[:] = 423.15
    tp = chem.transport_problem
    assert tp.direct_newton is direct
    logged = [_logged(n) for n in ("SNESFunctionEval", "SNESJacobianEval")]
    residuals = tp.residuals
    steps = _steps(tp, dts)
    counts = tp.solver_counts()
    counts.update(residuals=tp.residuals)
    # PETSc's log: the residuals and Jacobian calls under SNES's events on either path
    counts.update(logged=[_logged(n) - c for n, c in
                          zip(("SNESFunctionEval", "SNESJacobianEval"), logged, strict=True)])
    assert counts["logged"][0] == tp.residuals - residuals > 0
    model.destroy()
    return steps, counts


DTS = (1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 32.0, 8.0)


def test_direct_newton_takes_snes_iterates_bit_for_bit(snes_or_direct):
    snes, c_snes = _transport_run(snes_or_direct, False, DTS)
    direct, c_direct = _transport_run(snes_or_direct, True, DTS)
    assert [its for _, its in direct] == [its for _, its in snes]
    assert max(its for _, its in direct) >= 3       # steps that need several iterations
    for (a, _), (b, _) in zip(snes, direct, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    # the same work: residuals, Jacobians, look-aheads and solves answered from memory
    assert c_direct == c_snes
    assert c_direct["look_aheads"] > 0 and c_direct["factorisation"] == "band LU"


@pytest.mark.parametrize("solver", [
    {"transport_jacobian_lag": 2},
    {"transport_jacobian_reuse": "yes"},
])
def test_the_jacobian_policy_is_the_same_under_direct_newton(snes_or_direct, solver):
    """Jacobians lagged within a solve, or reused from earlier solves (with their
    retries on a new Jacobian): the same decisions, the same iterates."""
    snes, c_snes = _transport_run(snes_or_direct, False, DTS, solver)
    direct, c_direct = _transport_run(snes_or_direct, True, DTS, solver)
    assert [its for _, its in direct] == [its for _, its in snes]
    for (a, _), (b, _) in zip(snes, direct, strict=True):
        for x, y in zip(a, b, strict=True):
            assert np.array_equal(x, y)
    assert c_direct == c_snes
    if "transport_jacobian_reuse" in solver:
        assert c_direct["jacobian_reuses"] > 0


def _anneal(use, direct, dim):
    use(direct)
    mesh = ({"dim": 1} if dim == 1 else
            {"dim": 2, "cells_per_layer": 3, "lateral_cells": 30, "growth": 1.2})
    over = {**QUIET, "mesh": mesh}
    if dim == 2:       # a short program: a fast ramp and five minutes of the hold
        over["anneal"] = {"segments": [{"ramp_to": "150 degC", "rate": "50 K/min"},
                                       {"hold": "5 min"}]}
    return run_anneal(load_config(overrides=over), MPI.COMM_SELF, progress=False)


@pytest.mark.parametrize("dim", [1, 2])
def test_an_anneal_is_the_same_bit_for_bit(snes_or_direct, dim):
    """The whole anneal (exposure, heat, transport, diagnostics): every history column and
    summary number but the wall time equal.  1-D: the band LU; 2-D: the condensed
    sparse LU (fem_cell.solvers.condensed), on one rank."""
    a = _anneal(snes_or_direct, False, dim)
    b = _anneal(snes_or_direct, True, dim)
    assert a.history.columns == b.history.columns
    for c in a.history.columns:
        x = np.asarray(a.history.column(c), float)
        y = np.asarray(b.history.column(c), float)
        assert np.array_equal(x, y, equal_nan=True), c
    sa, sb = a.details["stats"], b.details["stats"]
    assert (sa.accepted, sa.rejected_error, sa.rejected_newton) == (
        sb.accepted, sb.rejected_error, sb.rejected_newton)
    for key, value in a.summary.items():
        if isinstance(value, float) and "wall" not in key:
            assert b.summary[key] == value or (np.isnan(value) and np.isnan(b.summary[key])), key
    assert a.summary["solver"]["transport"] == b.summary["solver"]["transport"]


# -- outcomes of failing solves -------------------------------------------------------

class _Form:
    """One field u on a small interval, residual ``form(u) v dx`` (no time derivative)."""

    def __init__(self, form):
        self.form = form

    def mass(self, u, udot, v):
        return None

    def residual(self, u, v):
        return self.form(u["u"]) * v["u"] * ufl.dx


def _solve_one(use, direct, form, u0=0.0, **kw):
    use(direct)
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    u.x.array[:] = u0
    prob = TransientProblem([Field("u", u, newton_tol=1e-10)], [_Form(form)],
                            time=fem.Constant(msh, 0.0), prefix="test_direct_newton_", **kw)
    assert prob.direct_newton is direct
    prob.set_time_level(1.0, 1.0, 1, None)
    ok, its, reason = prob.solve()
    out = (ok, its, reason, prob.last_error, u.x.array.copy(), prob.residuals,
           prob.jacobians)
    prob.destroy()
    return out


def test_a_singular_jacobian_fails_the_solve_as_under_snes(snes_or_direct):
    """u² + 1 = 0 from u = 0: the Jacobian 2u is zero, the band LU finds a zero pivot;
    both end with DIVERGED_LINEAR_SOLVE, no update taken, and say why."""
    form = lambda u: u ** 2 + 1.0  # noqa: E731
    snes = _solve_one(snes_or_direct, False, form)
    direct = _solve_one(snes_or_direct, True, form)
    for ok, its, reason, error, u, residuals, jacobians in (snes, direct):
        assert not ok and its == 0 and reason == REASONS.DIVERGED_LINEAR_SOLVE
        assert "zero pivot" in error
        assert np.all(u == 0.0) and residuals == 1 and jacobians == 1
    assert "(KSP reason -11)" in snes[3]                  # KSP_DIVERGED_PC_FAILED
    assert "(the direct solver's set-up: FACTOR_NUMERIC_ZEROPIVOT)" in direct[3]


def test_a_residual_that_is_not_finite_fails_the_solve(snes_or_direct):
    """ln(u) from u = −1: the first residual is NaN; neither path iterates."""
    form = lambda u: ufl.ln(u)  # noqa: E731
    for direct in (False, True):
        ok, its, reason, _, _, residuals, jacobians = _solve_one(
            snes_or_direct, direct, form, u0=-1.0)
        assert not ok and its == 0 and residuals == 1 and jacobians == 0
        assert reason == REASONS.DIVERGED_FUNCTION_NANORINF


def test_the_iteration_limit_is_the_same(snes_or_direct):
    """exp(u) − 2 from u = 5 needs five Newton iterations: with a limit of 2 both stop
    at the same iterate with DIVERGED_MAX_IT; with the default limit both converge to
    ln 2 through the same iterates."""
    form = lambda u: ufl.exp(u) - 2.0  # noqa: E731
    limited = [_solve_one(snes_or_direct, d, form, u0=5.0, newton_max_it=2)
               for d in (False, True)]
    for ok, its, reason, *_ in limited:
        assert not ok and its == 2 and reason == REASONS.DIVERGED_MAX_IT
    assert np.array_equal(limited[0][4], limited[1][4])
    full = [_solve_one(snes_or_direct, d, form, u0=5.0) for d in (False, True)]
    assert full[0][:3] == full[1][:3] and full[0][0] and full[0][1] >= 5
    assert np.array_equal(full[0][4], full[1][4])
    assert full[1][4] == pytest.approx(np.log(2.0), abs=1e-12)
    assert full[0][5:] == full[1][5:]
    # SNES's own limit, given in the PETSc options below the problem's: SNES's loop ends
    # there, and so does DirectNewton's
    options = [_solve_one(snes_or_direct, d, form, u0=5.0,
                          petsc_options={"snes_max_it": 2}) for d in (False, True)]
    for ok, its, reason, *_ in options:
        assert not ok and its == 2 and reason == REASONS.DIVERGED_MAX_IT
    assert np.array_equal(options[0][4], options[1][4])
    assert np.array_equal(options[0][4], limited[0][4])


# -- where it is used -----------------------------------------------------------------

def test_direct_newton_is_used_on_one_rank_with_the_update_test_only(snes_or_direct):
    """The transport (per-field update test, direct solver) runs it; the heat (SNES's
    residual test), the iterative path, a KSP other than ``preonly`` and SNES options
    that change SNES's iteration do not."""
    snes_or_direct(True)
    for solver, expected in (("direct", True), ("iterative", False)):
        cfg = load_config(overrides={**QUIET, "mesh": {"dim": 1, "cells_per_layer": 6},
                                     "solver": {"linear_solver": solver}})
        model = CellModel(cfg, MPI.COMM_SELF)
        chem = model.chemistry(expose=False)
        assert chem.transport_problem.direct_newton is expected
        assert isinstance(chem.transport_problem._newton, DirectNewton) is expected
        assert chem.heat.problem.direct_newton is False
        model.destroy()
    # a KSP that does more than apply its preconditioner (here: GMRES around the LU),
    # a SNES option that changes SNES's iteration, given to the problem or in the
    # options database under its prefix (a user's PETSC_OPTIONS), keep SNES
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    db = PETSc.Options()
    db["test_direct_newton_db_snes_lag_jacobian"] = 2
    try:
        for prefix, options in (("ksp", {"ksp_type": "gmres"}),
                                ("lag", {"snes_lag_jacobian": 2}), ("db", {}),
                                ("plain", {"snes_max_it": 10})):
            u = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
            prob = TransientProblem([Field("u", u, newton_tol=1e-10)],
                                    [_Form(lambda u: u - 1.0)], time=fem.Constant(msh, 0.0),
                                    prefix=f"test_direct_newton_{prefix}_",
                                    petsc_options=options)
            assert prob.direct_newton is (prefix == "plain"), prefix
            prob.set_time_level(1.0, 1.0, 1, None)
            assert prob.solve()[0] and u.x.array == pytest.approx(1.0, rel=1e-12)
            prob.destroy()
    finally:
        db.delValue("test_direct_newton_db_snes_lag_jacobian")
    snes_or_direct(False)
    model = CellModel(load_config(overrides={**QUIET, "mesh": {"dim": 1,
                                                               "cells_per_layer": 6}}),
                      MPI.COMM_SELF)
    assert model.chemistry(expose=False).transport_problem.direct_newton is False
    model.destroy()


def test_a_residual_that_turns_non_finite_fails_the_solve(snes_or_direct):
    """ln(u) + 10 from u = 1: the first update lands at u = −9, where the residual is
    NaN: a failed solve on both paths (SNES's line search or the update test says so)."""
    form = lambda u: ufl.ln(u) + 10.0  # noqa: E731
    snes, direct = (_solve_one(snes_or_direct, d, form, u0=1.0) for d in (False, True))
    ok, its, reason, _, u, residuals, jacobians = direct
    assert not ok and reason == REASONS.DIVERGED_FUNCTION_NANORINF
    assert u == pytest.approx(-9.0, rel=1e-12) and (its, residuals, jacobians) == (0, 2, 1)
    assert snes[:3] == direct[:3] and snes[5:] == direct[5:]
    assert np.array_equal(snes[4], direct[4])
