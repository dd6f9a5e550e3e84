"""Equivalent-circuit fit and Kramers-Kronig check (impedance.py) on spectra of known,
exact circuits: the fit recovers the parameters, Lin-KK passes valid spectra and flags a
drifting (non-causal) one, the export re-reads with impedance.py."""

import numpy as np
import pytest

from fem_cell.analysis.eis import (
    fit_equivalent_circuit,
    kramers_kronig,
    stack_initial_guess,
    write_spectrum_csv,
)

F = np.logspace(-2, 6, 61)
W = 2 * np.pi * F
# Ω cm², F/cm², s: Li3PO4 bulk 333 Ω cm² ∥ 8.85 nF/cm²; interface 150 Ω cm² ∥ 1 µF/cm²;
# Li interface 5 Ω cm² ∥ 200 µF/cm²; reflective diffusion 20 Ω cm², τ = 80 s; leads 2 Ω cm²
# (arcs a decade or more apart, as the fit needs; the model's own parameters give the
# CLI its starting point, within a factor ~2 as here)
TRUE = dict(R_series=2.0, R_bulk=333.0, C_bulk=8.85e-9, R_interface=150.0, C_interface=1e-6,
            R_Li=5.0, C_Li=2e-4, R_diffusion=20.0, tau_diffusion=80.0)


def rc(R, C):
    return R / (1 + 1j * W * R * C)


def exact():
    s = np.sqrt(1j * W * TRUE["tau_diffusion"])
    return (TRUE["R_series"] + rc(TRUE["R_bulk"], TRUE["C_bulk"])
            + rc(TRUE["R_interface"], TRUE["C_interface"]) + rc(TRUE["R_Li"], TRUE["C_Li"])
            + TRUE["R_diffusion"] / np.tanh(s) / s)


def test_fit_recovers_exact_circuit():
    # every parameter a factor 2 off
    guess = stack_initial_guess(666.0, 4.4e-9, 300.0, 5e-7, 10.0, 1e-4, 40.0, 40.0, R_series=4.0)
    fit = fit_equivalent_circuit(F, exact(), guess)
    assert fit.residual_max < 1e-6
    for k, v in TRUE.items():
        assert fit.value(k) == pytest.approx(v, rel=1e-4), k
    assert np.all(np.isfinite(fit.stderr))
    assert fit.error("R_interface") < 1e-3 * TRUE["R_interface"]


def test_fit_stderr_reflects_noise():
    rng = np.random.default_rng(1)
    Z = exact()
    Zn = Z + 0.003 * np.abs(Z) * (rng.standard_normal(F.size) + 1j * rng.standard_normal(F.size))
    guess = stack_initial_guess(300.0, 1e-8, 120.0, 1e-6, 5.0, 2e-4, 20.0, 80.0, R_series=2.0)
    fit = fit_equivalent_circuit(F, Zn, guess)
    R, e = fit.value("R_interface"), fit.error("R_interface")
    assert 0 < e < 0.05 * R
    assert abs(R - TRUE["R_interface"]) < 5 * e  # the truth within a few standard errors


def test_kramers_kronig_passes_valid_and_flags_drift():
    Z = exact()
    ok = kramers_kronig(F, Z)
    assert ok.residual_max < 1e-3
    drift = Z * (1 + 0.05 * np.linspace(0, 1, F.size))
    bad = kramers_kronig(F, drift)
    assert bad.residual_max > 3 * ok.residual_max and bad.residual_max > 2e-3


def test_export_reads_back_with_impedance_py(tmp_path):
    from impedance import preprocessing

    p = tmp_path / "spectrum.csv"
    write_spectrum_csv(p, F, exact())
    f, Z = preprocessing.readCSV(str(p))
    assert np.allclose(f, F, rtol=1e-11) and np.allclose(Z, exact(), rtol=1e-11)
