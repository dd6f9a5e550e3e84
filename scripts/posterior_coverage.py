"""Coverage of the posterior's 90 % intervals on synthetic data.

Synthetic targets are made from known ("true") parameters plus Gaussian noise of the
targets' sigma; the posterior is sampled (:func:`fem_cell.studies.posterior.sample_posterior`)
and each parameter's 5-95 % interval is checked for the true value.  Over many noise
replicates a calibrated method contains the truth in about 90 % of them (80-97 % is the
acceptance band of the issue for >= 20 replicates: binomial 90 % ± 2.5 sd at n = 20
spans 73-100 %, so 80-97 % is a real check only from ~50 replicates on).

Models:

* ``arrhenius`` (default, seconds): y(T) = A exp(-E/(k_B T)) measured at 100, 125 and
  150 °C with 10 % log-normal noise; free: log10 A (log-uniform prior 1e8-1e16 s-1) and E
  (uniform 0.8-1.6 eV) -- the rate law structure of the cell's detrapping, strongly
  correlated and non-Gaussian in (A, E).
* ``cell`` (the finite-element model, minutes per replicate): the default cell's
  detrapping energy E_d and surface fraction S, from synthetic "measured" R after the
  30 min H2O exposure and after the 150 °C / 1 h anneal (10 % and 5 % log-normal noise),
  coarse mesh (8 cells per layer), truth = the cell file's values.

With ``--surrogate N`` each replicate samples a Gaussian-process emulator of the model
(``[calibration] surrogate = "gp"``, :mod:`fem_cell.studies.surrogate`): N design runs on
a Latin hypercube (the same points in every replicate, so they run once: the runner
remembers them), then ``--refine`` runs at draws of the replicate's emulated posterior and
``--check`` held-out runs that check it; the line of each replicate gives the check's
largest error (in units of the targets' sigma).  The coverage is then that of the
emulated posterior, the emulator checked on the model in every replicate.

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/posterior_coverage.py --replicates 50
    mpirun -n 2 .venv/bin/python scripts/posterior_coverage.py --model cell \\
        --replicates 20 --walkers 6 --steps 40          # hours
    mpirun -n 2 .venv/bin/python scripts/posterior_coverage.py --model cell \\
        --replicates 50 --surrogate 40                  # minutes

Prints one line per replicate and, last, ``coverage: <p1> <p2> (n replicates)``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.studies.calibration import FitParameter, Target
from fem_cell.studies.posterior import SamplerSettings, sample_posterior

KB_EV = 8.617333262e-5
TEMPS_C = (100.0, 125.0, 150.0)
TRUE_ARRHENIUS = {"toy.log10A": 12.0, "toy.E": 1.2}


def arrhenius_runner(base, overrides, job, record, comm):  # noqa: ARG001
    v = {}
    for layer in overrides:
        v.update(layer)
    T = float(v["toy.T"]) + 273.15
    rate = 10.0 ** float(v["toy.log10A"]) * math.exp(-float(v["toy.E"]) / (KB_EV * T))
    return {"R_interface_ohm_cm2": rate}


def arrhenius_problem(rng):
    params = [FitParameter("toy.log10A", 10.0, lower=8.0, upper=16.0, log=False, unit="1"),
              FitParameter("toy.E", 1.0, lower=0.8, upper=1.6, log=False, unit="1")]
    sigma = 0.10
    targets = []
    for T in TEMPS_C:
        y = arrhenius_runner(None, [TRUE_ARRHENIUS, {"toy.T": T}], "anneal", None, None)
        y = y["R_interface_ohm_cm2"] * math.exp(sigma * rng.standard_normal())
        targets.append(Target(f"k{T:g}", {"toy.T": T}, "anneal", "R_interface_ohm_cm2", y,
                              sigma, "log"))
    return params, targets, [TRUE_ARRHENIUS["toy.log10A"], TRUE_ARRHENIUS["toy.E"]], None, None


CELL_KEYS = ("transport.LiCoO2.trapping.detrapping_activation_energy",
             "exposure_model.surface_fraction")
CELL_BASE = {"mesh": {"cells_per_layer": 8}}


#: ``--model cell --second-anneal``: R after 125 °C / 1 h as well (10 %), which constrains
#: E_d (with R_exposed and R_150C alone E_d is not identifiable: its interval is the
#: prior's, and its coverage trivially ~100 %)
SECOND_ANNEAL = {"program.hold_temperature": "125 degC", "program.hold_time": "1 h"}


def cell_problem(rng, comm, second: bool = False,
                 _cache={}):  # noqa: B006 — the true model values, computed once
    from fem_cell.config import load_config
    from fem_cell.studies.calibration import evaluate_targets

    cfg = load_config()
    truth = [cfg.settings[k].value for k in CELL_KEYS]
    params = [FitParameter(CELL_KEYS[0], truth[0], lower=1.0, upper=1.4, log=False, unit="eV"),
              FitParameter(CELL_KEYS[1], truth[1], lower=1e-6, upper=1e-3, log=True,
                           unit="1")]
    sig = {"R_exposed": 0.05, "R_150C_1h": 0.10}
    quantity = {"R_exposed": "R_interface_ohm_cm2_initial", "R_150C_1h": "R_interface_ohm_cm2"}
    clean = [Target(n, {}, "anneal", quantity[n], 1.0, s, "log") for n, s in sig.items()]
    if second:
        from fem_cell.studies.spec_keys import case_overrides, expand_keys

        ov = case_overrides({}, expand_keys(SECOND_ANNEAL, cfg), cfg)
        clean.append(Target("R_125C_1h", ov, "anneal", "R_interface_ohm_cm2", 1.0, 0.10,
                            "log"))
    if ("y", second) not in _cache:
        _cache[("y", second)] = evaluate_targets(None, clean, {}, comm,
                                                 base_overrides=CELL_BASE)
    y = _cache[("y", second)]
    targets = [Target(t.name, t.overrides, "anneal", t.quantity,
                      y[t.name] * math.exp(t.sigma * rng.standard_normal()),
                      t.sigma, "log") for t in clean]
    return params, targets, truth, None, CELL_BASE


_RUNS: dict[str, dict] = {}


def remembered(base, overrides, job, record, comm):
    """The default case runner, each distinct case run once per process (the design
    points every replicate shares)."""
    import json

    from fem_cell.studies.calibration import default_case_runner

    key = json.dumps([base, overrides, job, repr(record)], sort_keys=True, default=str)
    if key not in _RUNS:
        _RUNS[key] = default_case_runner(base, overrides, job, record, comm)
    return _RUNS[key]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("arrhenius", "cell"), default="arrhenius")
    ap.add_argument("--replicates", type=int, default=50)
    ap.add_argument("--walkers", type=int, default=16)
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--second-anneal", action="store_true",
                    help="cell: R after 125 degC / 1 h as a third target (E_d identifiable)")
    ap.add_argument("--surrogate", type=int, default=0, metavar="N",
                    help="sample a GP emulator trained on N design runs (0: the model)")
    ap.add_argument("--rounds", type=int, default=2, help="surrogate: refinement rounds")
    ap.add_argument("--refine", type=int, default=5, help="surrogate: runs per refinement")
    ap.add_argument("--check", type=int, default=5, help="surrogate: held-out check runs")
    a = ap.parse_args(argv)
    comm = MPI.COMM_WORLD
    rng = np.random.default_rng(a.seed)
    hits = []
    t0 = time.perf_counter()
    for i in range(a.replicates):
        if a.model == "arrhenius":
            params, targets, truth, runner, base = arrhenius_problem(rng)
            runner = arrhenius_runner
        else:
            params, targets, truth, runner, base = cell_problem(rng, comm, a.second_anneal)
            runner = remembered
        sur = ({"points": a.surrogate, "rounds": a.rounds, "refine": a.refine, "check": a.check,
                "seed": a.seed} if a.surrogate else None)
        s = SamplerSettings(walkers=a.walkers, steps=a.steps, seed=a.seed + i,
                            init_spread=0.02, surrogate=sur)
        res = sample_posterior(None, params, targets, comm, settings=s, runner=runner,
                               base_overrides=base, progress=False)
        ident = res.identifiability()
        inside = [bool(lo <= t <= hi) for lo, hi, t in zip(ident["p05"], ident["p95"], truth,
                                                             strict=True)]
        hits.append(inside)
        if comm.rank == 0:
            print(f"replicate {i + 1:3d}: " + "  ".join(
                f"{p.key.split('.')[-1]} [{lo:.4g}, {hi:.4g}] {'in' if ok else 'OUT'}"
                for p, lo, hi, ok in zip(params, ident["p05"], ident["p95"], inside,
                                         strict=True))
                  + f"  (converged: {res.diagnostics['converged']}"
                  + ("" if res.diagnostics["converged"] else
                     f" [{res.diagnostics['warnings'][0][:90]}]") + ", "
                  + ("" if res.surrogate is None else
                     "surrogate check max " + ", ".join(
                         f"{c['max_error_sigma']:.2g}" for c in res.surrogate["check"])
                     + " sigma, ")
                  + f"{time.perf_counter() - t0:.0f} s)", flush=True)
    cov = np.mean(np.array(hits), axis=0)
    if comm.rank == 0:
        names = " ".join(p.key.split(".")[-1] for p in params)
        print(f"coverage of the 90 % intervals ({names}): "
              + " ".join(f"{c:.3f}" for c in cov) + f" ({a.replicates} replicates, model "
              f"{a.model}, {time.perf_counter() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
