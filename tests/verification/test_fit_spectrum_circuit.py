"""Circuit cross-check of ``fem-cell fit-spectrum``: a spectrum written by impedance.py's
circuit simulator (not by this code) is fitted by the finite-element model.

The model's 1-D pristine cell is, element for element (docs/impedance.md "Where the
capacitance sits"), the circuit

    p(R_Li, C_Li) - p(R_s, C_s) - p(R_d - R_ct - Wo(R_D, τ), C_dl)

Li interface R ∥ C; Li3PO4 bulk R_s = L_s/σ ∥ geometric C_s = ε ε0/L_s; the Randles
interface: the degraded layer's R_d (pristine share of R_p) and the charge transfer R_ct
(the rest of R_p) in series with the reflective finite-length Warburg R_D = |dU/dx| L_e /
(F c D), τ = L_e²/D, all ∥ the double layer C_dl.  Every element value below is written
from the cell file's numbers and the "truth" of the four free parameters, with this
file's own constants; the spectrum is impedance.py's.  The fit starts from the cell
file's values (0.67-1.43x off the truth).
"""

from __future__ import annotations

import numpy as np
import pytest
from impedance.models.circuits import CustomCircuit

from fem_cell._dolfinx import MPI
from fem_cell.analysis.measured import MeasuredSpectrum
from fem_cell.jobs.impedance import default_frequencies
from fem_cell.studies.fit_spectrum import DEFAULT_FREE, fit_spectra

pytestmark = pytest.mark.verification

FARADAY = 96485.33212            # C/mol
EPS0 = 8.8541878128e-12          # F/m
#: the truth of the four default free parameters, in the cell file's units
TRUTH = {"materials.Li3PO4.ionic_conductivity": 3.9e-7,                  # S/cm (cell 3e-7)
         "degraded_layer.pristine_resistance": 7.8,                      # Ω cm² (cell 9.75)
         "electrochemistry.electrode_double_layer_capacitance": 15.0,    # µF/cm² (cell 10)
         "materials.LiCoO2.li_chemical_diffusivity": 0.7e-12}            # cm²/s (cell 1e-12)
#: the cell file's other numbers the elements need (kobayashi2022.toml)
L_S, L_E = 1.0e-4, 90e-7                     # cm: Li3PO4, LiCoO2 (below the degraded layer)
EPS_R, SHARE = 10.0, 0.5128205128205128      # Li3PO4 εr; pristine share of the degraded layer
OCV_SLOPE, SITES = 0.75, 5.16e4 * 1e-6       # |dU/dx| (V); LiCoO2 Li sites (mol/cm³)
R_LI, C_LI = 2.0, 10e-6                      # Li interface: Ω cm², F/cm²

CIRCUIT = "p(R0,C0)-p(R1,C1)-p(R2-R3-Wo0,C2)"


def circuit_spectrum(f: np.ndarray, t: dict) -> np.ndarray:
    sigma = t["materials.Li3PO4.ionic_conductivity"]                 # S/cm
    Rp = t["degraded_layer.pristine_resistance"]                     # Ω cm²
    Cdl = t["electrochemistry.electrode_double_layer_capacitance"] * 1e-6  # F/cm²
    D = t["materials.LiCoO2.li_chemical_diffusivity"]               # cm²/s
    values = [R_LI, C_LI,
              L_S / sigma, EPS_R * EPS0 * 1e-2 / L_S,                # Ω cm², F/cm²
              SHARE * Rp, (1 - SHARE) * Rp,
              OCV_SLOPE * L_E / (FARADAY * SITES * D), L_E**2 / D,   # Ω cm², s
              Cdl]
    with pytest.warns(UserWarning, match="initial parameters"):
        return CustomCircuit(CIRCUIT, initial_guess=values).predict(f, use_initial=True)


def test_model_fits_the_equivalent_circuit_spectrum():
    f = default_frequencies()                         # 10 mHz ... 1 MHz, 61 points
    Z = circuit_spectrum(f, TRUTH)
    res = fit_spectra(None, [MeasuredSpectrum(f, Z, "impedance.py circuit")], MPI.COMM_SELF,
                      free=DEFAULT_FREE, progress=False)
    assert res.success
    misfit = np.abs(res.model[0] / Z - 1).max()
    assert misfit < 1e-3, misfit
    for p in res.parameters:
        assert abs(p["value"] / TRUTH[p["key"]] - 1) < 1e-3, p
