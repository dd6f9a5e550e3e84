"""Fitting model spectra to measured ones (fem_cell.studies.fit_spectrum).

* With a closed-form stand-in for the model (a series resistance from the Li3PO4
  conductivity + a Randles arc R_p ∥ C_dl), synthetic spectra with 1 % proportional noise,
  started 2x off in every parameter, are recovered within 3 standard errors for several
  noise seeds, and the noise-free spectrum exactly.
* With the finite-element model (slow): the same recovery for the Li3PO4 conductivity and
  the pristine interface resistance.
"""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.analysis.measured import MeasuredSpectrum
from fem_cell.config import load_config
from fem_cell.studies.fit_spectrum import fit_spectra

pytestmark = pytest.mark.verification
SELF = MPI.COMM_SELF
F = np.logspace(-1, 6, 36)
KEYS = ("materials.Li3PO4.ionic_conductivity", "degraded_layer.pristine_resistance",
        "electrochemistry.electrode_double_layer_capacitance")


def circuit(cfg, comm, f, **kw):  # noqa: ARG001 - the model's signature
    sig = cfg.settings[KEYS[0]].si_value            # S/m
    Rp = cfg.settings[KEYS[1]].si_value * 1e4        # Ω m² -> Ω cm²
    C = cfg.settings[KEYS[2]].si_value * 1e-4        # F/m² -> F/cm²
    L = 3.0e-8                                       # m (R_b ~ 10 Ω cm² ~ R_p)
    Rb = L / sig * 1e4                               # Ω cm²
    w = 2 * np.pi * np.asarray(f)
    return Rb + Rp / (1 + 1j * w * Rp * C)


def _truth():
    cfg = load_config()
    return cfg, {k: cfg.settings[k].value for k in KEYS}


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_recovery_within_three_standard_errors(seed):
    cfg, truth = _truth()
    Z = circuit(cfg, SELF, F)
    rng = np.random.default_rng(seed)
    Zn = Z.real * (1 + 0.01 * rng.standard_normal(F.size)) + 1j * Z.imag * (
        1 + 0.01 * rng.standard_normal(F.size))
    s = MeasuredSpectrum(F, Zn, "synthetic", label="synthetic")
    res = fit_spectra(None, [s], SELF, free=KEYS, initial={k: 2 * v for k, v in truth.items()},
                      model=circuit, progress=False)
    for p in res.parameters:
        assert abs(p["value"] - truth[p["key"]]) < 3 * p["stderr"], p
        assert p["relative_stderr"] < 0.05  # identifiable from this band
    assert res.dof == 2 * F.size - 3
    # reduced chi2 ~ 2 x (1 % noise / 1 %)^2 / 2 with modulus weighting: of order 1e-4
    assert 2e-5 < res.chi2 / res.dof < 4e-4
    assert np.allclose(np.diag(res.correlation), 1.0)


def test_noise_free_spectrum_is_recovered_exactly():
    cfg, truth = _truth()
    s = MeasuredSpectrum(F, circuit(cfg, SELF, F), "exact", label="exact")
    res = fit_spectra(None, [s], SELF, free=KEYS, initial={k: 0.5 * v for k, v in truth.items()},
                      model=circuit, progress=False, weighting="proportional")
    for p in res.parameters:
        assert p["value"] == pytest.approx(truth[p["key"]], rel=1e-5)
    assert "fitted to measured spectra" in res.overlay_toml()


def test_bad_free_keys_refused():
    from fem_cell.studies.fit_spectrum import FitSpectrumError

    s = MeasuredSpectrum(F, circuit(load_config(), SELF, F), "x")
    for free in (["no.such.key"], ["electrochemistry.lead_resistance"]):  # 0: not positive
        with pytest.raises(FitSpectrumError):
            fit_spectra(None, [s], SELF, free=free, model=circuit, progress=False)
    with pytest.raises(FitSpectrumError, match="weighting"):
        fit_spectra(None, [s], SELF, free=KEYS[:1], model=circuit, weighting="x",
                    progress=False)


@pytest.mark.slow
def test_finite_element_model_recovery():
    from fem_cell.jobs.impedance import default_frequencies, model_spectrum

    cfg = load_config()
    f = default_frequencies()[::2]
    keys = KEYS[:2]
    truth = {k: cfg.settings[k].value for k in keys}
    Z = model_spectrum(cfg, SELF, f)
    rng = np.random.default_rng(7)
    Zn = Z.real * (1 + 0.01 * rng.standard_normal(f.size)) + 1j * Z.imag * (
        1 + 0.01 * rng.standard_normal(f.size))
    res = fit_spectra(None, [MeasuredSpectrum(f, Zn, "fe")], SELF, free=keys,
                      initial={k: 2 * v for k, v in truth.items()}, progress=False)
    for p in res.parameters:
        assert abs(p["value"] - truth[p["key"]]) < 3 * p["stderr"], p
