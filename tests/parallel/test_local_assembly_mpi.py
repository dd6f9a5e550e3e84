"""The compiled assembly loop (fem_cell.solvers.local_assembly) is a one-rank path: under
``mpirun -n 2`` a problem on each rank's own communicator uses it (and matches dolfinx
bit for bit), a problem on both ranks is assembled by dolfinx, and the loop refuses a
form on a distributed mesh.  Serially it checks the one-rank case only."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, dolfinx, fem, ufl
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.solvers.local_assembly import LocalAssembler


@pytest.mark.mpi
@pytest.mark.parametrize("which", ["self", "world"])
def test_compiled_assembly_on_one_rank_only(which):
    comm = MPI.COMM_SELF if which == "self" else MPI.COMM_WORLD
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, comm)
    try:
        chem = model.chemistry(expose=False)
        for p in (chem.transport_problem, chem.heat.problem):
            used = p.solver_counts()["compiled_assembly"]
            assert used == (comm.size == 1), p.local_assembly_reason
            if used:
                b = np.zeros(p._problem.b.getLocalSize())
                p._local_residual.vector(b)
                ref = np.zeros_like(b)
                from dolfinx.fem.assemble import _assemble_vector_array
                _assemble_vector_array(ref, p._problem.F)
                assert np.array_equal(b, ref)
    finally:
        model.destroy()


@pytest.mark.mpi
def test_a_distributed_form_is_refused():
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 8)
    V = fem.functionspace(msh, ("Lagrange", 1))
    asm = LocalAssembler(fem.form(ufl.TestFunction(V) * ufl.dx))
    assert asm.usable == (MPI.COMM_WORLD.size == 1)
    if MPI.COMM_WORLD.size > 1:
        assert asm.reason == "more than one rank"
