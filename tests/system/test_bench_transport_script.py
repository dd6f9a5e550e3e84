"""scripts/bench_transport.py runs and reports what the docs quote from it: the two
steps, the kernels-alone bound, the part-by-part breakdown (``--breakdown``) and, on its
last line, the floor ratio.  Structure only: tests never time anything."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.serial, pytest.mark.system]
ROOT = Path(__file__).resolve().parents[2]


def test_bench_transport_prints_the_breakdown_and_the_floor_ratio_last():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_transport.py"),
                        "--cells-per-layer", "8", "--steps", "6", "--settle", "2",
                        "--breakdown"],
                       cwd=ROOT, capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stderr
    lines = r.stdout.strip().splitlines()
    assert re.fullmatch(r"floor ratio: \d+\.\d\d", lines[-1])
    assert float(lines[-1].split(":")[1]) > 0
    out = r.stdout
    assert "direct solver: band LU" in out
    assert re.search(r"ours :\s+\d+ DOFs .* ms/step", out)
    assert re.search(r"floor:\s+\d+ DOFs .* 1\.00 Newton iterations/step", out)
    for label in ("residuals (assembly, Dirichlet rows)", "Jacobian (assembly)",
                  "band LU set-up (factorisation)", "band LU solves",
                  "Newton test (with its look-ahead solve)", "whole Newton solve"):
        m = re.search(re.escape(label) + r"\s+(\d+\.\d) us/step", out)
        assert m and float(m.group(1)) > 0, label
