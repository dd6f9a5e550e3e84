"""Linear solvers inside Newton: a direct LU, or Krylov + algebraic multigrid.

``[solver] linear_solver`` (:class:`fem_cell.config.SolverSettings`) chooses:

* ``"direct"`` — a parallel sparse LU (MUMPS, else SuperLU_DIST or PETSc's own), or a
  Cholesky for a symmetric positive definite problem.  Exact to round-off; its fill and
  factorisation time grow faster than the unknowns (2-D: ~N^1.5), and its memory limits
  a cross-section to one machine.  A 1-D problem on one rank gets LAPACK's band LU
  instead (:mod:`fem_cell.solvers.banded`: same exactness, without the sparse solver's
  fixed costs that dominate a few hundred unknowns).
* ``"iterative"`` — a Krylov method preconditioned by algebraic multigrid (hypre
  BoomerAMG when PETSc has it, PETSc's GAMG otherwise): same results as LU, iteration
  counts bounded under refinement of the 2-D cross-section through the films and
  laterally (``scripts/solver_scaling.py``, docs/scaling.md); slower than LU on one
  machine, for meshes whose factorisation does not fit.

  - heat (one scalar, symmetric positive definite Jacobian): conjugate gradients + AMG;
  - coupled Li⁺/H⁺ transport (proton fractions, trapped fractions, potential Φ):
    FGMRES + a Schur field split eliminating Φ, AMG on Φ's block and overlapping
    ILU(0) (:func:`local_options`) on the fractions'
    (:func:`fem_cell.model.transport.transport_splits`).

Newton stays the outer iteration.  Each Krylov solve stops at :data:`KRYLOV_RTOL` of
its initial residual; Newton's per-field update test
(:attr:`fem_cell.solvers.problem.Field.newton_tol`) then ends on the same state as with
LU (tested: iterative = direct to 1e-8 on every summary number, measured 2.7e-10).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from fem_cell._dolfinx import MPI, PETSc
from fem_cell.solvers import LINEAR_SOLVERS

#: relative Krylov tolerance (preconditioned residual, relative to the right-hand side)
KRYLOV_RTOL = 1e-8
#: Krylov iteration limit per linear solve (a solve that needs more fails the step)
KRYLOV_MAX_IT = 1000
#: GMRES restart length
GMRES_RESTART = 200


def direct_solver_options() -> dict[str, str]:
    """PETSc options for a parallel direct LU (MUMPS, else SuperLU_DIST/PETSc)."""
    sys = PETSc.Sys()
    if sys.hasExternalPackage("mumps"):
        lu = "mumps"
    elif sys.hasExternalPackage("superlu_dist"):
        lu = "superlu_dist"
    else:
        lu = "petsc"
    return {"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": lu}


def amg_name() -> str:
    """The algebraic multigrid used: ``"hypre"`` (BoomerAMG) if PETSc has it, else
    ``"gamg"`` (PETSc's smoothed aggregation; the PyPI wheel has no hypre)."""
    return "hypre" if PETSc.Sys().hasExternalPackage("hypre") else "gamg"


def amg_options(aggressive: bool = False) -> dict[str, str]:
    """PETSc options of one AMG V-cycle as a preconditioner (no options prefix).

    Args:
        aggressive: GAMG coarsens aggressively (aggregates of the squared graph) on its
            first 4 levels instead of the first only, down to a coarsest level of up to
            2,000 equations (one LU there): what a field split's AMG gets
            (:func:`iterative_options`: the transport's Φ, the impedance's fields).  No
            effect on hypre.
    """
    if amg_name() == "hypre":
        return {"pc_type": "hypre", "pc_hypre_type": "boomeramg"}
    # on the vertex-rule preconditioner matrix (an M-matrix, fem_cell.forms.
    # vertex_quadrature): threshold 0.05 drops the weak lateral couplings of the films'
    # stretched cells so that aggregates follow the strong (through-thickness) ones;
    # symmetric SOR smoothing (PETSc's default local symmetric sweep, usable under CG).
    # Measured on a coarse 2-D exposure Jacobian (GMRES/CG to 1e-8, random right-hand
    # side): Φ block 18, heat 20 iterations; with the exact Q1 matrix GAMG did not
    # converge in 500.
    opts = {"pc_type": "gamg", "pc_gamg_threshold": "0.05", "mg_levels_pc_type": "sor"}
    if aggressive:
        # with aggregates that follow the films' columns, plain aggregation coarsened
        # Φ's operator by only about 3 per level through the thickness, over 8 levels
        # whose Galerkin products filled in (85 % of its set-up, which grew as N^1.88
        # through the thickness; now N^1.39-1.41).  Measured (docs/scaling.md): Φ's block on
        # the 32 x 480 level (random right-hand side, 1 rank) set-up 0.77 -> 0.18 s,
        # 43 -> 26 Krylov iterations at 31.7 -> 16.9 ms each; with PETSc's coarsest
        # level (50 equations) the transport's iterations grew 1.58x from 3 to 12
        # cells per layer on the coarse 2-D anneal (1.13x with 2,000).  Not for the
        # heat: aggressive, its iterations grew 1.58x from 3 x 30 to 12 x 120 cells on
        # 2 ranks (1.22x without), or 1.6x from 3 to 12 cells per layer with 2,000
        opts.update({"pc_gamg_aggressive_coarsening": "4", "pc_gamg_coarse_eq_limit": "2000"})
    return opts


def local_options() -> dict[str, str]:
    """PETSc options of a local preconditioner (no options prefix): incomplete LU with
    no fill, ILU(0), in reverse Cuthill–McKee order, on each rank's rows plus one layer
    of its neighbours' (additive Schwarz, ``asm`` with overlap 1; one rank: ILU(0) of the
    whole operator).  For a block whose couplings are node-local or along the films'
    thickness only (:func:`fem_cell.model.transport.transport_splits`), not for a
    diffusion that couples the mesh laterally (there its iterations grow with the
    lateral resolution).

    Why the overlap: dolfinx gives each node shared by two ranks to one of them, not
    column by column, so the column of nodes on a strip boundary
    (:mod:`fem_cell.meshing.partition`) is owned partly by each side and block Jacobi
    (no overlap) cuts its strong through-thickness couplings.  Measured on the
    12 × 120 × 1.045 anneal (1-min hold, FGMRES iterations per Newton iteration, Φ's
    block by AMG): 1 rank 17.2; on 2 ranks block Jacobi 28.1, overlap 1 20.3, the same
    as the fractions' block solved exactly; with Φ's block exact, block Jacobi 15.4 even
    with LU per rank, overlap 1 7.0, both blocks exact 3.7.  At overlap 1 ILU(0) in
    PETSc's natural order gave 24.6, in RCM order 20.3 (docs/scaling.md)."""
    return {"pc_type": "asm", "pc_asm_overlap": "1", "sub_pc_type": "ilu",
            "sub_pc_factor_mat_ordering_type": "rcm"}


def iterative_options(*, symmetric: bool, splits: Sequence[str] = (),
                      schur: bool = False, local: Sequence[str] = ()) -> dict[str, str]:
    """PETSc options of the iterative path (no options prefix).

    Args:
        symmetric: the Jacobian is symmetric positive definite (conjugate gradients).
        splits: names of the field splits of a block system (a multiplicative
            field-split preconditioner with one AMG V-cycle per split); empty: one AMG
            on the whole operator.
        schur: two splits, the first eliminated by a Schur complement (the block
            upper-triangular factor: the Schur complement's solve, then one of the
            first split's; the Schur complement's preconditioner matrix is given by
            the caller, :class:`fem_cell.solvers.problem.TransientProblem`).
        local: the splits preconditioned by :func:`local_options` instead of AMG.
    """
    unknown = [name for name in local if name not in splits]
    if unknown:
        raise ValueError(f"local preconditioner for splits {unknown} that are not among "
                         f"the splits {list(splits)}")
    opts = {"ksp_type": "cg" if symmetric else "fgmres", "ksp_rtol": KRYLOV_RTOL,
            "ksp_max_it": KRYLOV_MAX_IT, "ksp_error_if_not_converged": False}
    if not symmetric:
        # classical Gram–Schmidt with re-orthogonalisation: without it the Arnoldi basis
        # of these badly row-scaled systems loses orthogonality, the recurrence residual
        # drifts below the true one near 1e-7 and GMRES ran to its restart (200
        # iterations instead of <= 23 in the 1-D exposure + anneal)
        opts["ksp_gmres_restart"] = GMRES_RESTART
        opts["ksp_gmres_cgs_refinement_type"] = "refine_always"
    if not splits:    # (the heat: PETSc's coarsening, see amg_options)
        opts.update(amg_options())
        return opts
    if schur:
        # the upper factor applies the first split's AMG once per iteration, the full
        # factorisation twice; same Krylov counts (12 x 120 x 1.045 anneal, 1-min hold:
        # 17.19 against 17.16 per Newton iteration on 1 rank, 20.41 against 20.32 on 2;
        # 1-D exposure at 64 cells per layer 8.38 against 8.33), walls 10-26 % lower
        # (scripts/solver_scaling.py levels; the default 2-D anneal on 2 ranks 210 -> 170 s)
        opts.update({"pc_type": "fieldsplit", "pc_fieldsplit_type": "schur",
                     "pc_fieldsplit_schur_fact_type": "upper"})
    else:
        opts.update({"pc_type": "fieldsplit", "pc_fieldsplit_type": "multiplicative"})
    for name in splits:
        opts[f"fieldsplit_{name}_ksp_type"] = "preonly"
        for k, v in (local_options() if name in local else
                     amg_options(aggressive=True)).items():
            opts[f"fieldsplit_{name}_{k}"] = v
    return opts


def block_index_sets(owned: Sequence[int], groups: Mapping[str, Sequence[int]], start: int,
                     comm) -> list[tuple[str, PETSc.IS]]:
    """Index sets of groups of fields in a blocked (``kind="mpi"``) system.

    dolfinx stacks the owned DOFs of the fields rank by rank: this rank's rows are
    ``start + [owned of field 0, owned of field 1, ...]``.

    Args:
        owned: owned DOFs of each field on this rank (block size included).
        groups: split name → indices of its fields (every field in exactly one group).
        start: first global row of this rank (``A.getOwnershipRange()[0]``).
        comm: the system's communicator.
    """
    offsets = np.concatenate([[0], np.cumsum(owned)]).astype(np.int64)
    seen = sorted(i for idx in groups.values() for i in idx)
    if seen != list(range(len(owned))):
        raise ValueError(f"every field must be in exactly one split, got {dict(groups)}")
    out = []
    for name, idx in groups.items():
        rows = np.concatenate([np.arange(offsets[i], offsets[i + 1], dtype=PETSc.IntType)
                               for i in idx]) + start
        out.append((name, PETSc.IS().createGeneral(rows.astype(PETSc.IntType), comm=comm)))
    return out


class RepeatedSolve:
    """A direct solver's memory of one solve, to answer the same solve again for free.

    Newton's look-ahead (:meth:`fem_cell.solvers.problem.TransientProblem.
    _update_convergence_test`) back-substitutes the next update δ = J⁻¹ F(u) before SNES
    asks for it; when δ does not pass the test, SNES's next iteration solves the very
    same system (the same right-hand side, and the same factorisation unless a new
    Jacobian is due, which sets the solver up again).  A context that mixes this in
    keeps the look-ahead's right-hand side and solution (:meth:`remember_next`, armed by
    the caller before that solve) and hands the solution back when the next solve's
    right-hand side is identical (every entry, on every rank); anything else, and any
    set-up, forgets it.  Default 2-D anneal (fraction Newton tolerance 1e-11 then): 40 of
    280 transport back-substitutions were such repeats (19 ms each on 2 ranks).
    """

    def __init__(self):
        self._armed = False
        self._memo: tuple[np.ndarray, np.ndarray] | None = None
        #: solves answered from memory
        self.repeats = 0

    def remember_next(self) -> None:
        """Keep the right-hand side and solution of the next solve (collective: every
        rank arms alike)."""
        self._armed = True

    def forget(self) -> None:
        """Drop the memory (the operator changed)."""
        self._armed = False
        self._memo = None

    def _recall(self, comm, rhs: np.ndarray, out: PETSc.Vec) -> bool:
        """Whether this solve's right-hand side (owned entries) is the remembered one on
        every rank; if so, its solution is set into ``out``.  The memory is used once."""
        memo, self._memo = self._memo, None
        if memo is None:
            return False
        same = memo[0].shape == rhs.shape and bool(np.array_equal(memo[0], rhs))
        if comm is not None and comm.size > 1:
            same = comm.allreduce(same, op=MPI.LAND)
        if same:
            out.setArray(memo[1])
            self.repeats += 1
        return same

    def _keep(self, rhs: np.ndarray, solution: np.ndarray) -> None:
        """Remember this solve if armed (copies: the arrays may be views)."""
        if self._armed:
            self._memo = (rhs.copy(), solution.copy())
            self._armed = False


__all__ = ["GMRES_RESTART", "KRYLOV_MAX_IT", "KRYLOV_RTOL", "LINEAR_SOLVERS",
           "RepeatedSolve", "amg_name", "amg_options", "block_index_sets",
           "direct_solver_options", "iterative_options", "local_options"]
