"""Band LU kernels in C, compiled once per machine like dolfinx's form kernels.

LAPACK's band LU of a narrow band (``dgbtrf``, which for fewer than 64 sub-diagonals
runs the unblocked ``dgbtf2``) makes four BLAS calls per column (``idamax``, ``dswap``,
``dscal``, ``dger``) of a handful of numbers each, and its solve (``dgbtrs``) one per
column and a ``dtbsv``: on the 1-D transport's Jacobian (868 unknowns, 5 sub- and 5
super-diagonals) that is about 3,500 calls per factorisation, and the calls, not the
arithmetic, are its cost (37 µs per factorisation, 20 µs per solve, measured through
SciPy's wrappers; docs/architecture.md).  These kernels are the same algorithms written
out as loops:

* :func:`factor` is ``dgbtf2``: the same band storage (LAPACK's, leading dimension
  2 kl + ku + 1, the first kl rows for the fill), the same partial pivoting (the first
  entry of largest magnitude), the same scaling by the pivot's reciprocal and the same
  order of updates, so it chooses the same pivots as LAPACK;
* :func:`solve` is ``dgbtrs`` for one right-hand side, no transpose: the row
  interchanges and unit-lower eliminations of L, then ``dtbsv``'s column-oriented
  back-substitution with U.

They are compiled by cffi with dolfinx's JIT options into dolfinx's cache directory
(:func:`fem_cell.solvers.compiled.build`).  :func:`kernels` returns None if that fails
(no compiler, a read-only cache), with a ``RuntimeWarning`` and the reason in
``COMPILED.unavailable``, and the caller then uses LAPACK (:mod:`fem_cell.solvers.banded`).
Its C function ``fem_cell_band_solve_permuted`` also applies the band LU's ordering,
so a back-substitution is one call.  gcc or any C compiler cffi finds is needed
anyway: FFCx compiles dolfinx's form kernels with it.
"""

from __future__ import annotations

import numpy as np

from fem_cell.solvers.compiled import CompiledModule

_CDEF = """
void fem_cell_band_fill(int nnz, const double *values, const long long *where, double *ab,
                        long long size);
int fem_cell_band_factor(int n, int kl, int ku, double *ab, int ldab, int *ipiv);
void fem_cell_band_solve(int n, int kl, int ku, const double *ab, int ldab,
                         const int *ipiv, double *b);
void fem_cell_band_solve_permuted(int n, int kl, int ku, const double *ab, int ldab,
                                  const int *ipiv, const long long *perm,
                                  const double *rhs, double *work, double *out);
"""

_SOURCE = r"""
#include <math.h>
#include <string.h>

#define FEM_CELL_MAX_KL 64

/* band storage from a CSR matrix's values: ab = 0, then ab[where[k]] = values[k] */
void fem_cell_band_fill(int nnz, const double *values, const long long *where, double *ab,
                        long long size)
{
    memset(ab, 0, (size_t)size * sizeof(double));
    for (int k = 0; k < nnz; ++k)
        ab[where[k]] = values[k];
}

/* dgbtf2: LU with partial pivoting of an n x n band matrix, kl sub- and ku
   super-diagonals, in LAPACK band storage (column-major, leading dimension ldab >=
   2 kl + ku + 1; a(i, j) at ab[kl + ku + i - j + j * ldab], 0-based).  ipiv: 0-based
   row interchanges.  Returns 0, or j + 1 if U(j, j) is exactly zero (LAPACK's info). */
int fem_cell_band_factor(int n, int kl, int ku, double *ab, int ldab, int *ipiv)
{
    const int kv = ku + kl;
    int info = 0, ju = 0;
    if (kl > FEM_CELL_MAX_KL)  /* LAPACK's convention: argument 2 (kl) is invalid */
        return -2;
#define AB(i, j) ab[(i) + (long)(j) * ldab]
    /* zero the fill-in rows of columns ku + 1 .. kv - 1 (LAPACK: KU+2 .. KV) */
    for (int j = ku + 1; j < kv && j < n; ++j)
        for (int i = kv - j; i < kl; ++i)
            AB(i, j) = 0.0;
    for (int j = 0; j < n; ++j) {
        if (j + kv < n)
            for (int i = 0; i < kl; ++i)
                AB(i, j + kv) = 0.0;
        const int km = kl < n - 1 - j ? kl : n - 1 - j;
        /* idamax over ab(kv .. kv + km, j): the first entry of largest magnitude */
        int jp = 0;
        double big = fabs(AB(kv, j));
        for (int i = 1; i <= km; ++i) {
            const double a = fabs(AB(kv + i, j));
            if (a > big) {
                big = a;
                jp = i;
            }
        }
        ipiv[j] = jp + j;
        if (AB(kv + jp, j) != 0.0) {
            const int last = j + ku + jp < n - 1 ? j + ku + jp : n - 1;
            if (last > ju)
                ju = last;
            if (jp != 0)  /* dswap along the row: stride ldab - 1 in band storage */
                for (int k = 0; k <= ju - j; ++k) {
                    double *p = &AB(kv + jp - k, j + k), *q = &AB(kv - k, j + k);
                    const double t = *p;
                    *p = *q;
                    *q = t;
                }
            if (km > 0) {
                const double r = 1.0 / AB(kv, j);
                /* the non-zero multipliers only: a sparse band has few */
                int nz[FEM_CELL_MAX_KL], m = 0;
                for (int i = 1; i <= km; ++i) {
                    AB(kv + i, j) *= r;
                    if (AB(kv + i, j) != 0.0)
                        nz[m++] = i;
                }
                /* dger: the rank-one update of the trailing block (a zero multiplier
                   or a zero entry of the pivot row changes nothing) */
                if (m > 0)
                    for (int k = 1; k <= ju - j; ++k) {
                        const double y = AB(kv - k, j + k);
                        if (y != 0.0)
                            for (int q = 0; q < m; ++q)
                                AB(kv - k + nz[q], j + k) -= AB(kv + nz[q], j) * y;
                    }
            }
        } else if (info == 0) {
            info = j + 1;
        }
    }
    return info;
#undef AB
}

/* dgbtrs, no transpose, one right-hand side b (overwritten by the solution) */
void fem_cell_band_solve(int n, int kl, int ku, const double *ab, int ldab,
                         const int *ipiv, double *b)
{
    const int kd = ku + kl;
#define AB(i, j) ab[(i) + (long)(j) * ldab]
    if (kl > 0)
        for (int j = 0; j < n - 1; ++j) {
            const int lm = kl < n - 1 - j ? kl : n - 1 - j;
            const int l = ipiv[j];
            if (l != j) {
                const double t = b[l];
                b[l] = b[j];
                b[j] = t;
            }
            const double bj = b[j];
            if (bj != 0.0)
                for (int i = 1; i <= lm; ++i)
                    b[j + i] -= AB(kd + i, j) * bj;
        }
    /* dtbsv: upper triangular band U (kd super-diagonals), column by column */
    for (int j = n - 1; j >= 0; --j) {
        if (b[j] != 0.0) {
            b[j] /= AB(kd, j);
            const double t = b[j];
            const int lo = j - kd > 0 ? j - kd : 0;
            for (int i = j - 1; i >= lo; --i)
                b[i] -= t * AB(kd + i - j, j);
        }
    }
#undef AB
}

/* the solution of the permuted system: work = rhs[perm], solved, out[perm] = work */
void fem_cell_band_solve_permuted(int n, int kl, int ku, const double *ab, int ldab,
                                  const int *ipiv, const long long *perm,
                                  const double *rhs, double *work, double *out)
{
    for (int i = 0; i < n; ++i)
        work[i] = rhs[perm[i]];
    fem_cell_band_solve(n, kl, ku, ab, ldab, ipiv, work);
    for (int i = 0; i < n; ++i)
        out[perm[i]] = work[i];
}
"""

#: most sub-diagonals :func:`factor` takes
MAX_KL = 64
#: the compiled module, built on first use (``COMPILED.unavailable``: why it is not)
COMPILED = CompiledModule("fem_cell_band", _CDEF, _SOURCE, "the band LU kernels",
                          "1-D serial solves use LAPACK")


def kernels():
    """The compiled module (``ffi``, ``lib``), or None if it cannot be built
    (``COMPILED.unavailable`` says why; a ``RuntimeWarning`` once)."""
    return COMPILED.get()


def _ptr(ffi, a: np.ndarray, ctype: str):
    return ffi.cast(ctype, a.ctypes.data)


def factor(module, ab: np.ndarray, n: int, kl: int, ku: int, ipiv: np.ndarray) -> int:
    """LU of the band matrix in ``ab`` in place (``ab``: the band storage's flat,
    column-major float64 array of ``n`` columns; ``ipiv``: int32, length ``n``,
    0-based interchanges written).  Returns LAPACK's ``info`` (0, or j + 1 for an exact
    zero pivot in column j; −2 for more than :data:`MAX_KL` sub-diagonals, where
    LAPACK's blocked ``dgbtrf`` is the better code anyway)."""
    ffi, lib = module.ffi, module.lib
    ldab = ab.size // n
    return lib.fem_cell_band_factor(n, kl, ku, _ptr(ffi, ab, "double *"), ldab,
                                    _ptr(ffi, ipiv, "int *"))


def solve(module, ab: np.ndarray, n: int, kl: int, ku: int, ipiv: np.ndarray,
          b: np.ndarray) -> None:
    """Solve with the factors of :func:`factor`, ``b`` (float64, contiguous) in place."""
    ffi, lib = module.ffi, module.lib
    lib.fem_cell_band_solve(n, kl, ku, _ptr(ffi, ab, "double *"), ab.size // n,
                            _ptr(ffi, ipiv, "int *"), _ptr(ffi, b, "double *"))


__all__ = ["MAX_KL", "COMPILED", "factor", "kernels", "solve"]
