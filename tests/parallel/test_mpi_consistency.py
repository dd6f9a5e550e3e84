"""The same run on 1 rank (COMM_SELF) and on all ranks (COMM_WORLD) gives the same
history: temperatures to 1e-10 relative, the chemistry columns (R_interface, proton
inventories, fluxes) to 1e-8 relative to each column's scale.  Run under
``mpirun -n 2 python -m pytest -m mpi``."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal

COLUMNS = ["time_s", "T_plate_C", "T_min_C", "T_mean_C", "T_max_C", "T_top_C"]
CHEMISTRY = ["R_interface_ohm_cm2", "R_interface_T_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2",
             "H_consumed_mol_m2", "H_flux_interface_mol_m2_s", "xH_max"]


def _compare(cfg):
    serial = run_anneal(cfg, MPI.COMM_SELF, progress=False).history
    parallel = run_anneal(cfg, MPI.COMM_WORLD, progress=False).history
    assert len(serial.rows) == len(parallel.rows)
    for c in COLUMNS:
        a, b = serial.column(c), parallel.column(c)
        scale = np.maximum(np.abs(a), 1.0)
        assert np.max(np.abs(a - b) / scale) < 1e-10, c
    for c in CHEMISTRY:
        a, b = serial.column(c), parallel.column(c)
        assert np.max(np.abs(a - b)) <= 1e-8 * np.abs(a).max(), c
    return serial


@pytest.mark.mpi
def test_history_1d_same_on_any_rank_count():
    _compare(load_config(overrides={"output": {"fields": False}}))


@pytest.mark.mpi
def test_history_2d_same_on_any_rank_count():
    pytest.importorskip("fem_cell.meshing.cross_section")
    cfg = load_config(overrides={"mesh": {"dim": 2, "cells_per_layer": 2, "lateral_cells": 16,
                                          "lateral_growth": 1.5,
                                          "growth": 2.0, "max_cell_size": "100 um"}})
    h = _compare(cfg)
    R = h.column("R_interface_ohm_cm2")
    # the chemistry really ran: 2 cells per layer under-resolve the few-nm exposed layer
    # (R_exposed ~81 instead of 136 Ω cm²; mesh convergence is verified elsewhere), but the
    # exposure must have raised R well above pristine and the anneal brought it back down
    assert R[0] > 50 and R[-1] < 12
