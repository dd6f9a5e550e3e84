"""The transport assembled as one form on the fields' mixed space
(fem_cell.solvers.mixed) against dolfinx's blocked assembly of the same equations:
Newton on the mixed space (direct solver; in 2-D with the condensed solve), or the
residual alone (iterative).

The state is the default cell's after its simulated exposure, at a uniform 150 °C, with
every field perturbed (so every term of every equation is non-zero), in the middle of a
BDF2 step (all three u̇ coefficients non-zero).
"""

import gc

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, PETSc, dolfinx, fem, ufl
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.model.chemistry import clear_kept_anneals
from fem_cell.physics.transport import PHI_NEWTON_TOL
from fem_cell.solvers.mixed import MixedSpace
from fem_cell.solvers.problem import Field, TransientProblem

COARSE_2D = {"dim": 2, "cells_per_layer": 3, "growth": 1.5, "max_cell_size": "50 um",
             "lateral_cells": 30, "lateral_growth": 1.2}


def _transport(comm, mesh, perturb=True, solver="direct"):
    cfg = load_config(overrides={"mesh": mesh, "output": {"fields": False},
                                 "solver": {"linear_solver": solver}})
    model = CellModel(cfg, comm)
    chem = model.chemistry(expose=True)
    chem.T_film.x.array[:] = 423.15
    tp = chem.transport_problem
    rng = np.random.default_rng(7 + comm.rank)
    for f in tp.fields if perturb else ():
        for u in (f.u, f.u_n, f.u_nm1):
            u.x.array[:] += 0.01 * rng.random(u.x.array.size)
            u.x.scatter_forward()
    tp.set_time_level(5.0, 2.0, 2, 3.0)
    return model, tp


def _blocked_residual(tp) -> np.ndarray:
    """dolfinx's blocked assembly of the problem's forms at its iterate (owned DOFs)."""
    from dolfinx.fem.petsc import assemble_vector
    from dolfinx.la.petsc import _ghost_update, _zero_vector

    p = tp._problem
    b = p.b.duplicate()
    b.setAttr("_blocks", p.b.getAttr("_blocks"))
    _zero_vector(b)
    assemble_vector(b, p.F)
    _ghost_update(b, PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
    out = b.getArray(readonly=True).copy()
    b.destroy()
    return out


def _iterate(tp) -> PETSc.Vec:
    from dolfinx.fem.petsc import assign

    x = tp._problem.x
    assign([f.u for f in tp.fields], x)
    return x


def _owned_residual(tp) -> np.ndarray:
    """The problem's own residual (conditions applied) at its fields' state, owned DOFs,
    in the blocked layout."""
    from dolfinx.fem.petsc import assign

    x = tp._problem.x
    if tp._one_space:
        tp._space.gather()
        assign(tp._space.w, x)
    else:
        assign([f.u for f in tp.fields], x)
    b = tp._problem.b.duplicate()
    tp._residual(tp.snes, x, b)
    out = b.getArray(readonly=True).copy()
    b.destroy()
    return out[tp._space.blocked_to_mixed] if tp._one_space else out


def _close(comm, got, want, rel, least=1.0):
    """|got − want| ≤ rel · max|want| over all ranks, with max|want| > least (a state
    with every term at work)."""
    scale = comm.allreduce(float(np.max(np.abs(want), initial=0.0)), op=MPI.MAX)
    err = comm.allreduce(float(np.max(np.abs(got - want), initial=0.0)), op=MPI.MAX)
    assert scale > least
    assert err <= rel * scale, (err, scale)


@pytest.mark.mpi
def test_the_mixed_residual_is_the_blocked_one():
    """A blocked problem (the iterative path): its residual from the mixed form equals
    dolfinx's blocked assembly of the blocked forms."""
    comm = MPI.COMM_WORLD
    model, tp = _transport(comm, dict(COARSE_2D), solver="iterative")
    try:
        assert tp._mixed is not None and not tp._one_space
        x = _iterate(tp)
        want = _blocked_residual(tp)
        b = tp._problem.b.duplicate()
        tp._mixed.assemble(x, b)
        got = b.getArray(readonly=True).copy()
        b.destroy()
        _close(comm, got, want, 1e-12)
    finally:
        model.destroy()


@pytest.mark.mpi
@pytest.mark.parametrize("mesh", [{"dim": 1}, COARSE_2D], ids=["1d", "2d"])
def test_every_cell_is_assembled_once(mesh):
    """The transport's compiled Jacobian visits each owned cell in exactly one cell
    integral (its region's): the zero-valued diagonal term that puts every DOF into the
    pattern is integrated over the regions, not over dolfinx's untagged dx (which was a
    second pass, with a second element insertion, over every cell)."""
    comm = MPI.COMM_WORLD
    model, tp = _transport(comm, dict(mesh), perturb=False)
    try:
        J = tp._problem.J._cpp_object
        kind = fem.IntegralType.cell
        cells = np.concatenate([J.domains(kind, i) for i in range(J.num_integrals(kind, 0))])
        msh = tp._problem.J.mesh
        owned = msh.topology.index_map(msh.topology.dim).size_local
        assert cells.size == np.unique(cells).size           # no cell twice
        assert np.array_equal(np.sort(cells[cells < owned]), np.arange(owned))
    finally:
        model.destroy()


def _blocked_only(monkeypatch):
    """Problems built from here on assemble as dolfinx does (no mixed space); the
    anneal transports kept so far (built on the mixed space) are dropped, so that the
    next model builds its own (fem_cell.model.chemistry.kept_anneal)."""
    monkeypatch.setattr(MixedSpace, "build", classmethod(lambda cls, *a, **k: None))
    gc.collect()                # (a model that is garbage gives its transport back)
    clear_kept_anneals()


@pytest.mark.mpi
@pytest.mark.parametrize("mesh", [{"dim": 1}, COARSE_2D], ids=["1d", "2d"])
def test_newton_on_the_mixed_space_has_the_blocked_residual(monkeypatch, mesh):
    """The direct path (1-D; 2-D with the condensed solve): Newton on the mixed space;
    its residual (with the conditions restated on W's sub-spaces) at a perturbed state
    equals the blocked problem's, entry by entry."""
    comm = MPI.COMM_WORLD
    got = []
    for blocked in (False, True):
        if blocked:
            _blocked_only(monkeypatch)
        model, tp = _transport(comm, dict(mesh))
        try:
            assert tp._one_space is not blocked
            got.append(_owned_residual(tp))
        finally:
            model.destroy()
    _close(comm, got[0], got[1], 1e-12)


@pytest.mark.mpi
@pytest.mark.parametrize("mesh", [{"dim": 1}, COARSE_2D], ids=["1d", "2d"])
def test_a_newton_step_ends_on_the_same_state_either_way(monkeypatch, mesh):
    """One 2 s BDF2 step at 150 °C from the exposed state, Newton on the mixed space
    and on the blocked fields: the same iterations, the same fractions to round-off
    (2-D: both condensed, the mixed space's on its compact Jacobian; Φ there within
    a tenth of its Newton tolerance)."""
    comm = MPI.COMM_WORLD
    states, its = [], []
    for blocked in (False, True):
        if blocked:
            _blocked_only(monkeypatch)
        model, tp = _transport(comm, dict(mesh), perturb=False)
        try:
            s0 = np.concatenate(tp.get_state())
            ok, n, _ = tp.solve()
            assert ok
            states.append(np.concatenate(tp.get_state()))
            its.append(n)
            moved = comm.allreduce(float(np.max(np.abs(states[-1] - s0))), op=MPI.MAX)
            assert moved > 0.1               # the step did something
        finally:
            model.destroy()
    assert its[0] == its[1]
    # the fractions to round-off (measured ≤ 3e-17); Φ (last in get_state's order) in
    # 2-D from two elimination orders (MUMPS on the mixed and on the blocked layout) of
    # its ill-conditioned block: 1.3e-11 (4.9e-12 with the fractions' Newton tolerance
    # 1e-11, 0.7e-12 with it and the 3-point quadrature), asserted 10x below Φ's Newton
    # tolerance (PHI_NEWTON_TOL)
    n_phi = len(tp.fields[-1].u.x.array)
    _close(comm, states[0][:-n_phi], states[1][:-n_phi], 1e-12, least=0.1)
    if mesh["dim"] == 1:
        _close(comm, states[0][-n_phi:], states[1][-n_phi:], 1e-12, least=0.1)
    else:
        phi = comm.allreduce(float(np.max(np.abs(states[0][-n_phi:] - states[1][-n_phi:]))),
                             op=MPI.MAX)
        assert phi <= 0.1 * PHI_NEWTON_TOL, phi


class _Diffusion:
    def __init__(self, names):
        self.names = names

    def mass(self, u, udot, v):
        return sum(udot[n] * v[n] * ufl.dx for n in self.names)

    def residual(self, u, v):
        return sum(ufl.inner(ufl.grad(u[n]), ufl.grad(v[n])) * ufl.dx for n in self.names)


class _FunctionCondition(_Diffusion):
    """a = 1 at x = 0, given as a function."""

    def dirichlet_bcs(self, spaces):
        V = spaces["a"]
        g = fem.Function(V)
        g.x.array[:] = 1.0
        dofs = fem.locate_dofs_geometrical(V, lambda x: np.isclose(x[0], 0.0))
        return [fem.dirichletbc(g, dofs)]


def test_fields_that_cannot_share_a_mixed_space_keep_the_blocked_assembly():
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 8)
    other = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 8)
    V = fem.functionspace(msh, ("Lagrange", 1))
    Vv = fem.functionspace(msh, ("Lagrange", 1, (2,)))
    one = [Field("a", fem.Function(V))]
    assert MixedSpace.build(one, MPI.COMM_SELF) is None
    two_meshes = [Field("a", fem.Function(V)),
                  Field("b", fem.Function(fem.functionspace(other, ("Lagrange", 1))))]
    assert MixedSpace.build(two_meshes, MPI.COMM_SELF) is None
    vector = [Field("a", fem.Function(V)), Field("b", fem.Function(Vv))]
    assert MixedSpace.build(vector, MPI.COMM_SELF) is None
    # a single-field problem assembles as dolfinx does; two scalar fields on a 1-D mesh
    # share one mixed space for Newton
    t = fem.Constant(msh, 0.0)
    p1 = TransientProblem(one, [_Diffusion(["a"])], time=t, prefix="test_mixed_one_")
    p2 = TransientProblem([Field("a", fem.Function(V)), Field("b", fem.Function(V))],
                          [_Diffusion(["a", "b"])], time=t, prefix="test_mixed_two_")
    # a condition with a function value cannot be restated on the mixed space: Newton
    # stays blocked, the residual is mixed, and a step solves
    p3 = TransientProblem([Field("a", fem.Function(V)), Field("b", fem.Function(V))],
                          [_FunctionCondition(["a", "b"])], time=t, prefix="test_mixed_fn_")
    try:
        assert p1._space is None and not p1._one_space and p1._mixed is None
        assert p2._one_space and p2._mixed is None
        assert not p3._one_space and p3._mixed is not None
        p3.set_time_level(0.1, 0.1, 1, None)
        ok, _, _ = p3.solve()
        assert ok
        a = p3.fields[0].u.x.array
        assert a.max() == pytest.approx(1.0) and 0.0 < a.min() < 1.0
    finally:
        p1.destroy()
        p2.destroy()
        p3.destroy()


def test_the_compiled_copies_between_fields_and_mixed_space_are_numpys():
    """MixedSpace.gather/scatter by the compiled loop (fem_cell.solvers.mixed.COPIES)
    move every value where numpy's indexing moves it, owned and ghost DOFs; without the
    module (``_copy_args`` None) numpy does."""
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_SELF, 9)
    V = fem.functionspace(msh, ("Lagrange", 1))
    fields = [Field(n, fem.Function(V)) for n in ("a", "b", "c")]
    rng = np.random.default_rng(3)
    for f in fields:
        f.u.x.array[:] = rng.standard_normal(f.u.x.array.size)
    values = [f.u.x.array.copy() for f in fields]
    space = MixedSpace.build(fields, MPI.COMM_SELF)
    assert space._copy_args is not None
    space.gather()
    w = space.w.x.array
    for v, m in zip(values, space.maps, strict=True):
        assert np.array_equal(w[m], v)
    assert np.all(np.isin(np.arange(w.size), np.concatenate(space.maps)))
    w[:] = rng.standard_normal(w.size)
    space.scatter()
    for f, m in zip(fields, space.maps, strict=True):
        assert np.array_equal(f.u.x.array, w[m])
    # the numpy path: the same
    numpy_space = MixedSpace.build(fields, MPI.COMM_SELF)
    numpy_space._copy_args = None
    numpy_space.w.x.array[:] = w
    for f in fields:
        f.u.x.array[:] = 0.0
    numpy_space.scatter()
    for f, m in zip(fields, space.maps, strict=True):
        assert np.array_equal(f.u.x.array, w[m])
