"""Candidate proton mechanisms against every reference case (docs/model.md "Mechanism").

Candidates, each fitted with scripts/calibrate.py's machinery on the 1-D default cell:

* ``trapping``: McNabb–Foster traps (the cell file; its values are the calibration's);
* ``fick, all targets``: no traps, one proton diffusivity (value at 25 °C, activation
  energy) and the surface fraction fitted to the same four targets as ``trapping``;
* ``fick, exposure + anneal``: the same, fitted to the exposed R and the annealed R only
  (activation energy fixed at science.md's 1.3 eV): what it then predicts for 7 days.

Prints a markdown table (reference case → value and ok/FAIL per candidate) and writes
``--out``/mechanisms.json.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/compare_mechanisms.py --out DIR
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from calibrate import (  # noqa: E402 (the script's own helpers)
    MECHANISMS,
    free_parameters,
    margins,
    reference_cases,
    targets,
)

from fem_cell._dolfinx import MPI  # noqa: E402
from fem_cell.config.keys import overrides_from_keys  # noqa: E402
from fem_cell.studies.calibration import FitParameter, calibrate  # noqa: E402


def fick_fits(comm, out: Path, max_nfev: int) -> dict[str, dict]:
    base = overrides_from_keys({}, MECHANISMS["fick"])
    res_all = calibrate(base, free_parameters("fick"), targets(), comm,
                        out=out / "fick_all", progress=False, max_nfev=max_nfev)
    two = [t for t in targets() if t.name in ("R_exposed", "R_150C_1h")]
    res_two = calibrate(base, [
        FitParameter("transport.LiCoO2.proton_diffusivity", lower=1e-26, upper=1e-17,
                     log=True, unit="m2/s"),
        FitParameter("exposure_model.surface_fraction", lower=1e-3, upper=0.9, log=True,
                     unit="1")], two, comm, out=out / "fick_two", progress=False,
        max_nfev=max_nfev)
    return {"fick, all targets": {**MECHANISMS["fick"], **res_all.overrides()},
            "fick, exposure + anneal": {**MECHANISMS["fick"], **res_two.overrides()}}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--max-nfev", type=int, default=12)
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    out = Path(args.out)
    candidates = {"trapping": {}}
    candidates.update(fick_fits(comm, out, args.max_nfev))
    table = {}
    for name, ov in candidates.items():
        base = overrides_from_keys({}, ov)
        table[name] = reference_cases(base, {}, comm)
    if comm.rank == 0:
        names = list(table)
        rows = list(table["trapping"])
        print("| reference case | " + " | ".join(names) + " |")
        print("|---|" + "---|" * len(names))
        for k in rows:
            cells = []
            for n in names:
                v = table[n][k]
                verdict = margins(table[n])[k]
                mark = "FAIL" if "FAIL" in verdict or "margin -" in verdict else "ok"
                if "prediction" in verdict:
                    mark = "pred."
                cells.append(f"{v:.4g} ({mark})")
            print(f"| {k} | " + " | ".join(cells) + " |")
        out.mkdir(parents=True, exist_ok=True)
        (out / "mechanisms.json").write_text(json.dumps(
            {"candidates": {n: {k: (v if not isinstance(v, dict) else v)
                                for k, v in ov.items()} for n, ov in candidates.items()},
             "reference_cases": table}, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
