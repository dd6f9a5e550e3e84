"""Mesh convergence of the headline numbers (1-D default cell): the exposed R, R after the
150 °C / 1 h anneal, the protons removed and the 7-day ratio, against ``[mesh]
cells_per_layer``; the finest mesh is the reference.  Also the 2-D small mesh of the
reproduction against the converged 1-D exposed R (``--2d``).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/mesh_convergence.py [--2d]

Prints a table (figures quoted in docs/model.md "Resolution").
"""

from __future__ import annotations

import argparse
import sys

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal

QUIET = {"output": {"fields": False, "plots": False, "render": False, "checkpoints": False}}
SEVEN_DAYS = {"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "168 h"}]},
              "solver": {"dt_max": "6 h"}}


def headline(mesh: dict, comm) -> dict[str, float]:
    cfg = load_config(overrides={**QUIET, "mesh": mesh})
    a = run_anneal(cfg, comm, progress=False).summary
    cfg7 = load_config(overrides={**QUIET, **SEVEN_DAYS, "mesh": mesh})
    h = run_anneal(cfg7, comm, progress=False).summary
    return {"R_exposed": a["R_interface_ohm_cm2_initial"], "R_150C_1h": a["R_interface_ohm_cm2"],
            "removed": a["H_LiCoO2_removed_fraction"],
            "ratio_7d": h["R_interface_ohm_cm2"] / h["R_interface_ohm_cm2_initial"],
            "dofs": a["transport_dofs"]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cells", default="16,32,64,128,256,512")
    ap.add_argument("--2d", dest="two_d", action="store_true",
                    help="also the reproduction's small 2-D mesh (exposed R, film and pad)")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    cells = [int(c) for c in args.cells.split(",")]
    res = {n: headline({"cells_per_layer": n}, comm) for n in cells}
    ref = res[cells[-1]]
    if comm.rank == 0:
        print(f"reference: cells_per_layer = {cells[-1]}")
        print(f"{'cells':>6s} {'dofs':>6s} " + " ".join(f"{k:>22s}" for k in ref if k != "dofs"))
        for n, r in res.items():
            cols = []
            for k, v in r.items():
                if k == "dofs":
                    continue
                rel = (v - ref[k]) / abs(ref[k])
                cols.append(f"{v:12.6g} ({100 * rel:+7.3f}%)")
            print(f"{n:6d} {r['dofs']:6d} " + " ".join(f"{c:>22s}" for c in cols))
    if args.two_d:
        from fem_cell.jobs.reproduce import SMALL_2D_MESH

        cfg = load_config(overrides={**QUIET, "mesh": SMALL_2D_MESH,
                                     "anneal": {"segments": [{"hold": "1 s"}]}})
        s = run_anneal(cfg, comm, progress=False).summary
        if comm.rank == 0:
            r0 = s["R_interface_ohm_cm2_initial"]
            print(f"2-D small mesh {SMALL_2D_MESH}: exposed R film {r0:.6g} "
                  f"({100 * (r0 / ref['R_exposed'] - 1):+.3f}% vs converged 1-D), pad "
                  f"{s.get('R_interface_pad_ohm_cm2_initial', float('nan')):.6g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
