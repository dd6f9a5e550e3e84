"""Which direct solver a 1-D problem gets: the band LU on one rank, MUMPS on several
(fem_cell.solvers.banded is serial; the transport's MUMPS solve is the condensed one,
fem_cell.solvers.condensed), and Newton without SNES on one rank only
(fem_cell.solvers.newton).  Run under ``mpirun -n 2 python -m pytest -m mpi``;
serially it checks the one-rank case only."""

import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.solvers.banded import BandedLU
from fem_cell.solvers.condensed import CondensedLU


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["self", "world"])
def test_band_lu_on_one_rank_only(which):
    comm = MPI.COMM_SELF if which == "self" else MPI.COMM_WORLD
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, comm)
    chem = model.chemistry(expose=False)
    for p in (chem.transport_problem, chem.heat.problem):
        pc = p.snes.getKSP().getPC()
        if comm.size == 1:
            assert isinstance(p._banded, BandedLU) and pc.getType() == "python"
        elif p is chem.transport_problem:
            assert p._banded is None and isinstance(p._condensed, CondensedLU)
            assert pc.getType() == "python" and p.solver_counts()["factorisation"] == "mumps"
        else:
            assert p._banded is None and pc.getType() in ("lu", "cholesky")
        # Newton without SNES (fem_cell.solvers.newton): one rank, the transport's
        # update test
        assert p.direct_newton is (comm.size == 1 and p is chem.transport_problem)
    model.destroy()


@pytest.mark.mpi
def test_direct_newton_refuses_a_distributed_vector():
    from fem_cell._dolfinx import PETSc
    from fem_cell.solvers.newton import DirectNewton

    comm = MPI.COMM_WORLD
    x = PETSc.Vec().createMPI((2, PETSc.DECIDE), comm=comm)
    b = x.duplicate()
    pc = PETSc.PC().create(comm)
    A = PETSc.Mat().createAIJ(((2, PETSc.DECIDE), (2, PETSc.DECIDE)), comm=comm)
    try:
        if comm.size == 1:
            newton = DirectNewton(pc, x, b, A, residual=None, jacobian=None, test=None,
                                  max_it=1)
            newton.destroy()
        else:
            with pytest.raises(ValueError, match="serial"):
                DirectNewton(pc, x, b, A, residual=None, jacobian=None, test=None,
                             max_it=1)
    finally:
        for obj in (x, b, pc, A):
            obj.destroy()
