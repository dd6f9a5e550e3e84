"""scripts/scaling_model.py --quick end to end (docs/scaling.md): it measures MUMPS on two
small 2-D levels per direction on 1 rank and the largest on 2 ranks (mpirun), and prints
fits and predictions.  Checks that it runs and that what it prints is consistent with
what it measured; the figures themselves are this machine's, never asserted."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.serial
def test_quick_run_measures_fits_and_predicts():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "scaling_model.py"), "--quick"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    rows = re.findall(r"(\d) rank\(s\): N = +(\d+) +\((\d+) factorised\) +factor +([\d.]+) s",
                      out)
    ranks = [int(k) for k, _, _, _ in rows]
    sizes = [int(n) for _, n, _, _ in rows]
    # the condensed LU factorises part of the transport's unknowns
    assert all(0 < int(m) < int(n) for _, n, m, _ in rows)
    assert ranks.count(1) == 4 and ranks.count(2) == 1
    # the 2-rank case is the largest level, the same system on both rank counts
    assert sizes[-1] == max(sizes[:-1])
    assert all(float(t) > 0 for _, _, _, t in rows)
    # every cost measured, none skipped (a Jacobian callback that decides not to
    # assemble outside a solve once made the Jacobian read 0.0 ms)
    jac = re.findall(r"Jacobian +([\d.]+) ms +residual +([\d.]+) ms", out)
    assert len(jac) == len(rows) and all(float(a) > 0 and float(b) > 0 for a, b in jac)
    exps = re.findall(r"exponents in N \((lateral|thickness)\): factorisation (-?[\d.]+)", out)
    assert [e[0] for e in exps] == ["lateral", "thickness"]
    assert "1-rank/2-rank ratios: factor" in out
    pred = re.findall(r"^\s+1e\+0([67]) (lateral|thickness)", out, re.M)
    assert len(pred) == 4


@pytest.mark.serial
def test_quick_iterative_run_measures_fits_and_predicts():
    """``--solver iterative``: the same levels on the iterative path; its Krylov
    iterations, per-iteration time, preconditioner set-up and (on 2 ranks) messages and
    reductions per iteration are measured, then fitted and priced."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "scaling_model.py"), "--quick",
                        "--solver", "iterative"],
                       capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    out = r.stdout
    rows = re.findall(r"(\d) rank\(s\): N = +(\d+) +Krylov +(\d+) its +per iteration +([\d.]+) ms"
                      r" +set-up +([\d.]+) s +Jacobian +([\d.]+) ms +residual +([\d.]+) ms"
                      r" +per iteration: ([\d.]+) messages, ([\d.]+) reductions", out)
    assert [int(k) for k, *_ in rows].count(1) == 4 and rows[-1][0] == "2"
    # a converged, preconditioned solve (FGMRES without a preconditioner needs hundreds)
    assert all(1 <= int(row[2]) <= 100 for row in rows)
    assert all(float(x) > 0 for row in rows for x in row[3:7])
    # one rank sends no message; two do, and FGMRES reduces at every iteration
    assert all(float(row[7]) == 0 for row in rows[:-1]) and float(rows[-1][7]) > 0
    assert all(float(row[8]) >= 1 for row in rows)
    assert "1-rank/2-rank ratios: iteration" in out and "overhead" in out
    pred = re.findall(r"^\s+1e\+0([67]) (lateral|thickness)", out, re.M)
    assert len(pred) == 4
    assert "weak scaling at 62,500 transport unknowns per rank" in out
