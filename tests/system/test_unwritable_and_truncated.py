"""Two holes of the adversarial-user list, serially and under ``mpirun -n 2``:

* ``--overwrite`` into a run folder whose ``checkpoints/`` sub-folder or ``history.csv``
  cannot be written is refused before any work — one line, exit 2, the old files kept —
  instead of failing mid-run (the folder is made immutable with ``chattr +i``, which
  stops root too; with plain permission bits as a non-root user);
* a truncated ``.vtu`` mesh file given as ``[mesh] file`` is one line and exit 2 on every
  rank, not a traceback or a rank left waiting.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
BIN = Path(sys.executable).parent
SHORT = """
[anneal]
segments = [{ ramp_to = "30 degC", rate = "10 K/min" }]
[output]
fields = false
plots = false
render = false
"""


def run(*args, cwd: Path, mpi: bool, timeout: float = 240) -> subprocess.CompletedProcess:
    cmd = [str(BIN / "fem-cell"), *map(str, args)]
    if mpi:
        cmd = [str(BIN / "mpirun"), "-n", "2", *cmd]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def one_line(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 2, (r.returncode, r.stderr)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert "Traceback" not in r.stderr
    assert len(set(lines)) == 1, r.stderr      # the same line (each rank may print it)
    return lines[0]


def _freeze(path: Path) -> bool:
    """Make ``path`` unwritable (immutable for root; mode bits otherwise); True if it is."""
    if os.geteuid() == 0 and shutil.which("chattr"):
        subprocess.run(["chattr", "+i", str(path)], capture_output=True)
    else:
        path.chmod(0o555 if path.is_dir() else 0o444)
    probe = path / ".probe" if path.is_dir() else path
    try:
        with open(probe, "a"):
            pass
    except OSError:
        return True
    if path.is_dir():
        probe.unlink()
    return False


def _thaw(path: Path) -> None:
    if shutil.which("chattr"):
        subprocess.run(["chattr", "-i", str(path)], capture_output=True)
    path.chmod(0o755 if path.is_dir() else 0o644)


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    d = tmp_path_factory.mktemp("unwritable")
    (d / "short.toml").write_text(SHORT)
    r = run("anneal", "short.toml", "--dim", "1", "-q", "--out", "done", cwd=d, mpi=False)
    assert r.returncode == 0, r.stderr
    return d


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
@pytest.mark.parametrize("what", ["checkpoints", "history.csv"])
def test_overwrite_into_unwritable_parts_is_refused_before_work(work, mpi, what):
    out = work / f"o_{what.replace('.', '_')}_{int(mpi)}"
    shutil.copytree(work / "done", out)
    target = out / what
    before = (out / "history.csv").read_bytes()
    if not _freeze(target):
        _thaw(target)
        pytest.skip(f"cannot make {what} unwritable here (no chattr, or a file system "
                    "that ignores it)")
    try:
        r = run("anneal", "short.toml", "--dim", "1", "-q", "--out", out.name, "--overwrite",
                cwd=work, mpi=mpi)
    finally:
        _thaw(target)
    line = one_line(r)
    assert line.startswith("fem-cell: error: --out") and (
        "not writable" in line or "cannot be replaced" in line), line
    assert what.split(".")[0] in line
    assert (out / "history.csv").read_bytes() == before        # nothing was touched


@pytest.mark.parametrize("mpi", [False, True], ids=["serial", "mpirun-2"])
def test_truncated_vtu_mesh_is_one_line(work, mpi):
    r = run("mesh", "--dim", "1", "--out", "m.vtu", cwd=work, mpi=False)
    assert r.returncode == 0, r.stderr
    data = (work / "m.vtu").read_bytes()
    (work / "cut.vtu").write_bytes(data[: len(data) // 2])
    (work / "cut.toml").write_text(SHORT + '[mesh]\ndim = 1\nfile = "cut.vtu"\n')
    r = run("anneal", "cut.toml", "-q", "--out", f"cut_{int(mpi)}", cwd=work, mpi=mpi)
    line = one_line(r)
    assert "cut.vtu" in line and "cannot read the mesh file" in line, line
