"""The impedance of the default 1-D cell is the same on 1 rank and on all ranks.

Run: ``mpirun -n 2 python -m pytest -q -m mpi tests/parallel/test_impedance_mpi.py``.
Every rank computes the cell on COMM_SELF (the serial answer) and, collectively, on
COMM_WORLD; both must agree to 1e-8 relative.
"""

from __future__ import annotations

import numpy as np
import pytest
from helpers import ec_model

from fem_cell._dolfinx import MPI
from fem_cell.solvers.impedance import ImpedanceSolver, log_frequencies

FREQS = log_frequencies(1e-2, 1e6, 31)


def _sweeps(comm, tag):
    m = ec_model(comm, prefix=f"test_mpi_{tag}_")
    s = ImpedanceSolver(m.problem, m.physics, prefix=f"test_mpi_eis_{tag}_")
    return s.sweep(FREQS, "direct"), s.sweep(FREQS, "rom")


@pytest.fixture(scope="module")
def results():
    return _sweeps(MPI.COMM_SELF, "self"), _sweeps(MPI.COMM_WORLD, "world")


@pytest.mark.mpi
def test_direct_same_on_all_ranks(results):
    (d1, _), (dn, _) = results
    assert np.abs(dn.impedance / d1.impedance - 1).max() < 1e-8


@pytest.mark.mpi
def test_rom_same_on_all_ranks(results):
    (d1, r1), (_, rn) = results
    assert np.abs(rn.impedance / r1.impedance - 1).max() < 1e-8
    assert np.abs(rn.impedance / d1.impedance - 1).max() < 1e-8


@pytest.mark.mpi
def test_every_rank_has_the_answer(results):
    _, (dn, rn) = results
    comm = MPI.COMM_WORLD
    Z0 = comm.bcast(rn.impedance, root=0)
    assert np.array_equal(Z0, rn.impedance)
    assert comm.allreduce(rn.n_factorizations, op=MPI.MAX) == rn.n_factorizations
