"""Benchmark the study engine: a 64-case 1-D recovery-map study on 1 and on 2 ranks.

Prints, for each rank count (each run a fresh ``mpirun -n N`` subprocess):

* the study wall time (inside :func:`~fem_cell.studies.run_study`, from spec loading to
  the last file) and the process wall time (including Python/dolfinx start-up);
* the mean in-case model time (the time inside ``run_case``, from the case JSONs);
* the per-case overhead beyond the model: study wall × groups ÷ cases − mean model
  time, as % of a case (target < 5 %);

and the speed-up wall(1) / wall(2) (target ≥ 1.8).  Timings depend on the machine's
load (other jobs on the same cores); nothing here is asserted.

Usage::

    .venv/bin/python scripts/bench_study.py [--cases 64] [--ranks 1 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PY = Path(sys.executable)
MPIRUN = PY.parent / "mpirun"

SPEC = """
[study]
name = "bench_recovery_map"
job = "anneal"

[[parameters]]
key = "program.hold_temperature"
range = {{ start = 60, stop = 175, num = {nt}, unit = "degC" }}

[[parameters]]
key = "program.hold_time"
range = {{ start = 1, stop = 120, num = {nh}, log = true, unit = "min" }}

[record]
summary = ["R_interface_ohm_cm2"]
"""

RUNNER = """
import json, sys, time
t0 = time.perf_counter()
from fem_cell._dolfinx import MPI
from fem_cell.studies import run_study
t1 = time.perf_counter()
e1 = time.time()
res = run_study(sys.argv[1], MPI.COMM_WORLD, sys.argv[2], progress=False)
t2 = time.perf_counter()
if MPI.COMM_WORLD.rank == 0:
    print("BENCH " + json.dumps({"import_s": t1 - t0, "study_s": t2 - t1, "epoch0": e1,
                                 "epoch1": time.time(),
                                 "status": res.status, "failed": len(res.failed)}))
"""


def run(n: int, spec: Path, out: Path) -> dict:
    script = out.parent / "bench_runner.py"
    script.write_text(RUNNER)
    cmd = ([str(MPIRUN), "-n", str(n)] if n > 1 or MPIRUN.exists() else []) + [
        str(PY), str(script), str(spec), str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    if p.returncode != 0:
        sys.exit(f"bench: mpirun -n {n} failed:\n{p.stderr[-3000:]}")
    line = next(x for x in p.stdout.splitlines() if x.startswith("BENCH "))
    info = json.loads(line[6:])
    recs = [json.loads(f.read_text()) for f in (out / "cases").glob("*.json")]
    model = [r["model_time_s"] for r in recs if r["status"] == "completed"]
    info.update(process_s=wall, cases=len(recs), mean_model_s=sum(model) / len(model),
                ranks={r["rank"] for r in recs})
    per_case = info["study_s"] * n / len(recs)  # group_size 1: n groups
    info["overhead_pct"] = 100.0 * (per_case - info["mean_model_s"]) / info["mean_model_s"]
    # where the overhead goes: before the first case (spec validation, folder), after the
    # last one (table, plot), between cases (config, cleanup, dispatch), ranks idle
    from datetime import datetime

    def ep(s):
        return datetime.fromisoformat(s).timestamp()

    info["before_first_s"] = min(ep(r["started"]) for r in recs) - info["epoch0"]
    info["after_last_s"] = info["epoch1"] - max(ep(r["finished"]) for r in recs)
    info["in_case_extra_s"] = sum(r["wall_time_s"] - r["model_time_s"] for r in recs
                                  if r["status"] == "completed") / len(model)
    busy = {}
    for r in recs:
        busy[r["rank"]] = busy.get(r["rank"], 0.0) + r["wall_time_s"]
    info["busy_pct"] = {k: 100.0 * v / info["study_s"] for k, v in sorted(busy.items())}
    return info


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=64, help="number of cases (a square-ish grid)")
    ap.add_argument("--ranks", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--keep", type=Path, help="keep the study folders here")
    a = ap.parse_args(argv)
    nt = max(1, int(round(math.sqrt(a.cases))))
    nh = max(1, a.cases // nt)
    tmp = Path(a.keep) if a.keep else Path(tempfile.mkdtemp(prefix="bench_study_"))
    tmp.mkdir(parents=True, exist_ok=True)
    spec = tmp / "bench.toml"
    spec.write_text(SPEC.format(nt=nt, nh=nh))
    try:
        print(f"bench_study: {nt * nh} cases (1-D recovery map, {nt} temperatures x {nh} "
              f"hold times 1-120 min), ranks {a.ranks}, group_size 1; load average "
              f"{os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
        res = {}
        for n in a.ranks:
            out = tmp / f"out_n{n}"
            if out.exists():
                shutil.rmtree(out)
            res[n] = r = run(n, spec, out)
            print(f"  n = {n}: study {r['study_s']:7.1f} s (process {r['process_s']:.1f} s, "
                  f"imports {r['import_s']:.1f} s); {r['cases']} cases on ranks "
                  f"{sorted(r['ranks'])}, {r['failed']} failed; mean model time per case "
                  f"{r['mean_model_s']:.3f} s; overhead per case {r['overhead_pct']:+.1f} % "
                  f"(target < 5 %)")
            print(f"         before the first case {r['before_first_s']:.2f} s, after the last "
                  f"{r['after_last_s']:.2f} s, per case outside the model "
                  f"{r['in_case_extra_s'] * 1e3:.0f} ms (config + cleanup); busy "
                  + ", ".join(f"rank {k} {v:.1f} %" for k, v in r["busy_pct"].items()))
        if 1 in res and len(res) > 1:
            for n in res:
                if n > 1:
                    sp = res[1]["study_s"] / res[n]["study_s"]
                    sp_p = res[1]["process_s"] / res[n]["process_s"]
                    print(f"  speed-up 1 -> {n} ranks: {sp:.2f} (study wall; target >= 1.8), "
                          f"{sp_p:.2f} (process wall)")
        print(f"  load average now {os.getloadavg()[0]:.2f} (timings share the cores with "
              f"other jobs)")
    finally:
        if not a.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
