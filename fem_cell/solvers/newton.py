"""Newton's iteration for a serial direct solve, without SNES.

:class:`~fem_cell.solvers.problem.TransientProblem` hands a time step's nonlinear system
to PETSc's SNES (``newtonls``, no line search: the full Newton step), with its own
callbacks for the residual, the Jacobian (and whether one is due) and the convergence
test on the size of the update.  SNES then adds nothing to the arithmetic: it calls the
residual, the Jacobian, the linear solve (a KSP ``preonly`` around the preconditioner
that is the direct solver), takes x − δ, and calls the test.  On a serial 1-D problem
of a few hundred unknowns its own work around those calls (the KSP and its
preconditioner's set-up checks, three vector norms per iteration, the callbacks' passage
from C into Python with new petsc4py wrappers of the vectors each time) is a large share
of a step: the 1-D transport step spent about a fifth of its time there
(``scripts/bench_transport.py --breakdown``, docs/architecture.md).

:class:`DirectNewton` is the same iteration written out, for one rank and a direct
solver (the preconditioner of the problem's KSP, called directly: the band LU of
:mod:`fem_cell.solvers.banded`, or whichever direct solver that preconditioner was
made):

1. b = F(x₀); the test at iteration 0;
2. while the test says iterate (and fewer than SNES's ``snes_max_it`` iterations are
   done): assemble the Jacobian if it is due (the problem's
   policy) and set the direct solver up on it (a failed factorisation ends the solve as
   SNES's ``DIVERGED_LINEAR_SOLVE``); δ = J⁻¹ b; x ← x − δ; b = F(x) (not finite: the
   solve ends, as SNES's line search ends it, with the iteration not counted); the
   test at the next iteration.

These are SNES's operations in SNES's order on the same vectors (x − δ in the same
floating-point operation as SNES's full step), so the iterates, and every result, are
the same bit for bit (``tests/unit/test_direct_newton.py``).  The residuals and the
Jacobian calls are logged under SNES's own events (``SNESFunctionEval``,
``SNESJacobianEval``), so ``-log_view`` counts them as it counted SNES's.  The convergence test
reads the update and may solve once more with the factorisation at hand (the
problem's look-ahead) through :class:`NewtonView`, which :class:`SnesView` provides for
the SNES path.
"""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

from fem_cell._dolfinx import PETSc

_REASONS = PETSc.SNES.ConvergedReason
_NO_FAILURE = PETSc.PC.FailedReason.NOERROR


class NewtonView(Protocol):
    """What a Newton convergence test reads of the solve in progress: the last update δ
    (``update``), and a look-ahead solve δ' = J⁻¹ F(x) on the factorisation at hand
    (``look_ahead(ahead)``: into ``ahead``; False if it failed), which it may take
    (``take(ahead)``: x ← x − δ')."""

    def update(self) -> np.ndarray: ...

    def look_ahead(self, ahead: PETSc.Vec) -> bool: ...

    def take(self, ahead: PETSc.Vec) -> None: ...


class SnesView:
    """:class:`NewtonView` of a SNES inside its convergence test."""

    __slots__ = ("snes",)

    def __init__(self, snes):
        self.snes = snes

    def update(self) -> np.ndarray:
        return self.snes.getSolutionUpdate().getArray(readonly=True)

    def look_ahead(self, ahead: PETSc.Vec) -> bool:
        ksp = self.snes.getKSP()
        ksp.solve(self.snes.getFunction()[0], ahead)
        # a failed solve (e.g. a factorisation PETSc could not complete) leaves no
        # update to take: SNES's own next solve reports the failure
        return ksp.getConvergedReason() > 0

    def take(self, ahead: PETSc.Vec) -> None:
        self.snes.getSolution().axpy(-1.0, ahead)


class DirectNewton:
    """Newton's iteration on one rank with a direct solver (see the module docstring).

    Args:
        pc: the direct solver: a preconditioner whose ``apply`` solves exactly (its
            operators are set here, to the Jacobian).
        x: the iterate (updated in place); b: the residual vector.
        J: the Jacobian matrix.
        residual: ``residual(x, b)``: F(x) into b.
        jacobian: ``jacobian(it)``: assembles J at x if one is due at Newton iteration
            ``it``; returns whether it did.
        test: ``test(it, fnorm, view)``: a SNES convergence reason (``ITERATING`` = 0,
            converged > 0, diverged < 0) after iteration ``it``, given the residual's
            norm and this solve as a :class:`NewtonView`.
        max_it: SNES's iteration limit (``snes_max_it``): a solve still iterating after
            it ends with ``DIVERGED_MAX_IT``, as SNES's loop ends.
    """

    def __init__(self, pc: PETSc.PC, x: PETSc.Vec, b: PETSc.Vec, J: PETSc.Mat, *,
                 residual, jacobian, test, max_it: int):
        if x.getComm().getSize() != 1:
            raise ValueError("DirectNewton is serial: the vector is distributed")
        self.pc = pc
        self.x, self.b = x, b
        self.dx = x.duplicate()
        self._x_array = x.array_w
        self._dx_array = self.dx.array_r
        self.residual, self.jacobian, self.test = residual, jacobian, test
        self.max_it = int(max_it)
        self.set_matrix(J)
        #: the last solve's Newton iterations and its reason (SNES's codes)
        self.iterations = 0
        self.reason = 0
        #: the direct solver's failed reason when the last solve ended on it
        self.pc_failure = None
        # SNES's own log events (the same events: ``-log_view`` and the benchmarks count
        # and time these residuals and Jacobians as SNES's)
        self._log_residual = PETSc.Log.Event("SNESFunctionEval")
        self._log_jacobian = PETSc.Log.Event("SNESJacobianEval")

    def set_matrix(self, J: PETSc.Mat) -> None:
        """The Jacobian matrix (a new one after the problem swapped it): the direct
        solver's operator."""
        self.pc.setOperators(J, J)

    # -- NewtonView ----------------------------------------------------------------------
    def update(self) -> np.ndarray:
        return self._dx_array

    def look_ahead(self, ahead: PETSc.Vec) -> bool:
        self.pc.apply(self.b, ahead)
        return True   # (a failed factorisation ended the solve before any look-ahead)

    def take(self, ahead: PETSc.Vec) -> None:
        self._x_array -= ahead.array_r

    # -- the iteration -------------------------------------------------------------------
    def solve(self) -> int:
        """Newton from the current x; returns the reason (also :attr:`reason`) and sets
        :attr:`iterations` (the look-ahead update, taken inside the test, not counted:
        as SNES counts)."""
        x, b, pc, test = self.x, self.b, self.pc, self.test
        log_f, log_j = self._log_residual, self._log_jacobian
        self.iterations = 0
        self.reason = 0
        self.pc_failure = None
        it = 0
        log_f.begin()
        self.residual(x, b)
        log_f.end()
        reason = test(it, b.norm(), self)
        while reason == _REASONS.ITERATING:
            if it >= self.max_it:
                reason = _REASONS.DIVERGED_MAX_IT
                break
            log_j.begin()
            assembled = self.jacobian(it)
            log_j.end()
            if assembled:
                pc.setUp()
                failed = pc.getFailedReason()
                if failed != _NO_FAILURE:
                    self.pc_failure = failed
                    reason = _REASONS.DIVERGED_LINEAR_SOLVE
                    break
            pc.apply(b, self.dx)
            self._x_array -= self._dx_array
            log_f.begin()
            self.residual(x, b)
            log_f.end()
            fnorm = b.norm()
            if not math.isfinite(fnorm):
                # SNES's line search stops here, before the iteration counts
                reason = _REASONS.DIVERGED_FUNCTION_NANORINF
                break
            it += 1
            self.iterations = it
            reason = test(it, fnorm, self)
        self.reason = reason
        return reason

    def destroy(self) -> None:
        self.dx.destroy()


__all__ = ["DirectNewton", "NewtonView", "SnesView"]
