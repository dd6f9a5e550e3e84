"""The JIT memo under MPI (fem_cell._dolfinx): dolfinx's JIT is collective, so a form
whose structure only some ranks have in their memo must still compile on every rank
(no hang) and assemble correctly.  Run under ``mpirun -n 2 python -m pytest -m mpi``."""

import pytest

from fem_cell._dolfinx import JIT_MEMO, MPI, fem, mesh, ufl
from fem_cell.forms import compile_form


def _form(comm, n, a):
    msh = mesh.create_unit_interval(comm, n)
    x = ufl.SpatialCoordinate(msh)
    # an exponent no other test uses: the structure is new to this process
    return compile_form(a * x[0] ** 11 * ufl.dx(domain=msh))


@pytest.mark.mpi
def test_memo_entry_on_rank_zero_only():
    world = MPI.COMM_WORLD
    if world.rank == 0:
        _form(MPI.COMM_SELF, 3, 1.0)   # only rank 0 has this structure now
    world.Barrier()
    before = (JIT_MEMO.hits, JIT_MEMO.misses)
    f = _form(world, 8, 12.0)           # collective: every rank must take one path
    value = world.allreduce(fem.assemble_scalar(f), op=MPI.SUM)
    assert value == pytest.approx(1.0, rel=1e-12)
    if world.size > 1:                  # not every rank had it: dolfinx's path on all
        assert (JIT_MEMO.hits, JIT_MEMO.misses) == (before[0], before[1] + 1)
    # now every rank has it: all served from the memo
    hits = JIT_MEMO.hits
    g = _form(world, 5, 24.0)
    assert JIT_MEMO.hits == hits + 1
    assert world.allreduce(fem.assemble_scalar(g), op=MPI.SUM) == pytest.approx(2.0, rel=1e-12)
