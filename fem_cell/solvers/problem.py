"""Compose physics blocks into one (possibly multi-field) transient nonlinear problem.

Every physics block provides two UFL forms (design principle 1):

* ``mass(u, udot, v)`` — linear in the time derivatives ``udot``: the ``M(u) u̇`` part;
* ``residual(u, v)`` — the steady residual ``G(u)``;

plus optionally ``dirichlet_bcs(spaces)`` and ``update(t)``.  ``u``, ``udot`` and ``v``
are dicts keyed by field name, so a block may couple several fields (e.g. protons
and potential) and a field may live on a sub-mesh (pass ``entity_maps``).

:class:`TransientProblem` builds, once,

    F_i = Σ_blocks  mass_i(u, u̇_h, v) + residual_i(u, v),
    u̇_h = c0 u + c1 uⁿ + c2 uⁿ⁻¹              (c_k: fem.Constants set per step)

which covers backward Euler and variable-step BDF2 without recompiling, and hands it
to a PETSc SNES Newton solver (MUMPS LU by default, or Krylov + AMG:
:mod:`fem_cell.solvers.linear`); on one rank, with the direct solver and the per-field
update test, to the same Newton iteration without SNES
(:mod:`fem_cell.solvers.newton`: the same iterates, bit for bit).  Several fields on
one mesh are assembled as one form on their mixed space: Newton runs on it on the
direct path in 1-D, and in 2-D when node-local fields are condensed out of the
factorisation (its Jacobian then stores only the entries that can be non-zero:
:mod:`fem_cell.solvers.condensed`,
:mod:`fem_cell.solvers.sparsity`); elsewhere Newton and its matrix are blocked (one
monolithic matrix holding only the coupled blocks) and only the residual is mixed
(:mod:`fem_cell.solvers.mixed` has the measurements).  The same
blocks give the small-signal operators ``∂G/∂u|u0`` and ``M(u0)`` through
:meth:`TransientProblem.linearised_forms`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, fem, ufl
from fem_cell.errors import ConvergenceError
from fem_cell.forms import Terms, constant, jacobian_form, lift_constants, vertex_quadrature
from fem_cell.solvers.banded import use_banded
from fem_cell.solvers.condensed import use_condensed
from fem_cell.solvers.linear import (
    KRYLOV_MAX_IT,
    KRYLOV_RTOL,
    LINEAR_SOLVERS,
    block_index_sets,
    direct_solver_options,
    iterative_options,
)
from fem_cell.solvers.local_assembly import LocalAssembler
from fem_cell.solvers.mixed import MixedResidual, MixedSpace
from fem_cell.solvers.newton import DirectNewton, NewtonView, SnesView
from fem_cell.solvers.packing import PackedCoefficients
from fem_cell.solvers.sparsity import compact_matrix, pattern_extensions


class PhysicsBlock(Protocol):
    """What a physics block provides (see module docstring)."""

    def mass(self, u: Mapping, udot: Mapping, v: Mapping): ...

    def residual(self, u: Mapping, v: Mapping): ...


@dataclass
class Field:
    """One unknown field.

    Args:
        name: key used by physics blocks.
        u: the unknown (its space may be on a sub-mesh).
        atol: absolute local time-error tolerance (field units, e.g. K).
        rtol: relative local time-error tolerance (–).
        newton_tol: if set (on any field of a problem), Newton converges when every
            such field's largest update ``max |δu|`` (field units, over all ranks) is
            at most this, after at least one iteration (scale-free per-field test; the
            SNES residual tolerances are then not used).  Fields without it are not
            tested.
        unit, meaning: what the field is (written into checkpoints; "" if not given).
    """

    name: str
    u: fem.Function
    atol: float = 1e-3
    rtol: float = 1e-6
    newton_tol: float | None = None
    unit: str = ""
    meaning: str = ""
    u_n: fem.Function = field(init=False)
    u_nm1: fem.Function = field(init=False)

    def __post_init__(self):
        V = self.u.function_space
        self.u_n = fem.Function(V, name=f"{self.name}_n")
        self.u_nm1 = fem.Function(V, name=f"{self.name}_nm1")
        self.u_n.x.array[:] = self.u.x.array
        self.u_nm1.x.array[:] = self.u.x.array

    @property
    def space(self) -> fem.FunctionSpace:
        return self.u.function_space

    @property
    def n_owned(self) -> int:
        im = self.space.dofmap.index_map
        return im.size_local * self.space.dofmap.index_map_bs


def collect_garbage(comm, *, freeze: bool = False) -> None:
    """Collect unreachable Python objects, then destroy the PETSc objects they held
    (collective on ``comm``).  Call it after explicitly destroyed solvers are dropped, on
    every rank at the same point (a study case, a calibration point).

    ``freeze``: then move what survived the collection (modules, JIT caches, the
    caller's own data) to the garbage collector's permanent generation
    (``gc.freeze``), so that the next collection scans only what was made since.  A
    full collection of a process that has run 1-D calibration cases took 33–44 ms of a
    0.3–0.4 s case on this project's machine; after a freeze 0.6 ms
    (docs/architecture.md).  The loop that freezes unfreezes when it
    ends (``gc.unfreeze()``: a frozen object that later becomes part of a garbage
    cycle is only collected after that)."""
    import gc

    gc.collect()
    if freeze:
        gc.freeze()
    PETSc.garbage_cleanup(comm)


def _weak_callback(problem, method: str, gone):
    """A PETSc callback calling ``problem.<method>`` through a weak reference (``gone``
    is returned once the problem is collected).  A bound method would make the PETSc
    object and the problem keep each other alive, leaking every case's mesh and
    communicators in a study (MPICH runs out of communicators after ~100 cases)."""
    import weakref

    ref = weakref.ref(problem)

    def callback(*args):
        p = ref()
        if p is None:  # pragma: no cover - the problem is gone
            return gone
        return getattr(p, method)(*args)

    return callback


def _enum_name(enum, value) -> str:
    """The name of a petsc4py enumeration's ``value`` (e.g. a PC's failed reason)."""
    return next((k for k in dir(enum) if k.isupper() and getattr(enum, k) == value),
                str(value))


def _assemble_jacobian(x, J, P, *, u, jacobian, preconditioner, bcs, packed=None) -> None:
    """dolfinx's ``assemble_jacobian`` for a solution vector that is the array of ``u``
    itself (no copy of ``x`` into ``u``); ``packed``: the Jacobian's
    :class:`~fem_cell.solvers.packing.PackedCoefficients` (None: dolfinx packs)."""
    from dolfinx.fem.petsc import assemble_matrix
    from dolfinx.la.petsc import _ghost_update

    _ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
    J.zeroEntries()
    assemble_matrix(J, jacobian, bcs, diag=1.0, coeffs=None if packed is None else packed())
    J.assemble()
    if preconditioner is not None:
        P.zeroEntries()
        assemble_matrix(P, preconditioner, bcs, diag=1.0)
        P.assemble()


class TransientProblem:
    """Fields + physics blocks → one nonlinear problem per time step.

    Args:
        fields: the unknowns.
        blocks: physics blocks contributing forms.
        time: fem.Constant holding the time of the new level (s); blocks may use it.
        prefix: unique PETSc options prefix (e.g. ``"fem_cell_heat_"``).
        petsc_options: extra PETSc options (override the defaults).
        newton_rtol: SNES relative residual tolerance.
        newton_atol: SNES absolute tolerance on the (scaled) residual norm; it must sit
            above the round-off floor eps·‖J‖·‖u‖ of the blocks' scaled residuals.
        newton_stol: SNES tolerance on the Newton update relative to the solution.
        newton_max_it: SNES iteration limit.
        entity_maps: dolfinx EntityMaps for fields on sub-meshes.
        linear_solver: ``"direct"`` (LU, or the ``pc_type`` of ``petsc_options``) or
            ``"iterative"`` (:func:`fem_cell.solvers.linear.iterative_options`; the
            direct-only entries of ``petsc_options`` are then not applied).
        symmetric: the Jacobian is symmetric positive definite (iterative: CG).
        splits: iterative, several fields: split name → field names of a
            multiplicative field-split preconditioner (in solve order); None: one AMG
            on the whole operator.
        schur: iterative, two ``splits``: eliminate the first split by a Schur
            complement; ``schur(u, udot, v)`` returns the residual of the second
            split's equations with the first split's fields eliminated, whose Jacobian
            (assembled with every Jacobian) preconditions that Schur complement
            (:func:`fem_cell.solvers.linear.iterative_options`).
        local_splits: iterative: the ``splits`` preconditioned by ILU(0) on
            overlapping rank blocks instead of AMG
            (:func:`fem_cell.solvers.linear.local_options`).
        jacobian_lag, jacobian_reuse: the Jacobian policy (:meth:`_jacobian_due`).
        nodal: node-local fields → their partner field: the field's equations couple
            each DOF only to itself and to the partner's DOF at the same node (lumped
            mass and a nodal reaction, e.g. a trapped fraction).  Direct path, several
            fields, sparse solver: they and the Dirichlet DOFs are eliminated before the
            factorisation (:mod:`fem_cell.solvers.condensed`; the same Newton updates);
            an empty mapping eliminates the Dirichlet DOFs only; None (the default):
            no condensation.
    """

    #: ``petsc_options`` keys that configure the direct solver only
    DIRECT_ONLY = ("pc_type", "pc_factor_mat_solver_type", "ksp_type")
    #: problems built while this is True run Newton without SNES where they can
    #: (:attr:`direct_newton`; False: SNES everywhere, to compare the two)
    DIRECT_NEWTON = True

    def __init__(self, fields: Sequence[Field], blocks: Sequence[PhysicsBlock], *,
                 time: fem.Constant, prefix: str, petsc_options: Mapping | None = None,
                 newton_rtol: float = 1e-10, newton_atol: float = 1e-8,
                 newton_stol: float = 1e-12, newton_max_it: int = 25, entity_maps=None,
                 linear_solver: str = "direct", symmetric: bool = False,
                 splits: Mapping[str, Sequence[str]] | None = None, schur=None,
                 local_splits: Sequence[str] = (), jacobian_lag: int = 1,
                 jacobian_reuse: bool = False, nodal: Mapping[str, str] | None = None):
        if not fields:
            raise ValueError("a problem needs at least one field")
        if linear_solver not in LINEAR_SOLVERS:
            raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, "
                             f"got {linear_solver!r}")
        if int(jacobian_lag) != jacobian_lag or jacobian_lag < 1:
            raise ValueError(f"jacobian_lag must be an integer >= 1, got {jacobian_lag!r}")
        if jacobian_reuse and linear_solver != "direct":
            raise ValueError("jacobian_reuse needs the direct solver (a Krylov solve on an "
                             "old operator is not a modified Newton step)")
        if jacobian_reuse and all(f.newton_tol is None for f in fields):
            raise ValueError("jacobian_reuse needs the per-field Newton update test (a "
                             "Field.newton_tol): it measures the contraction on an old "
                             "Jacobian")
        #: Jacobian policy (see :meth:`_jacobian_due`): re-assembled every
        #: ``jacobian_lag``-th iteration of a solve, and whether a solve may start on
        #: the factorised Jacobian of an earlier one
        self.jacobian_lag = int(jacobian_lag)
        self.jacobian_reuse = bool(jacobian_reuse)
        self._new_run_state()
        self.linear_solver = linear_solver
        self.fields = list(fields)
        self.blocks = list(blocks)
        #: blocks with coefficients derived from other fields (e.g. the transport's
        #: nodal rates of the temperature): brought up to date before every assembly
        self._before_assembly = [b.before_assembly for b in self.blocks
                                 if hasattr(b, "before_assembly")]
        self.time = time
        self.prefix = prefix
        msh = self.fields[0].space.mesh
        self.coefficients = [constant(msh, 0.0) for _ in range(3)]
        #: views of the u̇ coefficients' and the time's values and of every field's
        #: arrays (now, previous, before previous) in dolfinx's storage, which never
        #: moves: the per-step writes skip dolfinx's property look-ups (about 3 µs
        #: each, several per step of a 1-D problem)
        self._coefficient_values = [np.asarray(c.value) for c in (*self.coefficients, time)]
        self._arrays = [(f.u.x.array, f.u_n.x.array, f.u_nm1.x.array) for f in self.fields]
        self.comm: MPI.Comm = msh.comm
        self._serial = self.comm.size == 1

        spaces = [f.space for f in self.fields]
        if len(spaces) == 1:
            tests = [ufl.TestFunction(spaces[0])]
        else:
            tests = list(ufl.TestFunctions(ufl.MixedFunctionSpace(*spaces)))
        self._u = {f.name: f.u for f in self.fields}
        self._v = {f.name: w for f, w in zip(self.fields, tests, strict=False)}
        udot = self._udot(self._u)
        #: the residual form of the fields (blocked by field), built when first needed:
        #: Newton on the fields' mixed space assembles the same equations written on it
        self._form: ufl.Form | None = None
        self.bcs = []
        space_map = {f.name: f.space for f in self.fields}
        for b in self.blocks:
            if hasattr(b, "dirichlet_bcs"):
                self.bcs.extend(b.dirichlet_bcs(space_map))

        opts = {"snes_type": "newtonls", "snes_linesearch_type": "none",
                "snes_rtol": newton_rtol, "snes_atol": newton_atol, "snes_stol": newton_stol,
                "snes_max_it": newton_max_it, "snes_error_if_not_converged": False}
        names = [f.name for f in self.fields]
        kept: dict[str, str] = {}
        self._splits: dict[str, list[int]] = {}
        if linear_solver == "direct":
            opts.update(direct_solver_options())
            opts.update(petsc_options or {})
        else:
            use_splits = splits if (splits and len(self.fields) > 1) else {}
            for split, members in use_splits.items():
                unknown = [m for m in members if m not in names]
                if unknown:
                    raise ValueError(f"split {split!r}: no field {unknown} (fields {names})")
            if schur is not None and use_splits and len(use_splits) != 2:
                raise ValueError("a Schur complement needs exactly two splits")
            schur = schur if use_splits else None
            it = iterative_options(symmetric=symmetric, splits=tuple(use_splits),
                                   schur=schur is not None,
                                   local=tuple(local_splits) if use_splits else ())
            it.update({k: v for k, v in (petsc_options or {}).items()
                       if k not in self.DIRECT_ONLY})
            # the split solvers are made at the first set-up, after dolfinx has removed
            # the options it was given: keep theirs in the database until destroy()
            kept = {k: v for k, v in it.items() if k.startswith("fieldsplit_")}
            opts.update({k: v for k, v in it.items() if k not in kept})
            self._splits = {k: [names.index(m) for m in v] for k, v in use_splits.items()}
        db = PETSc.Options()
        for k, v in kept.items():
            db[f"{prefix}{k}"] = v
        self._own_options = [f"{prefix}{k}" for k in (*opts, *kept)]
        from dolfinx.fem.forms import derivative_block
        from dolfinx.fem.petsc import NonlinearProblem
        from dolfinx.la.petsc import create_vector_wrap

        # iterative: the preconditioner matrix is the Jacobian with the vertex rule on
        # the cell integrals (an M-matrix for the thin films' stretched cells, on which
        # AMG works; fem_cell.forms.vertex_quadrature)
        iterative = linear_solver == "iterative"
        #: the fields' mixed space (None: one field, or fields that cannot share one),
        #: and whether Newton runs on it (direct solver: 1-D, or with node-local fields
        #: condensed; fem_cell.solvers.mixed)
        self._space = MixedSpace.build(self.fields, self.comm, entity_maps)
        serial_1d = msh.topology.dim == 1 and self.comm.size == 1
        #: node-local fields and the Dirichlet DOFs are condensed out of the sparse
        #: direct solve (not under the band LU of a serial 1-D problem:
        #: fem_cell.solvers.condensed)
        condense = nodal is not None and not iterative and len(self.fields) > 1 and not serial_1d
        mixed_bcs = (self._space.conditions(self.bcs)
                     if self._space is not None and not iterative
                     and (msh.topology.dim == 1 or condense) else None)
        self._one_space = mixed_bcs is not None
        # the conditions of each field (a Newton iterate is given their values before the
        # solve, so the lifting of the residual is zero and is not assembled: see
        # _residual)
        self._field_bcs = [[bc for bc in self.bcs
                            if f.space._cpp_object.contains(bc.function_space)]
                           for f in self.fields]
        #: the conditions the residual applies: on the mixed space, per field (blocked),
        #: or the one field's
        self._newton_bcs = (mixed_bcs if self._one_space else
                            self._field_bcs if len(self.fields) > 1 else self.bcs)
        F = None if self._one_space else self.form
        if len(self.fields) == 1:
            P = derivative_block(vertex_quadrature(F), self.fields[0].u) if iterative else None
            self._problem = NonlinearProblem(F, self.fields[0].u, bcs=self.bcs, P=P,
                                             J=jacobian_form(F, self.fields[0].u),
                                             petsc_options_prefix=prefix, petsc_options=opts,
                                             entity_maps=entity_maps)
        elif self._one_space:
            u, v = self._space.components()
            F = lift_constants(self._weak_form(u, v))
            self._problem = NonlinearProblem(F, self._space.w, bcs=self._newton_bcs,
                                             J=jacobian_form(F, self._space.w),
                                             petsc_options_prefix=prefix, petsc_options=opts)
        else:
            Fs = ufl.extract_blocks(F)
            P = (derivative_block(ufl.extract_blocks(vertex_quadrature(F)),
                                  [f.u for f in self.fields]) if iterative else None)
            # kind None: one monolithic (blocked) AIJ matrix and vector.  dolfinx 0.10+
            # passes ``kind`` on as the PETSc Mat type; "mpi" is a Vec type only, and a
            # sub-matrix extraction (field split) failed on "Unknown Mat type given: mpi"
            self._problem = NonlinearProblem(Fs, [f.u for f in self.fields], bcs=self.bcs,
                                             P=P, kind=None, petsc_options_prefix=prefix,
                                             petsc_options=opts, entity_maps=entity_maps)
        #: the band LU of a serial 1-D problem (fem_cell.solvers.banded; None: the
        #: sparse direct solver, or the iterative path)
        self._banded = None
        self._newton: DirectNewton | None = None      # (set below)
        #: the sparse direct solver's name (direct path; e.g. "mumps")
        self._sparse_solver = opts.get("pc_factor_mat_solver_type")
        if linear_solver == "direct" and msh.topology.dim == 1 and self.comm.size == 1:
            fallback = ("pc_type", "pc_factor_mat_solver_type")
            self._banded = use_banded(self.snes.getKSP().getPC(),
                                      {k: opts[k] for k in fallback if k in opts})
        #: whether the Jacobian matrix stores only the entries that can be non-zero
        #: (fem_cell.solvers.sparsity: the lumped couplings and the pinned inactive DOFs
        #: of several fields are structural zeros).  Under the band LU, and under the
        #: condensed solve (MUMPS then factorises the condensed system, not the compact
        #: matrix: on the compact matrix itself Newton diverged (1 rank) or stalled (2
        #: ranks) at a step of the default 2-D anneal that it converges in 6 iterations
        #: on dolfinx's pattern, docs/architecture.md); Newton on the mixed space, whose
        #: element couples every pair of fields in every cell, needs it.  (A band too
        #: wide for the band LU falls back to the sparse solver on the compact matrix:
        #: not met by the built-in cell, not measured.)
        self._compactable = ((self._banded is not None or (condense and self._one_space))
                             and len(self.fields) > 1)
        self.compact_jacobian = self._compactable and self._compact_jacobian()
        #: the condensed direct solve (fem_cell.solvers.condensed; None: not used)
        self._condensed = self._use_condensed(nodal, opts) if condense else None
        self._extensions: int | None = None
        self._schur_matrix = None
        if linear_solver == "iterative":
            self.snes.getKSP().setConvergenceTest(
                _weak_callback(self, "_krylov_test", PETSc.KSP.ConvergedReason.DIVERGED_NULL))
        if kept:
            A = self._problem.A
            sets = block_index_sets([f.n_owned for f in self.fields], self._splits,
                                    A.getOwnershipRange()[0], self.comm)
            pc = self.snes.getKSP().getPC()
            pc.setFieldSplitIS(*sets)
            for _, iset in sets:
                iset.destroy()
            if schur is not None:
                self._setup_schur(schur, udot, list(use_splits.values())[1], pc)
        self.entity_maps = entity_maps
        #: a blocked problem's residual as one form on the fields' mixed space (None:
        #: one field, Newton on the mixed space, or fields that cannot share one)
        self._mixed = (MixedResidual(self._space, self._weak_form)
                       if self._space is not None and not self._one_space else None)
        self._max_it = newton_max_it
        #: the function whose array *is* SNES's solution vector (one field, or Newton on
        #: the mixed space): SNES's updates land in it and the callbacks read it without
        #: dolfinx's copies between the two (three per solve and one per residual and
        #: Jacobian; 1-D transport profile: 15 µs each of a 73 µs residual).  None: a
        #: blocked problem, whose vector is a concatenation of the fields' (copied), or
        #: a line search other than the full step (it evaluates the residual at trial
        #: points while it still needs the iterate, which would then be overwritten).
        full_step = self.snes.getLineSearch().getType() in ("basic", "none")
        alias = (None if not full_step else self.fields[0].u if len(self.fields) == 1 else
                 self._space.w if self._one_space else None)
        self._alias = alias
        self._alias_array = alias.x.array if alias is not None else None
        self._x = create_vector_wrap(alias.x) if alias is not None else None
        self._x_handle = self._x.handle if self._x is not None else None
        self.snes.setFunction(_weak_callback(self, "_residual", None), self._problem.b)
        #: the residual's and the Jacobian's coefficients packed by one gather (one
        #: form each: fem_cell.solvers.packing; None: dolfinx packs them)
        single = isinstance(self._problem.F, fem.Form)
        self._packed_residual = PackedCoefficients(self._problem.F) if single else None
        self._packed_jacobian = (PackedCoefficients(self._problem.J)
                                 if single and isinstance(self._problem.J, fem.Form) else None)
        self._wrap_jacobian()
        #: one form, the iterate aliased, a direct solve: the residual and the Jacobian
        #: assembled by a compiled loop over the forms' kernels, on any number of ranks
        #: (fem_cell.solvers.local_assembly; None: by dolfinx)
        self._local_residual = self._local_jacobian = None
        #: why not (None: they are), for solver_counts
        self.local_assembly_reason: str | None = "not a one-form direct solve"
        if (self._packed_jacobian is not None and self._x is not None
                and linear_solver == "direct"):
            self._use_local_assembly()
        #: the look-ahead update of the Newton test (direct solver only; see
        #: _update_convergence_test)
        self._ahead = None
        #: each owned entry's Newton tolerance in the update vector (inf: a field without
        #: one); a field's entries are a slice of the blocked layout, or its DOFs in the
        #: mixed space
        offsets = np.cumsum([0] + [f.n_owned for f in self.fields])
        where = (self._space.owned if self._one_space else
                 [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:], strict=True)])
        self._update_tol = np.full(int(offsets[-1]), np.inf)
        for f, index in zip(self.fields, where, strict=True):
            if f.newton_tol is not None:
                self._update_tol[index] = f.newton_tol
        if any(f.newton_tol is not None for f in self.fields):
            if linear_solver == "direct":
                self._ahead = self._problem.x.duplicate()
            # a weak reference: a bound method would make the SNES and this problem keep
            # each other alive, leaking every case's mesh and communicators in a study
            # (MPICH runs out of communicators after ~100 cases)
            self.snes.setConvergenceTest(_weak_callback(
                self, "_update_convergence_test",
                PETSc.SNES.ConvergedReason.DIVERGED_FUNCTION_DOMAIN))
        #: Newton's iteration without SNES (:mod:`fem_cell.solvers.newton`: the same
        #: iterates, bit for bit): one rank, the direct solver (a KSP that only applies
        #: its preconditioner: not, e.g., iterative refinement given in
        #: ``petsc_options``), the iterate aliased (the full step) and the per-field
        #: update test; None: SNES's.  The callbacks hold this problem weakly, as
        #: SNES's do.
        ksp = self.snes.getKSP()
        if (self._serial and self._ahead is not None and self._x is not None
                and ksp.getType() == PETSc.KSP.Type.PREONLY and self._plain_newton()):
            gone = PETSc.SNES.ConvergedReason.DIVERGED_FUNCTION_DOMAIN
            self._newton = DirectNewton(
                ksp.getPC(), self._x, self._problem.b, self._problem.A,
                residual=_weak_callback(self, "_residual_at", None),
                jacobian=_weak_callback(self, "_jacobian_at", False),
                test=_weak_callback(self, "_newton_test", gone),
                max_it=self.snes.getTolerances()[3])
        #: whether a solve runs :attr:`_newton` (when there is one) or SNES: the same
        #: iterates; False compares the two (tests, ``scripts/bench_transport.py``)
        self.direct_newton = self._newton is not None and self.DIRECT_NEWTON

    #: the SNES options DirectNewton takes as SNES does (the type, the full step) or
    #: that do not bear on its iteration (the update test replaces SNES's tolerances);
    #: any other ``snes_`` option of this problem (``petsc_options``, or the options
    #: database under its prefix, e.g. ``snes_lag_jacobian``, a monitor) keeps SNES
    DIRECT_NEWTON_SNES_OPTIONS = frozenset({
        "snes_type", "snes_linesearch_type", "snes_rtol", "snes_atol", "snes_stol",
        "snes_max_it", "snes_error_if_not_converged", "snes_force_iteration"})

    def _plain_newton(self) -> bool:
        """Whether SNES is configured as the full-step Newton DirectNewton writes out:
        ``newtonls`` and no ``snes_`` option beyond :attr:`DIRECT_NEWTON_SNES_OPTIONS`."""
        if self.snes.getType() != PETSc.SNES.Type.NEWTONLS:
            return False
        n = len(self.prefix)
        return not any(k[n:].startswith("snes_") and k[n:] not in self.DIRECT_NEWTON_SNES_OPTIONS
                       for k in PETSc.Options().getAll() if k.startswith(self.prefix))

    @property
    def newton_vector(self) -> PETSc.Vec:
        """The vector Newton iterates on (the iterate's own array when aliased, else
        SNES's solution vector, which exists once SNES has solved)."""
        return self._x if self._x is not None else self.snes.getSolution()

    def _use_local_assembly(self) -> None:
        """Build the compiled residual and Jacobian loops, each checked against
        dolfinx's assembly at construction (either unusable: dolfinx assembles both)."""
        p = self._problem
        A = self.snes.getJacobian()[0]
        residual = LocalAssembler(p.F, self._packed_residual)
        jacobian = (LocalAssembler(p.J, self._packed_jacobian, self._newton_bcs, matrix=A)
                    if residual.usable else None)
        if jacobian is None or not jacobian.usable:
            self.local_assembly_reason = (residual if jacobian is None else jacobian).reason
            return
        self._local_residual, self._local_jacobian = residual, jacobian
        self.local_assembly_reason = None

    def _compact_jacobian(self) -> bool:
        """Replace dolfinx's Jacobian matrix by one that stores only the entries that
        can be non-zero (:func:`fem_cell.solvers.sparsity.compact_matrix`; the same
        values, a narrower band for the band LU).  Returns whether it did."""
        J, _, (_, _, kwargs) = self.snes.getJacobian()
        new = compact_matrix(J, kwargs["jacobian"], kwargs["bcs"])
        if new is None:
            return False
        self._swap_jacobian(new)
        return True

    def _swap_jacobian(self, new: PETSc.Mat) -> None:
        """Make ``new`` the Jacobian matrix (and its preconditioner matrix); the old one
        is destroyed after ``new`` exists, so that no cache keyed by a matrix's handle
        (the compiled loop's, the band LU's) can take ``new`` for it."""
        J, _, (func, args, kwargs) = self.snes.getJacobian()
        self.snes.setJacobian(func, new, new, args=args, kargs=kwargs)
        self._problem._A = new  # dolfinx's NonlinearProblem keeps (and destroys) it here
        if self._newton is not None:
            self._newton.set_matrix(new)
        J.destroy()

    def _renew_compact_jacobian(self) -> None:
        """A compact Jacobian's pattern found again, at the current values, on a new
        matrix, as :meth:`__init__` found it (:func:`~fem_cell.solvers.sparsity.compact_matrix`
        on dolfinx's matrix of the Jacobian form).  The entries it finds are those
        non-zero at random perturbations of the current values, so the pattern may
        differ from state to state by an entry that vanishes (the default 1-D anneal's
        transport: 992 entries at 25 °C, 988 at 26.25 °C), and a run may have extended
        it: the direct solver's ordering, and with it the round-off, then follow the
        pattern.  Collective."""
        if not self._compactable:
            return
        from dolfinx.fem.petsc import create_matrix

        full = create_matrix(self._problem.J)   # (kind None, as NonlinearProblem made it)
        _, _, (_, _, kwargs) = self.snes.getJacobian()
        new = compact_matrix(full, kwargs["jacobian"], kwargs["bcs"])
        self.compact_jacobian = new is not None
        if new is None:         # (as __init__ would: dolfinx's matrix)
            self._swap_jacobian(full)
            return
        full.destroy()
        self._swap_jacobian(new)

    def pattern_extensions(self) -> int:
        """Entries PETSc had to add to a compact Jacobian's pattern (0: it held every
        non-zero; :func:`fem_cell.solvers.sparsity.pattern_extensions`; collective
        before :meth:`destroy`, the count at destroy after it)."""
        if not self.compact_jacobian:
            return 0
        if self._extensions is not None:
            return self._extensions
        return pattern_extensions(self._problem.A)

    @property
    def form(self) -> ufl.Form:
        """The residual form of the fields (blocked by field), its float literals lifted
        into constants (one compiled kernel per structure, :mod:`fem_cell.forms`)."""
        if self._form is None:
            self._form = lift_constants(self._weak_form(self._u, self._v))
        return self._form

    def _udot(self, u: Mapping) -> dict:
        """u̇_h = c0 u + c1 uⁿ + c2 uⁿ⁻¹ of each field (``u``: its UFL unknown)."""
        c0, c1, c2 = self.coefficients
        return {f.name: c0 * u[f.name] + c1 * f.u_n + c2 * f.u_nm1 for f in self.fields}

    def _weak_form(self, u: Mapping, v: Mapping) -> ufl.Form:
        """Σ_blocks mass(u, u̇_h, v) + residual(u, v)."""
        udot = self._udot(u)
        F = Terms()
        for b in self.blocks:
            F += b.mass(u, udot, v)
            F += b.residual(u, v)
        form = F.form()
        if form is None:
            raise ValueError("the physics blocks produced no forms")
        return form

    def _residual(self, snes, x, b, refresh: bool = True) -> None:
        """The residual at ``x`` into ``b`` (the SNES function).

        dolfinx's ``assemble_residual`` less the lifting ``b −= J (g − x)``: :meth:`solve`
        starts Newton from an iterate that holds every Dirichlet value g, and each Newton
        update is zero on those DOFs (their residual rows are x − g = 0), so every iterate
        holds them and the lifting is exactly zero — yet assembling it packed every
        Jacobian block's coefficients and cost half of each residual evaluation (1-D
        anneal profile: 0.78 s of 1.51 s).  The residual rows of the constrained DOFs
        are still set to x − g, as dolfinx does.  Several fields on one mesh: the
        residual is one form on their mixed space (:mod:`fem_cell.solvers.mixed`).
        ``refresh``: bring the blocks' derived coefficients up to date first (False: the
        caller did, for the whole solve: :meth:`_solve_once` under DirectNewton).
        """
        self.residuals += 1
        if refresh:
            for before in self._before_assembly:
                before()
        local = self._local_residual
        if local is not None:
            # one form (fem_cell.solvers.local_assembly), read from the iterate's function;
            # one rank: no ghosts to update
            x_r = x.array_r
            u = self._problem.u.x
            if x.handle != self._x_handle:
                u.array[:x_r.size] = x_r
            if self._serial:
                local.vector(b.array_w)
            else:
                u.scatter_forward()
                with b.localForm() as b_local:
                    local.vector(b_local.array_w)
                b.ghostUpdate(PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
            b_w = b.array_w
            for bc in self._newton_bcs:
                bc._cpp_object.set(b_w, x_r, -1.0)
            if not self._serial:
                b.ghostUpdate(PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
            return
        from dolfinx.fem.petsc import assemble_vector, assign, set_bc
        from dolfinx.la.petsc import _ghost_update, _zero_vector

        _ghost_update(x, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)
        p = self._problem
        F = p.F
        blocked = isinstance(F, Sequence)
        if blocked:
            blocks = p.b.getAttr("_blocks")
            b.setAttr("_blocks", blocks)
            x.setAttr("_blocks", blocks)
        if self._mixed is not None:
            # the fields' functions are not used by the mixed form: dolfinx's Jacobian
            # callback and the end of the solve give them the iterate
            self._mixed.assemble(x, b)
        else:
            if x.handle != self._x_handle:   # not the alias of the iterate: copy
                assign(x, p.u)
            _zero_vector(b)
            assemble_vector(b, F, coeffs=None if self._packed_residual is None
                            else self._packed_residual())
            _ghost_update(b, PETSc.InsertMode.ADD, PETSc.ScatterMode.REVERSE)
        bcs = self._newton_bcs
        if bcs and not isinstance(bcs[0], Sequence):
            # dolfinx's set_bc, with the two arrays fetched once (it fetches b's per
            # condition: 5 µs of a 1-D residual with five conditions)
            b_w, x_r = b.array_w, x.array_r
            for bc in bcs:
                bc._cpp_object.set(b_w, x_r, -1.0)
        else:
            set_bc(b, bcs, x0=x, alpha=-1.0)
        _ghost_update(b, PETSc.InsertMode.INSERT, PETSc.ScatterMode.FORWARD)

    def _setup_schur(self, schur, udot, kept: Sequence[str], pc) -> None:
        """The Schur-complement preconditioner matrix (assembled with every Jacobian)."""
        from dolfinx.fem.petsc import create_matrix

        from fem_cell.forms import compile_form

        fields = [f for f in self.fields if f.name in kept]
        F = ufl.extract_blocks(vertex_quadrature(lift_constants(schur(self._u, udot, self._v))))
        index = {f.name: i for i, f in enumerate(self.fields)}
        trials = {f.name: ufl.TrialFunction(f.space) for f in fields}
        a = [[None if F[index[fi.name]] is None else
              ufl.algorithms.expand_derivatives(
                  ufl.derivative(F[index[fi.name]], fj.u, trials[fj.name]))
              for fj in fields] for fi in fields]
        a = [[None if b is None or b.empty() else b for b in row] for row in a]
        self._schur_form = compile_form(a)
        # matched as dolfinx matches a blocked problem's conditions to its fields
        self._schur_bcs = [bc for bc in self.bcs
                           if any(f.space._cpp_object.contains(bc.function_space) for f in fields)]
        self._schur_matrix = create_matrix(self._schur_form)
        pc.setFieldSplitSchurPreType(PETSc.PC.FieldSplitSchurPreType.USER, self._schur_matrix)

    def _wrap_jacobian(self) -> None:
        """SNES asks for the Jacobian at every iteration; :meth:`_jacobian_due` decides
        whether it is assembled (then the Schur-complement preconditioner matrix too).
        A Jacobian not re-assembled keeps its PETSc object state, so the factorisation
        of it is reused (PCSetUp does nothing for an unchanged operator)."""
        import weakref

        snes = self.snes
        J, P, (func, args, kwargs) = snes.getJacobian()
        ref = weakref.ref(self)

        def jacobian(snes, x, J, P, *args, **kwargs):
            p = ref()
            it = snes.getIterationNumber()
            if p is not None and not p._jacobian_due(it):
                return
            if p is not None:
                for refresh in p._before_assembly:
                    refresh()
            if p is not None and x.handle == p._x_handle:
                p._jacobian_at_alias(J, P, kwargs)
            else:
                func(snes, x, J, P, *args, **kwargs)
            if p is not None:
                p._after_jacobian(J, it)

        # dolfinx's arguments stay with the callback (snes.getJacobian() shows them)
        snes.setJacobian(jacobian, J, P, args=args, kargs=kwargs)

    def _residual_at(self, x, b) -> None:
        """:meth:`_residual` for :class:`~fem_cell.solvers.newton.DirectNewton` (the
        derived coefficients brought up to date once per solve, by :meth:`_solve_once`)."""
        self._residual(None, x, b, refresh=False)

    def _jacobian_at(self, it: int) -> bool:
        """The Jacobian for :class:`~fem_cell.solvers.newton.DirectNewton` at Newton
        iteration ``it``, as SNES's callback (:meth:`_wrap_jacobian`) assembles it at the
        aliased iterate (the derived coefficients up to date: :meth:`_solve_once`):
        assembled if due; returns whether it was."""
        if not self._jacobian_due(it):
            return False
        J = self._problem.A
        self._jacobian_at_alias(J, J, self.snes.getJacobian()[2][2])
        self._after_jacobian(J, it)
        return True

    def _jacobian_at_alias(self, J: PETSc.Mat, P: PETSc.Mat, kwargs: Mapping) -> None:
        """The Jacobian at the aliased iterate into ``J`` (``P``: its preconditioner
        matrix; ``kwargs``: dolfinx's Jacobian callback arguments): by the compiled loop,
        straight into PETSc's arrays, else dolfinx's assembly less the copy and its
        packing (also when a non-zero fell outside a compact pattern: PETSc extends it)."""
        if self._local_jacobian is None or not self._local_jacobian_at(J):
            _assemble_jacobian(self._x, J, P, packed=self._packed_jacobian, **kwargs)

    def _local_jacobian_at(self, J: PETSc.Mat) -> bool:
        """The compiled loop's Jacobian at the iterate (the function's own vector) into
        ``J``; False: a non-zero fell outside J's pattern (on some rank)."""
        if not self._serial:
            self._problem.u.x.scatter_forward()     # the ghosts of the iterate
        return self._local_jacobian.matrix(J)

    #: a solve starts on an earlier solve's Jacobian only if that Jacobian is at most
    #: this many solves old ...
    REUSE_MAX_AGE = 20
    #: ... the u̇ coefficient c0 (1/dt-like: the Jacobian's mass term) changed by at most
    #: this fraction since it was assembled ...
    REUSE_C0_CHANGE = 0.3
    #: ... and the last solve's Newton updates contracted by at most this ratio; within
    #: a solve started on an old Jacobian, a contraction above it re-assembles
    REUSE_RATE = 0.3

    def _jacobian_due(self, it: int) -> bool:
        """Whether Newton iteration ``it`` assembles (and factorises) a new Jacobian.

        Every ``jacobian_lag``-th iteration of a solve does (lag 1: full Newton),
        counted from the last assembly of this solve, or from its start.  At a solve's
        first iteration, with ``jacobian_reuse``, the factorised Jacobian of an earlier
        solve is kept instead (a modified Newton step, as the stiff ODE codes do
        across steps: CVODE, IDA) while it is young (:attr:`REUSE_MAX_AGE` solves), the
        time-step coefficient c0 moved little (:attr:`REUSE_C0_CHANGE`) and Newton
        contracted well on it (:attr:`REUSE_RATE`); a solve started on it that then
        contracts slowly re-assembles at once, and one that fails is repeated from its
        start on a new Jacobian (:meth:`solve`), so an old Jacobian costs iterations,
        never a rejected step.  Every input is global (iteration counts, c0, the
        all-reduced contraction), so every rank decides alike."""
        if it == 0:
            self._jac_fresh_it = None
            c0 = float(self._coefficient_values[0])
            self._old_start = (
                self.jacobian_reuse and self._jac_valid
                and self._jac_age <= self.REUSE_MAX_AGE and self._jac_c0 != 0.0
                and abs(c0 / self._jac_c0 - 1.0) <= self.REUSE_C0_CHANGE
                and self._last_solve_rate is not None
                and self._last_solve_rate <= self.REUSE_RATE)
            if self._old_start:
                self.jacobian_reuses += 1
            return not self._old_start
        if self._jac_fresh_it is None:  # on an earlier solve's Jacobian
            return self._solve_rate is not None and self._solve_rate > self.REUSE_RATE
        return it - self._jac_fresh_it >= self.jacobian_lag

    def _after_jacobian(self, J, it: int) -> None:
        """Bookkeeping after the Jacobian ``J`` was assembled at Newton iteration ``it``
        (and the Schur complement's preconditioner matrix assembled with it)."""
        from dolfinx.fem.petsc import assemble_matrix

        self.jacobians += 1
        self._jac_fresh_it = it
        self._jac_valid = True
        self._jac_age = 0
        self._jac_c0 = float(self._coefficient_values[0])
        S = self._schur_matrix
        if S is not None:
            S.zeroEntries()
            assemble_matrix(S, self._schur_form, bcs=self._schur_bcs, diag=1.0)
            S.assemble()

    def _krylov_test(self, ksp, its, rnorm):
        """Krylov convergence: the residual norm below ``KRYLOV_RTOL`` × its initial
        value (PETSc's test, counting the most iterations of one solve).  No absolute
        floor: one at 16 eps·‖J‖·‖u‖ stopped solves early enough to leave a 4e-5
        relative proton-balance error in a 1-D anneal (3e-10 without it, as direct)."""
        reasons = PETSc.KSP.ConvergedReason
        if not np.isfinite(rnorm):
            return reasons.DIVERGED_NANORINF
        if its == 0:
            self._rnorm0 = rnorm
        if rnorm <= KRYLOV_RTOL * self._rnorm0:
            self.krylov_max = max(self.krylov_max, its)
            return reasons.CONVERGED_RTOL
        if its >= KRYLOV_MAX_IT:
            return reasons.DIVERGED_MAX_IT
        return reasons.ITERATING

    def _worst_update(self, dx: np.ndarray) -> float:
        """Largest ``|δu| / newton_tol`` over the entries of the fields with a Newton
        tolerance, on this rank (``dx``: the owned entries of an update, in the blocked
        layout or on the mixed space; inf if any entry is not finite)."""
        if not dx.size:
            return 0.0
        m = float((np.abs(dx) / self._update_tol).max())
        return m if np.isfinite(m) else np.inf

    #: the look-ahead is tried when the update it predicts (this update × the last
    #: observed contraction) is at most this many times the tolerance
    LOOK_AHEAD_WITHIN = 100.0

    def _update_convergence_test(self, snes, it, norms):
        """SNES's convergence test: :meth:`_newton_test` on SNES's solve."""
        return self._newton_test(it, norms[2], SnesView(snes))

    def _newton_test(self, it: int, fnorm: float, view: NewtonView):
        """Per-field Newton test on the update (see :attr:`Field.newton_tol`), looking
        one update ahead.

        The update vector holds the owned DOFs of every field in order (blocked
        layout, or the single field's owned DOFs).  ``fnorm`` is the residual's norm
        (tested for being finite) and ``view`` the solve in progress (SNES's, or
        :class:`~fem_cell.solvers.newton.DirectNewton`'s: the same iteration).  After
        iteration ``it`` ≥ 1, the solver holds the residual F(u_it) of the new
        iterate, and the factorisation of the
        Jacobian it last used: the next Newton update δ = J⁻¹ F(u_it) then costs one
        back-substitution (direct solver).  If δ passes the test, u_it − δ is taken
        and Newton stops there: SNES would have computed the same δ in its next
        iteration and then assembled the residual at u_it − δ only to test it, so
        every solve saves one residual evaluation (and, when that iteration was due a
        new Jacobian under ``jacobian_lag``, a Jacobian and its factorisation).
        The test is unchanged (the size of the update), and the state is the one SNES's
        next iteration would have reached (on the Jacobian at hand, where SNES would
        have used a new one if it was due: the two differ by less than the tolerance);
        the update taken counts as an iteration.

        A look-ahead that fails is SNES's next solve: the direct solver's context
        remembers it (:class:`~fem_cell.solvers.linear.RepeatedSolve`) and answers
        SNES's solve of the same right-hand side without a second back-substitution.
        It is wasted only when a new Jacobian is due in between (the context then
        forgets it), so it is tried only when this update times the last observed
        contraction ratio of Newton's updates is within :attr:`LOOK_AHEAD_WITHIN` of
        the tolerance; all inputs of that choice are all-reduced, so every rank makes it
        alike, and it changes the cost, never the state.  The iterative path does not
        look ahead (a Krylov solve is not a back-substitution).  Measured:
        docs/architecture.md.
        """
        reasons = PETSc.SNES.ConvergedReason
        if not np.isfinite(fnorm):
            return reasons.DIVERGED_FUNCTION_NANORINF
        if it == 0:
            self._last_update = None
            return reasons.ITERATING
        worst = self._allreduce(self._worst_update(view.update()), op=MPI.MAX)
        if not np.isfinite(worst):
            return reasons.DIVERGED_FUNCTION_NANORINF
        if self._last_update is not None and self._last_update > 0:
            self._note_rate(it - 1, worst / self._last_update)
        self._last_update = worst
        if worst <= 1.0:
            return reasons.CONVERGED_SNORM_RELATIVE
        ahead = self._ahead
        # the contraction to expect: this solve's last one, or at its first iteration
        # the first one of the previous solve
        rate = self._rate if it > 1 else self._first_rate
        if ahead is not None and worst * rate <= self.LOOK_AHEAD_WITHIN:
            memory = self._solve_memory
            if memory is not None:  # a failed look-ahead is SNES's next solve: kept
                memory.remember_next()
            solved = view.look_ahead(ahead)
            self.look_aheads += 1
            next_worst = self._allreduce(
                self._worst_update(ahead.getArray(readonly=True)) if solved else np.inf,
                op=MPI.MAX)
            if np.isfinite(next_worst) and worst > 0:
                self._note_rate(it, next_worst / worst)
            if next_worst <= 1.0:
                if memory is not None:
                    memory.forget()
                view.take(ahead)
                self._ahead_taken = True
                return reasons.CONVERGED_SNORM_RELATIVE
        if it >= self._max_it:
            return reasons.DIVERGED_MAX_IT
        return reasons.ITERATING

    def _allreduce(self, value, op):
        """``self.comm.allreduce``, skipped on one rank (2 µs a call, three per 1-D step)."""
        return value if self._serial else self.comm.allreduce(value, op=op)

    @property
    def _solve_memory(self):
        """The direct solver's context that remembers a look-ahead's solve
        (:class:`~fem_cell.solvers.linear.RepeatedSolve`: the condensed or the band LU),
        or None (the sparse solver alone, or the iterative path)."""
        return self._condensed if self._condensed is not None else self._banded

    def _note_rate(self, it: int, ratio: float) -> None:
        """Record the contraction |δ_(it+1)| / |δ_it| of Newton's updates."""
        ratio = min(max(ratio, 1e-12), 1.0)
        self._rate = self._solve_rate = ratio
        if it == 1:
            self._first_rate = ratio

    def solver_counts(self) -> dict:
        """Linear solver, Newton iterations, Jacobians assembled, and (direct) the
        factorisation used (``"band LU"``: :mod:`fem_cell.solvers.banded`, else the
        sparse solver's name, e.g. ``"mumps"``; with the condensed LU, the unknowns it
        factorises and MUMPS's factor entries and flops per rank,
        :attr:`~fem_cell.solvers.condensed.CondensedLU.factor_stats`; with the
        look-ahead of the Newton test,
        the look-aheads tried and the solves answered from the one remembered
        (:class:`~fem_cell.solvers.linear.RepeatedSolve`); with ``jacobian_reuse``, the
        solves started on an earlier solve's Jacobian and those repeated on a new one) or
        (iterative) Krylov iterations in total, per Newton iteration and at most in one
        solve, over every solve so far."""
        out = {"linear_solver": self.linear_solver, "newton_iterations": self.newton_iterations}
        if self.linear_solver == "direct":  # (also after destroy(): no PETSc calls)
            banded = self._banded is not None and self._banded.banded
            out["factorisation"] = "band LU" if banded else self._sparse_solver
            out["compact_jacobian"] = self.compact_jacobian
            out["compiled_assembly"] = self._local_residual is not None
            if self._condensed is not None:
                out["factorised_unknowns"] = self._condensed.factorised
                out.update(self._condensed.factor_stats or {})
            memory = self._solve_memory
            if memory is not None and self._ahead is not None:
                out.update(look_aheads=self.look_aheads, solves_recalled=memory.repeats)
            if self.jacobian_reuse:
                out.update(jacobian_reuses=self.jacobian_reuses,
                           jacobian_retries=self.jacobian_retries)
        out["jacobians"] = self.jacobians
        if self.linear_solver == "iterative":
            out.update(krylov_iterations=self.linear_iterations,
                       krylov_per_newton=self.linear_iterations / max(self.newton_iterations, 1),
                       krylov_max=self.krylov_max)
        return out

    @property
    def snes(self):
        return self._problem.solver

    def destroy(self) -> None:
        """Destroy the PETSc objects (SNES with its KSP/MUMPS factor, matrices, vectors).

        Collective on the problem's communicator: call it on every rank, in the same
        order as the other problems of the run.  Left to the garbage collector,
        dolfinx destroys them in ``NonlinearProblem.__del__`` whenever a collection
        happens to run, at a different moment on each rank; a MUMPS factor's destroy is
        collective, so one rank then waits for the others forever (a finished
        ``mpirun -n 2`` run that never exited).  Idempotent.
        """
        p = self._problem
        if self.compact_jacobian and self._extensions is None:
            self._extensions = pattern_extensions(p.A)
        for obj in (p.solver, p.A, p.P_mat, p.b, p.x, self._schur_matrix, self._ahead,
                    self._x, self._newton):
            if obj is not None:
                obj.destroy()
        if self._mixed is not None:
            self._mixed.destroy()
        # the options this problem set (dolfinx 0.11 leaves the ones it was given in the
        # database, and a later problem with the same prefix, e.g. with the other linear
        # solver, would inherit them); a user's own (PETSC_OPTIONS) stay
        db = PETSc.Options()
        for k in self._own_options:
            db.delValue(k)
        self._own_options = []

    def _new_run_state(self) -> None:
        """The counters and the solves' memory of a problem just built (the one list of
        them: :meth:`__init__` and :meth:`reset` use it)."""
        #: residuals evaluated, Jacobians assembled (and factorised), solves started on
        #: an earlier solve's Jacobian, and solves repeated on a fresh one after failing
        #: on an old one
        self.residuals = self.jacobians = self.jacobian_reuses = self.jacobian_retries = 0
        #: the Jacobian policy's memory (see :meth:`_jacobian_due`)
        self._jac_valid = False
        self._jac_c0 = 0.0
        self._jac_age = 0
        self._jac_fresh_it: int | None = None
        self._old_start = False
        self._solve_rate: float | None = None
        self._last_solve_rate: float | None = None
        #: Newton and Krylov iterations summed over every solve, and the most Krylov
        #: iterations of one linear solve (diagnostics: :meth:`solver_counts`)
        self.newton_iterations = 0
        self.linear_iterations = 0
        self.krylov_max = 0
        #: why the last solve failed, when more is known than the SNES reason
        self.last_error: str | None = None
        #: the initial residual norm of the current Krylov solve (see _krylov_test)
        self._rnorm0 = 0.0
        #: whether the last solve ended on the Newton test's look-ahead update, the
        #: look-aheads tried (diagnostics), the last contraction ratio of the Newton
        #: updates and this solve's last update (both all-reduced; see
        #: _update_convergence_test)
        self._ahead_taken = False
        self.look_aheads = 0
        self._rate = self._first_rate = 1e-3
        self._last_update: float | None = None

    def reset(self) -> None:
        """Back to the state of a problem just built, for a new run on the same forms
        and solver objects (a kept model, :mod:`fem_cell.model.exposure`): the counters
        and the Jacobian policy's and Newton test's memory (:meth:`_new_run_state`), the
        direct solver's memory of a look-ahead, the u̇ coefficients and the time at 0,
        and each field's history set to its current values (as :class:`Field` does).
        The next solve assembles a new Jacobian, as a new problem's first solve does, on
        a matrix whose pattern is found at the current values as a new problem's is
        (:meth:`_renew_compact_jacobian`): set the fields' state first.  Collective.
        Used by the kept models of serial 1-D runs (band LU); the condensed solve (2-D)
        sets itself up again on the new matrix, and a reset 2-D problem steps as a new
        one (``tests/unit/test_condensed_lu.py``: bit for bit on one rank, to MUMPS's
        round-off on 2)."""
        self._new_run_state()
        self._renew_compact_jacobian()
        memory = self._solve_memory
        if memory is not None:
            memory.forget()
            memory.repeats = 0
        for v in self._coefficient_values:
            v[...] = 0.0
        for u, n, nm1 in self._arrays:
            n[:] = u
            nm1[:] = u

    # -- time levels ---------------------------------------------------------------------
    def set_time_level(self, t_new: float, dt: float, order: int, dt_prev: float | None) -> None:
        """Set the time, the u̇ coefficients (BE: order 1; BDF2: order 2) and BC data."""
        c0, c1, c2, time = self._coefficient_values
        if order == 1:
            c0[...], c1[...], c2[...] = 1.0 / dt, -1.0 / dt, 0.0
        elif order == 2:
            w = dt / dt_prev
            c0[...] = (1.0 + 2.0 * w) / ((1.0 + w) * dt)
            c1[...] = -(1.0 + w) / dt
            c2[...] = w * w / ((1.0 + w) * dt)
        else:
            raise ValueError(f"order must be 1 or 2, got {order}")
        time[...] = t_new
        for b in self.blocks:
            if hasattr(b, "update"):
                b.update(t_new)

    def solve(self) -> tuple[bool, int, int]:
        """Newton solve from the current iterate, given the Dirichlet values first (see
        :meth:`_residual`).  Returns (converged, iterations, reason); the look-ahead
        update of :meth:`_update_convergence_test` counts as an iteration.

        A solve that started on an earlier solve's Jacobian (:meth:`_jacobian_due`) and
        failed is repeated from the same iterate on a new Jacobian; the iterations of
        both count."""
        self._jac_age += 1
        start = self.get_state() if self.jacobian_reuse and self._jac_valid else None
        ok, its, reason = self._solve_once()
        if not ok and self._old_start and start is not None:
            self.jacobian_retries += 1
            self.set_state(start)
            ok, its2, reason = self._solve_once()
            its += its2
        return ok, its, reason

    def _solve_once(self) -> tuple[bool, int, int]:
        self._solve_rate = None
        self._old_start = False
        if self._one_space:
            self._space.gather()
            w = self._space._w_array
            for bc in self._newton_bcs:
                bc._cpp_object.set(w, None, 1.0)
        else:
            for f, bcs in zip(self.fields, self._field_bcs, strict=True):
                for bc in bcs:
                    bc.set(f.u.x.array)
        self._ahead_taken = False
        self.last_error = None
        newton = self._newton if self.direct_newton else None
        try:
            if newton is not None:
                # the blocks' derived coefficients (the transport's rates at the nodes'
                # temperatures) once for the whole solve: nothing changes what they
                # derive from while Newton iterates (SNES's callbacks check at every
                # assembly, and find nothing changed)
                for before in self._before_assembly:
                    before()
                newton.solve()
            elif self._x is not None:
                self.snes.solve(None, self._x)
                if not self._serial:
                    self._alias.x.scatter_forward()
            else:
                self._problem.solve()
        except RuntimeError as e:  # e.g. a factorisation failure inside PETSc
            if self._condensed is not None and self._condensed.error is not None:
                raise self._condensed.error from e   # a programming error, not a step's
            self.last_error = str(e)
            self._jac_valid = False
            self._last_solve_rate = None
            its = newton.iterations if newton is not None else self.snes.getIterationNumber()
            return False, its, -99
        finally:
            if self._one_space:
                self._space.scatter()
        if newton is not None:
            reason, its = newton.reason, newton.iterations
            self.linear_iterations += its       # (one per solve, as KSP preonly counts)
        else:
            reason, its = self.snes.getConvergedReason(), self.snes.getIterationNumber()
            self.linear_iterations += self.snes.getLinearSolveIterations()
        if reason == PETSc.SNES.ConvergedReason.DIVERGED_LINEAR_SOLVE:
            self.last_error = self._linear_failure(newton)
        its += int(self._ahead_taken)
        self.newton_iterations += its
        finite = (bool(np.isfinite(self._alias_array).all()) if self._alias is not None
                  else all(np.all(np.isfinite(f.u.x.array)) for f in self.fields))
        ok = self._allreduce(bool(reason > 0 and finite), op=MPI.LAND)
        # the next solve may start on this Jacobian only if Newton converged and
        # contracted well on it (a converged solve without a measured contraction, one
        # or two iterations, contracted at once)
        self._last_solve_rate = (0.0 if self._solve_rate is None else self._solve_rate) \
            if ok else None
        if not ok:
            self._jac_valid = False
        return ok, its, reason

    def _use_condensed(self, nodal: Mapping[str, str], opts: Mapping[str, str]):
        """Make the Newton solve a :class:`~fem_cell.solvers.condensed.CondensedLU`."""
        names = [f.name for f in self.fields]
        pairs = {}
        for t, x in nodal.items():
            if t not in names or x not in names:
                raise ValueError(f"nodal field {t!r} or its partner {x!r} is not a field "
                                 f"(fields {names})")
            ft, fx = self.fields[names.index(t)], self.fields[names.index(x)]
            if not np.array_equal(ft.space.dofmap.list, fx.space.dofmap.list):
                raise ValueError(f"nodal field {t!r} and {x!r} do not share a dofmap")
            pairs[names.index(t)] = names.index(x)
        pinned = []
        for f, bcs in zip(self.fields, self._field_bcs, strict=True):
            dofs = [d[:n] for d, n in (bc.dof_indices() for bc in bcs)]
            local = np.unique(np.concatenate(dofs)) if dofs else np.zeros(0, np.int64)
            pinned.append(local[local < f.n_owned])
        if self._one_space:
            rows = self._space.owned
        else:
            offsets = np.cumsum([0] + [f.n_owned for f in self.fields])
            rows = [np.arange(a, b) for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
        keys = ("pc_type", "pc_factor_mat_solver_type")
        return use_condensed(self.snes.getKSP().getPC(), rows, pairs, pinned,
                             {k: opts[k] for k in keys if k in opts}, self.prefix)

    def _linear_failure(self, newton: DirectNewton | None = None) -> str:
        """Why the last linear solve failed: the KSP reason (under
        :class:`~fem_cell.solvers.newton.DirectNewton`, which has no KSP: the direct
        solver's failed reason) and the band LU's failure or, for MUMPS, its error code
        INFOG(1) and INFO(2) (e.g. −9: workspace too small after pivoting)."""
        ksp = self.snes.getKSP()
        text = (f"linear solve failed (KSP reason {ksp.getConvergedReason()})"
                if newton is None else
                f"linear solve failed (the direct solver's set-up: "
                f"{_enum_name(PETSc.PC.FailedReason, newton.pc_failure)})")
        if self._banded is not None and self._banded.failure:
            return f"{text}, {self._banded.failure}"
        try:
            F = (self._condensed.inner_factor() if self._condensed is not None
                 else ksp.getPC().getFactorMatrix())
            if F.getType() == "mumps":
                text += f", MUMPS INFOG(1) = {F.getMumpsInfog(1)}, INFO(2) = {F.getMumpsInfo(2)}"
        except Exception:  # noqa: BLE001 - no factor (iterative path): the KSP reason says it
            pass
        return text

    def solve_or_raise(self) -> int:
        ok, its, reason = self.solve()
        if not ok:
            raise ConvergenceError(f"{self.prefix}: Newton did not converge", reason)
        return its

    # -- state access for the stepper ------------------------------------------------------
    def begin(self, t0: float, lead=None) -> None:
        """The stepper starts at t0 (no sub-steps of its own: ``lead`` must be None)."""
        if lead is not None:
            raise ValueError(f"{self.prefix}: a sub-stepper state given to a problem "
                             "without sub-steps")

    def accept_step(self) -> None:
        """The last solve's step was accepted (nothing to keep: no sub-steps)."""
        return None

    def get_state(self) -> list[np.ndarray]:
        return [u.copy() for u, _, _ in self._arrays]

    def set_state(self, state: Sequence[np.ndarray]) -> None:
        for (u, _, _), a in zip(self._arrays, state, strict=False):
            u[:] = a

    def set_history(self, u_n: Sequence[np.ndarray], u_nm1: Sequence[np.ndarray]) -> None:
        for (_, n, nm1), a, b in zip(self._arrays, u_n, u_nm1, strict=False):
            n[:] = a
            nm1[:] = b

    def error_norm(self, state: Sequence[np.ndarray], reference: Sequence[np.ndarray],
                   factor: float) -> float:
        """max_i factor·|state−reference| / (atol + rtol·|state|), over owned DOFs, all ranks."""
        local = 0.0
        for f, a, b in zip(self.fields, state, reference, strict=False):
            n = f.n_owned
            err = factor * np.abs(a[:n] - b[:n]) / (f.atol + f.rtol * np.abs(a[:n]))
            if n:
                local = max(local, float(err.max()))
        return self.comm.allreduce(local, op=MPI.MAX)

    # -- small-signal operators ------------------------------------------------------------------
    def linearised_forms(self, drive=None):
        """Small-signal UFL forms at the current state (design principle 8).

        J = ∂G/∂u and M = ∂(mass)/∂u̇, both UFL derivatives of the blocks' own forms,
        M evaluated at u̇ = 0 (a steady operating point).  Several fields: the trial
        functions come from ``ufl.MixedFunctionSpace`` and the blocks are split with
        ``ufl.extract_blocks`` (zero blocks are ``None``).  The entity maps given to
        the constructor are kept in ``self.entity_maps`` for compiling these forms.

        Args:
            drive: optional ``(p, p_dot)``: two ``fem.Function`` coefficients (e.g. DG0)
                of a driving parameter and its rate (e.g. an electrode potential, V and
                V/s) that the blocks' residual and mass forms use.

        Returns:
            ``(J, M)``; with ``drive`` also ``(dG, dMass)``: the linear forms
            ∂G/∂p·1 and ∂(mass)/∂ṗ·1 (Gateaux derivatives in the direction p = 1).
            Single forms for one field, lists (of lists) for several.
        """
        for refresh in self._before_assembly:
            refresh()
        spaces = [f.space for f in self.fields]
        if len(spaces) == 1:
            trials = [ufl.TrialFunction(spaces[0])]
        else:
            trials = list(ufl.TrialFunctions(ufl.MixedFunctionSpace(*spaces)))
        udot = {f.name: fem.Function(f.space, name=f"{f.name}_dot") for f in self.fields}
        G = None
        Mass = None
        for b in self.blocks:
            r = b.residual(self._u, self._v)
            if r is not None:
                G = r if G is None else G + r
            m = b.mass(self._u, udot, self._v)
            if m is not None:
                Mass = m if Mass is None else Mass + m
        J = None
        M = None
        for f, du in zip(self.fields, trials, strict=True):
            dJ = ufl.derivative(G, f.u, du)
            J = dJ if J is None else J + dJ
            if Mass is not None:
                dM = ufl.derivative(Mass, udot[f.name], du)
                M = dM if M is None else M + dM
        J = ufl.algorithms.expand_derivatives(J)
        M = None if M is None else ufl.algorithms.expand_derivatives(M)
        out = [J, M]
        if drive is not None:
            p, pdot = drive
            one = fem.Function(p.function_space)
            one.x.array[:] = 1.0
            one_dot = fem.Function(pdot.function_space)
            one_dot.x.array[:] = 1.0
            dG = ufl.algorithms.expand_derivatives(ufl.derivative(G, p, one))
            dMass = (None if Mass is None else
                     ufl.algorithms.expand_derivatives(ufl.derivative(Mass, pdot, one_dot)))
            out += [dG, dMass]
        if len(self.fields) > 1:
            out = [None if a is None or a.empty() else ufl.extract_blocks(a) for a in out]
        else:
            out = [None if a is None or a.empty() else a for a in out]
        return tuple(out)
