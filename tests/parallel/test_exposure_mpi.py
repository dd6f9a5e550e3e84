"""The exposure on any number of ranks.  Run under ``mpirun -n 2 python -m pytest -m mpi``
(``scripts/run_tests.sh``); serially both tests still run (one rank).

* The pure-diffusion limit (no traps, x_s = 1e-6 held on the top of a slab 10 √(D t)
  thick, D_Li = 1000 D_H) on all ranks against the closed form M = 2 c x_s √(D t/π):
  the error is the serial one (1.6e-2, 3.9e-3, 9.8e-4 for 20, 40, 80 cells, see
  ``tests/verification/test_exposure_limits.py``), falling at second order.
* The default cell's exposure (``ExposureSimulation`` on the anneal's film mesh) on all
  ranks (COMM_WORLD) against the same exposure on one rank (COMM_SELF) in the same
  process: same steps, and inventory, trapped inventory and R_interface at every step to
  1e-8 relative (the stepper quantises its step factors, so the step sequence does not
  depend on round-off).

Both also check that every rank holds bit-identical results (the diagnostics are
all-reduced: a rank-local value would differ).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fem_cell._dolfinx import MPI, fem
from fem_cell.config import SolverSettings, load_config
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.line import build_line_mesh
from fem_cell.meshing.settings import MeshSettings
from fem_cell.model import CellModel, build_transport_problem, chemistry, transport_block
from fem_cell.model.exposure import ExposureSimulation, exposure_simulation, structure_key
from fem_cell.params import Arrhenius
from fem_cell.physics.parameters import PhaseTransport
from fem_cell.physics.transport import Phase, TransportPhysics
from fem_cell.solvers.time_stepping import TimeStepper

D, C, X_S, T_END = 1e-18, 5.16e4, 1e-6, 400.0
L = 10 * math.sqrt(D * T_END)
COLUMNS = ("t_s", "H_LiCoO2_mol_m2", "H_trapped_mol_m2", "R_interface_ohm_cm2")


def same_on_every_rank(comm, values) -> None:
    a = np.asarray(values, dtype=float)
    for other in comm.allgather(a):
        assert np.array_equal(other, a)


def erfc_inventory_error(comm, n: int) -> float:
    geo = StackGeometry((LayerSpec("slab", "LiCoO2", L),), width=1.0)
    d = build_line_mesh(geo, MeshSettings(dim=1, cells_per_layer=n, max_cell_size=1.0), comm)
    T = fem.Function(fem.functionspace(d.mesh, ("Lagrange", 1)))
    T.x.array[:] = 298.15
    props = PhaseTransport("li_chemical_diffusivity", Arrhenius(D, 0.0), C,
                           Arrhenius(1e3 * D, 0.0), None)
    blk = TransportPhysics(d, T, [Phase("slab", ("slab",), props)], surface=("top", X_S))
    blk.set_uniform("slab", 0.0)
    prob = build_transport_problem(
        blk, SolverSettings(fraction_tolerance=1e-7 * X_S, fraction_relative_tolerance=0.0),
        x_newton_tol=1e-6 * X_S)
    try:
        TimeStepper(prob, t_end=T_END, dt_initial=1e-6, dt_max=T_END / 20,
                    dt_min=1e-12).run(lambda info: blk.check_fractions(tol=1e-2 * X_S))
    finally:
        prob.destroy()
    return blk.inventory() / (2 * C * X_S * math.sqrt(D * T_END / math.pi)) - 1.0


@pytest.mark.mpi
def test_erfc_limit_on_all_ranks(comm):
    errs = np.array([erfc_inventory_error(comm, n) for n in (20, 40, 80)])
    same_on_every_rank(comm, errs)
    orders = np.log2(errs[:-1] / errs[1:])
    assert np.all(errs > 0) and errs[-1] < 1.5e-3, errs
    assert np.all(np.abs(orders - 2.0) < 0.1), (errs, orders)


def exposure_history(comm) -> tuple[np.ndarray, int]:
    cfg = load_config(overrides={"solver": {"fraction_tolerance": 1e-6,
                                            "fraction_relative_tolerance": 0.0}})
    model = CellModel(cfg, comm)
    sim = ExposureSimulation(cfg, model.film, cfg.exposure)
    try:
        res = sim.run()
    finally:
        sim.destroy()
        model.destroy()
    return np.array([res.rows[c] for c in COLUMNS]).T, res.stats.accepted


@pytest.mark.mpi
def test_default_exposure_same_on_any_rank_count():
    serial, n_serial = exposure_history(MPI.COMM_SELF)
    parallel, n_parallel = exposure_history(MPI.COMM_WORLD)
    same_on_every_rank(MPI.COMM_WORLD, parallel)
    assert n_serial == n_parallel and serial.shape == parallel.shape
    scale = np.maximum(np.abs(serial).max(axis=0), 1e-300)
    assert np.max(np.abs(serial - parallel) / scale) < 1e-8
    assert parallel[-1, 1] > 0 and parallel[-1, 3] > parallel[0, 3]  # protons went in


def _via_pool(cfg, comm):
    """The exposure through exposure_simulation (kept and renewed on one rank), its rows
    and whether it was kept."""
    film = CellModel(cfg, comm).film
    T = fem.Function(fem.functionspace(film.mesh, ("Lagrange", 1)))
    sim, _ = exposure_simulation(cfg, film, cfg.exposure, transport_block(cfg, film, T))
    try:
        res = sim.run()
    finally:
        sim.release()
    return np.array([res.rows[c] for c in COLUMNS]).T, sim.kept


@pytest.mark.mpi
def test_kept_exposure_on_one_rank_matches_the_parallel_one():
    """On one rank the exposure's simulation is kept across cases and renewed for each
    (fem_cell.model.exposure.structure_key); on several ranks it is not kept.  A kept
    simulation renewed for a new trap energy (on every rank's COMM_SELF, in an mpirun
    process) gives the exposure a new simulation gives on all ranks."""
    chemistry.clear_exposure_cache()
    try:
        base = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 16}})
        other = load_config(overrides={"mesh": {"dim": 1, "cells_per_layer": 16}, "transport": {
            "LiCoO2": {"trapping": {"detrapping_activation_energy": "1.25 eV"}}}})
        _, kept = _via_pool(base, MPI.COMM_SELF)
        renewed, kept_again = _via_pool(other, MPI.COMM_SELF)
        assert kept and kept_again
        world = MPI.COMM_WORLD
        parallel, kept_parallel = _via_pool(other, world)
        assert kept_parallel == (world.size == 1)
        film = CellModel(other, world).film
        assert (structure_key(other, film, other.exposure) is None) == (world.size > 1)
        same_on_every_rank(world, parallel)
        assert renewed.shape == parallel.shape
        scale = np.maximum(np.abs(parallel).max(axis=0), 1e-300)
        assert np.max(np.abs(renewed - parallel) / scale) < 1e-8
    finally:
        chemistry.clear_exposure_cache()
