"""The posterior chain is the same on 1 rank and on 2 ranks (walkers dealt over two groups
of one rank), for the same seed.  Run under ``mpirun -n 2 python -m pytest -m mpi``."""

import numpy as np
import pytest
from helpers_posterior import toy_problem, toy_runner

from fem_cell._dolfinx import MPI
from fem_cell.studies.posterior import SamplerSettings, sample_posterior


@pytest.mark.mpi
def test_same_chain_on_one_and_all_ranks(tmp_path):
    params, targets, _ = toy_problem(seed=5)
    s = SamplerSettings(walkers=8, steps=60, seed=11)
    one = sample_posterior(None, params, targets, MPI.COMM_SELF, settings=s, runner=toy_runner,
                           progress=False)
    ck = tmp_path / "chain.npz" if MPI.COMM_WORLD.rank == 0 else None
    ck = MPI.COMM_WORLD.bcast(ck, root=0)
    world = sample_posterior(None, params, targets, MPI.COMM_WORLD, settings=s,
                             runner=toy_runner, progress=False, checkpoint=ck)
    assert np.array_equal(one.chain, world.chain)
    assert np.array_equal(one.log_prob, world.log_prob)
    assert one.identifiability().equals(world.identifiability())


@pytest.mark.mpi
def test_same_surrogate_chain_on_one_and_all_ranks(tmp_path):
    """With a Gaussian-process surrogate: the model runs are dealt over the ranks, the
    emulator is fitted on rank 0 and broadcast; the chain, the check and the number of
    model runs equal those of one rank."""
    params, targets, _ = toy_problem(seed=5)
    s = SamplerSettings(walkers=8, steps=200, seed=11,
                        surrogate={"points": 12, "rounds": 1, "refine": 6, "check": 6})
    one = sample_posterior(None, params, targets, MPI.COMM_SELF, settings=s, runner=toy_runner,
                           progress=False)
    ck = tmp_path / "chain.npz" if MPI.COMM_WORLD.rank == 0 else None
    ck = MPI.COMM_WORLD.bcast(ck, root=0)
    world = sample_posterior(None, params, targets, MPI.COMM_WORLD, settings=s,
                             runner=toy_runner, progress=False, checkpoint=ck)
    assert np.array_equal(one.chain, world.chain)
    assert one.evaluations == world.evaluations == 24
    assert one.surrogate["check"] == world.surrogate["check"]
