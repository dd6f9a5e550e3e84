"""fem_cell.solvers.local_assembly: the compiled loop over a form's kernels assembles
what dolfinx's assembler does, bit for bit, on every kind of integral the models use
(cells by subdomain, exterior and interior facets, vertices; blocked and mixed spaces;
Dirichlet rows and columns), also after coefficients and constants change; it refuses
what it cannot do (DOF transformations, vertex integrals, no compiler) and reports a
non-zero outside a compact pattern so that dolfinx can extend it.  Several ranks:
tests/parallel/test_local_assembly_mpi.py."""

import numpy as np
import pytest
from dolfinx.fem.assemble import _assemble_vector_array
from dolfinx.fem.petsc import assemble_matrix, create_matrix
from helpers import anneals_with_and_without_compiled_assembly, without_compiler

from fem_cell._dolfinx import MPI, PETSc, dolfinx, fem, ufl
from fem_cell.config import load_config
from fem_cell.solvers import local_assembly
from fem_cell.solvers.local_assembly import LocalAssembler


def dolfinx_vector(F) -> np.ndarray:
    V = F.function_spaces[0]
    b = np.zeros(V.dofmap.index_map.size_local * V.dofmap.index_map_bs)
    _assemble_vector_array(b, F)
    return b


def dolfinx_matrix(J, bcs, A) -> tuple:
    A.zeroEntries()
    assemble_matrix(A, J, bcs, diag=1.0)
    A.assemble()
    return tuple(a.copy() for a in A.getValuesCSR())


def ours_matrix(asm, A) -> tuple:
    assert asm.matrix(A)
    return A.getValuesCSR()


def assert_same(asm_F, asm_J, F, J, bcs, A) -> None:
    got = np.zeros_like(dolfinx_vector(F))
    asm_F.vector(got)
    assert np.array_equal(got, dolfinx_vector(F))
    ref = dolfinx_matrix(J, bcs, A)
    mine = ours_matrix(asm_J, A)
    for r, m in zip(ref, mine, strict=True):
        assert np.array_equal(r, m)


def problem(cell_type, n, blocked: bool):
    """A nonlinear form with every integral kind on subdomains, a Dirichlet condition."""
    if cell_type == "interval":
        msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, n)
    else:
        msh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, n, n,
                                              dolfinx.mesh.CellType.quadrilateral)
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    cells = np.arange(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, cells, np.where(mid[:, 0] < 0.5, 1, 2))
    facets = dolfinx.mesh.locate_entities(msh, tdim - 1,
                                          lambda x: np.isclose(x[0], 0.5) | np.isclose(x[0], 1.0))
    fmid = dolfinx.mesh.compute_midpoints(msh, tdim - 1, facets)
    facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, facets,
                                       np.where(np.isclose(fmid[:, 0], 0.5), 5, 6))
    shape = (2,) if blocked else ()
    V = fem.functionspace(msh, ("Lagrange", 1, shape))
    u, v = fem.Function(V), ufl.TestFunction(V)
    rng = np.random.default_rng(3)
    u.x.array[:] = rng.uniform(0.5, 1.5, u.x.array.size)
    T = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    T.x.array[:] = rng.uniform(300, 400, T.x.array.size)
    k = fem.Constant(msh, 2.0)
    kv = fem.Constant(msh, np.array([1.0, 3.0]))
    s = u[0] if blocked else u
    w = v[0] if blocked else v
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=facet_tags)
    dS = ufl.Measure("dS", domain=msh, subdomain_data=facet_tags)
    D = ufl.exp(-kv[1] / T)
    form = (D * (1 + s**2) * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx(1)
            + k * s * w * dx(2)
            + kv[0] * s**2 * w * ds(6)
            + k * ufl.avg(s) * ufl.jump(w) * dS(5))
    F = fem.form(form)
    J = fem.form(ufl.derivative(form, u))
    edge = dolfinx.mesh.locate_entities_boundary(msh, tdim - 1,
                                                 lambda x: np.isclose(x[0], 0.0))
    W = V.sub(0) if blocked else V
    bc = fem.dirichletbc(np.float64(1.0), fem.locate_dofs_topological(W, tdim - 1, edge), W)
    return F, J, [bc], u, T, k, kv


@pytest.mark.parametrize("cell_type,n", [("interval", 12), ("quadrilateral", 4)])
@pytest.mark.parametrize("blocked", [False, True])
def test_the_same_as_dolfinx_bit_for_bit(cell_type, n, blocked):
    F, J, bcs, u, T, k, kv = problem(cell_type, n, blocked)
    A = create_matrix(J)
    asm_F = LocalAssembler(F)
    asm_J = LocalAssembler(J, bcs=bcs, matrix=A)
    assert asm_F.usable and asm_J.usable, (asm_F.reason, asm_J.reason)
    kinds = {it.key[0].name for it in asm_F._integrals}
    assert kinds == {"cell", "exterior_facet", "interior_facet"}
    assert_same(asm_F, asm_J, F, J, bcs, A)
    # later values of every coefficient and constant are read, not the first ones
    u.x.array[:] *= 1.3
    T.x.array[:] += 20.0
    k.value = 5.0
    kv.value[1] = 7.0
    assert_same(asm_F, asm_J, F, J, bcs, A)


def test_a_non_zero_outside_the_pattern_is_reported_and_the_pattern_followed():
    """A matrix missing entries (as a compact Jacobian can): the loop says so, dolfinx
    then adds them (PETSc extends the pattern) and the loop follows the new pattern."""
    F, J, bcs, *_ = problem("interval", 8, False)
    A = create_matrix(J)
    asm = LocalAssembler(J, bcs=bcs, matrix=A)
    assert asm.usable
    ref = dolfinx_matrix(J, bcs, A)
    # the same matrix without the off-diagonal entries of an unconstrained row
    ia, ja, va = ref
    n = A.getSize()[0]
    row = int(np.setdiff1d(np.arange(n), bcs[0]._cpp_object.dof_indices()[0])[0])
    keep = np.ones(ja.size, dtype=bool)
    entries = np.arange(ia[row], ia[row + 1])
    keep[entries[ja[entries] != row]] = False
    rows = np.repeat(np.arange(n), np.diff(ia))[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    B = PETSc.Mat().createAIJ(A.getSize(), csr=(indptr.astype(PETSc.IntType),
                                                ja[keep].astype(PETSc.IntType), va[keep]),
                              comm=PETSc.COMM_SELF)
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    B.assemble()
    assert not asm.matrix(B)
    dolfinx_matrix(J, bcs, B)                   # extends the pattern
    mine = ours_matrix(asm, B)
    for r, m in zip(ref, mine, strict=True):
        assert np.array_equal(r, m)
    B.destroy()


def test_the_transport_of_the_1d_cell_uses_it_and_matches_dolfinx():
    from fem_cell.model import CellModel

    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_SELF)
    try:
        chem = model.chemistry(expose=True)
        tp = chem.transport_problem
        assert tp.solver_counts()["compiled_assembly"], tp.local_assembly_reason
        p = tp._problem
        A = tp.snes.getJacobian()[0]
        assert_same(tp._local_residual, tp._local_jacobian, p.F, p.J, tp._newton_bcs, A)
    finally:
        model.destroy()


def test_an_anneal_is_the_same_with_and_without_it(monkeypatch):
    """Bit for bit: the assembled values are dolfinx's, so every Newton iterate is."""
    with_loop, without = anneals_with_and_without_compiled_assembly(
        monkeypatch, MPI.COMM_SELF, {"dim": 1, "cells_per_layer": 8})
    for k in ("R_interface_ohm_cm2", "H_LiCoO2_removed_fraction", "steps_accepted"):
        assert with_loop[k] == without[k], k


def test_refused_for_dof_transformations_and_vertex_integrals():
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 4)
    w = ufl.TestFunction(fem.functionspace(msh, ("Lagrange", 1)))
    assert LocalAssembler(fem.form(w * ufl.dP)).reason == "vertex integrals"
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_SELF, 2, 2)
    V = fem.functionspace(msh, ("N1curl", 1))
    u, v = fem.Function(V), ufl.TestFunction(V)
    F = fem.form(ufl.inner(u, v) * ufl.dx)
    assert LocalAssembler(F).reason == "an element that needs DOF transformations"


def test_without_a_compiler_dolfinx_assembles(monkeypatch):
    without_compiler(monkeypatch, local_assembly.COMPILED)
    F, *_ = problem("interval", 4, False)
    with pytest.warns(RuntimeWarning, match="could not be compiled"):
        asm = LocalAssembler(F)
    assert not asm.usable and "no C compiler" in asm.reason
