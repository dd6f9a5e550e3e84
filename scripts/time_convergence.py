"""Time-integration convergence of the anneal's headline numbers (1-D, in-process).

Runs the built-in cell's exposure + 150 °C / 1 h anneal (and the 7-day hold at 25 °C)
with a sequence of proton-fraction tolerances (``[solver] fraction_tolerance``, the
relative part scaled with it), and compares every headline number and the whole
R_interface(t) curve at the output times with the tightest run.  The default tolerance
is chosen so that every headline number is within 0.1 % of the converged value.

    python scripts/time_convergence.py [--tolerances 1e-2 3e-3 1e-3 3e-4 1e-4 1e-5 1e-6]

Prints one row per tolerance: steps, wall time, the headline numbers and their relative
differences from the tightest tolerance; the last line names the loosest tolerance that
meets 0.1 %.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal

QUIET = {"output": {"fields": False, "plots": False, "render": False, "checkpoints": False}}
HOLD_7D = {"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "168 h"}]},
           "solver": {"dt_max": "1 h"}}


def run(tol: float, hold: bool = False) -> dict:
    over = {**QUIET, **(HOLD_7D if hold else {})}
    solver = dict(over.get("solver", {}))
    solver.update(fraction_tolerance=tol, fraction_relative_tolerance=tol)
    over["solver"] = solver
    cfg = load_config(overrides=over)
    t0 = time.perf_counter()
    res = run_anneal(cfg, MPI.COMM_SELF, progress=False)
    h = res.history
    return {"steps": res.summary["steps_accepted"], "wall": time.perf_counter() - t0,
            "t": h.column("time_s"), "R": h.column("R_interface_ohm_cm2"),
            "R_final": res.summary["R_interface_ohm_cm2"],
            "removed": res.summary["H_LiCoO2_removed_fraction"]}


def compare(runs: dict[float, dict], ref: dict) -> dict[float, dict]:
    """Relative differences from ``ref`` of the final R, the removed fraction and R(t)
    at the output times both runs share."""
    out = {}
    for tol, r in runs.items():
        common = np.intersect1d(np.round(r["t"], 6), np.round(ref["t"], 6))
        ia = np.searchsorted(np.round(r["t"], 6), common)
        ib = np.searchsorted(np.round(ref["t"], 6), common)
        dR = np.abs(r["R"][ia] / ref["R"][ib] - 1)
        out[tol] = {"R_final": abs(r["R_final"] / ref["R_final"] - 1),
                    "removed": abs(r["removed"] / ref["removed"] - 1),
                    "R(t) max": float(dR.max())}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tolerances", type=float, nargs="+",
                    default=[1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 1e-6])
    tols = sorted(ap.parse_args().tolerances, reverse=True)
    anneal = {tol: run(tol) for tol in tols}
    hold = {tol: run(tol, hold=True) for tol in tols}
    da = compare(anneal, anneal[tols[-1]])
    print(f"{'tolerance':>10} {'steps':>6} {'wall s':>7} {'R_150C_1h':>10} {'rel':>9} "
          f"{'R(t) max':>9} {'removed':>8} {'rel':>9} {'R_7d/R_0':>9} {'rel':>9}")
    ok = []
    for tol in tols:
        a, h = anneal[tol], hold[tol]
        ratio = h["R"][-1] / h["R"][0]
        ref_ratio = hold[tols[-1]]["R"][-1] / hold[tols[-1]]["R"][0]
        d_ratio = abs(ratio / ref_ratio - 1)
        worst = max(da[tol]["R_final"], da[tol]["removed"], d_ratio, da[tol]["R(t) max"])
        if worst <= 1e-3:
            ok.append(tol)
        print(f"{tol:10.0e} {a['steps']:6d} {a['wall']:7.2f} {a['R_final']:10.5f} "
              f"{da[tol]['R_final']:9.2e} {da[tol]['R(t) max']:9.2e} {a['removed']:8.5f} "
              f"{da[tol]['removed']:9.2e} {ratio:9.5f} {d_ratio:9.2e}")
    loosest = max(ok) if ok else None
    print(f"loosest tolerance with every headline number and R(t) within 0.1 % of "
          f"{tols[-1]:g}: {loosest}")


if __name__ == "__main__":
    main()
