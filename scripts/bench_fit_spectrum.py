"""Benchmark of ``fem-cell fit-spectrum``'s core: a 1-D, 61-frequency synthetic spectrum
(the default cell, 1 % proportional noise) fitted over the 4 default free parameters
from a start 2x off.  Prints the model evaluations, the time per evaluation (and how much
of it is the model's set-up), the total, and the issue's target (10 s on one core).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench_fit_spectrum.py
"""

from __future__ import annotations

import time

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.analysis.measured import MeasuredSpectrum
from fem_cell.config import load_config
from fem_cell.jobs.impedance import default_frequencies, model_spectrum
from fem_cell.studies.fit_spectrum import DEFAULT_FREE, fit_spectra


def main() -> int:
    comm = MPI.COMM_SELF
    cfg = load_config()
    f = default_frequencies()
    model_spectrum(cfg, comm, f)  # JIT caches warm
    t0 = time.perf_counter()
    Z = model_spectrum(cfg, comm, f)
    one = time.perf_counter() - t0
    rng = np.random.default_rng(1)
    Zn = Z.real * (1 + 0.01 * rng.standard_normal(f.size)) + 1j * Z.imag * (
        1 + 0.01 * rng.standard_normal(f.size))
    truth = {k: cfg.settings[k].value for k in DEFAULT_FREE}
    t0 = time.perf_counter()
    res = fit_spectra(None, [MeasuredSpectrum(f, Zn, "synthetic")], comm,
                      initial={k: 2 * v for k, v in truth.items()}, progress=False)
    total = time.perf_counter() - t0
    for p in res.parameters:
        t = truth[p["key"]]
        print(f"{p['key']:52s} {p['value']:.5g} ± {p['stderr']:.2g} (truth {t:.5g}, "
              f"{(p['value'] - t) / p['stderr']:+.2f} σ)")
    print(f"one model spectrum: {one:.2f} s; fit: {res.evaluations} evaluations, "
          f"{total / res.evaluations:.2f} s each, total {total:.1f} s (target 10 s): "
          f"ratio to target {total / 10:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
