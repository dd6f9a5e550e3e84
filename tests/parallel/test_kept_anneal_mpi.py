"""The kept anneal transport (fem_cell.model.chemistry.kept_anneal) under MPI.  Run
under ``mpirun -n 2 python -m pytest -m mpi``; serially it runs on one rank.

On several ranks nothing is kept (the key is None, the pool stays empty).  On each
rank's COMM_SELF, inside the mpirun process, a transport kept from a first case and
renewed for a second (a new exchange energy and trap energy) gives the second case's
history that the run on all ranks gives, to the tolerances of
tests/parallel/test_mpi_consistency.py (temperatures 1e-10 relative, chemistry columns
1e-8 of each column's scale), on every rank alike."""

from __future__ import annotations

import gc

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal
from fem_cell.model import chemistry
from fem_cell.model.chemistry import anneal_structure_key
from tests.unit.test_kept_anneal import _Taken

BASE = {"mesh": {"dim": 1, "cells_per_layer": 16},
        "output": {"fields": False, "plots": False, "render": False}}
OTHER = {**BASE, "transport": {
    "exchange": {"velocity_activation_energy": "0.65 eV"},
    "LiCoO2": {"trapping": {"detrapping_activation_energy": "1.25 eV"}}}}
TEMPERATURES = ("time_s", "T_plate_C", "T_mean_C", "T_max_C")
CHEMISTRY = ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_trapped_mol_m2", "H_Li3PO4_mol_m2",
             "H_consumed_mol_m2", "xH_max")


def _history(cfg, comm) -> dict[str, np.ndarray]:
    r = run_anneal(cfg, comm, progress=False)
    out = {c: np.asarray(r.history.column(c)).copy() for c in TEMPERATURES + CHEMISTRY}
    del r
    gc.collect()
    return out


@pytest.mark.mpi
def test_a_kept_transport_renewed_on_one_rank_matches_the_parallel_anneal(monkeypatch):
    world = MPI.COMM_WORLD
    taken = _Taken(monkeypatch).taken
    chemistry.clear_exposure_cache()
    try:
        base, other = load_config(overrides=BASE), load_config(overrides=OTHER)
        assert anneal_structure_key(other, MPI.COMM_SELF) is not None
        assert (anneal_structure_key(other, world) is None) == (world.size > 1)
        _history(base, MPI.COMM_SELF)
        renewed = _history(other, MPI.COMM_SELF)
        assert taken == [False, True]
        parallel = _history(other, world)
        # on several ranks nothing was taken and nothing is kept for the world's key
        assert taken[2] == (world.size == 1)
        assert len(chemistry._KEPT_ANNEALS) == 1
        for c in TEMPERATURES + CHEMISTRY:
            mine = parallel[c]
            every = world.allgather(mine.tobytes())
            assert all(b == every[0] for b in every), c      # the same on every rank
            assert renewed[c].shape == mine.shape, c
            if c in TEMPERATURES:
                scale = np.maximum(np.abs(mine), 1.0)
                assert np.max(np.abs(renewed[c] - mine) / scale) < 1e-10, c
            else:
                assert np.max(np.abs(renewed[c] - mine)) <= 1e-8 * np.abs(mine).max(), c
    finally:
        gc.collect()
        chemistry.clear_exposure_cache()
