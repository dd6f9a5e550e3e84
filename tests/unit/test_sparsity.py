"""Compact Jacobian matrices (fem_cell.solvers.sparsity, TransientProblem).

* a compact matrix of the transport's Jacobian forms holds exactly the values dolfinx
  assembles: every entry it drops is zero in dolfinx's full matrix, at a state other
  than the ones its pattern was found at (a converged step; 1-D and 2-D, also on 2
  ranks), and no entry had to be added;
* the transport problem uses it under the band LU (1-D, one rank) and under the
  condensed solve (fem_cell.solvers.condensed: elsewhere), where its own Jacobian then
  matches dolfinx's entry for entry;
* it stores far fewer entries (1-D: 3,961 of 10,416; 2-D coarse: 65 %) and its band
  after reverse Cuthill–McKee is narrower (1-D: 11 → 5);
* an entry outside the pattern is added (PETSc allocates it, counted), never lost;
* the perturbation restores every value bit for bit;
* a one-field problem (heat) keeps dolfinx's matrix.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import COARSE_FILM_MESH, exposed_transport_block
from scipy.sparse import csr_matrix

from fem_cell._dolfinx import MPI, PETSc, fem, ufl
from fem_cell.config import load_config
from fem_cell.forms import constant, vertex_quadrature
from fem_cell.solvers.sparsity import compact_matrix, inputs, pattern_extensions, perturbed


def _transport_problem(dim: int, prefix: str):
    """The anneal's transport problem of the default cell (default mesh in 1-D, coarse
    in 2-D) at 150 degC, from an exposure-like proton state."""
    from fem_cell.model.chemistry import build_transport_problem

    block, cfg = exposed_transport_block({"dim": dim, **(COARSE_FILM_MESH if dim == 2 else {})})
    return build_transport_problem(block, cfg.solver, prefix=prefix)


def _local_csr(A: PETSc.Mat) -> csr_matrix:
    """The owned rows of A (global columns) as a scipy matrix."""
    indptr, indices, values = A.getValuesCSR()
    return csr_matrix((values, indices, indptr), shape=(len(indptr) - 1, A.getSize()[1]))


def _converged(p) -> None:
    """Two converged steps: states the pattern was not found at."""
    for dt in (1.0, 300.0):
        p.set_history(p.get_state(), p.get_state())
        p.set_time_level(dt, dt, 1, None)
        ok, _, _ = p.solve()
        assert ok


def _same_values(comm, a: csr_matrix, b: csr_matrix) -> bool:
    """Entry for entry equal on every rank (collective): bit for bit on one rank; on
    several to one rounding of each entry (an entry's contributions from other ranks
    are summed in another order: measured 1 ulp of 25,818 on 2 ranks, 2-D)."""
    slack = 0.0 if comm.size == 1 else 2.3e-16
    d = abs(a - b) - slack * abs(b)
    return comm.allreduce(bool(d.nnz == 0 or d.max() <= 0.0), op=MPI.LAND)


def _assemble(A, ctx) -> csr_matrix:
    from dolfinx.fem.petsc import assemble_matrix

    A.zeroEntries()
    assemble_matrix(A, ctx["jacobian"], ctx["bcs"], diag=1.0)
    A.assemble()
    return _local_csr(A)


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_compact_matrix_holds_dolfinx_values(dim):
    """The utility on the transport's Jacobian forms, 1-D and 2-D, also on 2 ranks."""
    from dolfinx.fem.petsc import create_matrix

    p = _transport_problem(dim, f"test_compact_{dim}_")
    try:
        _converged(p)
        _, _, (_, _, ctx) = p.snes.getJacobian()
        full = create_matrix(ctx["jacobian"])
        compact = compact_matrix(create_matrix(ctx["jacobian"]), ctx["jacobian"], ctx["bcs"])
        assert compact is not None
        a, b = _assemble(compact, ctx), _assemble(full, ctx)
        assert _same_values(p.comm, a, b)         # the same values, entry for entry
        assert pattern_extensions(compact) == 0   # and none outside the pattern
        stored = [p.comm.allreduce(m.nnz, op=MPI.SUM) for m in (a, b)]
        # measured: 1-D 3,961 of 10,416 entries; 2-D coarse 65 % of them
        assert stored[0] < (0.45 if dim == 1 else 0.75) * stored[1]
        for M in (full, compact):
            M.destroy()
    finally:
        p.destroy()


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_problem_compacts_under_the_band_lu_and_the_condensed_solve(dim):
    """The transport (with traps) compacts under the band LU (1-D, one rank) and under
    the condensed solve (otherwise: MUMPS then factorises the condensed system, not
    the compact matrix itself)."""
    from dolfinx.fem.petsc import create_matrix

    p = _transport_problem(dim, f"test_compact_problem_{dim}_")
    banded = dim == 1 and p.comm.size == 1
    try:
        assert (p._condensed is None) == banded
        assert p.compact_jacobian
        assert p.solver_counts()["compact_jacobian"]
        _converged(p)
        # the problem's own matrix: dolfinx's values, nothing added
        J, _, (_, _, ctx) = p.snes.getJacobian()
        full = create_matrix(ctx["jacobian"])
        assert _same_values(p.comm, _assemble(J, ctx), _assemble(full, ctx))
        full.destroy()
        assert p.pattern_extensions() == 0
    finally:
        p.destroy()
    assert p.pattern_extensions() == 0            # (the count kept after destroy())


def test_band_is_narrower_in_1d():
    p = _transport_problem(1, "test_compact_band_")
    try:
        p.set_time_level(1.0, 1.0, 1, None)
        assert p.solve()[0]
        band = p._banded
        assert band.banded and (band._kl, band._ku) == (5, 5)   # dolfinx's pattern: 11, 11
    finally:
        p.destroy()


def test_an_entry_outside_the_pattern_is_added_not_lost():
    from dolfinx import mesh
    from dolfinx.fem.petsc import assemble_matrix, create_matrix

    msh = mesh.create_unit_interval(MPI.COMM_SELF, 20)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    lumped = fem.form(vertex_quadrature(u * v * ufl.dx))
    consistent = fem.form(u * v * ufl.dx)
    A = create_matrix(lumped)
    B = compact_matrix(A, lumped, [])
    assert B is not None and B.getInfo()["nz_used"] == 21     # the diagonal only
    assemble_matrix(B, consistent)                           # off-diagonal values too
    B.assemble()
    ref = create_matrix(consistent)
    assemble_matrix(ref, consistent)
    ref.assemble()
    assert abs(_local_csr(B) - _local_csr(ref)).max() < 1e-15
    assert pattern_extensions(B) > 0
    for M in (A, B, ref):
        M.destroy()


def test_perturbation_is_restored_exactly():
    from dolfinx import mesh

    msh = mesh.create_unit_interval(MPI.COMM_SELF, 8)
    V = fem.functionspace(msh, ("Lagrange", 1))
    f = fem.Function(V)
    f.x.array[:] = np.linspace(0.0, 1.0, f.x.array.size)   # includes an exact zero
    c = constant(msh, 0.0)
    k = constant(msh, 2.5)
    form = fem.form(c * k * f * ufl.TestFunction(V) * ufl.TrialFunction(V) * ufl.dx)
    before = f.x.array.copy()
    with perturbed(inputs(form), seed=0):
        assert np.all(f.x.array > before)                  # every value moved up
        assert float(c.value) > 0.0 and float(k.value) > 2.5
    assert np.array_equal(f.x.array, before)
    assert float(c.value) == 0.0 and float(k.value) == 2.5


def test_one_field_problem_keeps_dolfinx_matrix():
    from fem_cell.model import CellModel

    model = CellModel(load_config(overrides={"mesh": {"dim": 1}}), MPI.COMM_WORLD)
    heat = model.heat()
    try:
        assert not heat.problem.compact_jacobian
        assert heat.problem.solver_counts()["compact_jacobian"] is False
    finally:
        model.destroy()
