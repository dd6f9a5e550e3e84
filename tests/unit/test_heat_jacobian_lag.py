"""The heat problem reuses a step's first Jacobian for its second Newton iteration
(fem_cell.model.heat.HEAT_JACOBIAN_LAG): fewer assemblies and factorisations, the same
converged state (the residual test decides, as before)."""

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.model import CellModel
from fem_cell.model.heat import HEAT_JACOBIAN_LAG


def test_one_jacobian_per_two_heat_iterations_and_a_converged_state():
    assert HEAT_JACOBIAN_LAG == 2
    cfg = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 8},
                                 "output": {"fields": False}})
    model = CellModel(cfg, MPI.COMM_SELF)
    p = model.heat().problem
    assert p.jacobians == 0
    # far from the state: 25 °C everywhere, the program's 150 °C hold ahead (radiation at
    # the top makes this a Newton solve of more than one iteration)
    t, dt = 2000.0, 100.0
    assert abs(cfg.anneal.temperature(t) - 423.15) < 1e-9
    p.set_history(p.get_state(), p.get_state())
    p.set_time_level(t, dt, 1, None)
    ok, its, _ = p.solve()
    assert ok and its >= 2                 # (full Newton would assemble one per iteration)
    assert p.jacobians == -(-its // HEAT_JACOBIAN_LAG)  # iterations 0, 2, 4, ... assemble
    # converged by the same residual test as full Newton
    snes = p.snes
    assert snes.getConvergedReason() > 0
    T = p.get_state()[0]
    assert np.all(T > 298.0) and np.all(T < 424.0)
    model.destroy()
