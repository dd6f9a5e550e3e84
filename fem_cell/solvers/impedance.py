"""Small-signal impedance of a state: (J + iωM) δu = δb(ω), Z = δV/δI (design principle 8).

At a state u0 (e.g. open circuit) the solver differentiates the physics blocks' own
residual and mass forms (:meth:`TransientProblem.linearised_forms`):

    J = ∂G/∂u,   M = ∂(mass)/∂u̇,   δb(ω) = −∂G/∂V − iω ∂(mass)/∂V̇      (δV = 1)

where V is the drive (the Li pad potential, a DG0 coefficient of the block) and V̇ its
rate.  The terminal current is the UFL functional ``physics.terminal_current(u, u̇)``;
its derivatives give δI = (g_u + iω g_u̇)·δu + g_V + iω g_V̇, and

    Z(ω) = A_contact / δI(ω)  +  (R_lead + iω L_lead) A_pad      (Ω m², area-specific)

PETSc is real, so every complex solve uses the real 2×2 block form

    [[J, −ωM], [ωM, J]] [x_r; x_i] = [b_r; b_i]

with MUMPS LU.  Two sweeps:

* ``direct``: one factorisation per frequency.
* ``rom`` (default): a few shifted factorisations at s_k = iω_k; per shift a block
  shift-invert Arnoldi sequence x0 = K_k⁻¹ δb(ω_k), (K_k⁻¹ ∂δb/∂s), K_k⁻¹ M q, … —
  every vector normalised and re-orthogonalised (complex CGS2) as it is added — span
  the reduced basis V (complex, orthonormalised across shifts, CGS2 with deflation).
  Per frequency a dense (Vᴴ(J + iωM)V) y = Vᴴδb(ω) is solved (all frequencies at once)
  and the a-posteriori residual ‖(J + iωM)Vy − δb‖/‖δb‖ is checked with full vectors.
  Where it exceeds ``tol`` a new shift is added at the worst frequency (up to
  ``max_shifts``), then any frequency still above ``tol`` falls back to a direct solve.

Everything is collective on the mesh communicator; no solver state lives at module level.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, fem, ufl
from fem_cell.errors import ConvergenceError


def to_ohm_cm2(Z):
    """Area-specific impedance Ω m² → Ω cm²."""
    return np.asarray(Z) * 1e4


def log_frequencies(f_min: float, f_max: float, n: int) -> np.ndarray:
    """n log-spaced frequencies (Hz) from f_min to f_max."""
    return np.logspace(np.log10(f_min), np.log10(f_max), n)


@dataclass(frozen=True)
class ImpedanceResult:
    """Outcome of a sweep.

    Attributes:
        frequencies: f (Hz).
        impedance: Z (Ω m², area-specific, complex), incl. the series lead terms.
        residuals: relative residual ‖(J + iωM)δu − δb‖/‖δb‖ per frequency (–).
        method: ``"direct"`` or ``"rom"``.
        n_factorizations: LU factorisations used.
        n_basis: reduced basis size (0 for direct).
        shifts: shift frequencies of the ROM (Hz).
        fallback: frequencies solved directly after the ROM (bool mask).
        wall_time: time of the sweep (s), excluding the operator assembly.
    """

    frequencies: np.ndarray
    impedance: np.ndarray
    residuals: np.ndarray
    method: str
    n_factorizations: int
    n_basis: int = 0
    shifts: tuple[float, ...] = ()
    fallback: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    wall_time: float = 0.0

    @property
    def impedance_ohm_cm2(self) -> np.ndarray:
        """Z in Ω cm²."""
        return to_ohm_cm2(self.impedance)


def _wrap(a, n: int):
    """Single form → [[a]] / [a] so one code path handles one or several fields."""
    if n > 1 or a is None:
        return a
    return [[a]] if a.arguments() and len(a.arguments()) == 2 else [a]


class SmallSignalSystem:
    """J, M, δb and the current functional of a problem at its current state.

    Args:
        problem: a :class:`~fem_cell.solvers.problem.TransientProblem` at the state.
        physics: the block providing ``V``, ``V_dot`` (DG0 drive coefficients),
            ``terminal_current(u, udot)``, ``contact_area()`` and optionally
            ``field_scales()`` and ``params`` (lead R/L, pad area).
        prefix: unique PETSc options prefix of this solver's KSPs.
        series_resistance: area-specific series resistance (Ω m²); default from
            ``physics.params``: lead_resistance·pad_area.
        series_inductance: area-specific series inductance (H m²); default likewise.
    """

    def __init__(self, problem, physics, *, prefix: str = "fem_cell_eis_",
                 series_resistance: float | None = None, series_inductance: float | None = None):
        self.problem = problem
        self.physics = physics
        self.prefix = prefix
        fields = problem.fields
        self.comm: MPI.Comm = fields[0].space.mesh.comm
        nf = len(fields)
        emaps = getattr(problem, "entity_maps", None)
        J, M, dG, dMass = problem.linearised_forms(drive=(physics.V, physics.V_dot))
        J, M, dG, dMass = (_wrap(a, nf) for a in (J, M, dG, dMass))

        def compile_(a):
            return None if a is None else fem.form(a, entity_maps=emaps)

        bcs = problem.bcs
        self.J = fem.petsc.assemble_matrix(compile_(J), bcs=bcs, diag=1.0)
        self.J.assemble()
        if M is None:
            raise ValueError("the blocks have no mass terms: nothing depends on frequency")
        self.M = fem.petsc.assemble_matrix(compile_(M), bcs=bcs, diag=0.0)
        self.M.assemble()
        self.n_local = self.J.getLocalSize()[0]

        # -- owned-DOF layout of the blocked vectors and the constrained DOFs --
        offsets = [0]
        for f in fields:
            im = f.space.dofmap.index_map
            offsets.append(offsets[-1] + im.size_local * f.space.dofmap.index_map_bs)
        self.offsets = offsets
        mask = np.zeros(self.n_local, dtype=bool)
        for bc in bcs:
            for k, f in enumerate(fields):
                if f.space._cpp_object.contains(bc.function_space):
                    dofs, _ = bc.dof_indices()
                    n_owned = offsets[k + 1] - offsets[k]
                    own = dofs[dofs < n_owned]
                    mask[offsets[k] + own] = True
        self.bc_mask = mask
        # Constrained rows/columns of J and M are zero here (pinned DOFs often carry no
        # integral at all, and dolfinx inserts the BC diagonal only when test and trial
        # spaces are the same object); the block operator adds the unit diagonal.

        self.b0 = -self._vector(dG)
        self.b1 = None if dMass is None else -self._vector(dMass)
        if self.b1 is not None and self._norm(self.b1) == 0.0:
            self.b1 = None

        # -- terminal current functional and its derivatives --
        udot0 = {f.name: fem.Function(f.space) for f in fields}
        u = {f.name: f.u for f in fields}
        I_form = physics.terminal_current(u, udot0)
        tests = ([ufl.TestFunction(fields[0].space)] if nf == 1 else
                 list(ufl.TestFunctions(ufl.MixedFunctionSpace(*[f.space for f in fields]))))
        gu, gud = None, None
        for f, w in zip(fields, tests, strict=True):
            t = ufl.derivative(I_form, f.u, w)
            gu = t if gu is None else gu + t
            t = ufl.derivative(I_form, udot0[f.name], w)
            gud = t if gud is None else gud + t

        def lin(a):
            a = ufl.algorithms.expand_derivatives(a)
            if a.empty():
                return np.zeros(self.n_local)
            blocks = ufl.extract_blocks(a) if nf > 1 else [a]
            return self._vector(blocks)

        self.g_u = lin(gu)
        self.g_udot = lin(gud)
        one = fem.Function(physics.V.function_space)
        one.x.array[:] = 1.0
        one_dot = fem.Function(physics.V_dot.function_space)
        one_dot.x.array[:] = 1.0
        self.g_V = self._scalar(ufl.derivative(I_form, physics.V, one))
        self.g_Vdot = self._scalar(ufl.derivative(I_form, physics.V_dot, one_dot))
        self.area = float(physics.contact_area())

        # -- series leads, unknown scaling --
        params = getattr(physics, "params", None)
        if series_resistance is None:
            series_resistance = (0.0 if params is None
                                 else params.lead_resistance * params.pad_area)
        if series_inductance is None:
            series_inductance = (0.0 if params is None
                                 else params.lead_inductance * params.pad_area)
        self.series_resistance = float(series_resistance)
        self.series_inductance = float(series_inductance)
        scales = physics.field_scales() if hasattr(physics, "field_scales") else {}
        self.scale = np.ones(self.n_local)
        for k, f in enumerate(fields):
            self.scale[offsets[k]:offsets[k + 1]] = scales.get(f.name, 1.0)

    def destroy(self) -> None:
        """Free the PETSc matrices (collective)."""
        for A in (self.J, self.M):
            A.destroy()

    # -- small helpers ------------------------------------------------------------------
    def _vector(self, L) -> np.ndarray:
        """Assemble linear form block(s) → owned entries (blocked layout), BC rows zeroed."""
        emaps = getattr(self.problem, "entity_maps", None)
        L = list(L) if isinstance(L, (list, tuple)) else [L]
        L = [None if a is None or a.empty() else a for a in L]
        spaces = [f.space for f in self.problem.fields]
        L = list(L) + [None] * (len(spaces) - len(L))
        forms = []
        for a, V in zip(L, spaces, strict=True):
            if a is None:
                v = ufl.TestFunction(V)
                a = fem.Constant(V.mesh, 0.0) * v * ufl.dx
            forms.append(fem.form(a, entity_maps=emaps))
        b = fem.petsc.assemble_vector(forms, kind="mpi")
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        out = b.getArray(readonly=True)[: self.n_local].copy()
        b.destroy()
        out[self.bc_mask] = 0.0
        return out

    def _scalar(self, a) -> float:
        a = ufl.algorithms.expand_derivatives(a)
        if a.empty():
            return 0.0
        emaps = getattr(self.problem, "entity_maps", None)
        local = fem.assemble_scalar(fem.form(a, entity_maps=emaps))
        return float(self.comm.allreduce(local, op=MPI.SUM))

    def _sum(self, local):
        """Sum a local number/array over the ranks (buffer Allreduce; none on one rank)."""
        if self.comm.size == 1:
            return local
        a = np.array(local, order="C")          # a copy, 0-d stays 0-d
        out = np.empty_like(a)
        self.comm.Allreduce(a, out, op=MPI.SUM)
        return out if out.ndim else out[()]

    def _norm(self, x: np.ndarray) -> float:
        return float(np.sqrt(self._sum(np.array(np.vdot(x, x).real))))

    def _dot(self, a: np.ndarray, b: np.ndarray):
        """Global aᴴb (a: (n,) or (n, k)) — one reduction."""
        return self._sum(np.asarray(a.conj().T @ b))

    def rhs(self, omega: float) -> np.ndarray:
        """δb(ω) (complex, owned entries)."""
        b = self.b0.astype(complex)
        if self.b1 is not None:
            b = b + 1j * omega * self.b1
        return b

    def current(self, x: np.ndarray, omega: float) -> complex:
        """δI for δu = x (complex owned entries), δV = 1 (A, or A/m² in 1-D)."""
        g = self.g_u + 1j * omega * self.g_udot
        tot = complex(self._sum(np.array(np.dot(g, x))))
        return tot + self.g_V + 1j * omega * self.g_Vdot

    def impedance_from_current(self, dI: complex, omega: float) -> complex:
        """Z = A/δI + series leads (Ω m²)."""
        return self.area / dI + self.series_resistance + 1j * omega * self.series_inductance

    def residual(self, x: np.ndarray, omega: float) -> float:
        """‖(J + iωM)x − δb‖/‖δb‖ for complex owned x (collective)."""
        r = self._apply(self.J, x) + 1j * omega * self._apply(self.M, x) - self.rhs(omega)
        return self._norm(r) / self._norm(self.rhs(omega))

    def _apply(self, A: PETSc.Mat, x: np.ndarray) -> np.ndarray:
        """A x for real/complex owned arrays (real PETSc)."""
        X = A.createVecRight()
        Y = A.createVecLeft()
        out = []
        for part in ((x.real, x.imag) if np.iscomplexobj(x) else (x,)):
            X.getArray()[:] = part
            A.mult(X, Y)
            out.append(Y.getArray(readonly=True).copy())
        X.destroy()
        Y.destroy()
        return out[0] + 1j * out[1] if len(out) == 2 else out[0]

    # -- the real 2×2 block operator and its factorisation ---------------------------------
    def _block_pattern(self):
        """CSR structure of [[J, −M], [M, J]] + unit diagonal on constrained rows, with
        rows/cols [real owned; imag owned] on each rank."""
        ranges = np.asarray(self.J.getOwnershipRanges())
        rstart = ranges[:-1]
        nloc = np.diff(ranges)
        me = self.comm.rank

        def cols_map(g, imag):
            q = np.searchsorted(ranges, g, side="right") - 1
            return g + rstart[q] + (nloc[q] if imag else 0)

        rows, cols = [], []
        for A, r_imag, c_imag in ((self.J, 0, 0), (self.M, 0, 1), (self.M, 1, 0), (self.J, 1, 1)):
            ip, jj, _ = A.getValuesCSR()
            r = np.repeat(np.arange(len(ip) - 1), np.diff(ip))
            rows.append(r + (self.n_local if r_imag else 0))
            cols.append(cols_map(np.asarray(jj, dtype=np.int64), c_imag))
        pinned = np.flatnonzero(self.bc_mask)
        g = pinned + ranges[me]
        rows += [pinned, pinned + self.n_local]
        cols += [cols_map(g, 0), cols_map(g, 1)]
        self._n_pinned = pinned.size
        rows, cols = np.concatenate(rows), np.concatenate(cols)
        n2 = 2 * self.n_local
        N2 = 2 * int(ranges[-1])
        key = rows.astype(np.int64) * N2 + cols
        ukey, inverse = np.unique(key, return_inverse=True)     # sorted, duplicates merged
        urows = ukey // N2
        indptr = np.concatenate([[0], np.cumsum(np.bincount(urows, minlength=n2))])
        self._pattern = (indptr.astype(PETSc.IntType), (ukey % N2).astype(PETSc.IntType),
                         inverse, ukey.size)
        self._values = [self.J.getValuesCSR()[2], self.M.getValuesCSR()[2]]
        self._global_size = N2

    def block_operator(self, omega: float) -> PETSc.Mat:
        """AIJ matrix [[J, −ωM], [ωM, J]] (local rows: [real owned; imag owned])."""
        if not hasattr(self, "_pattern"):
            self._block_pattern()
        indptr, indices, inverse, nnz = self._pattern
        Jv, Mv = self._values
        ones = np.ones(2 * self._n_pinned)
        raw = np.concatenate([Jv, -omega * Mv, omega * Mv, Jv, ones])
        data = np.bincount(inverse, weights=raw, minlength=nnz)
        n2 = 2 * self.n_local
        K = PETSc.Mat().createAIJ(((n2, self._global_size), (n2, self._global_size)),
                                  csr=(indptr, indices, data), comm=self.comm)
        K.assemble()
        return K

    def factorize(self, omega: float) -> _Factorization:
        """LU (MUMPS) of the block operator at ω (rad/s)."""
        return _Factorization(self, omega)


class _Factorization:
    """A factorised [[J, −ωM], [ωM, J]] that solves complex right-hand sides."""

    def __init__(self, system: SmallSignalSystem, omega: float):
        from fem_cell.solvers.problem import direct_solver_options

        self.system = system
        self.omega = omega
        self.K = system.block_operator(omega)
        ksp = PETSc.KSP().create(system.comm)
        ksp.setOptionsPrefix(system.prefix)
        ksp.setOperators(self.K)
        opts = direct_solver_options()
        ksp.setType(opts["ksp_type"])
        pc = ksp.getPC()
        pc.setType(opts["pc_type"])
        pc.setFactorSolverType(opts["pc_factor_mat_solver_type"])
        ksp.setFromOptions()
        ksp.setUp()
        self.ksp = ksp
        self.B, self.X = self.K.createVecs()
        self.n = system.n_local

    def solve(self, b: np.ndarray) -> np.ndarray:
        """x = (J + iωM)⁻¹ b for complex owned b (collective)."""
        n = self.n
        arr = self.B.getArray()
        arr[:n] = b.real
        arr[n:] = b.imag
        self.ksp.solve(self.B, self.X)
        reason = self.ksp.getConvergedReason()
        if reason < 0:
            raise ConvergenceError(f"{self.system.prefix}: LU solve failed", reason)
        x = self.X.getArray(readonly=True)
        return x[:n] + 1j * x[n:]

    def destroy(self) -> None:
        for obj in (self.ksp, self.K, self.B, self.X):
            obj.destroy()


class _Basis:
    """Complex orthonormal basis (scaled coordinates), CGS2 with deflation."""

    def __init__(self, system: SmallSignalSystem, drop_tol: float = 1e-12):
        self.s = system
        self.Q = np.zeros((system.n_local, 0), dtype=complex)
        self.drop_tol = drop_tol

    def add(self, v: np.ndarray) -> bool:
        nrm0 = self.s._norm(v)
        if nrm0 == 0.0:
            return False
        v = v / nrm0
        for _ in range(2):
            if self.Q.shape[1]:
                v = v - self.Q @ self.s._dot(self.Q, v)
        nrm = self.s._norm(v)
        if nrm < self.drop_tol:
            return False
        self.Q = np.column_stack([self.Q, v / nrm])
        return True


def _complex_orth(system: SmallSignalSystem, vecs: list[np.ndarray], v: np.ndarray):
    """Complex CGS2 of v against orthonormal vecs, normalised; None if dependent."""
    nrm0 = system._norm(v)
    if nrm0 == 0.0:
        return None
    v = v / nrm0
    if vecs:
        Q = np.column_stack(vecs)
        for _ in range(2):
            v = v - Q @ system._dot(Q, v)
    nrm = system._norm(v)
    return None if nrm < 1e-12 else v / nrm


class ImpedanceSolver:
    """Impedance sweeps of a state (see module docstring).

    Args:
        problem: the transient problem, at the state to linearise about.
        physics: the block with the drive and the terminal current.
        prefix: unique PETSc options prefix.
        series_resistance: area-specific lead resistance (Ω m²), default from params.
        series_inductance: area-specific lead inductance (H m²), default from params.
    """

    def __init__(self, problem, physics, *, prefix: str = "fem_cell_eis_",
                 series_resistance: float | None = None, series_inductance: float | None = None):
        self.system = SmallSignalSystem(problem, physics, prefix=prefix,
                                        series_resistance=series_resistance,
                                        series_inductance=series_inductance)

    @property
    def comm(self) -> MPI.Comm:
        return self.system.comm

    def refresh(self) -> None:
        """Re-assemble J, M, δb and the current functional at the problem's current state
        (call after the state, the temperature or the proton field changed)."""
        s = self.system
        s.destroy()
        self.system = SmallSignalSystem(s.problem, s.physics, prefix=s.prefix,
                                        series_resistance=s.series_resistance,
                                        series_inductance=s.series_inductance)

    def destroy(self) -> None:
        """Free the PETSc matrices (collective)."""
        self.system.destroy()

    def n_dofs(self) -> int:
        """Global number of real unknowns of J (complex system: twice this)."""
        return self.system.J.getSize()[0]

    # -- direct ------------------------------------------------------------------------
    def solve_direct(self, frequency: float) -> tuple[complex, float]:
        """Z (Ω m²) and the relative residual at one frequency (Hz), one factorisation."""
        s = self.system
        w = 2 * np.pi * frequency
        fac = s.factorize(w)
        try:
            x = fac.solve(s.rhs(w))
        finally:
            fac.destroy()
        return s.impedance_from_current(s.current(x, w), w), s.residual(x, w)

    def sweep(self, frequencies: Sequence[float], method: str = "rom", *, tol: float = 1e-6,
              n_shifts: int = 3, n_moments: int = 10, max_shifts: int = 8,
              fallback: bool = True) -> ImpedanceResult:
        """Impedance at the given frequencies (Hz).

        Args:
            frequencies: f > 0 (Hz).
            method: ``"rom"`` (default) or ``"direct"``.
            tol: ROM: largest accepted relative residual (–).
            n_shifts: ROM: initial shifts (log-spaced over the band).
            n_moments: ROM: Krylov vectors (solves) per shift.
            max_shifts: ROM: most shifts after enrichment.
            fallback: ROM: solve directly where the residual still exceeds ``tol``.
        """
        f = np.asarray(frequencies, dtype=float)
        if f.ndim != 1 or f.size == 0 or np.any(f <= 0):
            raise ValueError("frequencies must be a non-empty 1-D array of positive Hz")
        t0 = _time.perf_counter()
        if method == "direct":
            Z = np.empty(f.size, complex)
            res = np.empty(f.size)
            for k, fk in enumerate(f):
                Z[k], res[k] = self.solve_direct(fk)
            return ImpedanceResult(f, Z, res, "direct", f.size,
                                   fallback=np.zeros(f.size, bool),
                                   wall_time=_time.perf_counter() - t0)
        if method != "rom":
            raise ValueError(f"method must be 'rom' or 'direct', got {method!r}")
        return self._rom(f, t0, tol, n_shifts, n_moments, max_shifts, fallback)

    # -- reduced order ------------------------------------------------------------------------
    def _add_shift(self, basis: _Basis, omega: float, n_moments: int) -> None:
        s = self.system
        S = s.scale
        fac = s.factorize(omega)
        try:
            starts = [fac.solve(s.rhs(omega))]
            if s.b1 is not None:
                starts.append(fac.solve(s.b1.astype(complex)))
            qs: list[np.ndarray] = []
            for x in starts:
                q = _complex_orth(s, qs, x / S)
                if q is not None:
                    qs.append(q)
            k = 0
            while len(qs) < n_moments and k < len(qs):
                z = fac.solve(-s._apply(s.M, S * qs[k]))
                k += 1
                q = _complex_orth(s, qs, z / S)
                if q is not None:
                    qs.append(q)
        finally:
            fac.destroy()
        for q in qs:
            basis.add(q)

    def _rom(self, f, t0, tol, n_shifts, n_moments, max_shifts, fallback) -> ImpedanceResult:
        s = self.system
        w = 2 * np.pi * f
        basis = _Basis(s)
        # initial shifts: centres of n equal intervals of log ω over the band
        lw = np.log(w)
        edges = np.linspace(lw.min(), lw.max(), max(n_shifts, 1) + 1)
        shifts = list(np.exp(0.5 * (edges[1:] + edges[:-1])))
        n_fact = 0
        for ws in shifts:
            self._add_shift(basis, ws, n_moments)
            n_fact += 1
        proj = _Projection(s)
        while True:
            proj.extend(basis.Q)
            Z, res = proj.evaluate(w)
            worst = int(np.argmax(res))
            if res[worst] <= tol or len(shifts) >= max_shifts:
                break
            if np.any(np.isclose(shifts, w[worst], rtol=1e-12)):
                break
            shifts.append(float(w[worst]))
            self._add_shift(basis, w[worst], n_moments)
            n_fact += 1
        fb = res > tol
        if fallback:
            for k in np.flatnonzero(fb):
                Z[k], res[k] = self.solve_direct(f[k])
                n_fact += 1
        return ImpedanceResult(f, Z, res, "rom", n_fact, n_basis=basis.Q.shape[1],
                               shifts=tuple(np.asarray(shifts) / (2 * np.pi)), fallback=fb,
                               wall_time=_time.perf_counter() - t0)


class _Projection:
    """Galerkin projection onto a growing orthonormal basis, evaluated for many ω at once."""

    def __init__(self, system: SmallSignalSystem):
        self.s = system
        n = system.n_local
        self.Q = np.zeros((n, 0), dtype=complex)
        self.JV = np.zeros((n, 0), dtype=complex)
        self.MV = np.zeros((n, 0), dtype=complex)

    def extend(self, Q: np.ndarray) -> None:
        """Add the new columns of Q (the basis only grows)."""
        s = self.s
        k0 = self.Q.shape[1]
        Vt = s.scale[:, None] * Q[:, k0:]
        self.JV = np.column_stack([self.JV] + [s._apply(s.J, Vt[:, j]) for j in range(Vt.shape[1])])
        self.MV = np.column_stack([self.MV] + [s._apply(s.M, Vt[:, j]) for j in range(Vt.shape[1])])
        self.Q = Q.copy()
        b1 = np.zeros(s.n_local) if s.b1 is None else s.b1
        k = self.Q.shape[1]
        Vt = s.scale[:, None] * self.Q
        # reduced operators and current functionals: one reduction for all of them
        red = s._dot(self.Q, np.column_stack([self.JV, self.MV, s.b0, b1]))
        g = s._sum(np.asarray(Vt.T @ np.column_stack([s.g_u, s.g_udot])))   # no conjugate
        self.Jr, self.Mr = red[:, :k], red[:, k:2 * k]
        self.b0r, self.b1r = red[:, 2 * k], red[:, 2 * k + 1]
        self.gu, self.gud = g[:, 0], g[:, 1]

    def evaluate(self, w: np.ndarray):
        """Z(ω) (Ω m²) and relative residuals at all ω (collective: one reduction)."""
        s = self.s
        A = self.Jr[None, :, :] + 1j * w[:, None, None] * self.Mr[None, :, :]
        rhs = self.b0r[None, :] + 1j * w[:, None] * self.b1r[None, :]
        Y = np.linalg.solve(A, rhs[:, :, None])[:, :, 0].T          # (k, nω)
        dI = self.gu @ Y + 1j * w * (self.gud @ Y) + s.g_V + 1j * w * s.g_Vdot
        Z = s.area / dI + s.series_resistance + 1j * w * s.series_inductance
        B = s.b0[:, None] + (0 if s.b1 is None else 1j * w[None, :] * s.b1[:, None])
        R = self.JV @ Y + 1j * w[None, :] * (self.MV @ Y) - B
        loc = np.concatenate([np.sum(np.abs(R) ** 2, axis=0), np.sum(np.abs(B) ** 2, axis=0)])
        tot = s._sum(loc)
        n = w.size
        return Z, np.sqrt(tot[:n] / tot[n:])


def impedance_sweep(problem, physics, frequencies: Sequence[float], method: str = "rom",
                    **kwargs) -> ImpedanceResult:
    """One-call sweep: build an :class:`ImpedanceSolver` and run ``sweep``.

    Keyword arguments go to :meth:`ImpedanceSolver.sweep`, except ``prefix``,
    ``series_resistance`` and ``series_inductance`` which go to the solver.
    """
    init = {k: kwargs.pop(k) for k in ("prefix", "series_resistance", "series_inductance")
            if k in kwargs}
    return ImpedanceSolver(problem, physics, **init).sweep(frequencies, method, **kwargs)


__all__ = ["ImpedanceResult", "ImpedanceSolver", "SmallSignalSystem", "impedance_sweep",
           "log_frequencies", "to_ohm_cm2"]
