"""scripts/rom_iterative_probe.py --quick end to end (docs/scaling.md), on 1 rank and
under ``mpirun -n 2``: one row per initial ROM shift, smoother and repeat, and a closing
count that matches the rows.  On the 1-D cell every shifted solve converges (measured:
9–27 iterations); the 2-D figures are this machine's and are not asserted."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "rom_iterative_probe.py"
ROW = re.compile(r"^\s+([\d.e+-]+)\s+([\d.]+)s\s+(sor|jacobi)\s+(\d+)\s+(-?\d+)\s+([\d.e+-]+)",
                 re.M)


@pytest.mark.serial
@pytest.mark.parametrize("ranks", [1, 2])
def test_quick_probe(ranks):
    cmd = [sys.executable, str(SCRIPT), "--quick"]
    if ranks > 1:
        cmd = [str(Path(sys.executable).with_name("mpirun")), "-n", str(ranks), *cmd]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT,
                       start_new_session=True)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = ROW.findall(r.stdout)
    assert len(rows) == 4 * 2          # 4 initial shifts x 2 smoothers (1 repeat)
    assert f"{ranks} rank(s)" in r.stdout
    for _, _, _, its, reason, res in rows:
        assert int(reason) > 0 and 0 < int(its) < 300 and float(res) < 1e-9
    assert r.stdout.strip().splitlines()[-1] == "iterative shifted solves: 8 of 8 converged"
