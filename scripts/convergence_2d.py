"""2-D mesh convergence of the anneal chemistry: R_interface and the proton inventories
of the default cell (narrow Li pad) after the exposure and after the anneal program, on
a sequence of refined cross-sections (through-thickness cells per layer × lateral cell
size at the pad edges), and the 1-D value for comparison.  Prints a table; run under
mpirun for speed::

    .venv/bin/mpirun -n 2 .venv/bin/python scripts/convergence_2d.py [--short]

``--short`` uses a 20-min hold instead of 60 min.
"""

from __future__ import annotations

import argparse
import time

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.anneal import run_anneal

QUIET = {"output": {"fields": False, "plots": False, "render": False}}


def run(comm, mesh: dict, short: bool) -> dict:
    over = {**QUIET, "mesh": mesh}
    if short:
        over["anneal"] = {"initial_temperature": "25 degC", "segments": [
            {"ramp_to": "150 degC", "rate": "5 K/min"}, {"hold": "20 min"},
            {"ramp_to": "25 degC", "rate": "5 K/min"}]}
    cfg = load_config(overrides=over)
    t0 = time.perf_counter()
    r = run_anneal(cfg, comm, progress=False)
    h = r.history
    return {"dofs": r.summary["dofs"] + r.summary["transport_dofs"],
            "R0": h.column("R_interface_ohm_cm2")[0], "R1": h.column("R_interface_ohm_cm2")[-1],
            "H_lco": h.column("H_LiCoO2_mol_m2")[-1], "H_lpo": h.column("H_Li3PO4_mol_m2")[-1],
            "wall": time.perf_counter() - t0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--short", action="store_true")
    args = ap.parse_args()
    comm = MPI.COMM_WORLD
    levels = [("1-D", {"dim": 1, "cells_per_layer": 16})]
    for cpl, edge in ((8, "3.2 um"), (16, "1.6 um"), (32, "0.8 um")):
        levels.append((f"2-D cpl {cpl}, edge {edge}",
                       {"dim": 2, "cells_per_layer": cpl, "lateral_edge_size": edge}))
    rows = []
    for name, mesh in levels:
        res = run(comm, mesh, args.short)
        rows.append((name, res))
        if comm.rank == 0:
            print(f"{name:28s} {res['dofs']:8d} DOFs  R exposed {res['R0']:8.3f}  R after "
                  f"{res['R1']:8.4f} Ω cm²  H_LiCoO2 {res['H_lco']:.4e}  H_Li3PO4 "
                  f"{res['H_lpo']:.4e} mol/m²  ({res['wall']:.0f} s)", flush=True)
    if comm.rank == 0 and len(rows) > 2:
        a, b = rows[-2][1], rows[-1][1]
        dR = abs(b["R1"] - a["R1"]) / b["R1"]
        print(f"last refinement changes R after the anneal by {dR:.2e}"
              f" and H_LiCoO2 by {abs(b['H_lco'] - a['H_lco']) / b['H_lco']:.2e} (relative)")


if __name__ == "__main__":
    main()
