"""Jacobian matrices that store only the entries that can be non-zero.

dolfinx allocates a form's matrix with every pair of degrees of freedom that share a
cell, whatever the integrand.  In the coupled transport much of that is structurally
zero whatever the state:

* the trapped fraction's equation (its time derivative and the trapping reaction) is
  integrated with the vertex rule (lumped), so it couples the unknowns of one node
  only, not a cell's;
* each phase's proton field is pinned (a Dirichlet row) on the nodes its phase does not
  touch, and dolfinx zeroes a constrained row and column before inserting them.

A direct solver orders and factorises the *stored* pattern, zeros included.  The 1-D
transport Jacobian of the default cell stores 10,416 entries of which 3,961 can be
non-zero, and LAPACK's band LU (:mod:`fem_cell.solvers.banded`) then factorises a band
of half-width 5 instead of 11 after reverse Cuthill–McKee.
:class:`~fem_cell.solvers.problem.TransientProblem` uses it under the band LU and under
the condensed direct solve (:mod:`fem_cell.solvers.condensed`).  On the default 2-D
transport Jacobian (226,548 unknowns) 37 % of dolfinx's 4.0 M stored entries of the
blocked matrix are zero at every state.  MUMPS on the compact matrix *itself* was not
robust: its factor had 27 % fewer entries (0.68 s instead of 0.99 s on one rank), but
its threshold pivoting stays within fronts that follow the pattern, and Newton diverged
(1 rank) or stalled (2 ranks) at a step of the default 2-D anneal that it converges in
6 iterations on dolfinx's pattern (docs/architecture.md).  With the condensed solve
MUMPS factorises the condensed system instead, and the whole default 2-D anneal takes
the same steps and iterations as on dolfinx's pattern (1 and 2 ranks).

:func:`compact_matrix` returns a matrix whose pattern is the entries that can be
non-zero, found by assembling the Jacobian at two states where every coefficient and
constant of its forms is perturbed by a random amount (so no entry is zero by
coincidence, e.g. a coupling proportional to a fraction that is still zero), then
restored exactly.  The matrix ignores zero values added outside its pattern
(``MAT_IGNORE_ZERO_ENTRIES``): dolfinx still adds the structurally zero entries, which
are dropped.  A non-zero at a position outside the pattern would be inserted (PETSc
allocates it, the factorisation then redoes its analysis; counted by
:func:`pattern_extensions`), never lost: the pattern is a performance choice, not an
approximation.  The entries kept hold exactly the values dolfinx assembles, so the
Newton systems are the same; only the direct solver's ordering, and with it the
round-off, may change.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import numpy as np

from fem_cell._dolfinx import MPI, PETSc, fem

#: compact only when at least this fraction of the stored entries can be dropped
MIN_DROPPED_FRACTION = 0.1
#: perturbed states whose non-zero entries make the pattern
SAMPLES = 2
#: relative size of the perturbation of each coefficient and constant
PERTURBATION = 0.05


def _forms(forms) -> list[fem.Form]:
    """The compiled forms of a form or a nested list of forms (None dropped)."""
    if forms is None:
        return []
    if isinstance(forms, Sequence):
        return [f for a in forms for f in _forms(a)]
    return [forms]


def inputs(forms) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The value arrays of the functions (with ghosts) and constants that the compiled
    forms (a form or a nested list) read, each once."""
    functions: dict[int, np.ndarray] = {}
    constants: dict[int, np.ndarray] = {}
    for f in _forms(forms):
        for c in f._cpp_object.coefficients:
            a = c.x.array
            functions.setdefault(a.__array_interface__["data"][0], a)
        for c in f._cpp_object.constants:
            a = c.value
            constants.setdefault(a.__array_interface__["data"][0], a)
    return list(functions.values()), list(constants.values())


def _shift(a: np.ndarray, scale: np.ndarray | float, rng: np.random.Generator) -> None:
    """Add to ``a`` (in place) a positive random shift of :data:`PERTURBATION` × ``scale``
    (a zero or non-finite scale counts as 1): signs of positive quantities (temperatures,
    fractions) are kept, and no value stays where a derivative vanishes by chance."""
    scale = np.where((scale > 0) & np.isfinite(scale), scale, 1.0)
    a += PERTURBATION * scale * rng.uniform(0.5, 1.5, size=a.shape)


@contextmanager
def perturbed(values: tuple[list[np.ndarray], list[np.ndarray]], seed: int):
    """Every function and constant of ``values`` (:func:`inputs` of some forms) shifted
    at random (each function by a share of its largest magnitude, each constant's value
    by a share of its own), restored exactly on exit."""
    functions, constants = values
    rng = np.random.default_rng(seed)
    saved = [a.copy() for a in functions + constants]
    try:
        for a in functions:
            _shift(a, float(np.max(np.abs(a))) if a.size else 0.0, rng)
        if constants:  # one vectorised shift of every constant's value (there are ~10²)
            flat = np.concatenate([c.ravel() for c in constants])
            _shift(flat, np.abs(flat), rng)
            at = 0
            for c in constants:
                c[...] = flat[at:at + c.size].reshape(c.shape)
                at += c.size
        yield
    finally:
        for a, v in zip(functions + constants, saved, strict=True):
            a[...] = v


def structural_pattern(A: PETSc.Mat, forms, bcs) -> tuple[np.ndarray, np.ndarray]:
    """The locally owned rows' pattern (CSR ``indptr``, global column ``indices``) of the
    entries of ``A`` that are non-zero at any of :data:`SAMPLES` perturbed states, plus
    the diagonal.  ``A`` is dolfinx's matrix of ``forms`` (its values are overwritten);
    ``bcs``: the conditions the Jacobian is assembled with (their rows and columns keep
    only the diagonal)."""
    from dolfinx.fem.petsc import assemble_matrix

    total = None
    values_read = inputs(forms)
    for k in range(SAMPLES):
        with perturbed(values_read, seed=k):
            A.zeroEntries()
            assemble_matrix(A, forms, bcs, diag=1.0)
            A.assemble()
        indptr, indices, values = A.getValuesCSR()
        size = np.abs(values)
        total = size if total is None else total + size
    first = A.getOwnershipRange()[0]
    rows = first + np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    keep = (total != 0) | (indices == rows)       # NaN != 0: kept
    counts = np.bincount(rows[keep] - first, minlength=len(indptr) - 1)
    new_indptr = np.concatenate([[0], np.cumsum(counts)]).astype(PETSc.IntType)
    return new_indptr, indices[keep].astype(PETSc.IntType)


def compact_matrix(A: PETSc.Mat, forms, bcs) -> PETSc.Mat | None:
    """A matrix for ``forms`` holding only the entries that can be non-zero (see the
    module docstring), or None when that drops less than :data:`MIN_DROPPED_FRACTION`
    of ``A``'s stored entries or ``A`` is not a scalar AIJ matrix (collective; every
    rank decides alike).  ``A`` (dolfinx's matrix of ``forms``, same local-to-global
    maps) is left allocated but with undefined values: the caller destroys it."""
    comm = A.getComm().tompi4py()
    eligible = A.getType() in ("seqaij", "mpiaij") and A.getBlockSizes() == (1, 1)
    if not comm.allreduce(eligible, op=MPI.LAND):
        return None
    indptr, indices = structural_pattern(A, forms, bcs)
    stored = A.getInfo(PETSc.Mat.InfoType.LOCAL)["nz_used"]
    kept, stored = comm.allreduce(np.array([len(indices), stored], dtype=float), op=MPI.SUM)
    if kept > (1.0 - MIN_DROPPED_FRACTION) * stored:
        return None
    B = PETSc.Mat().createAIJ(A.getSizes(), csr=(indptr, indices), comm=A.getComm())
    B.setLGMap(*A.getLGMap())
    B.setOption(PETSc.Mat.Option.IGNORE_ZERO_ENTRIES, True)
    # a value outside the pattern is allocated (and counted), never an error or lost
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATION_ERR, False)
    B.setOption(PETSc.Mat.Option.NEW_NONZERO_LOCATIONS, True)
    return B


def pattern_extensions(A: PETSc.Mat) -> int:
    """Allocations PETSc made for entries outside ``A``'s pattern since it was created
    (summed over ranks; 0 when the pattern held every non-zero)."""
    comm = A.getComm().tompi4py()
    return int(comm.allreduce(int(A.getInfo(PETSc.Mat.InfoType.LOCAL)["mallocs"]), op=MPI.SUM))


__all__ = ["MIN_DROPPED_FRACTION", "compact_matrix", "inputs", "pattern_extensions",
           "perturbed", "structural_pattern"]
