"""Studies end to end on one rank: the study folder, a failing case, interrupts and resume."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fem_cell._dolfinx import MPI
from fem_cell.jobs.interrupts import Interrupted, InterruptGuard
from fem_cell.outputs.rundir import OutputError, read_run_json
from fem_cell.studies import cases as study_cases
from fem_cell.studies import read_results, run_study
from fem_cell.studies.job import study_job

pytestmark = pytest.mark.serial

SPEC = """
[study]
name = "small"

[config]
anneal = { segments = [{ ramp_to = "120 degC", rate = "50 K/min" }, { hold = "5 min" }] }

[[parameters]]
key = "anneal.segments[0].ramp_to"
values = ["100 degC", "120 degC"]

[[parameters]]
key = "anneal.segments[1].hold"
values = ["2 min", "5 min"]

[record]
summary = ["R_interface_ohm_cm2", "H_LiCoO2_removed_fraction"]
history = [{ column = "R_interface_ohm_cm2", times = ["1 min"] }]

[plot]
value = "R_interface_ohm_cm2"
log = true
"""


@pytest.fixture
def spec(tmp_path):
    p = tmp_path / "small.toml"
    p.write_text(SPEC)
    return p


def _case_files(out: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in sorted((out / "cases").glob("case*.json"))}


def test_small_study_folder_table_and_resume(spec, tmp_path):
    out = tmp_path / "out"
    said = []
    res = study_job(spec, out, MPI.COMM_SELF, progress=False, announce=lambda: said.append(1))
    assert said == [1]
    assert res.status == "completed" and len(res.rows) == 4 and not res.failed
    df = res.to_pandas()
    assert list(df["status"]) == ["completed"] * 4
    assert df["anneal.segments[1].hold_si"].tolist() == [120.0, 300.0, 120.0, 300.0]
    R = df["R_interface_ohm_cm2"].to_numpy()
    assert R[1] < R[0] and R[3] < R[2] and R[2] < R[0]  # longer / hotter recovers more
    assert (df["R_interface_ohm_cm2@60s"] > df["R_interface_ohm_cm2"]).all()
    for f in ("run.json", "summary.json", "results.csv", "heatmap.png", "spec.toml"):
        assert (out / f).is_file(), f
    info = read_run_json(out)
    assert info["status"] == "completed" and info["job"] == "study"
    assert sorted(info["files"]) == sorted(
        ["run.json", "summary.json", "results.csv", "heatmap.png", "spec.toml"]
        + [f"cases/case000{i}.json" for i in range(4)])
    summary = json.loads((out / "summary.json").read_text())
    assert summary["completed"] == 4 and summary["failed"] == 0
    assert summary["headline"]["R_interface_ohm_cm2"]["min_case"] == "case0003"
    table = read_results(out)
    assert len(table) == 4 and table["R_interface_ohm_cm2"].tolist() == pytest.approx(list(R),
                                                                                         rel=1e-15)
    before = _case_files(out)

    # the same study into the same folder: nothing is computed again
    again = study_job(spec, out, MPI.COMM_SELF, progress=False)
    assert again.summary["reused_from_earlier_run"] == 4 and again.summary["computed_now"] == 0
    assert _case_files(out) == before
    assert again.to_pandas()["R_interface_ohm_cm2"].tolist() == list(R)

    # a changed spec is refused (one line), unless --overwrite
    spec.write_text(SPEC.replace('"2 min", "5 min"', '"2 min", "4 min"'))
    with pytest.raises(OutputError, match="different spec") as e:
        study_job(spec, out, MPI.COMM_SELF, progress=False)
    assert "\n" not in str(e.value)
    fresh = study_job(spec, out, MPI.COMM_SELF, progress=False, overwrite=True)
    assert fresh.summary["computed_now"] == 4
    assert _case_files(out)["case0000"]["finished"] != before["case0000"]["finished"]


def test_folder_of_something_else_is_refused(spec, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(OutputError, match="not empty"):
        run_study(spec, MPI.COMM_SELF, out, progress=False)


def test_failed_case_is_recorded_and_the_rest_complete(spec, tmp_path, monkeypatch):
    real = study_cases.run_case

    def flaky(config, comm, job="anneal", record=None, exposure=None, guard=None):
        if abs(config.anneal.max_temperature - 393.15) < 1e-9 and config.anneal.duration < 300:
            raise RuntimeError("solver blew up (test)")
        return real(config, comm, job, record, exposure, guard)

    monkeypatch.setattr(study_cases, "run_case", flaky)
    res = run_study(spec, MPI.COMM_SELF, tmp_path / "out", progress=False)
    df = res.to_pandas()
    assert df["status"].tolist() == ["completed", "completed", "failed", "completed"]
    assert len(res.failed) == 1 and res.failed[0]["case"] == "case0002"
    assert "RuntimeError: solver blew up (test)" in res.failed[0]["error"]
    assert df["R_interface_ohm_cm2"].isna().tolist() == [False, False, True, False]
    s = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert s["failed"] == 1 and s["failed_cases"][0]["case"] == "case0002"
    assert read_run_json(tmp_path / "out")["status"] == "completed"
    # a failed case counts as done: a rerun does not compute it again
    monkeypatch.setattr(study_cases, "run_case", real)
    again = run_study(spec, MPI.COMM_SELF, tmp_path / "out", progress=False)
    assert again.summary["computed_now"] == 0 and len(again.failed) == 1


def test_real_solver_failure_is_recorded(tmp_path):
    """A case whose Newton iteration cannot converge (newton_max_it = 1, coarse steps)
    fails with the solver's message; the other case completes."""
    spec = {"study": {"name": "f"},
            "config": {"anneal": {"segments": [{"ramp_to": "120 degC", "rate": "50 K/min"},
                                               {"hold": "2 min"}]},
                       "solver": {"newton_max_it": 1, "dt_min": "1 s", "dt_initial": "1 s"}},
            "parameters": [{"key": "solver.newton_rtol", "values": [1e-10, 0.5]}]}
    res = run_study(spec, MPI.COMM_SELF, progress=False)
    status = [r["status"] for r in res.rows]
    if "failed" not in status:
        pytest.skip("this solver setting converged; the monkeypatched test covers failures")
    assert status.count("failed") >= 1
    assert all(r["error"] for r in res.failed)


class _SetPending:
    """Wrap run_case: after ``after`` cases finished, a SIGINT is pending (as if the
    signal arrived between cases); with ``during``, it arrives inside that case."""

    def __init__(self, guard, after=None, during=None):
        self.guard, self.after, self.during = guard, after, during
        self.calls = 0
        self.real = study_cases.run_case

    def __call__(self, config, comm, job="anneal", record=None, exposure=None, guard=None):
        self.calls += 1
        if self.during is not None and self.calls == self.during:
            self.guard.pending = signal.SIGINT  # the time loop's check sees it
        out = self.real(config, comm, job, record, exposure, guard)
        if self.after is not None and self.calls == self.after:
            self.guard.pending = signal.SIGINT
        return out


@pytest.mark.parametrize("where", ["between", "during"])
def test_interrupted_study_resumes_without_recomputing(spec, tmp_path, monkeypatch, where):
    out = tmp_path / "out"
    guard = InterruptGuard()  # not installed: the test sets its flag
    hook = _SetPending(guard, after=2) if where == "between" else _SetPending(guard, during=3)
    monkeypatch.setattr(study_cases, "run_case", hook)
    with pytest.raises(Interrupted) as e:
        run_study(spec, MPI.COMM_SELF, out, progress=False, guard=guard)
    assert e.value.collective and e.value.signum == signal.SIGINT
    assert e.value.result.status == "interrupted"
    info = read_run_json(out)
    assert info["status"] == "interrupted" and "resume" in info["reason"]
    done = _case_files(out)
    assert len(done) == 2  # the third case was abandoned
    rows = read_results(out)
    assert sorted(rows["status"].tolist()) == ["completed", "completed", "pending", "pending"]
    # the costliest cases (longest programs) go first
    assert sorted(done) == ["case0001", "case0003"]

    monkeypatch.setattr(study_cases, "run_case", hook.real)
    counter = {"n": 0}

    def counting(*a, **k):
        counter["n"] += 1
        return hook.real(*a, **k)

    monkeypatch.setattr(study_cases, "run_case", counting)
    res = run_study(spec, MPI.COMM_SELF, out, progress=False)
    assert counter["n"] == 2
    assert res.status == "completed" and res.summary["reused_from_earlier_run"] == 2
    after = _case_files(out)
    assert {k: after[k] for k in done} == done  # untouched
    assert read_run_json(out)["status"] == "completed"


def test_expose_study_and_line_plot(tmp_path):
    spec = {"study": {"name": "dose", "job": "expose"},
            "config": {"exposure": {"gas": "air"}},
            "parameters": [{"key": "exposure.relative_humidity",
                            "range": {"start": 10, "stop": 90, "num": 3, "unit": "%"}}],
            "record": {"summary": ["R_interface_ohm_cm2", "H_LiCoO2_mol_m2"]},
            "plot": {"value": "R_interface_ohm_cm2"}}
    res = run_study(spec, MPI.COMM_SELF, tmp_path / "dose", progress=False)
    R = res.column("R_interface_ohm_cm2")
    assert (R[1:] > R[:-1]).all()  # wetter air, more damage
    assert res.to_pandas()["exposure.relative_humidity_si"].tolist() == pytest.approx(
        [0.1, 0.5, 0.9])
    assert (tmp_path / "dose" / "line.png").is_file()


@pytest.mark.slow
def test_sigint_to_a_running_study_then_resume(spec, tmp_path):
    """A real SIGINT to a process running a 6-case study: status interrupted, exit 130;
    the rerun computes only the missing cases."""
    spec.write_text(SPEC.replace('"2 min", "5 min"', '"2 min", "3 min", "5 min"'))
    out = tmp_path / "out"
    script = tmp_path / "run.py"
    script.write_text(f"""
import sys
from fem_cell.jobs.interrupts import InterruptGuard, Interrupted
guard = InterruptGuard().install()
from fem_cell._dolfinx import MPI
guard.install()
from fem_cell.studies.job import study_job
try:
    study_job({str(spec)!r}, {str(out)!r}, MPI.COMM_WORLD, guard=guard, progress=False)
except Interrupted as e:
    sys.exit(e.exit_status)
""")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        t0 = time.time()
        while len(list((out / "cases").glob("case*.json"))) < 2:
            assert proc.poll() is None, "the study ended before it could be interrupted"
            assert time.time() - t0 < 300
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=120) == 130
    finally:
        if proc.poll() is None:
            proc.kill()
    info = read_run_json(out)
    assert info["status"] == "interrupted"
    done = _case_files(out)
    assert 2 <= len(done) < 6
    res = study_job(spec, out, MPI.COMM_SELF, progress=False)
    assert res.summary["reused_from_earlier_run"] == len(done)
    assert res.summary["computed_now"] == 6 - len(done)
    after = _case_files(out)
    assert {k: after[k] for k in done} == done


def test_calibration_spec_calls_calibrate(tmp_path, monkeypatch):
    """kind = "calibration" parses the spec into FitParameter/Target objects and calls
    fem_cell.studies.calibration.calibrate (stubbed here: the wiring, not the fit)."""
    calibration = pytest.importorskip("fem_cell.studies.calibration")
    seen = {}

    class Fake:
        parameters = [{"key": "transport.exchange.velocity", "value": 1e-17, "unit": "m/s"}]
        targets = []

        def table(self):
            return "a table"

        def to_dict(self):
            return {"ok": True}

    def fake(base, parameters, targets, comm, *, base_overrides=None, out=None, progress=True):
        seen.update(base=base, parameters=parameters, targets=targets, out=out,
                    base_overrides=base_overrides)
        return Fake()

    monkeypatch.setattr(calibration, "calibrate", fake)
    spec = Path(__file__).resolve().parents[2] / "studies" / "calibration.toml"
    res = study_job(spec, tmp_path / "cal", MPI.COMM_SELF, progress=False)
    assert [p.key for p in seen["parameters"]] == [
        "transport.LiCoO2.trapping.detrapping_activation_energy",
        "exposure_model.surface_fraction"]
    v = seen["parameters"][0]
    assert (v.unit, v.initial, v.lower, v.upper, v.log) == ("eV", 1.278, 0.9, 1.6, False)
    assert [t.name for t in seen["targets"]][1] == "anneal 150 degC 1 h"
    assert seen["targets"][0].kind == "at_least" and seen["targets"][0].job == "expose"
    assert seen["targets"][3].quantity == ("R_interface_ohm_cm2@604800s/"
                                           "R_interface_ohm_cm2_initial")
    assert seen["base_overrides"] == {}
    assert seen["base"] is None and seen["out"] == tmp_path / "cal" / "calibration"
    assert res.rows[0]["value"] == 1e-17 and res.summary["calibration"] == {"ok": True}
    assert (tmp_path / "cal" / "calibration.csv").is_file()
    assert (tmp_path / "cal" / "calibration.txt").read_text() == "a table\n"
    assert read_run_json(tmp_path / "cal")["status"] == "completed"


def test_resume_after_a_hard_kill(tmp_path):
    """A study killed without a chance to clean up (SIGKILL, node failure) leaves run.json
    'running' listing only what was there at the start, and case files: it resumes."""
    spec = tmp_path / "dose.toml"
    spec.write_text('[study]\njob = "expose"\n[config]\nexposure = { gas = "air" }\n'
                    '[[parameters]]\nkey = "exposure.relative_humidity"\n'
                    'values = ["20 %", "40 %", "60 %"]\n')
    out = tmp_path / "out"
    study_job(spec, out, MPI.COMM_SELF, progress=False)
    info = read_run_json(out)
    info.update(status="running", files=["run.json", "spec.toml"])
    (out / "run.json").write_text(json.dumps(info))
    for f in ("results.csv", "summary.json", "line.png"):
        (out / f).unlink()
    (out / "cases" / "case0001.json").unlink()  # was running when killed
    res = study_job(spec, out, MPI.COMM_SELF, progress=False)
    assert res.summary["reused_from_earlier_run"] == 2 and res.summary["computed_now"] == 1
    assert read_run_json(out)["status"] == "completed"
