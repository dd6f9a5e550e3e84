"""Banded LU for serial 1-D problems: LAPACK's ``gbtrf``/``gbtrs`` as a PETSc preconditioner.

A 1-D problem's Jacobian is banded: every unknown couples only to the unknowns of its
own and the neighbouring cells.  A general sparse direct solver (MUMPS) pays a fixed
cost per factorisation and per solve (its analysis data, workspace, and at these sizes
mostly its calling overhead) that dominates a system of a few hundred unknowns; LAPACK's
band LU with partial pivoting factorises it in O(n b²) operations (bandwidth b) and
nothing else.  Measured on the default cell's 1-D transport (868 unknowns, half-band
11 after the ordering below; ``scripts/bench_transport.py``): about half the wall time
of a time step (docs/architecture.md).  The transport's Jacobian now stores only the
entries that can be non-zero (:mod:`fem_cell.solvers.sparsity`): half-band 5.

:class:`BandedLU` is the context of a PETSc ``python`` preconditioner under
``ksp_type preonly``: the exact solve of the Newton system, like a direct solver's.

* **Ordering**: reverse Cuthill–McKee of the matrix graph (computed once per sparsity
  pattern), so that a blocked layout (the fields' unknowns one field after another,
  whose natural bandwidth is the whole system) is banded too.
* **Pivoting**: partial (row) pivoting within the band, LAPACK's ``dgbtrf``: as stable
  as dense Gaussian elimination with partial pivoting.
* **Fallback**: a band too wide to pay off (band storage above :attr:`BandedLU.MAX_FILL`
  times the matrix's stored entries) is factorised by the sparse direct solver instead
  (the options it is given); a matrix distributed over several ranks is refused (the
  caller uses the band solver in serial only).
* **Failure**: an exactly singular pivot sets the preconditioner's failed reason
  (``FACTOR_NUMERIC_ZEROPIVOT``), so the Krylov solve fails and Newton reports a
  diverged linear solve (the time stepper then rejects the step), as with MUMPS;
  :attr:`BandedLU.failure` says where.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy.linalg import lapack
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import reverse_cuthill_mckee

from fem_cell._dolfinx import PETSc
from fem_cell.solvers.linear import RepeatedSolve


class BandedLU(RepeatedSolve):
    """PETSc ``python`` preconditioner context: exact LU of the operator in band storage.

    Args:
        fallback: PETSc options (no prefix) of the sparse direct solver used when the
            band is too wide (``pc_type``, ``pc_factor_mat_solver_type``).
    """

    #: band storage (n × (2 kl + ku + 1)) above this many times the stored entries
    #: falls back to the sparse direct solver
    MAX_FILL = 16

    def __init__(self, fallback: Mapping[str, str]):
        super().__init__()
        self._fallback = dict(fallback)
        self._inner: PETSc.PC | None = None
        self._pattern: tuple[np.ndarray, np.ndarray] | None = None
        self._perm = self._where = None
        self._kl = self._ku = 0
        self._lu = self._piv = None
        #: why the last factorisation failed (None: it did not)
        self.failure: str | None = None
        #: whether the last factorisation used the band solver (False: the fallback)
        self.banded = True

    # -- PETSc python-PC interface ------------------------------------------------------
    def setUp(self, pc: PETSc.PC) -> None:  # noqa: N802 - PETSc's name
        self.forget()
        _, P = pc.getOperators()
        if P.getComm().getSize() > 1:
            raise RuntimeError("BandedLU is a serial solver: the matrix is distributed")
        indptr, indices, values = P.getValuesCSR()
        if self._pattern is None or not (
                np.array_equal(self._pattern[0], indptr)
                and np.array_equal(self._pattern[1], indices)):
            self._order(indptr, indices)
        self.failure = None
        if not self.banded:
            self._factor_sparse(pc)
            return
        n = len(indptr) - 1
        ldab = 2 * self._kl + self._ku + 1
        flat = np.zeros(ldab * n)
        flat[self._where] = values
        ab = flat.reshape(n, ldab).T      # (ldab, n), Fortran order: LAPACK's own layout
        lu, piv, info = lapack.dgbtrf(ab, self._kl, self._ku, overwrite_ab=1)
        if info != 0:
            self._lu = self._piv = None
            self.failure = (f"banded LU: zero pivot at unknown {info - 1}" if info > 0
                            else f"banded LU: LAPACK dgbtrf argument error {info}")
            pc.setFailedReason(PETSc.PC.FailedReason.FACTOR_NUMERIC_ZEROPIVOT)
            return
        self._lu, self._piv = lu, piv

    def apply(self, pc: PETSc.PC, x: PETSc.Vec, y: PETSc.Vec) -> None:
        rhs = x.getArray(readonly=True)
        if self._recall(None, rhs, y):   # (serial)
            return
        if not self.banded:
            self._inner.apply(x, y)
            self._keep(rhs, y.getArray(readonly=True))
            return
        if self._lu is None:  # failed factorisation: no solution (the KSP reports it)
            y.set(np.nan)
            return
        sol, info = lapack.dgbtrs(self._lu, self._kl, self._ku, rhs[self._perm], self._piv,
                                  overwrite_b=1)
        out = np.empty_like(rhs)
        out[self._perm] = sol if info == 0 else np.nan
        y.setArray(out)
        self._keep(rhs, out)

    def destroy(self, pc: PETSc.PC) -> None:
        if self._inner is not None:
            self._inner.destroy()
            self._inner = None
        self._lu = self._piv = None

    def view(self, pc: PETSc.PC, viewer) -> None:
        what = (f"LAPACK band LU, kl = {self._kl}, ku = {self._ku}, RCM ordering"
                if self.banded else "band too wide: sparse direct solver")
        viewer.printfASCII(f"  fem_cell BandedLU: {what}\n")

    # -- internals ----------------------------------------------------------------------
    def _order(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        """Reverse Cuthill–McKee ordering and the band-storage position of every stored
        entry (LAPACK: a(i, j) at ab[kl + ku + i − j, j], rows 0..kl−1 left for fill)."""
        n = len(indptr) - 1
        graph = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n, n))
        perm = np.asarray(reverse_cuthill_mckee(graph, symmetric_mode=False),
                          dtype=np.int64)
        inv = np.empty(n, dtype=np.int64)
        inv[perm] = np.arange(n)
        rows = inv[np.repeat(np.arange(n), np.diff(indptr))]
        cols = inv[indices]
        kl = int(max((rows - cols).max(initial=0), 0))
        ku = int(max((cols - rows).max(initial=0), 0))
        self._pattern = (indptr.copy(), indices.copy())
        self._perm = perm
        self._kl, self._ku = kl, ku
        self.banded = (2 * kl + ku + 1) * n <= self.MAX_FILL * max(len(indices), 1)
        # flat position in Fortran-ordered band storage of leading dimension 2 kl + ku + 1
        self._where = ((kl + ku + rows - cols) + cols * (2 * kl + ku + 1)
                       if self.banded else None)

    def _factor_sparse(self, pc: PETSc.PC) -> None:
        if self._inner is None:
            self._inner = PETSc.PC().create(pc.getComm())
            self._inner.setType(self._fallback.get("pc_type", "lu"))
            solver = self._fallback.get("pc_factor_mat_solver_type")
            if solver:
                self._inner.setFactorSolverType(solver)
        A, P = pc.getOperators()
        self._inner.setOperators(A, P)
        self._inner.setUp()
        reason = self._inner.getFailedReason()
        if reason != PETSc.PC.FailedReason.NOERROR:
            self.failure = f"sparse direct solver (band too wide) failed: reason {reason}"
            pc.setFailedReason(reason)


def use_banded(pc: PETSc.PC, fallback: Mapping[str, str]) -> BandedLU:
    """Make ``pc`` (under ``ksp_type preonly``) a :class:`BandedLU`; returns its context."""
    ctx = BandedLU(fallback)
    pc.setType(PETSc.PC.Type.PYTHON)
    pc.setPythonContext(ctx)
    return ctx


__all__ = ["BandedLU", "use_banded"]
