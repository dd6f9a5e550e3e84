"""Record (or compare against) the refactoring regression reference.

A refactoring must not change the numbers.  This script runs, through the command line
as a user would, the outputs that cover the whole pipeline and keeps their numeric
columns under ``tests/regression/reference/``:

* ``reproduce`` (1-D, built-in cell): ``reproduction.csv``;
* ``anneal --dim 1`` (built-in cell): ``history.csv``;
* ``impedance --dim 1`` pristine and ``--exposed``: ``impedance.csv``;
* ``anneal --dim 2`` (the default cross-section, on 1 rank): the last row of
  ``history.csv`` (``--with-2d``; a few minutes).  One rank, because a 2-rank run is not
  bitwise reproducible: MUMPS's parallel factorisation sums in a run-dependent order, and
  the adaptive stepper turns round-off (1e-14 in the temperatures) into a different
  accept/reject sequence (measured: R differs by 3e-5 between two identical 2-rank runs).

These are *not* physics verification (the code produced them); they only show that a
restructuring left every number where it was (``tests/regression``, 1e-8 relative).

Usage::

    python scripts/regression_reference.py --record [--with-2d]
    python scripts/regression_reference.py --compare [--with-2d]
"""

from __future__ import annotations

import argparse
import csv
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
REF = ROOT / "tests" / "regression" / "reference"
BIN = Path(sys.executable).parent

#: name -> (fem-cell arguments, file in the run folder, keep only the last row, ranks)
RUNS = {
    "reproduction": (["reproduce", "--dim", "1"], "reproduction.csv", False, 1),
    "anneal_1d_history": (["anneal", "--dim", "1"], "history.csv", False, 1),
    "impedance_pristine": (["impedance", "--dim", "1"], "impedance.csv", False, 1),
    "impedance_exposed": (["impedance", "--dim", "1", "--exposed"], "impedance.csv", False, 1),
    "anneal_2d_final": (["anneal", "--dim", "2"], "history.csv", True, 1),
}
TWO_D = ("anneal_2d_final",)
#: columns that are wall times, counters of the run itself, or text
SKIP = {"wall_time_s", "criterion", "meets_paper", "role", "note"}
#: post-processing outputs that amplify round-off, with the relative tolerance they get:
#: the fit's standard errors move by ~1e-6 when Z is perturbed by 1e-12 relative
AMPLIFIED = {"R_interface_fit_stderr_ohm_cm2": 1e-5}
#: outputs whose digits are round-off noise, compared by what they are used for (both the
#: reference and the new value at most this): the Lin-KK residual of a spectrum near its
#: floor.  Measured on the 15-min-annealed case's spectrum: perturbing Z by 1e-14, 1e-13
#: and 3 x 1e-12 relative gave 6.4e-5, 2.7e-4, 1.4e-4, 2.1e-4 and 9.5e-5 (unperturbed
#: 2.0e-4; M jumps between 47 and 48 RC elements); KK-consistent means below 1e-3
#: (fem_cell.analysis.eis.kramers_kronig_checked).
#: The per-step proton balance residual: set by Newton's tolerance (1e-11 on the
#: fractions), not by the physics, so its digits change with the round-off of the last
#: Newton update (measured, default 1-D anneal, MUMPS → band LU: row 10 3.65e-10 →
#: 2.36e-10, every other column within 1e-8); compared with the conservation test's
#: bound (tests/verification/test_proton_conservation.py).
BELOW = {"kk_residual_max": 1e-3, "mass_balance_rel": 1e-8}


def run(name: str, work: Path) -> list[dict]:
    args, fname, last, ranks = RUNS[name]
    out = work / name
    cmd = [str(BIN / "fem-cell"), *args, "--out", str(out), "-q"]
    if ranks > 1:
        cmd = [str(BIN / "mpirun"), "-n", str(ranks), *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1800)
    if r.returncode != 0:
        raise SystemExit(f"{name}: exit {r.returncode}\n{r.stderr}")
    with open(out / fname, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    return rows[-1:] if last else rows


def numeric(rows: list[dict]) -> dict[str, np.ndarray]:
    """Numeric columns (text columns and wall times left out)."""
    out = {}
    for k in rows[0]:
        if k in SKIP:
            continue
        try:
            out[k] = np.array([float(r[k]) if r[k] not in ("", "None") else np.nan
                               for r in rows])
        except ValueError:
            continue
    return out


#: files whose numbers are written with this many significant digits (the rest: full
#: precision): reproduction.csv (fem_cell.jobs.reproduce, ``f"{v:.6g}"``)
SIGNIFICANT = {"reproduction": 6}


def written_unit(values: np.ndarray, digits: int) -> np.ndarray:
    """One unit in the last of ``digits`` significant digits of each value (0 for 0 and
    NaN): how far two values written that way can lie apart when the true values
    straddle a rounding boundary."""
    a = np.abs(values)
    ok = np.isfinite(a) & (a > 0)
    exp = np.floor(np.log10(np.where(ok, a, 1.0)))
    return np.where(ok, 10.0 ** (exp - (digits - 1)), 0.0)


def compare(name: str, rows: list[dict], rtol: float = 1e-8) -> list[str]:
    """Differences of ``rows`` from the reference beyond ``rtol`` relative (or a
    column's own tolerance) and, for a file written with :data:`SIGNIFICANT` digits,
    beyond one unit in the last digit: a value at a rounding boundary can flip its last
    digit — ``relative_difference`` = ratio − 1 = 0.00237875 was written 0.00237874 on
    another CPU (4.2e-6 relative) by the same code on the same inputs (the commit
    before this rule fails there too)."""
    with open(REF / f"{name}.csv", newline="", encoding="utf-8") as f:
        ref = numeric(list(csv.DictReader(f)))
    new = numeric(rows)
    bad = []
    for k, a in ref.items():
        if k not in new:
            bad.append(f"{name}: column {k} missing")
            continue
        b = new[k]
        if a.shape != b.shape:
            bad.append(f"{name}: {k} has {b.size} rows, reference {a.size}")
            continue
        if k in BELOW:
            a, b = np.abs(a), np.abs(b)
            over = ~(np.isnan(a) & np.isnan(b)) & ~((a <= BELOW[k]) & (b <= BELOW[k]))
            if over.any():
                i = int(np.flatnonzero(over)[0])
                bad.append(f"{name}: {k} above {BELOW[k]:g} (row {i}: {b[i]!r}, reference "
                           f"{a[i]!r})")
            continue
        scale = np.maximum(np.abs(a), 1e-300)
        d = np.where(np.isnan(a) & np.isnan(b), 0.0, np.abs(a - b) / scale)
        # absolute floor for values that are round-off zeros
        d = np.where(np.abs(a - b) < 1e-12, 0.0, d)
        if name in SIGNIFICANT:   # equal as written: within one unit of the last digit
            unit = written_unit(a, SIGNIFICANT[name])
            d = np.where(np.abs(a - b) <= unit * (1 + 1e-9), 0.0, d)
        tol = AMPLIFIED.get(k, rtol)
        if np.nanmax(d) > tol or np.isnan(d).any():
            i = int(np.nanargmax(d))
            bad.append(f"{name}: {k} differs by {np.nanmax(d):.2e} (row {i}: {b[i]!r} vs "
                       f"reference {a[i]!r})")
    return bad


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--record", action="store_true")
    g.add_argument("--compare", action="store_true")
    ap.add_argument("--with-2d", action="store_true", help="also the default 2-D anneal")
    ap.add_argument("--only", nargs="*", help="run only these names")
    a = ap.parse_args()
    names = [n for n in RUNS if (a.with_2d or n not in TWO_D) and (not a.only or n in a.only)]
    work = Path(tempfile.mkdtemp(prefix="fem_cell_regression_"))
    problems = []
    try:
        for n in names:
            rows = run(n, work)
            if a.record:
                REF.mkdir(parents=True, exist_ok=True)
                with open(REF / f"{n}.csv", "w", newline="", encoding="utf-8") as f:
                    w = csv.DictWriter(f, fieldnames=list(rows[0]))
                    w.writeheader()
                    w.writerows(rows)
                print(f"recorded {n}: {len(rows)} row(s)")
            else:
                p = compare(n, rows)
                problems += p
                print(f"{n}: {'OK' if not p else 'DIFFERS'}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
