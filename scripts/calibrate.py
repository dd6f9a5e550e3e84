"""Calibrate the proton kinetics of the default cell against the reference cases, for a
candidate mechanism.

Mechanisms (docs/model.md "Mechanism"):

* ``trapping`` (the cell file's): McNabb–Foster traps in LiCoO2.  Free: the detrapping
  energy E_d and the mobile surface fraction S of the exposure; assumed (plausible, not
  fitted): the attempt frequency ν = 1e14 s⁻¹, the hop/trap spacing 0.28 nm, the mobile
  protons' migration energy, the trap density n_t and β (β n_t fixed: a fully trapped
  layer conducts ~100× worse).
* ``fick``: the same cell without traps: all protons mobile, one diffusivity.  Free: the
  proton diffusivity in LiCoO2 at 25 °C, its activation energy and S (three, one more
  than ``trapping``).

Targets (1-D default cell, default mesh; paper values, Kobayashi 2022):

* R after the 30 min H2O exposure             = 136.3 Ω cm² (σ 5 %; the paper: > 136;
  0.2 % inside it, see CONSTRAINT_MARGIN)
* R after the default 150 °C / 1 h program    = 10.3 Ω cm² (σ 10 %: reference case 3's
  band; the never-exposed cells themselves spread 8.6–10 Ω cm², ± 7 %)
* R after 7 days at 25 °C / R exposed         ≥ 0.90       (hinge at 0.902, σ 0.002; case 4)
* protons removed from LiCoO2 by the anneal   ≥ 0.90       (hinge at 0.902, σ 0.002; case 8)

Then the reference cases and the predictions are evaluated with the calibrated values
and written to ``--out``: parameters.json, targets.csv, evaluations.csv, reference_cases
.csv/.json, cell_file_values.toml, report.txt.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate.py --out calib_trapping
    OMP_NUM_THREADS=1 .venv/bin/python scripts/calibrate.py --mechanism fick --out calib_fick
    mpirun -n 2 .venv/bin/python scripts/calibrate.py --out DIR   # each case on 2 ranks

Deterministic: fixed start, fixed finite-difference steps, no random numbers.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import sys
import time
from pathlib import Path

from fem_cell._dolfinx import MPI
from fem_cell.studies.calibration import FitParameter, Target, calibrate, case_config
from fem_cell.studies.cases import Record, run_case

#: overrides that define each candidate mechanism (applied on the base configuration)
MECHANISMS = {
    "trapping": {},
    "fick": {"transport.LiCoO2.trapping": "none",
             # starting values: a 3 nm profile in 30 min at 25 °C needs D ~ 1e-21 m²/s
             "transport.LiCoO2.proton_diffusivity": {"value": 1e-21, "unit": "m2/s"},
             "transport.LiCoO2.proton_diffusivity_activation_energy": {"value": 1.3,
                                                                       "unit": "eV"},
             "exposure_model.surface_fraction": 0.15},
}

#: the anneal programs of the targets
PROGRAM_150C = None   # the cell's default program: 25 → 150 °C at 5 K/min, 1 h, → 25 °C
PROGRAM_100C = [{"ramp_to": "100 degC", "rate": "5 K/min"}, {"hold": "60 min"},
                {"ramp_to": "25 degC", "rate": "5 K/min"}]
HOLD_7_DAYS = {"anneal.initial_temperature": "25 degC", "anneal.segments": [{"hold": "168 h"}],
               "solver.dt_max": "6 h"}


def free_parameters(mechanism: str) -> list[FitParameter]:
    """The fitted parameters of a mechanism (initial values from the base configuration)."""
    if mechanism == "fick":
        return [
            FitParameter("transport.LiCoO2.proton_diffusivity", lower=1e-26, upper=1e-17,
                         log=True, unit="m2/s"),
            FitParameter("transport.LiCoO2.proton_diffusivity_activation_energy", lower=0.3,
                         upper=2.5, log=False, unit="eV"),
            FitParameter("exposure_model.surface_fraction", lower=1e-3, upper=0.9, log=True,
                         unit="1"),
        ]
    # the detrapping prefactor ν is not fitted: with E_d it moves along a ridge of equal
    # cost (measured: ν 1e13 → 1.3e13 with E_d 1.208 → 1.218 eV, cost unchanged).  It sits
    # at the top of its plausible range, 1e14 s-1: with 1e13 no E_d meets case 4 (R after
    # 7 days >= 90 %) and case 8 (>= 90 % removed) together (docs/model.md).
    return [
        FitParameter("transport.LiCoO2.trapping.detrapping_activation_energy", lower=0.9,
                     upper=1.6, log=False, unit="eV"),
        FitParameter("exposure_model.surface_fraction", lower=1e-7, upper=1e-2, log=True,
                     unit="1"),
    ]


#: the two inequality constraints (cases 4 and 8) are soft hinges; an active hinge ends a
#: little on its wrong side, so they are imposed CONSTRAINT_MARGIN inside the criterion
#: (with a stiff σ 0.002) to keep the calibrated cell inside the paper's criterion; the
#: exposed R (the paper: "> 136") is fitted to 136 (1 + CONSTRAINT_MARGIN) for the same reason
CONSTRAINT_MARGIN = 0.002


def targets() -> list[Target]:
    """The calibration targets (see the module docstring)."""
    return [
        Target("R_exposed", {}, "expose", "R_interface_ohm_cm2",
               136.0 * (1 + CONSTRAINT_MARGIN), 0.05, "log"),
        Target("R_150C_1h", {}, "anneal", "R_interface_ohm_cm2", 10.3, 0.10, "log"),
        Target("H_removed_150C", {}, "anneal", "H_LiCoO2_removed_fraction",
               0.90 + CONSTRAINT_MARGIN, 0.002, "linear", "at_least"),
        Target("R_7d_25C_ratio", HOLD_7_DAYS, "anneal",
               "R_interface_ohm_cm2@604800s/R_interface_ohm_cm2_initial",
               0.90 + CONSTRAINT_MARGIN, 0.002, "linear", "at_least"),
    ]


# ------------------------------------------------------------------ reference cases ----
QUIET = {"output": {"fields": False, "plots": False, "render": False}}
EXPOSURE_ONLY = {"anneal.initial_temperature": "25 degC", "anneal.segments": [{"hold": "1 s"}],
                 "solver.dt_min": "0.01 s", "solver.dt_initial": "0.1 s"}


def reference_cases(base, params: dict, comm) -> dict[str, float]:
    """Reference-case values as tests/system/test_reference_cases.py computes them (same
    overrides, default solver and output intervals), with parameter overrides ``params``."""
    from fem_cell.config import load_config
    from fem_cell.errors import ConfigError

    def run(ov, record):
        return run_case(case_config(base, {**QUIET, **params, **ov}), comm, "anneal", record)

    out = {}
    r = run({}, Record(("R_interface_ohm_cm2_initial", "R_interface_ohm_cm2",
                        "H_LiCoO2_removed_fraction")))
    for gas in ("N2", "vacuum"):
        out[f"case1_R_{gas}_ohm_cm2"] = run(
            {**EXPOSURE_ONLY, "exposure.gas": gas},
            Record(("R_interface_ohm_cm2_initial",)))["R_interface_ohm_cm2_initial"]
    out["case2_R_exposed_ohm_cm2"] = r["R_interface_ohm_cm2_initial"]
    out["case3_R_150C_1h_ohm_cm2"] = r["R_interface_ohm_cm2"]
    out["case8_H_removed_fraction"] = r["H_LiCoO2_removed_fraction"]
    r7 = run({"anneal.initial_temperature": "25 degC", "anneal.segments": [{"hold": "168 h"}],
              "solver.dt_max": "1 h"},
             Record(("R_interface_ohm_cm2_initial", "R_interface_ohm_cm2")))
    out["case4_R_7d_ratio"] = r7["R_interface_ohm_cm2"] / r7["R_interface_ohm_cm2_initial"]
    out["pred_R_100C_1h_ohm_cm2"] = run({"anneal.segments": PROGRAM_100C},
                                        Record(("R_interface_ohm_cm2",)))["R_interface_ohm_cm2"]
    out["pred_R_150C_15min_ohm_cm2"] = run(
        {"anneal.segments": [{"ramp_to": "150 degC", "rate": "5 K/min"}, {"hold": "15 min"},
                             {"ramp_to": "25 degC", "rate": "5 K/min"}]},
        Record(("R_interface_ohm_cm2",)))["R_interface_ohm_cm2"]
    out["pred_R_air_50RH_ohm_cm2"] = run(
        {**EXPOSURE_ONLY, "exposure.gas": "air", "exposure.relative_humidity": "50 %"},
        Record(("R_interface_ohm_cm2_initial",)))["R_interface_ohm_cm2_initial"]
    try:
        load_config(overrides={"anneal": {"segments": [
            {"ramp_to": "190 degC", "rate": "5 K/min"}, {"hold": "10 min"}]}})
        out["case7_refused"] = 0.0
    except ConfigError:
        out["case7_refused"] = 1.0
    return out


#: pass criteria of the reference cases, and the margin (how far inside, relative)
def margins(v: dict[str, float]) -> dict[str, str]:
    def band(k):
        return "8.6 <= R <= 10.3: " + ("ok" if 8.6 <= v[k] <= 10.3 else "FAIL")

    return {
        "case1_R_N2_ohm_cm2": band("case1_R_N2_ohm_cm2"),
        "case1_R_vacuum_ohm_cm2": band("case1_R_vacuum_ohm_cm2"),
        "case2_R_exposed_ohm_cm2": f">= 136: margin {v['case2_R_exposed_ohm_cm2'] / 136 - 1:+.1%}",
        "case3_R_150C_1h_ohm_cm2": (f"10.3 +- 10 %: off by "
                                    f"{v['case3_R_150C_1h_ohm_cm2'] / 10.3 - 1:+.2%} (limit 10 %)"),
        "case4_R_7d_ratio": f">= 0.90: margin {v['case4_R_7d_ratio'] - 0.90:+.3f}",
        "case8_H_removed_fraction": f">= 0.90: margin {v['case8_H_removed_fraction'] - 0.90:+.3f}",
        "pred_R_100C_1h_ohm_cm2": "prediction (not fitted)",
        "pred_R_150C_15min_ohm_cm2": "prediction (not fitted)",
        "pred_R_air_50RH_ohm_cm2": "prediction (not fitted)",
        "case7_refused": "1 = refused: " + ("ok" if v["case7_refused"] == 1.0 else "FAIL"),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True, help="folder for the results (created)")
    ap.add_argument("--config", default=None, help="base user config (default: built-in cell)")
    ap.add_argument("--mechanism", choices=tuple(MECHANISMS), default="trapping",
                    help="candidate mechanism (default: trapping, the cell file's)")
    ap.add_argument("--max-nfev", type=int, default=30, help="optimiser evaluations (30)")
    ap.add_argument("--no-reference", action="store_true", help="skip the reference cases")
    ap.add_argument("--record", default=None,
                    help="also write the calibration record (fitted keys, values, covariance) "
                         "here, e.g. fem_cell/data/cells/kobayashi2022.calibration.json")
    ap.add_argument("--quiet", action="store_true", help="no per-evaluation lines")
    args = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    root = comm.rank == 0
    out = Path(args.out)
    lines: list[str] = []

    def log(s=""):
        if root:
            print(s, flush=True)
            lines.append(s)

    t0 = time.perf_counter()
    base_user = {}
    if args.config:
        from fem_cell.config import read_toml
        base_user = read_toml(args.config)   # relative paths inside: run from its folder
    from fem_cell.config.keys import overrides_from_keys
    base = overrides_from_keys(base_user, MECHANISMS[args.mechanism])
    log(f"fem_cell calibration, {_dt.datetime.now(_dt.UTC):%Y-%m-%d %H:%M} UTC, "
        f"{comm.size} rank(s), mechanism: {args.mechanism}")
    res = calibrate(base, free_parameters(args.mechanism), targets(), comm, out=out,
                    progress=not args.quiet, max_nfev=args.max_nfev)
    log("")
    log(res.table())
    log("")
    if not args.no_reference:
        before = reference_cases(base, {}, comm)
        after = reference_cases(base, res.overrides(), comm)
        m0, m1 = margins(before), margins(after)
        log(f"{'reference case':28s} {'start':>10s} {'calibrated':>11s}  criterion (calibrated)")
        for k in before:
            log(f"{k:28s} {before[k]:10.4g} {after[k]:11.4g}  {m1[k]}")
        if root:
            (out / "reference_cases.json").write_text(json.dumps(
                {"start": before, "calibrated": after, "criteria_start": m0,
                 "criteria_calibrated": m1}, indent=2) + "\n")
            with open(out / "reference_cases.csv", "w") as f:
                f.write("case,start,calibrated\n")
                for k in before:
                    f.write(f"{k},{before[k]!r},{after[k]!r}\n")
    wall = time.perf_counter() - t0
    log(f"\ntotal wall time {wall:.1f} s")
    if root:
        stamp = f"{_dt.date.today().isoformat()}"
        toml = [f"# calibrated by scripts/calibrate.py ({stamp}); paste values into the cell file"]
        for p in res.parameters:
            err = f"x/ {p['factor']:.3g}" if p["log"] else f"{p['stderr']:.3g}"
            form = "prefactor" if p.get("form") == "prefactor" else "value"
            toml.append(f"{p['key']} = {{ {form} = {p['value']:.4g}, unit = \"{p['unit']}\" }}"
                        f"  # +- {err}")
        (out / "cell_file_values.toml").write_text("\n".join(toml) + "\n")
        if args.record:
            d = res.to_dict()
            record = {"mechanism": args.mechanism, "date": stamp,
                      "script": "scripts/calibrate.py",
                      "parameters": [{k: p[k] for k in ("key", "unit", "form", "log", "value",
                                                         "lower", "upper")}
                                     for p in res.parameters],
                      "covariance_fit_space": d["covariance_fit_space"],
                      "targets": [{k: t[k] for k in t if k in ("name", "value", "sigma", "kind",
                                                                 "model", "residual")}
                                  for t in d["targets"]]}
            Path(args.record).write_text(json.dumps(record, indent=2) + "\n")
        (out / "report.txt").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
