"""Shared pytest plumbing, valid serially and under ``mpirun -n 2 python -m pytest -m mpi``.

* ``shared_tmp``: one temporary folder for all ranks (rank 0's, broadcast);
* after each test: ``gc.collect()`` + barrier, so collective destructors run in step;
* ``serial`` tests are skipped when more than one rank runs.
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


def pytest_runtest_teardown(item):
    gc.collect()
    MPI.COMM_WORLD.Barrier()


def pytest_collection_modifyitems(config, items):
    if MPI.COMM_WORLD.size > 1:
        skip = pytest.mark.skip(reason="serial test (runs on one rank only)")
        for item in items:
            if "serial" in item.keywords:
                item.add_marker(skip)
