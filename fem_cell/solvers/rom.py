"""Reduced-order machinery of the impedance sweeps (see :mod:`fem_cell.solvers.impedance`).

* :class:`_CsrSum`: the fixed CSR pattern of J + pM or of the real block form
  [[J, −pM], [pM, J]] (constrained rows unit rows), its values linear in p;
* :class:`_LU`: MUMPS LU of such an operator, refactorised for new p with the ordering
  reused;
* :class:`_Krylov`: iterative solves of J + σM instead (``linear_solver =
  "iterative"``): FGMRES + field split + AMG on the vertex-rule J_v + σM_v;
* :class:`_Basis`: a real orthonormal block basis (CGS2, TSQR + SVD deflation);
* :class:`_Projection`: the Galerkin projection onto that basis, evaluated for many ω at
  once with the full-vector residuals.

They operate on a small-signal system (:class:`LinearisedSystem`, in practice a
:class:`~fem_cell.solvers.impedance.SmallSignalSystem`); this module does not import
:mod:`fem_cell.solvers.impedance`, which imports it.  Everything is collective on the
system's communicator.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from fem_cell._dolfinx import MPI, PETSc
from fem_cell.domain import sum_over_ranks
from fem_cell.errors import ConvergenceError
from fem_cell.solvers.linear import block_index_sets, direct_solver_options, iterative_options


class LinearisedSystem(Protocol):
    """What the reduced-order classes use of a
    :class:`~fem_cell.solvers.impedance.SmallSignalSystem` (owned entries, blocked layout).

    Attributes:
        comm: the mesh communicator.
        prefix: PETSc options prefix of the solver's KSPs.
        J: assembled Jacobian ∂G/∂u.
        M: assembled mass matrix ∂(mass)/∂u̇.
        n_local: owned rows of J.
        bc_mask: constrained owned DOFs.
        b0: δb at ω = 0, −∂G/∂V.
        b1: δb's coefficient of iω, −∂(mass)/∂V̇, or None.
        g_u: ∂I/∂u.
        g_udot: ∂I/∂u̇.
        g_V: ∂I/∂V.
        g_Vdot: ∂I/∂V̇.
        area: contact area.
        series_resistance: area-specific series resistance (Ω m²).
        series_inductance: area-specific series inductance (H m²).
        scale: per-DOF unknown scaling S.
        offsets: start of each field's owned entries in the blocked layout (and the
            total).

    ``_csr(kind)``: the operator sums ``"real"`` (J + pM), ``"block"`` and
    ``"real_vertex"`` (J_v + pM_v, the vertex-rule J and M: the iterative path's
    preconditioner matrix).
    """

    comm: MPI.Comm
    prefix: str
    J: PETSc.Mat
    M: PETSc.Mat
    n_local: int
    bc_mask: np.ndarray
    b0: np.ndarray
    b1: np.ndarray | None
    g_u: np.ndarray
    g_udot: np.ndarray
    g_V: float
    g_Vdot: float
    area: float
    series_resistance: float
    series_inductance: float
    scale: np.ndarray
    offsets: list[int]

    def _csr(self, kind: str) -> _CsrSum: ...

    def _norm(self, x: np.ndarray) -> float: ...

    def _dot(self, a: np.ndarray, b: np.ndarray): ...

    def _apply(self, A: PETSc.Mat, x: np.ndarray) -> np.ndarray: ...


class _CsrSum:
    """The CSR pattern of a sum of (shifted) copies of J and M plus a unit diagonal on the
    constrained rows, with values linear in one parameter p: data(p) = A0 + p·A1.

    ``kind="real"``: J + pM (n × n).  ``kind="block"``: [[J, −pM], [pM, J]] (2n × 2n, local
    rows [real owned; imag owned] on each rank)."""

    def __init__(self, system: LinearisedSystem, kind: str, operators=None):
        """``operators``: ``(J, M)`` to sum instead of the system's own (e.g. their
        vertex-rule versions, ``SmallSignalSystem.vertex_operators()`` of
        :mod:`fem_cell.solvers.impedance`)."""
        self.comm = system.comm
        J, M = operators if operators is not None else (system.J, system.M)
        ranges = np.asarray(J.getOwnershipRanges())
        rstart, nloc = ranges[:-1], np.diff(ranges)
        me = self.comm.rank
        n = system.n_local
        block = kind == "block"
        nb = 2 if block else 1

        def cols_map(g, imag):
            if not block:
                return g
            q = np.searchsorted(ranges, g, side="right") - 1
            return g + rstart[q] + (nloc[q] if imag else 0)

        Jc = J.getValuesCSR()
        Mc = M.getValuesCSR()
        if block:      # (values, row block, col block, constant / linear coefficient)
            terms = ((Jc, 0, 0, 1.0, 0.0), (Mc, 0, 1, 0.0, -1.0),
                     (Mc, 1, 0, 0.0, 1.0), (Jc, 1, 1, 1.0, 0.0))
        else:
            terms = ((Jc, 0, 0, 1.0, 0.0), (Mc, 0, 0, 0.0, 1.0))
        rows, cols, c0, c1 = [], [], [], []
        free = (~system.bc_mask).astype(float)
        for (ip, jj, v), r_b, c_b, a0, a1 in terms:
            r = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
            # constrained rows: exactly the unit row added below.  Their entries stay in
            # the pattern as zeros: without them (a structurally unsymmetric pattern)
            # MUMPS's solves were 2.4x slower (156k DOFs, 2 ranks)
            rows.append(r + r_b * n)
            cols.append(cols_map(np.asarray(jj, dtype=np.int64), c_b))
            c0.append(a0 * v * free[r])
            c1.append(a1 * v * free[r])
        pinned = np.flatnonzero(system.bc_mask)
        g = pinned + ranges[me]
        for b in range(nb):
            rows.append(pinned + b * n)
            cols.append(cols_map(g, b))
            c0.append(np.ones(pinned.size))
            c1.append(np.zeros(pinned.size))
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        N = nb * int(ranges[-1])
        key = rows.astype(np.int64) * N + cols
        ukey, inverse = np.unique(key, return_inverse=True)     # sorted, duplicates merged
        urows = ukey // N
        self.n_rows = nb * n
        self.size = N
        self.indptr = np.concatenate(
            [[0], np.cumsum(np.bincount(urows, minlength=self.n_rows))]).astype(PETSc.IntType)
        self.indices = (ukey % N).astype(PETSc.IntType)
        self.A0 = np.bincount(inverse, weights=np.concatenate(c0), minlength=ukey.size)
        self.A1 = np.bincount(inverse, weights=np.concatenate(c1), minlength=ukey.size)

    def values(self, p: float) -> np.ndarray:
        return self.A0 + p * self.A1

    def matrix(self, p: float) -> PETSc.Mat:
        """A new assembled AIJ matrix at p."""
        K = PETSc.Mat().createAIJ(((self.n_rows, self.size), (self.n_rows, self.size)),
                                  csr=(self.indptr, self.indices, self.values(p)),
                                  comm=self.comm)
        K.assemble()
        return K

    def update(self, K: PETSc.Mat, p: float) -> None:
        """Overwrite K's values (same pattern) with those at p."""
        K.setValuesCSR(self.indptr, self.indices, self.values(p),
                       addv=PETSc.InsertMode.INSERT_VALUES)
        K.assemble()


class _LU:
    """MUMPS LU of J + σM (``kind="real"``) or [[J, −ωM], [ωM, J]] (``"block"``) that is
    refactorised for new parameters with the symbolic analysis (ordering) reused:
    the sparsity pattern never changes."""

    def __init__(self, system: LinearisedSystem, kind: str):
        self.system = system
        self.kind = kind
        self.csr = system._csr(kind)
        self.n = system.n_local
        self.K = None
        self.ksp = None
        self.n_factorizations = 0
        self.param = None
        self._dense: dict[int, tuple[PETSc.Mat, PETSc.Mat]] = {}

    def factor(self, p: float) -> None:
        """Numeric factorisation at p (σ or ω, rad/s); the first call also orders."""
        s = self.system
        if self.K is None:
            self.K = self.csr.matrix(p)
            ksp = PETSc.KSP().create(s.comm)
            ksp.setOptionsPrefix(s.prefix)
            ksp.setOperators(self.K)
            opts = direct_solver_options()
            ksp.setType(opts["ksp_type"])
            pc = ksp.getPC()
            pc.setType(opts["pc_type"])
            pc.setFactorSolverType(opts["pc_factor_mat_solver_type"])
            if (opts["pc_factor_mat_solver_type"] == "mumps"
                    and not PETSc.Options().hasName(f"{s.prefix}mat_mumps_icntl_7")):
                # real shifted operator: approximate minimum fill, analysed 2-3x faster
                # than METIS here with similar fill (156k DOFs, 2 ranks: 0.84 vs 1.6 s
                # analysis + factorisation).  The complex 2x2 block operator: METIS — with
                # AMF its solves lost accuracy on a 258k-DOF 2-D mesh (relative residual
                # 0.18 at 100 Hz vs 3e-14 with METIS; scripts/convergence_impedance_2d.py)
                pc.setFactorSetUpSolverType()
                pc.getFactorMatrix().setMumpsIcntl(7, 5 if self.kind == "block" else 2)
            ksp.setFromOptions()
            self.ksp = ksp
            self.B, self.X = self.K.createVecs()
        else:
            self.csr.update(self.K, p)
            self.ksp.setOperators(self.K)
        self.ksp.setUp()
        self.param = p
        self.n_factorizations += 1

    def _check(self) -> None:
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise ConvergenceError(f"{self.system.prefix}: LU solve failed", reason)

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x = K⁻¹b for owned b: complex b → complex x (block), real → real (real kind)."""
        n = self.n
        arr = self.B.getArray()
        if self.kind == "block":
            arr[:n] = b.real
            arr[n:] = b.imag
        else:
            arr[:] = b
        self.ksp.solve(self.B, self.X)
        self._check()
        x = self.X.getArray(readonly=True)
        return x[:n] + 1j * x[n:] if self.kind == "block" else x.copy()

    def solve_many(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹B for a real (n_local, m) array, all columns in one MUMPS solve."""
        if self.kind != "real":
            raise ValueError("solve_many is for the real shifted operator")
        m = B.shape[1]
        if m == 1:
            return self.solve(B[:, 0])[:, None]
        if m not in self._dense:
            lay = ((self.n, self.csr.size), (None, m))
            pair = []
            for _ in range(2):
                D = PETSc.Mat().createDense(lay, comm=self.system.comm)
                D.setUp()
                D.assemble()
                pair.append(D)
            self._dense[m] = tuple(pair)
        Bm, Xm = self._dense[m]
        Bm.getDenseArray()[:] = B
        Bm.assemble()
        self.ksp.matSolve(Bm, Xm)
        self._check()
        return Xm.getDenseArray(readonly=True).copy()

    def destroy(self) -> None:
        objs = [] if self.K is None else [self.ksp, self.K, self.B, self.X]
        for pair in self._dense.values():
            objs.extend(pair)
        for obj in objs:
            obj.destroy()
        self.K = None
        self._dense = {}


#: relative tolerance of the iterative shifted solves (true residual, FGMRES): the
#: basis vectors need not be exact, the sweep's a-posteriori residual (tol 1e-6) judges
#: the projection they span; 1e-10 keeps the Krylov error far below it
ROM_KRYLOV_RTOL = 1e-10
#: the AMG level smoother of the shifted solves: with PETSc's default SOR, GAMG's
#: hierarchy of the concentration block broke down (zero pivot, "preconditioner
#: failed") at σ <= 2π·10 rad/s on the 2-D default cell; point Jacobi converged at every
#: shift (scripts/rom_iterative_probe.py, docs/scaling.md)
ROM_AMG_SMOOTHER = "jacobi"


class _Krylov:
    """Iterative solves of the real shifted operator K = J + σM, in place of
    :class:`_LU` (``[solver] linear_solver = "iterative"``).

    FGMRES with a multiplicative field split (one split per field, one AMG V-cycle each,
    :func:`~fem_cell.solvers.linear.iterative_options`), preconditioned on the
    vertex-rule operator J_v + σM_v (the cell integrals by the vertex rule: an M-matrix
    on the films' stretched cells, on which AMG works, as for the transport's iterative
    path).  ``factor(σ)`` sets the operators and the multigrid up, a solve is a Krylov
    solve per column; the same interface as :class:`_LU` (real kind only).

    Args:
        system: the small-signal system.
        smoother: GAMG's level smoother (``mg_levels_pc_type``).
        rtol: relative tolerance of the true residual.
    """

    def __init__(self, system: LinearisedSystem, *, smoother: str = ROM_AMG_SMOOTHER,
                 rtol: float = ROM_KRYLOV_RTOL):
        self.system = system
        self.csr = system._csr("real")
        self.pcsr = system._csr("real_vertex")
        self.K = self.P = self.ksp = None
        self.n_factorizations = 0   # multigrid set-ups
        self.iterations = 0         # Krylov iterations over every solve
        self.max_iterations = 0     # the most of one solve
        self.param = None
        offsets = system.offsets
        self._names = [f"f{k}" for k in range(len(offsets) - 1)]
        opts = iterative_options(symmetric=False,
                                 splits=self._names if len(self._names) > 1 else ())
        opts["ksp_rtol"] = rtol
        for k in opts:  # GAMG's level smoother (hypre BoomerAMG has its own)
            if k.endswith("mg_levels_pc_type"):
                opts[k] = smoother
        self._opts = {f"{system.prefix}rom_{k}": v for k, v in opts.items()}
        self._sets: list = []

    def factor(self, p: float) -> None:
        """Operators and multigrid at p (σ, rad/s)."""
        s = self.system
        db = PETSc.Options()
        if self.K is None:
            self.K, self.P = self.csr.matrix(p), self.pcsr.matrix(p)
            for k, v in self._opts.items():
                db[k] = v
            ksp = PETSc.KSP().create(s.comm)
            ksp.setOptionsPrefix(f"{s.prefix}rom_")
            ksp.setOperators(self.K, self.P)
            if len(self._names) > 1:
                pc = ksp.getPC()
                pc.setType("fieldsplit")
                self._sets = block_index_sets(
                    np.diff(s.offsets), {name: [k] for k, name in enumerate(self._names)},
                    self.K.getOwnershipRange()[0], s.comm)
                pc.setFieldSplitIS(*self._sets)
            ksp.setFromOptions()
            self.ksp = ksp
            self.B, self.X = self.K.createVecs()
        else:
            self.csr.update(self.K, p)
            self.pcsr.update(self.P, p)
            self.ksp.setOperators(self.K, self.P)
        self.ksp.setUp()
        self.param = p
        self.n_factorizations += 1

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x = K⁻¹b (real owned b) to the relative tolerance.

        Raises:
            ConvergenceError: the Krylov solve failed (``reason``: PETSc's
                ``KSPConvergedReason``).
        """
        self.B.getArray()[:] = b
        self.X.set(0.0)
        self.ksp.solve(self.B, self.X)
        its = self.ksp.getIterationNumber()
        self.iterations += its
        self.max_iterations = max(self.max_iterations, its)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise ConvergenceError(
                f"{self.system.prefix}: iterative shifted solve at sigma = {self.param:.3g} "
                f"rad/s failed after {its} iterations", reason)
        return self.X.getArray(readonly=True).copy()

    def solve_many(self, B: np.ndarray) -> np.ndarray:
        """X = K⁻¹B for a real (n_local, m) array, one Krylov solve per column."""
        return np.column_stack([self.solve(B[:, j]) for j in range(B.shape[1])])

    def destroy(self) -> None:
        objs = [] if self.K is None else [self.ksp, self.K, self.P, self.B, self.X]
        for obj in objs + [iset for _, iset in self._sets]:
            obj.destroy()
        self.K = None
        self._sets = []
        db = PETSc.Options()
        for k in self._opts:
            db.delValue(k)


class _Basis:
    """Real orthonormal vectors (scaled coordinates), CGS2 with deflation."""

    def __init__(self, system: LinearisedSystem, drop_tol: float = 1e-12):
        self.s = system
        self._Q = np.empty((system.n_local, 16), order="F")     # columns contiguous
        self.k = 0
        self.drop_tol = drop_tol

    @property
    def Q(self) -> np.ndarray:
        return self._Q[:, :self.k]

    def _append(self, V: np.ndarray) -> None:
        m = V.shape[1]
        if self.k + m > self._Q.shape[1]:
            grown = np.empty((self._Q.shape[0], max(2 * self._Q.shape[1], self.k + m)),
                             order="F")
            grown[:, :self.k] = self.Q
            self._Q = grown
        self._Q[:, self.k:self.k + m] = V
        self.k += m

    def add(self, v: np.ndarray) -> np.ndarray | None:
        """Orthonormalise v against the basis and append it; the new vector, or None if
        v is (numerically) in the span."""
        nrm0 = self.s._norm(v)
        if nrm0 == 0.0:
            return None
        v = v / nrm0
        for _ in range(2):
            if self.k:
                v = v - self.Q @ self.s._dot(self.Q, v)
        nrm = self.s._norm(v)
        if nrm < self.drop_tol:
            return None
        self._append((v / nrm)[:, None])
        return self._Q[:, self.k - 1]

    def _r_factor(self, V: np.ndarray) -> np.ndarray:
        """R of the distributed V = QR (TSQR: local Householder QRs, their R stacked and
        factorised again; identical on every rank)."""
        R = np.linalg.qr(V, mode="r")
        if self.s.comm.size > 1:
            R = np.linalg.qr(np.vstack(self.s.comm.allgather(R)), mode="r")
        return R

    def add_block(self, V: np.ndarray) -> int:
        """Orthonormalise the columns of V against the basis and among themselves and
        append them (block CGS2; within the block an SVD of its TSQR R factor, directions
        with a remaining norm below ``drop_tol`` dropped); the number added."""
        s = self.s
        nrm = np.sqrt(sum_over_ranks(s.comm, np.einsum("ij,ij->j", V, V)))
        V = V[:, nrm > 0] / nrm[nrm > 0]
        for _ in range(2):
            if V.shape[1] == 0:
                return 0
            if self.k:
                V = V - self.Q @ s._dot(self.Q, V)
            _, sv, Wt = np.linalg.svd(self._r_factor(V))
            keep = sv > self.drop_tol
            V = V @ (Wt[:len(sv)][keep].T / sv[keep])
        self._append(V)
        return V.shape[1]


class _Projection:
    """Galerkin projection onto a growing real orthonormal basis, evaluated for many ω at
    once (trial vectors S·Q, test vectors Q)."""

    def __init__(self, system: LinearisedSystem, chunk: int = 16):
        self.s = system
        self.k = 0
        self._JV = self._MV = np.zeros((system.n_local, 0), order="F")
        self.chunk = chunk

    def extend(self, Q: np.ndarray) -> None:
        """Take the columns of Q beyond those already projected (the basis only grows)."""
        s = self.s
        k0, k = self.k, Q.shape[1]
        if k > self._JV.shape[1]:
            cap = max(k, 2 * self._JV.shape[1])
            JV, MV = (np.empty((s.n_local, cap), order="F") for _ in range(2))
            JV[:, :k0], MV[:, :k0] = self._JV[:, :k0], self._MV[:, :k0]
            self._JV, self._MV = JV, MV
        for j in range(k0, k):
            v = s.scale * Q[:, j]
            self._JV[:, j] = s._apply(s.J, v)
            self._MV[:, j] = s._apply(s.M, v)
        self.JV, self.MV = self._JV[:, :k], self._MV[:, :k]
        self.k = k
        b1 = np.zeros(s.n_local) if s.b1 is None else s.b1
        # reduced operators and current functionals: one reduction for all of them
        QT = Q.T
        parts = [QT @ self.JV, QT @ self.MV, QT @ s.b0, QT @ b1,
                 QT @ (s.scale * s.g_u), QT @ (s.scale * s.g_udot)]
        red = sum_over_ranks(s.comm, np.concatenate([a.ravel() for a in parts]))
        kk = k * k
        self.Jr, self.Mr = red[:kk].reshape(k, k), red[kk:2 * kk].reshape(k, k)
        self.b0r, self.b1r, self.gu, self.gud = red[2 * kk:].reshape(4, k)
        self.b1 = b1

    def evaluate(self, w: np.ndarray):
        """Z(ω) (Ω m²) and relative residuals ‖(J + iωM)Vy − δb‖/‖δb‖ at all ω, with the
        full vectors, in real arithmetic (collective: one reduction)."""
        s = self.s
        # reduced solves in blocks of frequencies: memory stays ~ block·k² whatever nω
        Y = np.empty((self.k, w.size), complex)
        for a in range(0, w.size, 256):
            wb = w[a:a + 256]
            A = self.Jr[None, :, :] + 1j * wb[:, None, None] * self.Mr[None, :, :]
            rhs = self.b0r[None, :] + 1j * wb[:, None] * self.b1r[None, :]
            Y[:, a:a + 256] = np.linalg.solve(A, rhs[:, :, None])[:, :, 0].T   # (k, nb)
        dI = self.gu @ Y + 1j * w * (self.gud @ Y) + s.g_V + 1j * w * s.g_Vdot
        Z = s.area / dI + s.series_resistance + 1j * w * s.series_inductance
        rr = np.empty(w.size)
        b0, b1 = s.b0[:, None], self.b1[:, None]
        for a in range(0, w.size, self.chunk):
            c = slice(a, a + self.chunk)
            wc = w[c][None, :]
            m = wc.shape[1]
            Y2 = np.concatenate([Y[:, c].real, Y[:, c].imag], axis=1)
            JY, MY = self.JV @ Y2, self.MV @ Y2
            Rr = JY[:, :m] - wc * MY[:, m:] - b0          # (J + iωM)(y_r + i y_i) − (b0 + iωb1)
            Ri = JY[:, m:] + wc * MY[:, :m] - wc * b1
            rr[c] = np.einsum("ij,ij->j", Rr, Rr) + np.einsum("ij,ij->j", Ri, Ri)
        bb = np.array([s.b0 @ s.b0, self.b1 @ self.b1])
        tot = sum_over_ranks(s.comm, np.concatenate([rr, bb]))
        n = w.size
        return Z, np.sqrt(tot[:n] / (tot[n] + w ** 2 * tot[n + 1]))
