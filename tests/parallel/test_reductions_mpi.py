"""Reductions over ranks (fem_cell.domain.sum_over_ranks, min_max_over_ranks): the
diagnostics' sums, minima and maxima, serially and under ``mpirun -n 2``."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.domain import min_max_over_ranks, sum_over_ranks


@pytest.mark.mpi
def test_sum_over_ranks():
    comm = MPI.COMM_WORLD
    r, n = comm.rank, comm.size
    assert sum_over_ranks(comm, 0.5 + r) == pytest.approx(0.5 * n + n * (n - 1) / 2)
    assert isinstance(sum_over_ranks(comm, np.float64(1.0)), float)
    # a rank's own communicator: the value itself
    assert sum_over_ranks(MPI.COMM_SELF, 0.1 + r) == 0.1 + r
    # arrays (any shape, real or complex) and complex numbers: one buffer reduction,
    # the same kind back
    a = np.array([[1.0, r], [2.0 * r, -1.0]])
    total = sum_over_ranks(comm, a)
    assert isinstance(total, np.ndarray) and total.shape == (2, 2)
    assert total.tolist() == [[n, n * (n - 1) / 2], [n * (n - 1), -n]]
    assert a.tolist() == [[1.0, r], [2.0 * r, -1.0]]        # the input is not changed
    z = sum_over_ranks(comm, complex(1.0, r))
    assert complex(z) == complex(n, n * (n - 1) / 2)
    z0 = sum_over_ranks(comm, np.array(1j * (r + 1)))
    assert np.ndim(z0) == 0 and complex(z0) == 1j * n * (n + 1) / 2
    c = sum_over_ranks(comm, np.array([1 + 1j, r * 1j]))
    assert c.dtype == complex and c.tolist() == [n + n * 1j, n * (n - 1) / 2 * 1j]
    assert sum_over_ranks(MPI.COMM_SELF, a) is a


@pytest.mark.mpi
def test_min_max_over_ranks():
    comm = MPI.COMM_WORLD
    r, n = comm.rank, comm.size
    # an empty local set reduces as (inf, -inf); the others' values win
    lows = [float(r), -float(r), np.inf if r == 0 else 3.0]
    highs = [float(r), -float(r), -np.inf if r == 0 else 3.0]
    lo, hi = min_max_over_ranks(comm, lows, highs)
    assert lo.tolist() == [0.0, -(n - 1.0), np.inf if n == 1 else 3.0]
    assert hi.tolist() == [n - 1.0, 0.0, -np.inf if n == 1 else 3.0]
    lo, hi = min_max_over_ranks(MPI.COMM_SELF, lows, highs)
    assert lo.tolist() == lows and hi.tolist() == highs
