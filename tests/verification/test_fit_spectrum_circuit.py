"""Circuit cross-check of ``fem-cell fit-spectrum``: a spectrum written by impedance.py's
circuit simulator (not by this code) is fitted by the finite-element model.

The circuit, element for element the model's 1-D pristine cell, and its values written
from the cell file's numbers and a "truth" 0.67-1.43x off the cell file's values, are in
``scripts/example_spectrum.py`` (which also writes the shipped example data).  The fit
starts from the cell file's values.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.analysis.eis import kramers_kronig_checked
from fem_cell.analysis.measured import MeasuredSpectrum, read_spectrum
from fem_cell.jobs.impedance import default_frequencies
from fem_cell.studies.fit_spectrum import DEFAULT_FREE, KK_ACCEPT, fit_spectra

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import example_spectrum  # noqa: E402

pytestmark = pytest.mark.verification


def test_model_fits_the_equivalent_circuit_spectrum():
    f = default_frequencies()                         # 10 mHz ... 1 MHz, 61 points
    Z = example_spectrum.circuit_spectrum(f)
    res = fit_spectra(None, [MeasuredSpectrum(f, Z, "impedance.py circuit")], MPI.COMM_SELF,
                      free=DEFAULT_FREE, progress=False)
    assert res.success
    misfit = np.abs(res.model[0] / Z - 1).max()
    assert misfit < 1e-3, misfit
    for p in res.parameters:
        assert abs(p["value"] / example_spectrum.TRUTH[p["key"]] - 1) < 1e-3, p


def test_shipped_example_file_is_the_circuit_with_noise():
    """docs/examples/spectrum_circuit.csv reads back (Ω for 0.01 cm², −Z″ column) as the
    circuit's spectrum within its 1 % noise (4σ), and passes the Lin-KK check."""
    s = read_spectrum(example_spectrum.OUT, units="ohm", area_cm2=example_spectrum.AREA_CM2)
    Z = example_spectrum.circuit_spectrum(s.frequencies)
    assert s.frequencies.size == 61
    assert np.abs(s.Z_ohm_cm2.real / Z.real - 1).max() < 0.04
    assert np.abs(s.Z_ohm_cm2.imag / Z.imag - 1).max() < 0.04
    kk = kramers_kronig_checked(s.frequencies, s.Z_ohm_cm2)
    assert kk.residual_max < KK_ACCEPT


def test_python_api_on_the_shipped_example(tmp_path):
    """The docs' Python example: fem_cell.read_spectrum → fem_cell.fit_spectrum → .params,
    .stderr, .to_pandas(), .plot(); every value within 3 standard errors of the truth."""
    import fem_cell

    df = fem_cell.read_spectrum(example_spectrum.OUT, units="ohm",
                                area_cm2=example_spectrum.AREA_CM2)
    fit = fem_cell.fit_spectrum(df, MPI.COMM_SELF)
    assert set(fit.params) == set(DEFAULT_FREE) == set(fit.stderr)
    for key, value in fit.params.items():
        assert abs(value - example_spectrum.TRUTH[key]) < 3 * fit.stderr[key], key
    table = fit.to_pandas()
    assert table.loc["degraded_layer.pristine_resistance", "unit"] == "Ohm cm2"
    fig = fit.plot("nyquist", tmp_path / "n.png")
    assert (tmp_path / "n.png").stat().st_size > 10_000
    assert fig.axes[0].get_xlabel() == "Z′ (Ω cm²)"
    with pytest.raises(ValueError, match="kind"):
        fit.plot("polar")
