"""Studies over MPI: the same table on any rank count and group size, both ranks compute,
a failing case is recorded, an interrupt on one rank stops every group, and the study
resumes.  Run under ``mpirun -n 2 python -m pytest -m mpi``."""

import json
import signal

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.jobs.interrupts import Interrupted, InterruptGuard
from fem_cell.outputs.rundir import read_run_json
from fem_cell.studies import cases as study_cases
from fem_cell.studies import load_spec, run_study

SPEC = {
    "study": {"name": "small"},
    "config": {"anneal": {"segments": [{"ramp_to": "120 degC", "rate": "50 K/min"},
                                       {"hold": "5 min"}]}},
    "parameters": [{"key": "anneal.segments[0].ramp_to", "values": ["100 degC", "120 degC"]},
                   {"key": "anneal.segments[1].hold", "values": ["2 min", "5 min"]}],
    "record": {"summary": ["R_interface_ohm_cm2", "H_LiCoO2_removed_fraction"],
               "history": [{"column": "R_interface_ohm_cm2", "times": ["1 min"]}]},
}
VALUES = ["R_interface_ohm_cm2", "H_LiCoO2_removed_fraction", "R_interface_ohm_cm2@60s"]


def _values(res) -> np.ndarray:
    return np.array([[r[c] for c in VALUES] for r in res.rows])


@pytest.mark.mpi
def test_same_table_on_one_and_two_ranks(shared_tmp):
    comm = MPI.COMM_WORLD
    spec = load_spec(SPEC)
    serial = None
    if comm.rank == 0:
        serial = _values(run_study(spec, MPI.COMM_SELF, progress=False))
    serial = comm.bcast(serial, root=0)
    res = run_study(spec, comm, shared_tmp / "g1", progress=False)
    assert res.status == "completed" and len(res.rows) == 4
    assert np.max(np.abs(_values(res) - serial) / np.abs(serial)) < 1e-10
    if comm.size > 1:
        ranks = {json.loads(p.read_text())["rank"] for p in (shared_tmp / "g1" / "cases").glob(
            "*.json")} if comm.rank == 0 else None
        assert comm.bcast(ranks, root=0) == set(range(comm.size)), "every rank computes"
    # every case spread over all ranks (group_size = size)
    res2 = run_study(spec, comm, shared_tmp / "g2", progress=False, group_size=comm.size)
    assert np.max(np.abs(_values(res2) - serial) / np.abs(serial)) < 1e-10
    if comm.rank == 0:
        recs = [json.loads(p.read_text()) for p in (shared_tmp / "g2" / "cases").glob("*.json")]
        assert {r["ranks"] for r in recs} == {comm.size}


@pytest.mark.mpi
def test_failed_case_recorded_on_any_rank(shared_tmp, monkeypatch):
    real = study_cases.run_case

    def flaky(config, comm, job="anneal", record=None, exposure=None, guard=None):
        if abs(config.anneal.max_temperature - 373.15) < 1e-9 and config.anneal.duration > 300:
            raise RuntimeError("deliberate failure")
        return real(config, comm, job, record, exposure, guard)

    monkeypatch.setattr(study_cases, "run_case", flaky)
    res = run_study(SPEC, MPI.COMM_WORLD, shared_tmp / "f", progress=False)
    assert [r["status"] for r in res.rows] == ["completed", "failed", "completed", "completed"]
    assert "deliberate failure" in res.failed[0]["error"]
    assert res.summary["failed"] == 1


@pytest.mark.mpi
def test_interrupt_on_one_rank_stops_all_and_resumes(shared_tmp, monkeypatch):
    """The signal reaches only the last rank (after its first case): every group stops
    taking cases, the folder says interrupted, and a rerun computes only the rest."""
    comm = MPI.COMM_WORLD
    spec = dict(SPEC, parameters=[
        {"key": "anneal.segments[0].ramp_to", "values": ["100 degC", "110 degC", "120 degC"]},
        {"key": "anneal.segments[1].hold", "values": ["2 min", "5 min"]}])
    guard = InterruptGuard()
    real = study_cases.run_case
    calls = {"n": 0}

    def hook(*a, **k):
        out = real(*a, **k)
        calls["n"] += 1
        if comm.rank == comm.size - 1 and calls["n"] == 1:
            guard.pending = signal.SIGTERM
        return out

    monkeypatch.setattr(study_cases, "run_case", hook)
    out = shared_tmp / "i"
    with pytest.raises(Interrupted) as e:
        run_study(spec, comm, out, progress=False, guard=guard)
    assert e.value.signum == signal.SIGTERM and e.value.collective
    n_done = None
    if comm.rank == 0:
        assert read_run_json(out)["status"] == "interrupted"
        n_done = len(list((out / "cases").glob("*.json")))
    n_done = comm.bcast(n_done, root=0)
    assert 1 <= n_done < 6
    monkeypatch.setattr(study_cases, "run_case", real)
    res = run_study(spec, comm, out, progress=False)
    assert res.status == "completed"
    assert res.summary["reused_from_earlier_run"] == n_done
    assert res.summary["computed_now"] == 6 - n_done


@pytest.mark.mpi
def test_expose_study_spreads_over_ranks(shared_tmp):
    """Cases without time steps (expose) are handed out between cases too."""
    comm = MPI.COMM_WORLD
    spec = {"study": {"name": "dose", "job": "expose"},
            "config": {"exposure": {"gas": "air"}},
            "parameters": [{"key": "exposure.relative_humidity",
                            "range": {"start": 10, "stop": 90, "num": 8, "unit": "%"}}],
            "record": {"summary": ["R_interface_ohm_cm2"]}}
    res = run_study(spec, comm, shared_tmp / "dose", progress=False)
    serial = None
    if comm.rank == 0:
        serial = run_study(spec, MPI.COMM_SELF, progress=False).column("R_interface_ohm_cm2")
        ranks = {json.loads(p.read_text())["rank"]
                 for p in (shared_tmp / "dose" / "cases").glob("*.json")}
        if comm.size > 1:
            assert len(ranks) == comm.size, ranks
    serial = comm.bcast(serial, root=0)
    assert np.allclose(res.column("R_interface_ohm_cm2"), serial, rtol=1e-10, atol=0)
