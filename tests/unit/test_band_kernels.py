"""The compiled band LU kernels (fem_cell.solvers.band_kernels) against LAPACK, and the
band LU preconditioner reading PETSc's own array of values (fem_cell.solvers.banded).

* factor: the same pivots as LAPACK's ``dgbtrf`` and the same factors to round-off, on
  bands that need row exchanges, with no sub- or no super-diagonals, of one unknown,
  and an exactly singular one (the same ``info``);
* solve: LAPACK's ``dgbtrs``'s solution to round-off, and the dense solution;
* the preconditioner with the kernels against itself without them (LAPACK, petsc4py's
  copy of the values): the same solutions, after the matrix's values change, and after
  its pattern grows (a new non-zero: the ordering is redone).
"""

import numpy as np
import pytest
import scipy.sparse as sp
from helpers import BandSolver, petsc_aij, without_compiler
from scipy.linalg import lapack

from fem_cell.solvers import band_kernels
from fem_cell.solvers.banded import _petsc_aij

pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def kernels():
    module = band_kernels.kernels()
    assert module is not None, band_kernels.COMPILED.unavailable
    return module


def _band_storage(A: np.ndarray, kl: int, ku: int) -> np.ndarray:
    """LAPACK's band storage (2 kl + ku + 1 rows, Fortran order) of a dense matrix."""
    n = A.shape[0]
    ab = np.zeros((2 * kl + ku + 1, n), order="F")
    for j in range(n):
        for i in range(max(0, j - ku), min(n, j + kl + 1)):
            ab[kl + ku + i - j, j] = A[i, j]
    return ab


def _random_band(n, kl, ku, rng, zero_diagonal):
    A = np.zeros((n, n))
    for k in range(-kl, ku + 1):
        A += np.diag(rng.normal(size=n - abs(k)), k)
    if zero_diagonal:     # no factorisation without row exchanges exists
        np.fill_diagonal(A, 0.0)
    else:                 # well conditioned (a random triangular band is not)
        A += np.diag(np.full(n, 2.0 * (kl + ku + 1)))
    return A


@pytest.mark.parametrize("n,kl,ku,zero_diagonal", [
    (50, 3, 2, True), (50, 5, 5, True), (80, 5, 5, False), (40, 0, 3, False),
    (40, 3, 0, False), (1, 0, 0, False), (7, 6, 6, True), (30, 2, 7, True)])
def test_factor_and_solve_are_lapacks(kernels, n, kl, ku, zero_diagonal):
    rng = np.random.default_rng(n + 7 * kl + 13 * ku)
    A = _random_band(n, kl, ku, rng, zero_diagonal)
    if n == 1:
        A[0, 0] = 2.5
    ab = _band_storage(A, kl, ku)
    lu_ref, piv_ref, info_ref = lapack.dgbtrf(ab.copy(order="F"), kl, ku)
    flat = ab.ravel(order="F").copy()
    ipiv = np.zeros(n, dtype=np.int32)
    info = band_kernels.factor(kernels, flat, n, kl, ku, ipiv)
    assert info == info_ref == 0
    np.testing.assert_array_equal(ipiv, piv_ref)           # the same row exchanges
    lu = flat.reshape(n, -1).T
    scale = np.max(np.abs(lu_ref))
    assert np.max(np.abs(lu - lu_ref)) <= 1e-13 * scale
    if zero_diagonal and n > 1:
        assert np.any(ipiv != np.arange(n))                # pivoting was exercised
    b = rng.normal(size=n)
    x_ref, _ = lapack.dgbtrs(lu_ref, kl, ku, b.copy(), piv_ref)
    x = b.copy()
    band_kernels.solve(kernels, flat, n, kl, ku, ipiv, x)
    exact = np.linalg.solve(A, b)
    assert np.max(np.abs(x - x_ref)) <= 1e-12 * np.max(np.abs(exact))
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))


def test_singular_band_reports_lapacks_info(kernels):
    rng = np.random.default_rng(11)
    n, kl, ku = 30, 2, 2
    A = _random_band(n, kl, ku, rng, zero_diagonal=False)
    A[:, 12] = 0.0                                          # a zero column
    ab = _band_storage(A, kl, ku)
    _, _, info_ref = lapack.dgbtrf(ab.copy(order="F"), kl, ku)
    flat = ab.ravel(order="F").copy()
    info = band_kernels.factor(kernels, flat, n, kl, ku, np.zeros(n, dtype=np.int32))
    assert info == info_ref > 0


def test_preconditioner_reads_petscs_values_and_follows_their_changes(kernels):
    assert _petsc_aij() is not None
    rng = np.random.default_rng(4)
    n = 120
    A = sp.csr_matrix(_random_band(n, 4, 3, rng, zero_diagonal=True))
    p = rng.permutation(n)
    A = A[p][:, p].tocsr()                                  # the ordering must undo it
    M = petsc_aij(A, extra_room=True)
    fast, slow = BandSolver(M, compiled=True), BandSolver(M, compiled=False)
    b = rng.normal(size=n)
    for stage in range(3):
        if stage == 1:            # new values in the same pattern
            A.data *= rng.uniform(0.5, 2.0, A.data.size)
            M.zeroEntries()
            for i in range(n):
                cols = A.indices[A.indptr[i]:A.indptr[i + 1]]
                M.setValues(i, cols, A.data[A.indptr[i]:A.indptr[i + 1]])
            M.assemble()
        elif stage == 2:          # a non-zero outside the pattern: it grows
            i, j = p.tolist().index(0), p.tolist().index(n - 1)
            A = A.tolil()
            A[i, j] = 0.3
            A = A.tocsr()
            M.setValue(i, j, 0.3)
            M.assemble()
        (x_fast, r_fast), (x_slow, r_slow) = fast.solve(b), slow.solve(b)
        assert r_fast > 0 and r_slow > 0, stage
        exact = np.linalg.solve(A.toarray(), b)
        scale = np.max(np.abs(exact))
        assert np.max(np.abs(x_fast - exact)) <= 1e-9 * scale, stage
        assert np.max(np.abs(x_fast - x_slow)) <= 1e-11 * scale, stage
        assert fast.ctx.compiled_factors and not slow.ctx.compiled_factors
        assert fast.ctx._pattern[1].size == A.nnz            # the pattern it ordered
    fast.destroy()
    slow.destroy()
    M.destroy()


def test_use_banded_uses_the_kernels_when_available(kernels):
    A = sp.diags([1.0, 4.0, 1.0], [-1, 0, 1], shape=(20, 20)).tocsr()
    M = petsc_aij(A)
    solver = BandSolver(M)
    x, reason = solver.solve(np.ones(20))
    assert reason > 0
    assert solver.ctx.compiled and solver.ctx.compiled_factors
    np.testing.assert_allclose(A @ x, 1.0, rtol=1e-13)
    solver.destroy()
    M.destroy()


def test_without_a_compiler_the_band_lu_uses_lapack(monkeypatch):
    without_compiler(monkeypatch, band_kernels.COMPILED)
    with pytest.warns(RuntimeWarning, match="no C compiler"):
        assert band_kernels.kernels() is None
    assert "no C compiler" in band_kernels.COMPILED.unavailable
    rng = np.random.default_rng(8)
    A = sp.csr_matrix(_random_band(40, 2, 2, rng, zero_diagonal=True))
    M = petsc_aij(A)
    solver = BandSolver(M, compiled=True)
    b = rng.normal(size=40)
    x, reason = solver.solve(b)
    assert reason > 0
    assert solver.ctx._kernels is None and not solver.ctx.compiled_factors
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))
    solver.destroy()
    M.destroy()


def test_without_petscs_array_the_values_are_copied_silently(monkeypatch, kernels):
    """PETSc's array out of reach (fem_cell.solvers.petsc_aij.AIJ cannot be made): the
    band LU reads the values through petsc4py, with the same solution and no warning."""
    import warnings

    from fem_cell.solvers import petsc_aij as aij_module

    without_compiler(monkeypatch, aij_module.AIJ)
    rng = np.random.default_rng(9)
    A = sp.csr_matrix(_random_band(40, 2, 3, rng, zero_diagonal=True))
    M = petsc_aij(A)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert _petsc_aij() is None
        solver = BandSolver(M, compiled=True)
        b = rng.normal(size=40)
        x, reason = solver.solve(b)
    assert "no C compiler" in aij_module.AIJ.unavailable
    assert reason > 0
    exact = np.linalg.solve(A.toarray(), b)
    assert np.max(np.abs(x - exact)) <= 1e-10 * np.max(np.abs(exact))
    solver.destroy()
    M.destroy()


def test_more_sub_diagonals_than_the_kernel_takes_is_refused(kernels):
    n, kl = 200, band_kernels.MAX_KL + 1
    flat = np.ones((2 * kl + 1 + 1) * n)
    assert band_kernels.factor(kernels, flat, n, kl, 1, np.zeros(n, dtype=np.int32)) == -2
