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
* **Kernels**: the factorisation and the solve are LAPACK's ``dgbtf2``/``dgbtrs``
  written out as C loops (:mod:`fem_cell.solvers.band_kernels`: the same pivots,
  compiled once per machine), fed from PETSc's own array of the matrix's values
  (no copy; the ordering is redone when PETSc's pattern state changes).  On the 1-D
  transport's Jacobian the set-up fell from 62 to 24 µs and a solve from 22 to 15 µs;
  LAPACK through SciPy remains the fallback (no compiler, more than 64 sub-diagonals,
  a matrix that is not sequential AIJ).
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
from fem_cell.solvers import band_kernels
from fem_cell.solvers.linear import RepeatedSolve
from fem_cell.solvers.petsc_aij import petsc_aij as _petsc_aij


class BandedLU(RepeatedSolve):
    """PETSc ``python`` preconditioner context: exact LU of the operator in band storage.

    Args:
        fallback: PETSc options (no prefix) of the sparse direct solver used when the
            band is too wide (``pc_type``, ``pc_factor_mat_solver_type``).
    """

    #: band storage (n × (2 kl + ku + 1)) above this many times the stored entries
    #: falls back to the sparse direct solver
    MAX_FILL = 16

    def __init__(self, fallback: Mapping[str, str], compiled: bool = True):
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
        #: use the compiled kernels when they are available (False: LAPACK through
        #: SciPy, and petsc4py's copy of the values)
        self.compiled = compiled
        self._kernels = band_kernels.kernels() if compiled else None
        self._key = None
        self._matrix = None
        self._flat = self._flat_c = self._where_c = self._ipiv = self._ipiv_c = None

    @property
    def compiled_factors(self) -> bool:
        """Whether the factors held are the compiled kernels' (False: LAPACK's, or none)."""
        return self._lu is not None and self._lu is self._flat

    # -- PETSc python-PC interface ------------------------------------------------------
    def setUp(self, pc: PETSc.PC) -> None:  # noqa: N802 - PETSc's name
        self.forget()
        # a python PC's failed reason outlives its set-up (PETSc resets it only in its
        # own preconditioners): cleared here, or one zero pivot failed every later solve
        # of the problem (a rejected step could never recover with a smaller one)
        pc.setFailedReason(PETSc.PC.FailedReason.NOERROR)
        _, P = pc.getOperators()
        if P.getComm().getSize() > 1:
            raise RuntimeError("BandedLU is a serial solver: the matrix is distributed")
        fast = self._prepare_fast(P)
        if not fast:
            indptr, indices, values = P.getValuesCSR()
            self._order_if_new(indptr, indices)
        self.failure = None
        if not self.banded:
            self._factor_sparse(pc)
            return
        n = len(self._pattern[0]) - 1
        ldab = 2 * self._kl + self._ku + 1
        if fast:   # the compiled kernels, on PETSc's own array of values
            K, aij, flat = self._kernels, _petsc_aij(), self._flat
            try:
                K.lib.fem_cell_band_fill(len(self._where), aij.get(P), self._where_c,
                                         self._flat_c, flat.size)
            finally:
                aij.restore(P)
            # (band_kernels.factor with the pointers cast once per pattern)
            info = K.lib.fem_cell_band_factor(n, self._kl, self._ku, self._flat_c, ldab,
                                              self._ipiv_c)
            lu, piv = flat, self._ipiv
        else:
            flat = np.zeros(ldab * n)
            flat[self._where] = values
            ab = flat.reshape(n, ldab).T      # (ldab, n), Fortran order: LAPACK's layout
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
        if self.compiled_factors:
            # permutation, solve and inverse permutation in one compiled call, straight
            # into y's array
            out = y.array_w
            ffi = self._kernels.ffi
            self._kernels.lib.fem_cell_band_solve_permuted(
                *self._solve_args, ffi.cast("double *", rhs.ctypes.data),
                self._work_c, ffi.cast("double *", out.ctypes.data))
            self._keep(rhs, out)
            return
        out = np.empty_like(rhs)             # LAPACK's factors
        sol, info = lapack.dgbtrs(self._lu, self._kl, self._ku, rhs[self._perm],
                                  self._piv, overwrite_b=1)
        out[self._perm] = sol if info == 0 else np.nan
        y.setArray(out)
        self._keep(rhs, out)

    def destroy(self, pc: PETSc.PC) -> None:
        if self._inner is not None:
            self._inner.destroy()
            self._inner = None
        self._lu = self._piv = None
        self._key = self._matrix = None

    def view(self, pc: PETSc.PC, viewer) -> None:
        kind = "compiled" if self.compiled_factors else "LAPACK"
        what = (f"{kind} band LU, kl = {self._kl}, ku = {self._ku}, RCM ordering"
                if self.banded else "band too wide: sparse direct solver")
        viewer.printfASCII(f"  fem_cell BandedLU: {what}\n")

    # -- internals ----------------------------------------------------------------------
    def _prepare_fast(self, P: PETSc.Mat) -> bool:
        """Whether this factorisation uses the compiled kernels on PETSc's array of
        values (:mod:`fem_cell.solvers.band_kernels`): they and that array are
        available and ``P`` is a sequential AIJ matrix.  The ordering is redone when
        ``P`` or its non-zero pattern changed (PETSc's pattern state), so the
        structure is read once per pattern."""
        if not self.compiled or self._kernels is None or _petsc_aij() is None:
            return False
        key = (P.handle, _petsc_aij().nonzero_state(P))
        if key == self._key:
            return True
        self._key = None
        if P.getType() != PETSc.Mat.Type.SEQAIJ:
            return False
        indptr, indices, _ = P.getValuesCSR()
        self._order_if_new(indptr, indices)
        if self.banded and self._kl > band_kernels.MAX_KL:
            return False
        if self.banded:
            n = len(indptr) - 1
            ffi = self._kernels.ffi
            self._flat = np.zeros((2 * self._kl + self._ku + 1) * n)
            self._flat_c = ffi.cast("double *", self._flat.ctypes.data)
            self._where_c = ffi.cast("long long *", self._where.ctypes.data)
            self._ipiv = np.zeros(n, dtype=np.int32)
            self._work = np.zeros(n)
            self._perm_c = np.ascontiguousarray(self._perm, dtype=np.int64)
            self._work_c = ffi.cast("double *", self._work.ctypes.data)
            self._ipiv_c = ffi.cast("int *", self._ipiv.ctypes.data)
            self._solve_args = (n, self._kl, self._ku, self._flat_c,
                                2 * self._kl + self._ku + 1, self._ipiv_c,
                                ffi.cast("long long *", self._perm_c.ctypes.data))
        self._matrix = P         # held: its handle cannot be reused while the key is
        self._key = key
        return True

    def _order_if_new(self, indptr: np.ndarray, indices: np.ndarray) -> None:
        """:meth:`_order` for a pattern other than the one ordered last."""
        if self._pattern is None or not (np.array_equal(self._pattern[0], indptr)
                                         and np.array_equal(self._pattern[1], indices)):
            self._order(indptr, indices)

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
        self._where = (((kl + ku + rows - cols) + cols * (2 * kl + ku + 1)).astype(np.int64)
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


def use_banded(pc: PETSc.PC, fallback: Mapping[str, str], compiled: bool = True) -> BandedLU:
    """Make ``pc`` (under ``ksp_type preonly``) a :class:`BandedLU`; returns its context
    (``compiled``: see :attr:`BandedLU.compiled`)."""
    ctx = BandedLU(fallback, compiled=compiled)
    pc.setType(PETSc.PC.Type.PYTHON)
    pc.setPythonContext(ctx)
    return ctx


__all__ = ["BandedLU", "use_banded"]
