"""Algorithmic scalability of the iterative solver path (issue 18, item 4).

Runs one 2-D exposure + anneal per mesh level and linear solver (each in a fresh child
process, optionally under mpirun), then prints, measured in this one run:

* per level: heat and transport DOFs, time steps, Newton iterations, and for the
  iterative path the Krylov iterations per Newton iteration (mean) and in one solve
  (max) of the heat and anneal-transport problems (and of the exposure when it runs on
  the 2-D mesh; on the built-in cross-section it runs directly on the film's 1-D
  column, docs/transport.md); wall time of both paths;
* iterative vs direct: the largest relative difference over the run's headline outputs
  (summary.json numbers: interface resistance, inventories, temperatures);
* the ratio of Krylov iterations per Newton iteration, finest / coarsest level (the
  issue's bound: within 1.5x while the DOFs grow 4x or more).

Usage::

    .venv/bin/python scripts/solver_scaling.py                  # 2 levels, 1 rank
    .venv/bin/python scripts/solver_scaling.py --ranks 2
    .venv/bin/python scripts/solver_scaling.py --levels 3x30,6x120x1.05 --hold "1 h"

A level ``CxLxG`` is ``[mesh] cells_per_layer = C``, ``lateral_cells = L`` and
``lateral_growth = G`` (default 1.2) on the mesh family of docs/examples/coarse_2d.toml
(growth 1.5, cells <= 50 um).  The lateral count is set by the pad-edge grading more
than by L: the default levels give 2424 and 8613 film nodes (x3.6); 12x120x1.045 gives
14229 (x5.9).  No timing assertions anywhere: this script reports.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()
QUIET = {"output": {"fields": False, "plots": False, "render": False}}
#: the mesh family (docs/examples/coarse_2d.toml's grading) refined by the levels
FAMILY = {"growth": 1.5, "max_cell_size": "50 um", "lateral_growth": 1.2}
#: summary.json numbers compared between the two paths (everything physical)
SKIP = ("wall_time_s", "newton_iterations", "steps_accepted", "steps_rejected", "dofs",
        "cells", "transport_dofs")


def level_mesh(case: str) -> dict:
    """``[mesh]`` of a level ``CxL`` or ``CxLxG`` (G: lateral growth, default 1.2)."""
    parts = case.split("x")
    mesh = {"dim": 2, **FAMILY, "cells_per_layer": int(parts[0]), "lateral_cells": int(parts[1])}
    if len(parts) > 2:
        mesh["lateral_growth"] = float(parts[2])
    return mesh


def overrides(case: str, solver: str, hold: str) -> dict:
    return {**QUIET, "mesh": level_mesh(case),
            "anneal": {"initial_temperature": "25 degC",
                       "segments": [{"ramp_to": "150 degC", "rate": "5 K/min"},
                                    {"hold": hold}]},
            "solver": {"linear_solver": solver}}


def child(args) -> None:
    import time

    from fem_cell._dolfinx import MPI
    from fem_cell.config import load_config
    from fem_cell.jobs.anneal import run_anneal

    cfg = load_config(overrides=overrides(args.case, args.solver, args.hold))
    comm = MPI.COMM_WORLD
    comm.Barrier()
    t0 = time.perf_counter()
    r = run_anneal(cfg, comm, progress=False)
    comm.Barrier()
    wall = time.perf_counter() - t0
    if comm.rank == 0:
        print("RESULT " + json.dumps({"summary": r.summary, "wall_s": wall}), flush=True)


def spawn(case: str, solver: str, ranks: int, hold: str) -> dict:
    py = sys.executable
    cmd = [py, str(HERE), "--case", case, "--solver", solver, "--hold", hold]
    if ranks > 1:
        cmd = [str(Path(py).with_name("mpirun")), "-n", str(ranks), *cmd]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def numbers(summary: dict, prefix: str = "") -> dict[str, float]:
    """The physical numbers of a summary, flattened (``exposure.H_LiCoO2_mol_m2``)."""
    out = {}
    for k, v in summary.items():
        if k in SKIP or k == "solver":
            continue
        if isinstance(v, dict):
            out.update(numbers(v, f"{prefix}{k}."))
        elif isinstance(v, (int, float)) and not isinstance(v, bool):
            out[f"{prefix}{k}"] = float(v)
    return out


#: numbers that are round-off-level near zero: compared against this absolute scale
FLOORS = {"xH_min": 1e-6, "mass_balance": 1.0, "balance_error": 1.0}


def max_difference(a: dict, b: dict) -> tuple[float, str]:
    """Largest relative difference |a − b| / max(|a|, |b|, floor) over the common
    numbers (floor: :data:`FLOORS` for quantities that sit at round-off, else 0)."""
    na, nb = numbers(a), numbers(b)
    worst, where = 0.0, ""
    for k in sorted(set(na) & set(nb)):
        floor = max([v for t, v in FLOORS.items() if t in k], default=0.0)
        scale = max(abs(na[k]), abs(nb[k]), floor)
        d = abs(na[k] - nb[k]) / scale if scale > 0 else 0.0
        if d > worst:
            worst, where = d, k
    return worst, where


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--case", help=argparse.SUPPRESS)
    ap.add_argument("--solver", default="iterative", help=argparse.SUPPRESS)
    ap.add_argument("--levels", default="3x30x1.2,6x120x1.05",
                    help="mesh levels CxL or CxLxG (cells_per_layer x lateral_cells x "
                         "lateral_growth), comma separated")
    ap.add_argument("--ranks", type=int, default=1)
    ap.add_argument("--hold", default="10 min", help="hold at 150 degC after the ramp")
    args = ap.parse_args()
    if args.case:
        child(args)
        return
    rows = []
    for case in args.levels.split(","):
        d = spawn(case, "direct", args.ranks, args.hold)
        it = spawn(case, "iterative", args.ranks, args.hold)
        s, si = d["summary"], it["summary"]
        diff, where = max_difference(s, si)
        rows.append((case, s, si, d["wall_s"], it["wall_s"], diff, where))
        sol = si["solver"]
        print(f"level {case}: heat {s['dofs']} + transport {s['transport_dofs']} DOFs on "
              f"{args.ranks} rank(s); steps direct {s['steps_accepted']}, iterative "
              f"{si['steps_accepted']}")
        for name in ("exposure", "heat", "transport"):
            c = sol.get(name)
            if c is None:
                continue
            if "krylov_per_newton" not in c:   # the 2-D exposure's direct 1-D column
                print(f"  {name:9s}: Newton {c['newton_iterations']:5d}, direct on the 1-D "
                      f"column ({c.get('column_nodes')} nodes)")
                continue
            print(f"  {name:9s}: Newton {c['newton_iterations']:5d}, Krylov/Newton "
                  f"{c['krylov_per_newton']:5.1f}, max per solve {c['krylov_max']:4d}")
        print(f"  wall: direct {d['wall_s']:.1f} s, iterative {it['wall_s']:.1f} s; "
              f"iterative vs direct: largest relative difference {diff:.2e} ({where})",
              flush=True)
    first, last = rows[0], rows[-1]
    growth = last[1]["transport_dofs"] / first[1]["transport_dofs"]
    ratios = {n: last[2]["solver"][n]["krylov_per_newton"]
              / max(first[2]["solver"][n]["krylov_per_newton"], 1e-300)
              for n in ("exposure", "heat", "transport")
              if "krylov_per_newton" in first[2]["solver"].get(n, {})}
    worst = max(r[5] for r in rows)
    print(f"DOFs x{growth:.1f} (transport) from {first[0]} to {last[0]}; Krylov per Newton "
          "iteration, finest/coarsest: "
          + ", ".join(f"{n} {v:.2f}" for n, v in ratios.items())
          + f"; iterative vs direct over all levels: {worst:.2e}")
    print(f"iteration ratio: {max(ratios.values()):.2f}")


if __name__ == "__main__":
    main()
