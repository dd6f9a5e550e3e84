"""Every command, run as a user runs it under ``mpirun -n 2``, exits (with its status).

The in-process MPI tests (``-m mpi``) cannot see what happens after a command returns:
solver objects destroyed by the garbage collector at a different moment on each rank
once left a finished chemistry anneal waiting forever in a collective MUMPS destroy
(``run.json`` said completed, mpirun never returned).  Each case here starts the real
``fem-cell`` entry point under the venv's ``mpirun`` with a timeout: a hang fails the
test instead of blocking the suite.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
MPIRUN = BIN / "mpirun"
FEM_CELL = BIN / "fem-cell"

SMALL_STUDY = """
[study]
name = "mpirun_smoke"
job = "expose"

[[parameters]]
key = "exposure.gas"
values = ["H2O", "N2"]

[record]
summary = ["R_interface_ohm_cm2"]
"""

SHORT_ANNEAL = """
[anneal]
initial_temperature = "25 degC"
segments = [{ ramp_to = "120 degC", rate = "20 K/min" }, { hold = "5 min" }]
"""


def mpirun(*args, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    """``mpirun -n 2 fem-cell ARGS``; a run that does not exit within ``timeout`` fails."""
    if not MPIRUN.exists():  # pragma: no cover - the set-up installs mpich with the wheel
        pytest.skip(f"no mpirun next to {sys.executable}")
    env = dict(os.environ, PYTHONUNBUFFERED="1", OMP_NUM_THREADS="1")
    cmd = [str(MPIRUN), "-n", "2", str(FEM_CELL), *map(str, args)]
    try:
        return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                              timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired as e:
        subprocess.run(["pkill", "-9", "-f", str(cwd)], check=False)
        pytest.fail(f"`mpirun -n 2 fem-cell {' '.join(map(str, args))}` did not exit within "
                    f"{timeout:g} s\nstdout:\n{e.stdout}\nstderr:\n{e.stderr}")


def _ok(r: subprocess.CompletedProcess, out: Path | None = None) -> None:
    assert r.returncode == 0, f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"
    assert "Traceback" not in r.stderr
    # PETSc's end-of-run report of options nobody read (an option set for a solver that
    # never factorised) is noise a user must not see
    assert "options you set that were not used" not in r.stdout + r.stderr
    if out is not None:
        info = json.loads((out / "run.json").read_text())
        assert info["status"] == "completed"
        assert info["mpi_size"] == 2


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("mpirun")
    (d / "short.toml").write_text(SHORT_ANNEAL)
    (d / "study.toml").write_text(SMALL_STUDY)
    shutil.copy(ROOT / "docs" / "examples" / "coarse_2d.toml", d / "coarse_2d.toml")
    return d


def test_anneal_1d_chemistry_exits(work):
    _ok(mpirun("anneal", "short.toml", "--dim", "1", "--out", "a1", "-q", cwd=work), work / "a1")


def test_anneal_default_1d_exits(work):
    """The exact command of the report: the default program, 1-D, chemistry on."""
    _ok(mpirun("anneal", "--dim", "1", "--out", "a_default", "-q", cwd=work),
        work / "a_default")


def test_anneal_coarse_2d_example_exits(work):
    _ok(mpirun("anneal", "coarse_2d.toml", "--out", "a2", "-q", cwd=work), work / "a2")
    # the interactive view merges the two ranks' pieces without their ghost cells: every
    # triangle once, over the whole width
    page = (work / "a2" / "protons_2d.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r'data-role="data">(.*?)</script>', page, re.S).group(1)
                      .replace("<\\/", "</"))
    xy = np.c_[data["x"], data["y"]]
    tri = np.asarray(data["triangles"]).reshape(-1, 3)
    corners = {tuple(sorted(map(tuple, np.round(xy[t], 6).tolist()))) for t in tri}
    assert len(corners) == len(tri)
    assert min(data["x"]) == pytest.approx(0.0, abs=1e-6)
    assert max(data["x"]) == pytest.approx(3000.0)
    files = json.loads((work / "a2" / "run.json").read_text())["files"]
    assert "protons_2d.html" in files
    # the outputs made after the time loop, spread over the two ranks (the film view by
    # rank 1, the renders and plots by rank 0): all there and all recorded
    for name in ("protons_2d.png", "temperature_2d.png", "history.png", "R_interface.png"):
        assert (work / "a2" / name).stat().st_size > 10_000, name
        assert name in files, name
    # what docs/outputs.md promises other tools: meshio reads the exported fields of the
    # 2-rank run, one cell per owned cell (no ghost twice), every point once
    import meshio

    import fem_cell

    run = fem_cell.open_run(work / "a2")
    grid = run.read_field("films")
    m = meshio.read(run.export_field("films", work / "a2_films.vtu"))
    assert len(m.cells[0].data) == grid.n_cells == len(tri) // 2
    assert len(np.unique(np.round(m.points, 6), axis=0)) == len(m.points)
    assert np.allclose(m.point_data["xH"], grid.point_data["xH"])


def test_anneal_heat_only_exits(work):
    _ok(mpirun("anneal", "short.toml", "--dim", "1", "--heat-only", "--out", "ah", "-q",
               cwd=work), work / "ah")


def test_anneal_restart_exits(work):
    _ok(mpirun("expose", "--dim", "1", "--out", "e0", "-q", cwd=work), work / "e0")
    _ok(mpirun("anneal", "--restart", "e0", "--out", "ar", "-q", cwd=work), work / "ar")


def test_expose_exits(work):
    _ok(mpirun("expose", "--dim", "1", "--gas", "air", "--out", "e1", "-q", cwd=work),
        work / "e1")


def test_impedance_exits(work):
    _ok(mpirun("impedance", "--dim", "1", "--exposed", "--out", "i1", "-q", cwd=work),
        work / "i1")


def test_impedance_iterative_exits(work):
    """``[solver] linear_solver = "iterative"``: the sweep's shifted solves are Krylov
    solves (fem_cell.solvers.rom._Krylov), on 2 ranks, with every PETSc option used."""
    (work / "iterative.toml").write_text('[solver]\nlinear_solver = "iterative"\n')
    _ok(mpirun("impedance", "iterative.toml", "--dim", "1", "--out", "i2", "-q", cwd=work),
        work / "i2")
    s = json.loads((work / "i2" / "summary.json").read_text())
    assert s["linear_solver"] == "iterative" and s["krylov_iterations"] > 0


def test_reproduce_exits(work):
    _ok(mpirun("reproduce", "--dim", "1", "--out", "rep", "-q", cwd=work, timeout=480),
        work / "rep")


def test_study_exits(work):
    _ok(mpirun("study", "study.toml", "--out", "st", "-q", cwd=work))
    assert (work / "st" / "results.csv").exists()


def test_mesh_and_config_exit(work):
    _ok(mpirun("mesh", "--dim", "2", "--out", "m.msh", cwd=work))
    assert (work / "m.msh").exists()
    r = mpirun("config", "--json", cwd=work)
    _ok(r)
    json.loads(r.stdout)


def test_error_exits_every_rank(work):
    """An invalid input is one line and exit 2 on all ranks (no rank left waiting)."""
    (work / "bad.toml").write_text("[mesh]\ndim = 7\n")
    r = mpirun("anneal", "bad.toml", "--out", "bad", cwd=work, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr


# -- no rank left spinning: a failure in a rank-0-decides step reaches every rank -------
def _bad_inputs(work: Path) -> dict[str, list[str]]:
    import h5py

    ck = next((work / "e0" / "checkpoints").glob("t*.h5"))
    bad = work / "bad_ck.h5"
    bad.write_bytes(ck.read_bytes())
    with h5py.File(bad, "r+") as f:
        f["meta"].attrs["json"] = "{not json"
    (work / "header_only.msh").write_text("$MeshFormat\n4.1 0 8\n$EndMeshFormat\n")
    (work / "header.toml").write_text('[mesh]\nfile = "header_only.msh"\n')
    import meshio
    import numpy as np

    pts = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1.0]])
    meshio.write(work / "tet.msh", meshio.Mesh(pts, [("tetra", np.array([[0, 1, 2, 3]]))],
                                               cell_data={"gmsh:physical": [np.array([1])],
                                                          "gmsh:geometrical": [np.array([1])]}),
                 file_format="gmsh22", binary=False)
    (work / "tet.toml").write_text('[mesh]\nfile = "tet.msh"\n')
    return {"corrupt checkpoint": ["anneal", "--restart", str(bad), "--out", "o_ck"],
            "header-only .msh": ["anneal", "header.toml", "--out", "o_msh"],
            "3-D mesh file": ["anneal", "tet.toml", "--out", "o_tet"],
            "300-character folder": ["expose", "--dim", "1", "--out", "x" * 300]}


@pytest.mark.parametrize("case", ["corrupt checkpoint", "header-only .msh", "3-D mesh file",
                                  "300-character folder"])
def test_bad_input_ends_every_rank(work, case):
    if not (work / "e0").exists():
        _ok(mpirun("expose", "--dim", "1", "--out", "e0", "-q", cwd=work), work / "e0")
    args = _bad_inputs(work)[case]
    r = mpirun(*args, cwd=work, timeout=120)
    assert r.returncode == 2, f"{case}: exit {r.returncode}\n{r.stderr}"
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("fem-cell: error:"), r.stderr
