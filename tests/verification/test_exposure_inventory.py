"""The exposed proton inventory on the film mesh converges to the exact erfc inventory
c·x_s·δ/√π at second order in the cell size (P1 interpolation of the profile)."""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.model import CellModel


@pytest.mark.mpi
def test_inventory_converges_second_order():
    exact = 5.16e4 * 0.6 * 3e-9 / np.sqrt(np.pi)
    errs, hs = [], []
    for n in (8, 16, 32, 64):
        cfg = load_config(overrides={"mesh": {"cells_per_layer": n}})
        model = CellModel(cfg, MPI.COMM_WORLD)
        chem = model.chemistry()
        model.destroy()
        errs.append(abs(chem.transport.inventory("LiCoO2") - exact) / exact)
        hs.append(1.0 / n)  # interface cell size ∝ 1/cells_per_layer
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(rates > 1.8), (errs, rates)
    assert errs[-1] < 1e-3
