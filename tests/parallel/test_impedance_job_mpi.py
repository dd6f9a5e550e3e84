"""The impedance job on 2 ranks equals 1 rank (1-D exposed cell): spectrum to 1e-8,
the state's R and the fit; the run folder is written once (rank 0)."""

import json

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.impedance import cell_impedance, impedance_job

pytestmark = pytest.mark.mpi


def test_job_ranks_equal_one_rank(shared_tmp):
    world = MPI.COMM_WORLD
    cfg = load_config(None)
    out = shared_tmp / "imp"
    res = impedance_job(cfg, out, world, proton_fraction="exposed",
                        progress=False).details["impedance"]
    one = None
    if world.rank == 0:
        one = cell_impedance(cfg, MPI.COMM_SELF, proton_fraction="exposed")
    one = world.bcast(None if one is None else (one.Z_ohm_cm2, one.R_interface_state_ohm_cm2,
                                                one.R_interface_fit_ohm_cm2), root=0)
    Z1, R1, Rfit1 = one
    assert np.max(np.abs(res.Z_ohm_cm2 / Z1 - 1)) < 1e-8
    assert res.R_interface_state_ohm_cm2 == pytest.approx(R1, rel=1e-12)
    assert res.R_interface_fit_ohm_cm2 == pytest.approx(Rfit1, rel=1e-6)
    world.Barrier()
    s = json.loads((out / "summary.json").read_text())
    assert s["status"] == "completed"
    data = np.loadtxt(out / "impedance.csv", delimiter=",", skiprows=1)
    assert np.allclose(data[:, 1] + 1j * data[:, 2], res.Z_ohm_cm2, rtol=1e-10)


def test_iterative_shifted_solves_same_spectrum(shared_tmp):
    """``[solver] linear_solver = "iterative"``: the job's ROM solves its shifted systems
    with FGMRES + field split + AMG on 2 ranks; the spectrum equals the direct job's to
    1e-6 (the ROM's own check), and the summary says how it was solved.  A uniform proton
    fraction, not the exposure: in 1-D the exposure would run on the iterative path too,
    which is slow there (docs/scaling.md)."""
    world = MPI.COMM_WORLD
    out = shared_tmp / "imp_iterative"
    it = impedance_job(load_config(overrides={"solver": {"linear_solver": "iterative"}}), out,
                       world, proton_fraction=0.05, progress=False).details["impedance"]
    ref = impedance_job(load_config(None), None, world, proton_fraction=0.05,
                        progress=False).details["impedance"]
    assert np.max(np.abs(it.Z_ohm_cm2 / ref.Z_ohm_cm2 - 1)) < 1e-6
    assert it.R_interface_fit_ohm_cm2 == pytest.approx(ref.R_interface_fit_ohm_cm2, rel=1e-6)
    world.Barrier()
    s = json.loads((out / "summary.json").read_text())
    assert s["linear_solver"] == "iterative" and s["krylov_iterations"] > 0
    assert s["factorizations"] == 0
