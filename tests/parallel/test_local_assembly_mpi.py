"""The compiled assembly loop (fem_cell.solvers.local_assembly) on several ranks.

Under ``mpirun -n 2``: the residual's local array (owned and ghost entries, before the
reverse scatter) is dolfinx's bit for bit; the Jacobian is dolfinx's bit for bit when
PETSc's stash keeps the order of the entries sent to other ranks (``-matstash_legacy``
at the matrix's creation), and within ``PARALLEL_ULPS`` units of round-off with the
default stash, which sorts them before summing; a non-zero outside a compact pattern on
one rank makes every rank fall back; the models' problems use it on both ranks and on
each rank's own communicator; a 2-D anneal is the same with and without it.  Serially
these run on one rank (the one-rank tests are tests/unit/test_local_assembly.py)."""

import numpy as np
import pytest
from dolfinx.fem.assemble import _assemble_vector_array
from dolfinx.fem.petsc import assemble_matrix, create_matrix
from helpers import anneals_with_and_without_compiled_assembly

from fem_cell._dolfinx import MPI, PETSc, dolfinx, fem, ufl
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.solvers.local_assembly import PARALLEL_ULPS, LocalAssembler


def form_on(comm, cell_type: str, blocked: bool):
    """A nonlinear form with every integral kind on subdomains (cells, exterior and
    interior facets), a Dirichlet condition, on a mesh distributed over ``comm`` with
    the ghost cells interior-facet integrals need."""
    ghosts = dolfinx.mesh.GhostMode.shared_facet
    if cell_type == "interval":
        msh = dolfinx.mesh.create_unit_interval(comm, 16, ghost_mode=ghosts)
    else:
        msh = dolfinx.mesh.create_unit_square(comm, 7, 7, getattr(dolfinx.mesh.CellType,
                                                                   cell_type),
                                              ghost_mode=ghosts)
    tdim = msh.topology.dim
    msh.topology.create_connectivity(tdim - 1, tdim)
    cells = np.arange(msh.topology.index_map(tdim).size_local, dtype=np.int32)
    mid = dolfinx.mesh.compute_midpoints(msh, tdim, cells)
    cell_tags = dolfinx.mesh.meshtags(msh, tdim, cells, np.where(mid[:, 0] < 0.5, 1, 2))
    facets = dolfinx.mesh.locate_entities(
        msh, tdim - 1, lambda x: np.isclose(x[0], 0.5) | np.isclose(x[0], 1.0))
    fmid = dolfinx.mesh.compute_midpoints(msh, tdim - 1, facets)
    facet_tags = dolfinx.mesh.meshtags(msh, tdim - 1, facets,
                                       np.where(np.isclose(fmid[:, 0], 0.5), 5, 6))
    V = fem.functionspace(msh, ("Lagrange", 1, (2,) if blocked else ()))
    u, v = fem.Function(V), ufl.TestFunction(V)
    if blocked:
        u.interpolate(lambda x: np.vstack([1 + x[0] * x[1], 2 - x[1] + x[0] ** 2]))
    else:
        u.interpolate(lambda x: 1 + x[0] + 0.3 * x[1] ** 2)
    T = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    T.interpolate(lambda x: 300 + 50 * x[0] + 20 * x[1])
    k = fem.Constant(msh, 2.0)
    kv = fem.Constant(msh, np.array([1.0, 3.0]))
    s, w = (u[0], v[0]) if blocked else (u, v)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=cell_tags)
    ds = ufl.Measure("ds", domain=msh, subdomain_data=facet_tags)
    dS = ufl.Measure("dS", domain=msh, subdomain_data=facet_tags)
    form = (ufl.exp(-kv[1] / T) * (1 + s**2) * ufl.inner(ufl.grad(u), ufl.grad(v)) * dx(1)
            + k * s * w * dx(2) + kv[0] * s**2 * w * ds(6)
            + k * ufl.avg(s) * ufl.jump(w) * dS(5))
    edge = dolfinx.mesh.locate_entities_boundary(msh, tdim - 1,
                                                 lambda x: np.isclose(x[0], 0.0))
    W = V.sub(0) if blocked else V
    bc = fem.dirichletbc(np.float64(1.0), fem.locate_dofs_topological(W, tdim - 1, edge), W)
    return fem.form(form), fem.form(ufl.derivative(form, u)), [bc], (u, T, k, kv)


def local_vector(F) -> np.ndarray:
    """dolfinx's residual into a local array (owned then ghost entries)."""
    dm = F.function_spaces[0].dofmap
    b = np.zeros((dm.index_map.size_local + dm.index_map.num_ghosts) * dm.index_map_bs)
    _assemble_vector_array(b, F)
    return b


def matrices(asm, J, bcs, A):
    """(dolfinx's, ours) values of A's local rows (CSR: pointers, columns, values)."""
    A.zeroEntries()
    assemble_matrix(A, J, bcs, diag=1.0)
    A.assemble()
    ref = tuple(a.copy() for a in A.getValuesCSR())
    assert asm.matrix(A)
    return ref, tuple(a.copy() for a in A.getValuesCSR())


def all_ranks(flag: bool) -> bool:
    return MPI.COMM_WORLD.allreduce(bool(flag), op=MPI.LAND)


@pytest.mark.mpi
@pytest.mark.parametrize("cell_type", ["interval", "triangle", "quadrilateral"])
@pytest.mark.parametrize("blocked", [False, True])
@pytest.mark.parametrize("stash", ["legacy", "default"])
def test_the_same_as_dolfinx_on_every_rank(cell_type, blocked, stash):
    comm = MPI.COMM_WORLD
    F, J, bcs, (u, T, k, kv) = form_on(comm, cell_type, blocked)
    opts = PETSc.Options()
    if stash == "legacy":
        opts["matstash_legacy"] = None        # read when the matrix's stash is made
    try:
        A = create_matrix(J)
    finally:
        if stash == "legacy":
            opts.delValue("matstash_legacy")
    asm_F = LocalAssembler(F)
    asm_J = LocalAssembler(J, bcs=bcs, matrix=A)
    assert asm_F.usable and asm_J.usable, (asm_F.reason, asm_J.reason)
    if comm.size > 1:
        # rows another rank owns are sent, on some rank
        assert comm.allreduce(asm_J._stash is not None, op=MPI.LOR)
    for _ in range(2):
        got = np.zeros_like(local_vector(F))
        asm_F.vector(got)
        assert all_ranks(np.array_equal(got, local_vector(F)))
        (ia, ja, va), (ib, jb, vb) = matrices(asm_J, J, bcs, A)
        assert all_ranks(np.array_equal(ia, ib) and np.array_equal(ja, jb))
        if stash == "legacy" or comm.size == 1:
            assert all_ranks(np.array_equal(va, vb))
        else:
            assert all_ranks(LocalAssembler._worst_difference(ia, va, vb) <= PARALLEL_ULPS)
            assert all_ranks(np.allclose(va, vb, rtol=1e-13, atol=0.0))
        # later values of every coefficient and constant are read, not the first ones
        u.x.array[:] *= 1.3
        T.x.array[:] += 20.0
        k.value = 5.0
        kv.value[1] = 7.0
    A.destroy()


@pytest.mark.mpi
def test_a_non_zero_outside_the_pattern_on_one_rank_makes_every_rank_fall_back():
    """Rank 0's matrix lacks the off-diagonal entries of one of its rows: the loop
    returns False on every rank (dolfinx then assembles, collectively, and PETSc
    extends the pattern), and follows the extended pattern next time."""
    comm = MPI.COMM_WORLD
    F, J, bcs, _ = form_on(comm, "interval", False)
    A = create_matrix(J)
    asm = LocalAssembler(J, bcs=bcs, matrix=A)
    assert asm.usable, asm.reason
    (ia, ja, va), _ = matrices(asm, J, bcs, A)
    start = A.getOwnershipRange()[0]
    n = ia.size - 1
    keep = np.ones(ja.size, dtype=bool)
    if comm.rank == 0:
        constrained = bcs[0]._cpp_object.dof_indices()[0]
        row = int(np.setdiff1d(np.arange(n), constrained)[1])
        entries = np.arange(ia[row], ia[row + 1])
        keep[entries[ja[entries] != start + row]] = False
    rows = np.repeat(np.arange(n), np.diff(ia))[keep]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(rows, minlength=n))])
    B = PETSc.Mat().createAIJ(A.getSizes(), csr=(indptr.astype(PETSc.IntType),
                                                 ja[keep].astype(PETSc.IntType), va[keep]),
                              comm=comm)
    B.setLGMap(*A.getLGMap())                  # dolfinx inserts by local indices
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    B.assemble()
    assert not asm.matrix(B)                   # on every rank
    ref, mine = matrices(asm, J, bcs, B)       # dolfinx extends the pattern; then ours
    assert all_ranks(np.array_equal(ref[0], mine[0]) and np.array_equal(ref[1], mine[1]))
    assert all_ranks(np.allclose(ref[2], mine[2], rtol=1e-13, atol=0.0))
    A.destroy()
    B.destroy()


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["self", "world"])
def test_the_models_problems_use_it(which):
    comm = MPI.COMM_SELF if which == "self" else MPI.COMM_WORLD
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, comm)
    try:
        chem = model.chemistry(expose=False)
        for p in (chem.transport_problem, chem.heat.problem):
            assert p.solver_counts()["compiled_assembly"], p.local_assembly_reason
            with p._problem.b.localForm() as loc:
                b = np.zeros(loc.getSize())
            p._local_residual.vector(b)
            assert np.array_equal(b, local_vector(p._problem.F))
    finally:
        model.destroy()


@pytest.mark.mpi
def test_a_2d_anneal_is_the_same_with_and_without_it(monkeypatch):
    """On the coarse 2-D cross-section over every rank: the same steps, Newton
    iterations and results (to round-off: the sums of entries sent between ranks may
    be added in another order)."""
    with_loop, without = anneals_with_and_without_compiled_assembly(
        monkeypatch, MPI.COMM_WORLD, {"dim": 2, "cells_per_layer": 3})
    assert with_loop["solver"]["transport"]["compiled_assembly"]
    assert with_loop["solver"]["heat"]["compiled_assembly"]
    assert not without["solver"]["transport"]["compiled_assembly"]
    for key in ("steps_accepted",):
        assert with_loop[key] == without[key]
    for part in ("transport", "heat"):
        assert (with_loop["solver"][part]["newton_iterations"]
                == without["solver"][part]["newton_iterations"])
    for key in ("R_interface_ohm_cm2", "H_LiCoO2_removed_fraction"):
        assert with_loop[key] == pytest.approx(without[key], rel=1e-10), key


@pytest.mark.mpi
def test_a_rank_without_cells():
    """A mesh of one cell: on two ranks one of them owns no cell (and may have no
    integral at all); both assemble as dolfinx does."""
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 1)
    V = fem.functionspace(msh, ("Lagrange", 1))
    u, v = fem.Function(V), ufl.TestFunction(V)
    u.interpolate(lambda x: 1 + x[0])
    form = (1 + u**2) * ufl.inner(ufl.grad(u), ufl.grad(v)) * ufl.dx + u * v * ufl.ds
    F, J = fem.form(form), fem.form(ufl.derivative(form, u))
    A = create_matrix(J)
    asm_F, asm_J = LocalAssembler(F), LocalAssembler(J, matrix=A)
    assert asm_F.usable and asm_J.usable, (asm_F.reason, asm_J.reason)
    got = np.zeros_like(local_vector(F))
    asm_F.vector(got)
    assert all_ranks(np.array_equal(got, local_vector(F)))
    (ia, ja, va), (ib, jb, vb) = matrices(asm_J, J, [], A)
    assert all_ranks(np.array_equal(ja, jb) and np.array_equal(va, vb))
    A.destroy()


@pytest.mark.mpi
def test_an_error_on_one_rank_is_raised_on_every_rank(monkeypatch):
    """A set-up that fails on rank 0 only raises on every rank (no rank is left waiting
    in a collective call)."""
    F, *_ = form_on(MPI.COMM_WORLD, "interval", False)
    real = LocalAssembler._setup

    def broken(self):
        if MPI.COMM_WORLD.rank == 0:
            raise ValueError("broken on rank 0")
        return real(self)

    monkeypatch.setattr(LocalAssembler, "_setup", broken)
    with pytest.raises((ValueError, RuntimeError), match="broken on rank 0"):
        LocalAssembler(F)
