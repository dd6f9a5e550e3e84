"""PETSc's own array of a sequential AIJ matrix's values, without a copy.

petsc4py's ``getValuesCSR`` copies the matrix row by row (17 µs of the 1-D transport's
62 µs band LU set-up) and has no way to write values in place.  :class:`PetscAIJ` calls
``MatSeqAIJGetArrayRead`` / ``MatSeqAIJGetArray`` (and their restores) and
``MatGetNonzeroState`` (which changes whenever the pattern does) through cffi on the
library petsc4py is linked to (its extension module: the symbols are looked up in its
dependencies).  Writing through :meth:`PetscAIJ.get_write` and giving the array back
with :meth:`PetscAIJ.restore_write` increases the matrix's object state, as any change
of values does, so a preconditioner set up on the old values is set up again.
An ``mpiaij`` matrix is two ``seqaij`` blocks on each rank (``MatMPIAIJGetSeqAIJ``): the
owned rows' columns in the rank's own column range, and the others, numbered by their
position in the block's sorted list of global columns; :meth:`PetscAIJ.mpi_blocks` gives
their handles and that list, :meth:`PetscAIJ.row_ij` a block's pattern (``MatGetRowIJ``).
Used by :mod:`fem_cell.solvers.banded` (reads) and :mod:`fem_cell.solvers.local_assembly`
(writes).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import PETSc
from fem_cell.solvers.compiled import BuildOnce


class PetscAIJ:
    """Pointers to a ``seqaij`` matrix's values (CSR order, as ``getValuesCSR``; the
    matrix as a ``PETSc.Mat`` or a raw handle, e.g. a block of :meth:`mpi_blocks`); each
    :meth:`get` / :meth:`get_write` is given back (:meth:`restore` /
    :meth:`restore_write`) before the matrix is used by anything else."""

    def __init__(self):
        import cffi

        if PETSc.ScalarType is not np.float64:
            raise RuntimeError(f"PETSc scalars are {PETSc.ScalarType}, not float64")
        ffi = cffi.FFI()
        self.int_type = np.dtype(PETSc.IntType)
        # PetscBool is a C enum (an int); PetscInt PETSc's index type
        ffi.cdef(f"typedef int{8 * self.int_type.itemsize}_t PetscInt;"
                 "int MatSeqAIJGetArrayRead(void *, const double **);"
                 "int MatSeqAIJRestoreArrayRead(void *, const double **);"
                 "int MatSeqAIJGetArray(void *, double **);"
                 "int MatSeqAIJRestoreArray(void *, double **);"
                 "int MatGetNonzeroState(void *, long long *);"
                 "int MatMPIAIJGetSeqAIJ(void *, void **, void **, const PetscInt **);"
                 "int MatGetSize(void *, PetscInt *, PetscInt *);"
                 "int MatGetRowIJ(void *, PetscInt, int, int, PetscInt *, const PetscInt **,"
                 "                const PetscInt **, int *);"
                 "int MatRestoreRowIJ(void *, PetscInt, int, int, PetscInt *,"
                 "                    const PetscInt **, const PetscInt **, int *);")
        self.ffi = ffi
        self.lib = ffi.dlopen(PETSc.__file__)
        self._state = ffi.new("long long *")
        self.values = ffi.new("const double **")
        self.writable = ffi.new("double **")

    def _mat(self, P):
        """A ``PETSc.Mat`` or a raw handle (int) as a C pointer."""
        return self.ffi.cast("void *", P if isinstance(P, int) else P.handle)

    def _array(self, pointer, n: int) -> np.ndarray:
        """A copy of ``n`` PetscInts at ``pointer``."""
        if n == 0:
            return np.zeros(0, dtype=self.int_type)
        size = n * self.int_type.itemsize
        return np.frombuffer(self.ffi.buffer(pointer, size), dtype=self.int_type).copy()

    def mpi_blocks(self, P: PETSc.Mat) -> tuple[int, int, np.ndarray]:
        """An ``mpiaij`` matrix's diagonal and off-diagonal ``seqaij`` blocks (raw
        handles, owned by ``P``) and the off-diagonal block's global columns (ascending:
        its column k is global column ``columns[k]``)."""
        ffi = self.ffi
        ad, ao = ffi.new("void **"), ffi.new("void **")
        colmap = ffi.new("const PetscInt **")
        if self.lib.MatMPIAIJGetSeqAIJ(self._mat(P), ad, ao, colmap):
            raise RuntimeError("MatMPIAIJGetSeqAIJ failed")
        m, n = ffi.new("PetscInt *"), ffi.new("PetscInt *")
        if self.lib.MatGetSize(ao[0], m, n):
            raise RuntimeError("MatGetSize failed")
        columns = self._array(colmap[0], int(n[0]))
        return (int(ffi.cast("uintptr_t", ad[0])), int(ffi.cast("uintptr_t", ao[0])),
                columns.astype(np.int64))

    def row_ij(self, P) -> tuple[np.ndarray, np.ndarray]:
        """A ``seqaij`` matrix's row pointers and column indices (copies, int64)."""
        ffi = self.ffi
        n = ffi.new("PetscInt *")
        ia, ja = ffi.new("const PetscInt **"), ffi.new("const PetscInt **")
        done = ffi.new("int *")
        if self.lib.MatGetRowIJ(self._mat(P), 0, 0, 0, n, ia, ja, done) or not done[0]:
            raise RuntimeError("MatGetRowIJ failed")
        try:
            rows = self._array(ia[0], int(n[0]) + 1).astype(np.int64)
            cols = self._array(ja[0], int(rows[-1])).astype(np.int64)
        finally:
            self.lib.MatRestoreRowIJ(self._mat(P), 0, 0, 0, n, ia, ja, done)
        return rows, cols

    def nonzero_state(self, P: PETSc.Mat) -> int:
        if self.lib.MatGetNonzeroState(self._mat(P), self._state):
            raise RuntimeError("MatGetNonzeroState failed")
        return int(self._state[0])

    def get(self, P):
        """A read-only pointer to ``P``'s values."""
        if self.lib.MatSeqAIJGetArrayRead(self._mat(P), self.values):
            raise RuntimeError("MatSeqAIJGetArrayRead failed")
        return self.values[0]

    def restore(self, P) -> None:
        if self.lib.MatSeqAIJRestoreArrayRead(self._mat(P), self.values):
            raise RuntimeError("MatSeqAIJRestoreArrayRead failed")

    def get_write(self, P):
        """A writable pointer to ``P``'s values."""
        if self.lib.MatSeqAIJGetArray(self._mat(P), self.writable):
            raise RuntimeError("MatSeqAIJGetArray failed")
        return self.writable[0]

    def restore_write(self, P) -> None:
        """Give the values back; ``P``'s object state increases (its values changed)."""
        if self.lib.MatSeqAIJRestoreArray(self._mat(P), self.writable):
            raise RuntimeError("MatSeqAIJRestoreArray failed")


#: the process's PetscAIJ, made on first use; without it (cffi cannot reach PETSc's
#: symbols) the callers copy the values through petsc4py instead, silently (the same
#: results)
AIJ = BuildOnce(PetscAIJ, "direct access to PETSc's matrix arrays",
                "the values are copied through petsc4py", warn=False)


def petsc_aij() -> PetscAIJ | None:
    """The process's :class:`PetscAIJ`, or None if cffi cannot reach PETSc (then
    ``AIJ.unavailable`` says why)."""
    return AIJ.get()


__all__ = ["AIJ", "PetscAIJ", "petsc_aij"]
