"""Small-signal impedance of a state: (J + iωM) δu = δb(ω), Z = δV/δI (design principle 8).

At a state u0 (e.g. open circuit) the solver differentiates the physics blocks' own
residual and mass forms (:meth:`TransientProblem.linearised_forms`):

    J = ∂G/∂u,   M = ∂(mass)/∂u̇,   δb(ω) = −∂G/∂V − iω ∂(mass)/∂V̇      (δV = 1)

where V is the drive (the Li pad potential, a DG0 coefficient of the block) and V̇ its
rate.  The terminal current is the UFL functional ``physics.terminal_current(u, u̇)``;
its derivatives give δI = (g_u + iω g_u̇)·δu + g_V + iω g_V̇, and

    Z(ω) = A_contact / δI(ω)  +  (R_lead + iω L_lead) A_pad      (Ω m², area-specific)

PETSc is real.  A complex solve uses the real 2×2 block form

    [[J, −ωM], [ωM, J]] [x_r; x_i] = [b_r; b_i]

and the reduced-order sweep factorises the real J + σM (σ > 0); both are built from the
CSR of J and M with one fixed pattern each (constrained rows are unit rows), so MUMPS
orders once and every further shift or frequency is a numeric refactorisation.  Two sweeps:

* ``direct``: one factorisation of the block form per frequency.
* ``rom`` (default): real shifts σ_k log-spaced over the band; per shift one factorisation
  of K = J + σ_kM and a block shift-invert Krylov sequence K⁻¹[b0, b1], K⁻¹M Q, … (b0, b1
  the parts of δb = b0 + iω b1; a block's columns in one MUMPS solve), orthonormalised
  within the shift as it grows, then into one real basis V (block CGS2, TSQR + SVD
  deflation).  The cell's relaxation times are real, so moments at real shifts span
  the response on the imaginary axis.  Per frequency a dense
  (Vᵀ(J + iωM)SV) y = Vᵀδb(ω) is solved (all frequencies at once; S the per-field
  scaling) and the a-posteriori residual ‖(J + iωM)SVy − δb‖/‖δb‖ is checked with the
  full vectors.  Where it exceeds ``tol`` a new shift is added at the worst frequency
  (up to ``max_shifts``), then any frequency still above ``tol`` falls back to a direct
  solve.

The factorisations, the basis and the projection are in :mod:`fem_cell.solvers.rom`.
Everything is collective on the mesh communicator; no solver state lives at module level.
"""

from __future__ import annotations

import time as _time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, fem, ufl
from fem_cell.domain import sum_over_ranks
from fem_cell.forms import compile_form, constant, vertex_quadrature
from fem_cell.solvers import LINEAR_SOLVERS
from fem_cell.solvers.rom import _LU, _Basis, _CsrSum, _Krylov, _Projection


def to_ohm_cm2(Z):
    """Area-specific impedance Ω m² → Ω cm²."""
    return np.asarray(Z) * 1e4


def log_frequencies(f_min: float, f_max: float, n: int) -> np.ndarray:
    """n log-spaced frequencies (Hz) from f_min to f_max."""
    return np.logspace(np.log10(f_min), np.log10(f_max), n)


def initial_shifts(frequencies: Sequence[float], n_shifts: int) -> np.ndarray:
    """The ROM's first real shifts σ (rad/s): the centres of ``n_shifts`` equal intervals
    of log ω over the band of ``frequencies`` (Hz)."""
    lw = np.log(2 * np.pi * np.asarray(frequencies, dtype=float))
    edges = np.linspace(lw.min(), lw.max(), max(n_shifts, 1) + 1)
    return np.exp(0.5 * (edges[1:] + edges[:-1]))


@dataclass(frozen=True)
class ImpedanceResult:
    """Outcome of a sweep.

    Attributes:
        frequencies: f (Hz).
        impedance: Z (Ω m², area-specific, complex), incl. the series lead terms.
        residuals: relative residual ‖(J + iωM)δu − δb‖/‖δb‖ per frequency (–).
        method: ``"direct"`` or ``"rom"``.
        n_factorizations: LU factorisations used (the iterative path: those of the
            direct fallback only).
        n_basis: reduced basis size (0 for direct).
        shifts: shift frequencies of the ROM (Hz).
        fallback: frequencies solved directly after the ROM (bool mask).
        wall_time: time of the sweep (s), excluding the operator assembly.
        linear_solver: how the ROM's shifted systems were solved: ``"direct"`` (MUMPS
            LU) or ``"iterative"`` (:class:`~fem_cell.solvers.rom._Krylov`).
        krylov_iterations: the iterative path: Krylov iterations over every shifted
            solve.
        krylov_max: the iterative path: the most Krylov iterations of one solve.
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
    linear_solver: str = "direct"
    krylov_iterations: int = 0
    krylov_max: int = 0

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
        J, M, dG, dMass = problem.linearised_forms(drive=(physics.V, physics.V_dot))
        J, M, dG, dMass = (_wrap(a, nf) for a in (J, M, dG, dMass))
        self._forms = (J, M)
        self._assemble_operators(J, M)
        self.offsets = self._field_offsets()
        self.bc_mask = self._constrained_mask()
        # Constrained columns of J and M are zero here and their rows zero or a BC diagonal
        # (pinned DOFs often carry no integral at all, and dolfinx inserts the diagonal only
        # when test and trial spaces are the same object); the operators that are
        # factorised (_CsrSum) replace every constrained row by a unit row.

        self.b0 = -self._vector(dG)
        self.b1 = None if dMass is None else -self._vector(dMass)
        if self.b1 is not None and self._norm(self.b1) == 0.0:
            self.b1 = None
        self._current_derivatives()
        self._series_leads(series_resistance, series_inductance)
        self.scale = self._unknown_scaling()

    # -- construction steps -------------------------------------------------------------
    def _assemble_operators(self, J, M) -> None:
        """Assemble J (BC diagonal 1) and M (BC diagonal 0); set ``n_local``.

        Raises:
            ValueError: the blocks have no mass terms (M is None).
        """
        emaps = self.problem.entity_maps

        def compile_(a):
            return None if a is None else compile_form(a, entity_maps=emaps)

        bcs = self.problem.bcs
        self.J = fem.petsc.assemble_matrix(compile_(J), bcs=bcs, diag=1.0)
        self.J.assemble()
        if M is None:
            raise ValueError("the blocks have no mass terms: nothing depends on frequency")
        self.M = fem.petsc.assemble_matrix(compile_(M), bcs=bcs, diag=0.0)
        self.M.assemble()
        self.n_local = self.J.getLocalSize()[0]

    def _field_offsets(self) -> list[int]:
        """Start of each field's owned entries in the blocked vectors (and the total)."""
        offsets = [0]
        for f in self.problem.fields:
            im = f.space.dofmap.index_map
            offsets.append(offsets[-1] + im.size_local * f.space.dofmap.index_map_bs)
        return offsets

    def _constrained_mask(self) -> np.ndarray:
        """Owned DOFs (blocked layout) constrained by a Dirichlet condition."""
        offsets = self.offsets
        mask = np.zeros(self.n_local, dtype=bool)
        for bc in self.problem.bcs:
            for k, f in enumerate(self.problem.fields):
                if f.space._cpp_object.contains(bc.function_space):
                    dofs, _ = bc.dof_indices()
                    n_owned = offsets[k + 1] - offsets[k]
                    own = dofs[dofs < n_owned]
                    mask[offsets[k] + own] = True
        return mask

    def _current_derivatives(self) -> None:
        """The terminal current functional's derivatives: ``g_u``, ``g_udot`` (vectors),
        ``g_V``, ``g_Vdot`` (numbers), and the contact ``area``."""
        fields = self.problem.fields
        physics = self.physics
        nf = len(fields)
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

    def _series_leads(self, series_resistance: float | None,
                      series_inductance: float | None) -> None:
        """Set the series lead terms; None → lead value × pad area from ``physics.params``
        (0 without params)."""
        params = self.physics.params
        if series_resistance is None:
            series_resistance = (0.0 if params is None
                                 else params.lead_resistance * params.pad_area)
        if series_inductance is None:
            series_inductance = (0.0 if params is None
                                 else params.lead_inductance * params.pad_area)
        self.series_resistance = float(series_resistance)
        self.series_inductance = float(series_inductance)

    def _unknown_scaling(self) -> np.ndarray:
        """Per-DOF scaling S from ``physics.field_scales()`` (1 where not given)."""
        physics = self.physics
        scales = physics.field_scales() if hasattr(physics, "field_scales") else {}
        scale = np.ones(self.n_local)
        for k, f in enumerate(self.problem.fields):
            scale[self.offsets[k]:self.offsets[k + 1]] = scales.get(f.name, 1.0)
        return scale

    def destroy(self) -> None:
        """Free the PETSc matrices (collective)."""
        for X, Y in self.__dict__.pop("_work", {}).values():
            X.destroy()
            Y.destroy()
        for A in (self.J, self.M, *self.__dict__.pop("_vertex", ())):
            A.destroy()

    # -- small helpers ------------------------------------------------------------------
    def _vector(self, L) -> np.ndarray:
        """Assemble linear form block(s) → owned entries (blocked layout), BC rows zeroed."""
        emaps = self.problem.entity_maps
        L = list(L) if isinstance(L, (list, tuple)) else [L]
        L = [None if a is None or a.empty() else a for a in L]
        spaces = [f.space for f in self.problem.fields]
        L = list(L) + [None] * (len(spaces) - len(L))
        forms = []
        for a, V in zip(L, spaces, strict=True):
            if a is None:
                v = ufl.TestFunction(V)
                a = constant(V.mesh, 0.0) * v * ufl.dx
            forms.append(compile_form(a, entity_maps=emaps))
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
        emaps = self.problem.entity_maps
        local = fem.assemble_scalar(compile_form(a, entity_maps=emaps))
        return sum_over_ranks(self.comm, local)

    def _norm(self, x: np.ndarray) -> float:
        return float(np.sqrt(sum_over_ranks(self.comm, float(np.vdot(x, x).real))))

    def _dot(self, a: np.ndarray, b: np.ndarray):
        """Global aᴴb (a: (n,) or (n, k)) — one reduction."""
        aH = a.conj().T if np.iscomplexobj(a) else a.T
        return sum_over_ranks(self.comm, np.asarray(aH @ b))

    def rhs(self, omega: float) -> np.ndarray:
        """δb(ω) (complex, owned entries)."""
        b = self.b0.astype(complex)
        if self.b1 is not None:
            b = b + 1j * omega * self.b1
        return b

    def current(self, x: np.ndarray, omega: float) -> complex:
        """δI for δu = x (complex owned entries), δV = 1 (A, or A/m² in 1-D)."""
        g = self.g_u + 1j * omega * self.g_udot
        tot = complex(sum_over_ranks(self.comm, complex(np.dot(g, x))))
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
        work = self.__dict__.setdefault("_work", {})
        if id(A) not in work:
            work[id(A)] = (A.createVecRight(), A.createVecLeft())
        X, Y = work[id(A)]
        out = []
        for part in ((x.real, x.imag) if np.iscomplexobj(x) else (x,)):
            X.getArray()[:] = part
            A.mult(X, Y)
            out.append(Y.getArray(readonly=True).copy())
        return out[0] + 1j * out[1] if len(out) == 2 else out[0]

    # -- operators from the CSR of J and M, and their factorisations -----------------------
    def _csr(self, kind: str) -> _CsrSum:
        sums = self.__dict__.setdefault("_sums", {})
        if kind not in sums:
            sums[kind] = (_CsrSum(self, "real", self.vertex_operators())
                          if kind == "real_vertex" else _CsrSum(self, kind))
        return sums[kind]

    def vertex_operators(self) -> tuple[PETSc.Mat, PETSc.Mat]:
        """J and M with their cell integrals by the vertex rule
        (:func:`fem_cell.forms.vertex_quadrature`; assembled on first use, BC diagonals
        as J and M): the iterative path's preconditioner matrices."""
        if "_vertex" not in self.__dict__:
            emaps = self.problem.entity_maps
            bcs = self.problem.bcs
            out = []
            for a, diag in zip(self._forms, (1.0, 0.0), strict=True):
                v = [[vertex_quadrature(x) for x in row] for row in a]
                A = fem.petsc.assemble_matrix(compile_form(v, entity_maps=emaps), bcs=bcs,
                                              diag=diag)
                A.assemble()
                out.append(A)
            self._vertex = tuple(out)
        return self._vertex

    def shifted_operator(self, sigma: float) -> PETSc.Mat:
        """AIJ matrix J + σM (real shift σ, rad/s), unit rows on the constrained DOFs."""
        return self._csr("real").matrix(sigma)

    def factorize(self, omega: float) -> _LU:
        """LU (MUMPS) of the block operator [[J, −ωM], [ωM, J]] at ω (rad/s); ``.solve(b)``
        for complex b, ``.factor(ω2)`` refactorises at another ω (ordering reused)."""
        lu = _LU(self, "block")
        lu.factor(omega)
        return lu


class ImpedanceSolver:
    """Impedance sweeps of a state (see module docstring).

    Args:
        problem: the transient problem, at the state to linearise about.
        physics: the block with the drive and the terminal current.
        prefix: unique PETSc options prefix.
        series_resistance: area-specific lead resistance (Ω m²), default from params.
        series_inductance: area-specific lead inductance (H m²), default from params.
        linear_solver: how the ROM solves its shifted systems J + σM: ``"direct"``
            (MUMPS LU, default) or ``"iterative"`` (FGMRES + field split + AMG,
            :class:`~fem_cell.solvers.rom._Krylov`; ``[solver] linear_solver``).  The
            ``"direct"`` sweep method and the ROM's fallback solve the complex block
            system with MUMPS either way.
    """

    def __init__(self, problem, physics, *, prefix: str = "fem_cell_eis_",
                 series_resistance: float | None = None, series_inductance: float | None = None,
                 linear_solver: str = "direct"):
        if linear_solver not in LINEAR_SOLVERS:
            raise ValueError(f"linear_solver must be one of {LINEAR_SOLVERS}, "
                             f"got {linear_solver!r}")
        self.linear_solver = linear_solver
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
        lu = _LU(self.system, "block")
        try:
            return self._direct(lu, frequency)
        finally:
            lu.destroy()

    def _direct(self, lu: _LU, frequency: float) -> tuple[complex, float]:
        s = self.system
        w = 2 * np.pi * frequency
        lu.factor(w)
        x = lu.solve(s.rhs(w))
        return s.impedance_from_current(s.current(x, w), w), s.residual(x, w)

    def sweep(self, frequencies: Sequence[float], method: str = "rom", *, tol: float = 1e-6,
              n_shifts: int = 4, n_moments: int = 14, max_shifts: int = 6,
              fallback: bool = True, poll=None) -> ImpedanceResult:
        """Impedance at the given frequencies (Hz).

        Args:
            frequencies: f > 0 (Hz).
            method: ``"rom"`` (default) or ``"direct"``.
            tol: ROM: largest accepted relative residual (–).
            n_shifts: ROM: initial real shifts (log-spaced over the band).
            n_moments: ROM: Krylov vectors per shift.
            max_shifts: ROM: most shifts after enrichment.
            fallback: ROM: solve directly where the residual still exceeds ``tol``.
            poll: called (collectively) between factorisations and direct solves; it
                may raise to stop the sweep (e.g. on Ctrl-C).
        """
        poll = poll or (lambda: None)
        f = np.asarray(frequencies, dtype=float)
        if f.ndim != 1 or f.size == 0 or np.any(f <= 0):
            raise ValueError("frequencies must be a non-empty 1-D array of positive Hz")
        if method not in ("rom", "direct"):
            raise ValueError(f"method must be 'rom' or 'direct', got {method!r}")
        t0 = _time.perf_counter()
        if method == "direct":
            Z = np.empty(f.size, complex)
            res = np.empty(f.size)
            lu = _LU(self.system, "block")
            try:
                for k, fk in enumerate(f):
                    poll()
                    Z[k], res[k] = self._direct(lu, fk)
            finally:
                lu.destroy()
            return ImpedanceResult(f, Z, res, "direct", lu.n_factorizations,
                                   fallback=np.zeros(f.size, bool),
                                   wall_time=_time.perf_counter() - t0)
        return self._rom(f, t0, tol, n_shifts, n_moments, max_shifts, fallback, poll)

    # -- reduced order ------------------------------------------------------------------------
    def _add_shift(self, lu: _LU | _Krylov, basis: _Basis, sigma: float,
                   n_moments: int) -> None:
        """Block shift-invert Krylov vectors of J + σM: K⁻¹[b0, b1], then K⁻¹M q for the
        latest block (all columns of a block in one MUMPS solve); orthonormalised among
        themselves (the shift's own sequence), then into the basis."""
        s = self.system
        S = s.scale
        lu.factor(sigma)
        local = _Basis(s)
        rhs = [s.b0] + ([] if s.b1 is None else [s.b1])
        X = lu.solve_many(np.column_stack(rhs))
        block = [q for x in X.T if (q := local.add(x / S)) is not None]
        while block and local.k < n_moments:
            X = lu.solve_many(np.column_stack([s._apply(s.M, S * q) for q in block]))
            block = []
            for x in X.T:
                if local.k >= n_moments:
                    break
                q = local.add(x / S)
                if q is not None:
                    block.append(q.copy())
        basis.add_block(local.Q)

    def _rom(self, f, t0, tol, n_shifts, n_moments, max_shifts, fallback,
             poll) -> ImpedanceResult:
        s = self.system
        w = 2 * np.pi * f
        basis = _Basis(s)
        shifts = list(initial_shifts(f, n_shifts))
        lu = _Krylov(s) if self.linear_solver == "iterative" else _LU(s, "real")
        try:
            for sigma in shifts:
                poll()
                self._add_shift(lu, basis, sigma, n_moments)
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
                poll()
                self._add_shift(lu, basis, w[worst], n_moments)
        finally:
            lu.destroy()
        iterative = isinstance(lu, _Krylov)
        n_fact = 0 if iterative else lu.n_factorizations
        krylov = (lu.iterations, lu.max_iterations) if iterative else (0, 0)
        fb = res > tol
        if fallback and fb.any():
            dlu = _LU(s, "block")
            try:
                for k in np.flatnonzero(fb):
                    poll()
                    Z[k], res[k] = self._direct(dlu, f[k])
            finally:
                dlu.destroy()
            n_fact += dlu.n_factorizations
        return ImpedanceResult(f, Z, res, "rom", n_fact, n_basis=basis.k,
                               shifts=tuple(np.asarray(shifts) / (2 * np.pi)), fallback=fb,
                               wall_time=_time.perf_counter() - t0,
                               linear_solver=self.linear_solver, krylov_iterations=krylov[0],
                               krylov_max=krylov[1])


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
           "initial_shifts", "log_frequencies", "to_ohm_cm2"]
