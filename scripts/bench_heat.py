"""Benchmark: heat diffusion over the full default anneal program (110 min).

Prints, for the 1-D run and the 2-D run (>= 100k DOFs) on 1 and 2 MPI ranks: DOFs,
accepted steps, Newton iterations, wall time of the time loop and of the whole run
(mesh + forms + time loop; the JIT cache is warmed first), and the 1-rank/2-rank time
ratio for 2-D.  Each case runs in its own process so timings are independent.

Targets on a 2-core machine: 1-D full program < 1 s; 2-D with >= 100k DOFs < 60 s on 2
ranks.  Usage::

    python scripts/bench_heat.py                 # all cases
    python scripts/bench_heat.py --lateral-cells 600   # smaller 2-D mesh
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve()


def run_case(dim: int, lateral_cells: int, cells_per_layer: int) -> dict:
    """Run one case in this process and return its figures (rank 0)."""
    import time

    from fem_cell._dolfinx import MPI
    from fem_cell.config import load_config
    from fem_cell.jobs.anneal import run_anneal

    over = {"mesh": {"dim": dim, "lateral_cells": lateral_cells,
                     "cells_per_layer": cells_per_layer},
            "output": {"fields": False, "plots": False, "render": False}}
    cfg = load_config(overrides=over)
    comm = MPI.COMM_WORLD
    if dim == 1:  # warm the JIT cache so the figure is the solver's, not the compiler's
        run_anneal(load_config(overrides={"anneal": {"segments": [{"hold": "1 min"}]}}),
                   comm, progress=False, chemistry=False)
    comm.Barrier()
    t0 = time.perf_counter()
    res = run_anneal(cfg, comm, progress=False, chemistry=False)
    total = time.perf_counter() - t0
    st = res.details["stats"]
    return {"dim": dim, "ranks": comm.size,
            "dofs": res.summary["dofs"],
            "steps": st.accepted, "rejected": st.rejected_error + st.rejected_newton,
            "newton": st.newton_iterations, "time_loop_s": st.wall_time, "total_s": total}


def spawn(dim: int, ranks: int, args) -> dict:
    py = sys.executable
    cmd = [py, str(HERE), "--case", str(dim), "--lateral-cells", str(args.lateral_cells),
           "--cells-per-layer", str(args.cells_per_layer)]
    if ranks > 1:
        mpirun = Path(py).with_name("mpirun")
        cmd = [str(mpirun) if mpirun.exists() else "mpirun", "-n", str(ranks), *cmd]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=True).stdout
    line = [ln for ln in out.splitlines() if ln.startswith("{")][-1]
    return json.loads(line)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--case", type=int, choices=(1, 2), help=argparse.SUPPRESS)
    p.add_argument("--lateral-cells", type=int, default=1000,
                   help="2-D lateral cells (default 1000)")
    p.add_argument("--cells-per-layer", type=int, default=8, help="min cells per layer (default 8)")
    args = p.parse_args()
    if args.case:
        r = run_case(args.case, args.lateral_cells, args.cells_per_layer)
        from fem_cell._dolfinx import MPI

        if MPI.COMM_WORLD.rank == 0:
            print(json.dumps(r), flush=True)
        return
    spawn(1, 1, args)  # warm the JIT cache for all forms used below
    rows = [spawn(1, 1, args), spawn(2, 1, args), spawn(2, 2, args)]
    print(f"{'case':<10}{'ranks':>6}{'DOFs':>10}{'steps':>7}{'rej':>5}{'Newton':>8}"
          f"{'loop [s]':>10}{'total [s]':>11}")
    for r in rows:
        print(f"{str(r['dim']) + '-D':<10}{r['ranks']:>6}{r['dofs']:>10}{r['steps']:>7}"
              f"{r['rejected']:>5}{r['newton']:>8}{r['time_loop_s']:>10.3f}{r['total_s']:>11.3f}")
    one, two = rows[1], rows[2]
    print("2-D time ratio 1 rank / 2 ranks: time loop "
          f"{one['time_loop_s'] / two['time_loop_s']:.2f}, "
          f"total {one['total_s'] / two['total_s']:.2f}")
    print(f"targets: 1-D total {rows[0]['total_s']:.3f} s (< 1 s): "
          f"{'met' if rows[0]['total_s'] < 1 else 'MISSED'}; "
          f"2-D on 2 ranks {two['total_s']:.1f} s with {two['dofs']} DOFs (< 60 s, >= 100k DOFs): "
          f"{'met' if two['total_s'] < 60 and two['dofs'] >= 100_000 else 'MISSED'}")


if __name__ == "__main__":
    main()
