"""Synthetic recovery table of ``fem-cell fit-spectrum`` over several noise seeds.

For each seed: the finite-element model's own 1-D spectrum of the default cell (61
frequencies, 10 mHz - 1 MHz, 25 °C) with 1 % proportional noise on Z' and Z'' is fitted
over the four default free parameters from a start 2x off in every one; a parameter is
"recovered" when |fitted - truth| <= 3 standard errors.  Prints one row per seed and
parameter, then per parameter the fraction recovered and the mean |z| = |fitted -
truth| / stderr (about 0.8 for honest errors).  This is a check of the fit and of its
standard errors on data the model made itself, not a validation of the model.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/fit_spectrum_recovery.py --seeds 10
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.analysis.measured import MeasuredSpectrum
from fem_cell.config import load_config
from fem_cell.jobs.impedance import default_frequencies, model_spectrum
from fem_cell.studies.fit_spectrum import DEFAULT_FREE, fit_spectra


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--noise", type=float, default=0.01, help="proportional noise (0.01 = 1 %%)")
    args = ap.parse_args()
    comm = MPI.COMM_SELF
    cfg = load_config()
    f = default_frequencies()
    Z = model_spectrum(cfg, comm, f)
    truth = {k: cfg.settings[k].value for k in DEFAULT_FREE}
    z_all: dict[str, list[float]] = {k: [] for k in DEFAULT_FREE}
    t0 = time.perf_counter()
    print(f"{'seed':>4}  {'parameter':52s} {'fitted':>11} {'stderr':>9} {'truth':>11} {'z':>6}")
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        Zn = (Z.real * (1 + args.noise * rng.standard_normal(f.size))
              + 1j * Z.imag * (1 + args.noise * rng.standard_normal(f.size)))
        res = fit_spectra(None, [MeasuredSpectrum(f, Zn, f"seed {seed}")], comm,
                          initial={k: 2 * v for k, v in truth.items()}, progress=False)
        for p in res.parameters:
            z = (p["value"] - truth[p["key"]]) / p["stderr"]
            z_all[p["key"]].append(z)
            print(f"{seed:4d}  {p['key']:52s} {p['value']:11.5g} {p['stderr']:9.2g} "
                  f"{truth[p['key']]:11.5g} {z:+6.2f}")
    print(f"\n{args.seeds} seeds, {args.noise:.0%} proportional noise, start 2x off, "
          f"{time.perf_counter() - t0:.0f} s:")
    for k, zs in z_all.items():
        zs = np.abs(np.array(zs))
        print(f"  {k:52s} within 3 stderr: {np.mean(zs <= 3):.0%}  mean |z| {zs.mean():.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
