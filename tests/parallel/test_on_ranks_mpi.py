"""Rank-local tasks spread over the ranks (fem_cell.errors.on_ranks): every rank gets
every result, and a failure on any rank reaches every rank (the post-processing of a
job, fem_cell.jobs.anneal.write_run_outputs); and rank-0-decides steps
(fem_cell.errors.on_root), which share its error handling.  Serially and under
``mpirun -n 2``."""

import pytest

from fem_cell._dolfinx import MPI
from fem_cell.errors import ConfigError, InputError, Interrupted, on_ranks, on_root


def _task(i, ran):
    def run():
        ran.append(i)
        return (i, MPI.COMM_WORLD.rank)
    return run


@pytest.mark.mpi
def test_each_task_runs_once_on_its_rank_and_every_rank_gets_every_result():
    comm = MPI.COMM_WORLD
    ran = []
    got = on_ranks(comm, [_task(i, ran) for i in range(5)])
    assert got == [(i, i % comm.size) for i in range(5)]
    assert ran == [i for i in range(5) if i % comm.size == comm.rank]
    # explicit owners: all on the last rank
    ran.clear()
    got = on_ranks(comm, [_task(i, ran) for i in range(3)], [comm.size - 1] * 3)
    assert got == [(i, comm.size - 1) for i in range(3)]
    assert ran == ([0, 1, 2] if comm.rank == comm.size - 1 else [])
    assert on_ranks(comm, []) == []


@pytest.mark.mpi
def test_a_failure_on_the_last_rank_reaches_every_rank():
    comm = MPI.COMM_WORLD
    last = comm.size - 1

    def bad_config():
        raise ConfigError("<test>", "key", 1, "something else")

    def bad_library():
        raise ZeroDivisionError("a library's own error")

    with pytest.raises(ConfigError, match="something else"):
        on_ranks(comm, [lambda: 1, bad_config], [0, last])
    with pytest.raises(InputError, match="ZeroDivisionError: a library's own error"):
        on_ranks(comm, [bad_library, lambda: 2], [last, 0])
    # the first failed task in task order wins, wherever it ran
    with pytest.raises(InputError, match="ZeroDivisionError"):
        on_ranks(comm, [bad_library, bad_config], [last, 0])


@pytest.mark.mpi
def test_an_interrupt_in_a_task_is_a_collective_interruption():
    comm = MPI.COMM_WORLD

    def stopped():
        raise Interrupted(2)

    with pytest.raises(Interrupted) as info:
        on_ranks(comm, [lambda: 0, stopped], [0, comm.size - 1])
    assert info.value.collective and info.value.signum == 2


def test_owners_must_name_one_rank_per_task():
    with pytest.raises(ValueError, match="one rank of 1 per task"):
        on_ranks(MPI.COMM_SELF, [lambda: 0], [1])
    with pytest.raises(ValueError):
        on_ranks(MPI.COMM_SELF, [lambda: 0, lambda: 1], [0])


@pytest.mark.mpi
def test_on_root_runs_on_rank_0_only_and_every_rank_gets_its_result_or_error():
    comm = MPI.COMM_WORLD
    ran = []
    assert on_root(comm, _task(7, ran)) == (7, 0)
    assert ran == ([7] if comm.rank == 0 else [])

    def bad_config():
        raise ConfigError("<test>", "key", 1, "something else")

    def exits():
        raise SystemExit("a library called sys.exit")

    def stopped():
        raise Interrupted(15)

    with pytest.raises(ConfigError, match="something else"):
        on_root(comm, bad_config)
    with pytest.raises(InputError, match="SystemExit: a library called sys.exit"):
        on_root(comm, exits)
    with pytest.raises(Interrupted) as info:
        on_root(comm, stopped)
    assert info.value.collective and info.value.signum == 15
