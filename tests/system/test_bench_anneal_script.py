"""scripts/bench_anneal.py's 2-D child (what its 2-D lines are made of) runs under
``mpirun -n 2`` and reports where the run went by PETSc's event log, consistently with
the run's own counts: one MUMPS LU factorisation per transport Jacobian (the default
Jacobian policy assembles and factorises each), one Cholesky factorisation per heat
Jacobian.
Structure only: tests never time anything."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
ROOT = Path(__file__).resolve().parents[2]
MPIRUN = Path(sys.executable).with_name("mpirun")


def test_the_2d_child_reports_the_solver_log_under_mpirun():
    script = ROOT / "scripts" / "bench_anneal.py"
    r = subprocess.run([str(MPIRUN), "-n", "2", sys.executable, str(script), "--case", "2",
                        "--cells-per-layer", "2", "--repeats", "1"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"), start_new_session=True)
    assert r.returncode == 0, r.stderr
    res = json.loads([ln for ln in r.stdout.splitlines() if ln.startswith("RESULT ")][-1][7:])
    assert res["ranks"] == 2 and res["dim"] == 2
    log = res["solver_log"]
    assert set(log) == {"LU factorisations", "Cholesky factorisations", "back-substitutions",
                        "residuals", "Jacobians"}
    jac = res["jacobians"]       # problem → (factorisation, Jacobians assembled)
    assert jac["transport"][0] == "mumps" and jac["heat"][0] == "mumps"
    # MUMPS: LU of the transport (and of the exposure unless it ran on the band LU of
    # its 1-D column), Cholesky of the heat
    lu = jac["transport"][1] + (jac["exposure"][1] if jac["exposure"][0] == "mumps" else 0)
    assert log["LU factorisations"][0] == lu > 0
    assert log["Cholesky factorisations"][0] == jac["heat"][1] > 0
    # every factorisation is followed by at least one solve with it
    assert log["back-substitutions"][0] >= (log["LU factorisations"][0]
                                            + log["Cholesky factorisations"][0])
    assert all(secs >= 0.0 for _, secs in log.values())
    assert sum(secs for _, secs in log.values()) < res["wall_s"][0]
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import bench_anneal
    finally:
        sys.path.pop(0)
    import contextlib
    import io

    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        bench_anneal.show(res)
    line = shown.getvalue().splitlines()[-1]
    assert line.startswith("    last run, PETSc log (the most of any rank): ")
    assert f"{lu} LU factorisations" in line
