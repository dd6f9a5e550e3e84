"""Shared pytest plumbing, valid serially and under ``mpirun -n 2 python -m pytest -m mpi``.

* ``shared_tmp``: one temporary folder for all ranks (rank 0's, broadcast);
* under MPI, after each test: ``gc.collect()`` + barrier, so whatever a test left for
  the garbage collector is collected on every rank at the same point (serially nothing:
  jobs and models destroy their solvers explicitly);
* ``serial`` tests are skipped when more than one rank runs;
* every test gets the marker of its tier (its folder): ``unit``, ``verification``,
  ``system``, ``parallel``, ``regression`` — ``make test-fast`` runs the first two
  without the ``slow`` ones.
"""

from __future__ import annotations

import gc
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # tests/helpers.py

from fem_cell._dolfinx import MPI


@pytest.fixture
def comm():
    return MPI.COMM_WORLD


@pytest.fixture
def shared_tmp(tmp_path):
    """A temporary directory path that is the same on every rank."""
    return MPI.COMM_WORLD.bcast(tmp_path, root=0)


TIERS = ("unit", "verification", "system", "parallel", "regression")


def pytest_runtest_teardown(item):
    if MPI.COMM_WORLD.size > 1:
        gc.collect()
        MPI.COMM_WORLD.Barrier()


def pytest_collection_modifyitems(config, items):
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))
    if MPI.COMM_WORLD.size > 1:
        skip = pytest.mark.skip(reason="serial test (runs on one rank only)")
        for item in items:
            if "serial" in item.keywords:
                item.add_marker(skip)
