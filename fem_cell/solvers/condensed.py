"""Static condensation of node-local unknowns and Dirichlet rows before a sparse LU.

Some unknowns of a coupled problem have equations that couple each degree of freedom
only to itself and to the same node's DOF of one other field: a trapped fraction x_t,
whose time derivative and trapping reaction are vertex-lumped (a nodal ODE driven by
the mobile fraction x at that node).  In the Newton system

    [ A  B ] [δy]   [r_y]          t: those node-local unknowns,
    [ C  D ] [δt] = [r_t]          y: the others,

D is then diagonal and C holds one entry per row (t_k couples to x_k), so δt can be
eliminated node by node:

    (A − B D⁻¹ C) δy = r_y − B D⁻¹ r_t,      δt = D⁻¹ (r_t − C δy).

The Schur complement S = A − B D⁻¹ C has A's sparsity pattern in the transport (B D⁻¹ C
only rescales the columns of B onto the partner field's columns, which A already
stores: x and x_t enter the same fluxes), so nothing fills in (a system where B D⁻¹ C
reaches outside A's pattern gets the union, found once).  Dirichlet DOFs (a row of the identity
and a zeroed column, as dolfinx assembles them: the pinned inactive DOFs of each
phase's proton field, the potential's gauge, the sink and surface values) are taken out
too: their update is their residual (a problem without node-local fields condenses
these alone).  The sparse direct solver (MUMPS) then orders and factorises S alone.

Exact: the same Newton update as LU on the whole system, up to round-off (tested
against it, also on 2 ranks).  Measured on the default 2-D transport Jacobian (226,548
unknowns, one rank, blocked layout): S has 113,417 unknowns and 2.0 M stored entries
(the whole matrix 4.0 M); MUMPS factorises it in 0.27 s instead of 0.74 s and solves in
0.027 s instead of 0.062 s; building S costs ≈ 0.03 s (docs/architecture.md).  dolfinx stores a full
cell stencil for the lumped equations and for the pinned DOFs (a zero-valued term gives
every DOF its diagonal), and the ordering sees those structural zeros as couplings:
that is what the condensation removes.

:class:`CondensedLU` is a PETSc ``python`` preconditioner context under ``ksp_type
preonly`` (an exact solve, like the direct solver it wraps).  It checks its assumption
at every factorisation: an entry of a t-row off the diagonal and off the partner's
column that is not exactly zero raises :class:`CondensationError` (the physics block
declared a field node-local that is not).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fem_cell._dolfinx import PETSc
from fem_cell.domain import min_max_over_ranks
from fem_cell.solvers.linear import RepeatedSolve

#: the attribute marking the operator matrix a :class:`CondensedLU` was set up on
_MARK = "fem_cell_condensed_lu"


class CondensationError(RuntimeError):
    """A field declared node-local has an equation coupling it to other nodes."""


class CondensedLU(RepeatedSolve):
    """PETSc ``python`` preconditioner: eliminate node-local unknowns and Dirichlet rows,
    then a sparse direct LU of what is left (see the module docstring).

    Args:
        rows: per field, the local matrix row of each of its owned DOFs (the blocked
            layout: field 0's DOFs, then field 1's, …; a mixed space: interleaved).
        nodal: field index → partner field index: the field's DOF i couples only to its
            own DOF i and to the partner's DOF i (same dofmap).
        pinned: per field, owned local indices of its Dirichlet DOFs.
        options: the sparse direct solver (``pc_type``, ``pc_factor_mat_solver_type``).
        prefix: options prefix of the inner solver (e.g. its MUMPS controls).
    """

    def __init__(self, rows: Sequence[np.ndarray], nodal: Mapping[int, int],
                 pinned: Sequence[np.ndarray], options: Mapping[str, str], prefix: str):
        super().__init__()
        rows = [np.asarray(r, dtype=np.int64) for r in rows]
        n = int(sum(len(r) for r in rows))
        is_pinned = np.zeros(n, dtype=bool)
        for r, dofs in zip(rows, pinned, strict=True):
            is_pinned[r[np.asarray(dofs, dtype=np.int64)]] = True
        t_rows, partners = [], []
        for t, x in sorted(nodal.items()):
            if len(rows[t]) != len(rows[x]):
                raise ValueError(f"field {t} and its partner {x} differ in owned DOFs")
            active = ~is_pinned[rows[t]]
            t_rows.append(rows[t][active])
            partners.append(rows[x][active])
        #: local rows: node-local unknowns (t), their partners, the others kept (y)
        self._t = np.concatenate(t_rows) if t_rows else np.zeros(0, dtype=np.int64)
        partner = np.concatenate(partners) if partners else np.zeros(0, dtype=np.int64)
        kept = ~is_pinned
        kept[self._t] = False
        self._y = np.flatnonzero(kept)
        self._pinned = np.flatnonzero(is_pinned)
        position = np.full(n, -1, dtype=np.int64)
        position[self._y] = np.arange(len(self._y))
        #: each t's partner: its position among the kept unknowns (-1: pinned)
        self._partner_y = position[partner]
        self._options = dict(options)
        self._prefix = prefix
        self._ready = False
        self._inner: PETSc.PC | None = None
        self._mats: dict[str, PETSc.Mat] = {}
        self._vecs: dict[str, PETSc.Vec] = {}
        self._d = self._c = self._diag_pinned = None
        self._comm = None
        self._is_y = self._is_t = None
        #: why the last factorisation failed (None: it did not)
        self.failure: str | None = None
        #: a broken assumption (the caller re-raises it: see TransientProblem.solve)
        self.error: CondensationError | None = None
        #: how many times the condensed system was set up from scratch (its pattern
        #: analysed): once, and again after the matrix's pattern grew or for another
        #: matrix
        self.rebuilds = 0
        self._mallocs = 0
        #: the mark left on the matrix last set up (a token: the matrix holds no
        #: reference to this context)
        self._token: object | None = None
        #: global number of unknowns the sparse solver factorises (set by use_condensed)
        self.factorised = 0
        #: MUMPS's factors of the condensed system, read at the first factorisation of
        #: each set-up (None: none yet, or another sparse solver): the entries stored in
        #: the factors on all ranks (INFOG(29)) and the flops of the elimination on the
        #: least and on the most loaded rank (RINFO(3)): the factorisation's balance
        #: across ranks (docs/scaling.md)
        self.factor_stats: dict[str, float] | None = None

    # -- PETSc python-PC interface ------------------------------------------------------
    def setUp(self, pc: PETSc.PC) -> None:  # noqa: N802 - PETSc's name
        self.forget()
        # a python PC's failed reason outlives its set-up: cleared, or one failed
        # factorisation failed every later solve (fem_cell.solvers.banded, the same)
        pc.setFailedReason(PETSc.PC.FailedReason.NOERROR)
        try:
            self._set_up(pc)
        except CondensationError as e:  # kept: PETSc reports a callback's error by code
            self.error = e
            raise

    def _set_up(self, pc: PETSc.PC) -> None:
        _, P = pc.getOperators()
        # an entry added outside the matrix's pattern (a compact Jacobian allocates it:
        # fem_cell.solvers.sparsity), or another matrix (a problem reset: its Jacobian's
        # pattern found again, TransientProblem.reset), changes the sub-matrices'
        # patterns: start again (reusing them raised PETSc error 101).  The matrix set up
        # is marked, not recognised by its handle: a new matrix can take a destroyed
        # one's address.  (Every rank sees the same matrix: no rank decides alone.)
        mallocs = P.getComm().tompi4py().allreduce(
            int(P.getInfo(PETSc.Mat.InfoType.LOCAL)["mallocs"]))
        if self._ready and (mallocs != self._mallocs or P.getAttr(_MARK) is not self._token):
            self._release()
        if not self._ready:
            self._build(P)
            self.factor_stats = None
            self._mallocs = mallocs
            self._token = object()      # (new for each set-up: A, then B, then A)
            P.setAttr(_MARK, self._token)
            self.rebuilds += 1
        m = self._mats
        P.createSubMatrix(self._is_y, self._is_y, submat=m["A"])
        P.createSubMatrix(self._is_y, self._is_t, submat=m["B"])
        P.createSubMatrix(self._is_t, self._is_t, submat=m["D"])
        P.createSubMatrix(self._is_t, self._is_y, submat=m["C"])
        self._d, self._c = self._node_local_entries()
        diag = P.getDiagonal()
        self._diag_pinned = diag.getArray(readonly=True)[self._pinned].copy()
        diag.destroy()
        # S = A − B D⁻¹ C: B's columns scaled by c/d, mapped onto the partners' columns
        scale = np.where(self._partner_y >= 0, self._c / self._d, 0.0)
        M = m["map0"].copy()
        v = self._vecs["t"]
        v.setArray(scale)
        M.diagonalScale(L=v)
        m["B"].matMult(M, result=m["BM"])
        M.destroy()
        subset = PETSc.Mat.Structure.SUBSET_NONZERO_PATTERN
        S = m["S"]
        if self._s_is_a:
            # A's values copied array to array (PETSc's axpy on a subset pattern goes row
            # by row through MatSetValues: 16-17 ms a time on the default 2-D transport,
            # on 1 rank and on 2); the same numbers as 0 + 1·a
            m["A"].copy(S, PETSc.Mat.Structure.SAME_NONZERO_PATTERN)
        else:
            S.zeroEntries()
            S.axpy(1.0, m["A"], subset)
        S.axpy(-1.0, m["BM"], subset)
        self.failure = None
        self._inner.setOperators(m["S"], m["S"])
        self._inner.setUp()
        reason = self._inner.getFailedReason()
        if reason != PETSc.PC.FailedReason.NOERROR:
            self.failure = f"sparse direct solver of the condensed system failed: reason {reason}"
            pc.setFailedReason(reason)
        elif self.factor_stats is None and self._options.get(
                "pc_factor_mat_solver_type") == "mumps":
            self.factor_stats = _mumps_stats(self._inner.getFactorMatrix(), self._comm)

    def apply(self, pc: PETSc.PC, r: PETSc.Vec, x: PETSc.Vec) -> None:
        if self.failure is not None:  # no factorisation: no solution (the KSP reports it)
            x.set(np.nan)
            return
        ra = r.getArray(readonly=True)
        if self._recall(self._comm, ra, x):
            return
        out = np.empty_like(ra)
        out[self._pinned] = ra[self._pinned] / self._diag_pinned
        # δt = D⁻¹ r_t − (c/d) δ_partner; a pinned partner's column is zero (dolfinx
        # zeroes a Dirichlet DOF's column), so its t has c = 0
        w = ra[self._t] / self._d
        vt, by, ry, xy = (self._vecs[k] for k in ("t", "by", "ry", "xy"))
        vt.setArray(w)
        self._mats["B"].mult(vt, by)
        ry.setArray(ra[self._y] - by.getArray(readonly=True))
        self._inner.apply(ry, xy)
        sol = xy.getArray(readonly=True)
        out[self._y] = sol
        free = self._partner_y >= 0
        w[free] -= self._c[free] / self._d[free] * sol[self._partner_y[free]]
        out[self._t] = w
        x.setArray(out)
        self._keep(ra, out)

    def destroy(self, pc: PETSc.PC) -> None:
        self._release()

    def _release(self) -> None:
        for obj in (self._inner, *self._mats.values(), *self._vecs.values(), self._is_y,
                    self._is_t):
            if obj is not None:
                obj.destroy()
        self._inner = None
        self._mats, self._vecs = {}, {}
        self._is_y = self._is_t = None
        self._ready = False

    def view(self, pc: PETSc.PC, viewer) -> None:
        viewer.printfASCII(f"  fem_cell CondensedLU: {self.factorised} unknowns factorised "
                           f"by {self._options.get('pc_factor_mat_solver_type')}\n")

    # -- internals ----------------------------------------------------------------------
    def _build(self, P: PETSc.Mat) -> None:
        comm = P.getComm()
        start, end = P.getOwnershipRange()
        if end - start != len(self._pinned) + len(self._t) + len(self._y):
            raise ValueError(f"{end - start} owned rows, the field layout has "
                             f"{len(self._pinned) + len(self._t) + len(self._y)}")
        self._comm = comm.tompi4py()
        self._is_y = PETSc.IS().createGeneral((start + self._y).astype(PETSc.IntType), comm=comm)
        self._is_t = PETSc.IS().createGeneral((start + self._t).astype(PETSc.IntType), comm=comm)
        ny, nt = len(self._y), len(self._t)
        y0 = comm.tompi4py().scan(ny) - ny
        t0 = comm.tompi4py().scan(nt) - nt
        self._y_start, self._t_start = y0, t0
        m = self._mats
        m["A"] = P.createSubMatrix(self._is_y, self._is_y)
        m["B"] = P.createSubMatrix(self._is_y, self._is_t)
        m["D"] = P.createSubMatrix(self._is_t, self._is_t)
        m["C"] = P.createSubMatrix(self._is_t, self._is_y)
        # the partner map: row k of t → column of its partner among the kept unknowns
        rows = np.flatnonzero(self._partner_y >= 0)
        indptr = np.zeros(nt + 1, dtype=PETSc.IntType)
        indptr[rows + 1] = 1
        indptr = np.cumsum(indptr).astype(PETSc.IntType)
        cols = (y0 + self._partner_y[rows]).astype(PETSc.IntType)
        m["map0"] = PETSc.Mat().createAIJ(((nt, None), (ny, None)), csr=(
            indptr, cols, np.ones(len(rows))), comm=comm)
        m["map0"].assemble()
        # S's pattern: A's and B D⁻¹ C's (the transport's: A's alone; module docstring)
        m["BM"] = m["B"].matMult(m["map0"])
        m["S"] = m["A"].duplicate(copy=True)
        m["S"].axpy(-1.0, m["BM"], PETSc.Mat.Structure.DIFFERENT_NONZERO_PATTERN)
        # S's pattern is A's when B D⁻¹ C adds no entry (the union has A's count)
        nonzeros = PETSc.Mat.InfoType.GLOBAL_SUM
        self._s_is_a = (m["S"].getInfo(nonzeros)["nz_used"]
                        == m["A"].getInfo(nonzeros)["nz_used"])
        self._check_pinned(P, comm, start)
        self._vecs = {"t": m["map0"].createVecLeft(), "by": m["S"].createVecLeft(),
                      "ry": m["S"].createVecRight(), "xy": m["S"].createVecRight()}
        inner = PETSc.PC().create(comm)
        inner.setOptionsPrefix(self._prefix)
        inner.setType(self._options.get("pc_type", "lu"))
        solver = self._options.get("pc_factor_mat_solver_type")
        if solver:
            inner.setFactorSolverType(solver)
        inner.setFromOptions()
        self._inner = inner
        self._ready = True

    def _check_pinned(self, P: PETSc.Mat, comm, start: int) -> None:
        """A Dirichlet DOF's row holds only its diagonal and its column nothing else
        (dolfinx zeroes them; checked once per pattern, collectively)."""
        n = len(self._pinned) + len(self._t) + len(self._y)
        is_p = PETSc.IS().createGeneral((start + self._pinned).astype(PETSc.IntType),
                                        comm=comm)
        is_all = PETSc.IS().createGeneral(np.arange(start, start + n, dtype=PETSc.IntType),
                                          comm=comm)
        is_r = PETSc.IS().createGeneral(
            (start + np.setdiff1d(np.arange(n), self._pinned)).astype(PETSc.IntType),
            comm=comm)
        rows = P.createSubMatrix(is_p, is_all)
        ip, jj, vv = rows.getValuesCSR()
        diagonal = jj == (start + self._pinned)[np.repeat(np.arange(len(ip) - 1), np.diff(ip))]
        bad = int(np.count_nonzero(vv[~diagonal]))
        cols = P.createSubMatrix(is_r, is_p)
        bad += int(np.count_nonzero(cols.getValuesCSR()[2]))
        for obj in (rows, cols, is_p, is_all, is_r):
            obj.destroy()
        if comm.tompi4py().allreduce(bad):
            raise CondensationError("a Dirichlet DOF's row or column has an entry off the "
                                    "diagonal (expected zeroed, as dolfinx assembles them)")

    def _node_local_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """D's diagonal and C's partner entries of every t-row, after checking that the
        t-rows have no other non-zero entry."""
        t0, y0 = self._t_start, self._y_start
        nt = len(self._t)
        ip, jj, vv = self._mats["D"].getValuesCSR()
        rows = np.repeat(np.arange(nt), np.diff(ip))
        on = jj == t0 + rows
        bad_d = bool(np.any(vv[~on] != 0.0))
        d = np.zeros(nt)
        np.add.at(d, rows[on], vv[on])
        ip, jj, vv = self._mats["C"].getValuesCSR()
        rows = np.repeat(np.arange(nt), np.diff(ip))
        want = np.where(self._partner_y >= 0, y0 + self._partner_y, -1)[rows]
        on = jj == want
        bad_c = bool(np.any(vv[~on] != 0.0))
        c = np.zeros(nt)   # (0 where the partner is pinned: its column is zeroed)
        np.add.at(c, rows[on], vv[on])
        # decided together: a rank raising alone would leave the others in a collective
        bad = self._mats["D"].getComm().tompi4py().allreduce(
            np.array([bad_d, bad_c, bool(np.any(d == 0.0))], dtype=np.int64))
        if bad[0]:
            raise CondensationError("a node-local field's equation couples it to another "
                                    "node's unknown of the same field")
        if bad[1]:
            raise CondensationError("a node-local field's equation couples it to an unknown "
                                    "other than its own node's partner")
        if bad[2]:
            raise CondensationError("a node-local unknown has a zero diagonal")
        return d, c

    def inner_factor(self) -> PETSc.Mat | None:
        """The sparse solver's factor matrix (e.g. for MUMPS's error codes), if any."""
        try:
            return self._inner.getFactorMatrix() if self._inner is not None else None
        except PETSc.Error:  # pragma: no cover - no factor yet
            return None


def _mumps_stats(F: PETSc.Mat, comm) -> dict[str, float]:
    """The factor entries on all ranks and the elimination's flops on the least and the
    most loaded rank of a MUMPS factorisation (collective: every rank factorised)."""
    entries = F.getMumpsInfog(29)
    if entries < 0:                 # MUMPS: −INFOG(29) millions beyond 2³¹ − 1
        entries = -entries * 1_000_000
    flops = [F.getMumpsRinfo(3)]
    low, high = min_max_over_ranks(comm, flops, flops)
    return {"factor_entries": float(entries), "factor_flops_min_rank": float(low[0]),
            "factor_flops_max_rank": float(high[0])}


def use_condensed(pc: PETSc.PC, rows: Sequence[np.ndarray], nodal: Mapping[int, int],
                  pinned: Sequence[np.ndarray], options: Mapping[str, str],
                  prefix: str) -> CondensedLU:
    """Make ``pc`` (under ``ksp_type preonly``) a :class:`CondensedLU`; returns its
    context."""
    ctx = CondensedLU(rows, nodal, pinned, options, prefix)
    ctx.factorised = pc.getComm().tompi4py().allreduce(len(ctx._y))
    pc.setType(PETSc.PC.Type.PYTHON)
    pc.setPythonContext(ctx)
    return ctx


__all__ = ["CondensationError", "CondensedLU", "use_condensed"]
