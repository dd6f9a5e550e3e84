"""PETSc's own array of a sequential AIJ matrix's values, without a copy.

petsc4py's ``getValuesCSR`` copies the matrix row by row (17 µs of the 1-D transport's
62 µs band LU set-up) and has no way to write values in place.  :class:`PetscAIJ` calls
``MatSeqAIJGetArrayRead`` / ``MatSeqAIJGetArray`` (and their restores) and
``MatGetNonzeroState`` (which changes whenever the pattern does) through cffi on the
library petsc4py is linked to (its extension module: the symbols are looked up in its
dependencies).  Writing through :meth:`PetscAIJ.get_write` and giving the array back
with :meth:`PetscAIJ.restore_write` increases the matrix's object state, as any change
of values does, so a preconditioner set up on the old values is set up again.
Used by :mod:`fem_cell.solvers.banded` (reads) and :mod:`fem_cell.solvers.local_assembly`
(writes).
"""

from __future__ import annotations

import numpy as np

from fem_cell._dolfinx import PETSc
from fem_cell.solvers.compiled import BuildOnce


class PetscAIJ:
    """Pointers to a ``seqaij`` matrix's values (CSR order, as ``getValuesCSR``); each
    :meth:`get` / :meth:`get_write` is given back (:meth:`restore` /
    :meth:`restore_write`) before the matrix is used by anything else."""

    def __init__(self):
        import cffi

        if PETSc.ScalarType is not np.float64:
            raise RuntimeError(f"PETSc scalars are {PETSc.ScalarType}, not float64")
        ffi = cffi.FFI()
        ffi.cdef("int MatSeqAIJGetArrayRead(void *, const double **);"
                 "int MatSeqAIJRestoreArrayRead(void *, const double **);"
                 "int MatSeqAIJGetArray(void *, double **);"
                 "int MatSeqAIJRestoreArray(void *, double **);"
                 "int MatGetNonzeroState(void *, long long *);")
        self.ffi = ffi
        self.lib = ffi.dlopen(PETSc.__file__)
        self._state = ffi.new("long long *")
        self.values = ffi.new("const double **")
        self.writable = ffi.new("double **")

    def _mat(self, P: PETSc.Mat):
        return self.ffi.cast("void *", P.handle)

    def nonzero_state(self, P: PETSc.Mat) -> int:
        if self.lib.MatGetNonzeroState(self._mat(P), self._state):
            raise RuntimeError("MatGetNonzeroState failed")
        return int(self._state[0])

    def get(self, P: PETSc.Mat):
        """A read-only pointer to ``P``'s values."""
        if self.lib.MatSeqAIJGetArrayRead(self._mat(P), self.values):
            raise RuntimeError("MatSeqAIJGetArrayRead failed")
        return self.values[0]

    def restore(self, P: PETSc.Mat) -> None:
        if self.lib.MatSeqAIJRestoreArrayRead(self._mat(P), self.values):
            raise RuntimeError("MatSeqAIJRestoreArrayRead failed")

    def get_write(self, P: PETSc.Mat):
        """A writable pointer to ``P``'s values."""
        if self.lib.MatSeqAIJGetArray(self._mat(P), self.writable):
            raise RuntimeError("MatSeqAIJGetArray failed")
        return self.writable[0]

    def restore_write(self, P: PETSc.Mat) -> None:
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
