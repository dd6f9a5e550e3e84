"""The shipped example spectrum, written by an equivalent circuit, not by this code.

The finite-element model's 1-D pristine cell is, element for element (docs/impedance.md
"Where the capacitance sits"), the circuit

    p(R_Li, C_Li) - p(R_s, C_s) - p(R_d - R_ct - Wo(R_D, tau), C_dl)

Li interface R ∥ C; Li3PO4 bulk R_s = L_s/sigma ∥ geometric C_s = eps eps0/L_s; the Randles
interface: the degraded layer's R_d (the pristine share of R_p) and the charge transfer
R_ct (the rest of R_p) in series with the reflective finite-length Warburg
R_D = |dU/dx| L_e/(F c D), tau = L_e^2/D, all ∥ the double layer C_dl.  The element values
are written here from the cell file's numbers (kobayashi2022.toml) and a "truth" for the
four parameters ``fem-cell fit-spectrum`` frees by default; impedance.py's circuit
simulator computes the spectrum.  ``tests/verification/test_fit_spectrum_circuit.py``
fits the model to the noise-free spectrum (the circuit cross-check).

    .venv/bin/python scripts/example_spectrum.py     # rewrites docs/examples/spectrum_circuit.csv

The file: 61 frequencies 10 mHz ... 1 MHz, Z in Ω for a 0.01 cm² electrode (as a
potentiostat writes it: ``--ohm --area-cm2 0.01``), -Z'' column, 1 % proportional noise
(seed 7).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

FARADAY = 96485.33212            # C/mol
EPS0 = 8.8541878128e-12          # F/m
#: the truth of the four default free parameters, in the cell file's units
TRUTH = {"materials.Li3PO4.ionic_conductivity": 3.9e-7,                  # S/cm (cell 3e-7)
         "degraded_layer.pristine_resistance": 7.8,                      # Ω cm² (cell 9.75)
         "electrochemistry.electrode_double_layer_capacitance": 15.0,    # µF/cm² (cell 10)
         "materials.LiCoO2.li_chemical_diffusivity": 0.7e-12}            # cm²/s (cell 1e-12)
#: the cell file's other numbers the elements need
L_S, L_E = 1.0e-4, 90e-7                     # cm: Li3PO4, LiCoO2 (below the degraded layer)
EPS_R, SHARE = 10.0, 0.5128205128205128      # Li3PO4 εr; pristine share of the degraded layer
OCV_SLOPE, SITES = 0.75, 5.16e4 * 1e-6       # |dU/dx| (V); LiCoO2 Li sites (mol/cm³)
R_LI, C_LI = 2.0, 10e-6                      # Li interface: Ω cm², F/cm²
CIRCUIT = "p(R0,C0)-p(R1,C1)-p(R2-R3-Wo0,C2)"
AREA_CM2 = 0.01
OUT = Path(__file__).resolve().parents[1] / "docs" / "examples" / "spectrum_circuit.csv"


def circuit_elements(t: dict) -> list[float]:
    """The circuit's element values (Ω cm², F/cm², s) in CIRCUIT's order."""
    sigma = t["materials.Li3PO4.ionic_conductivity"]                 # S/cm
    Rp = t["degraded_layer.pristine_resistance"]                     # Ω cm²
    Cdl = t["electrochemistry.electrode_double_layer_capacitance"] * 1e-6  # F/cm²
    D = t["materials.LiCoO2.li_chemical_diffusivity"]               # cm²/s
    return [R_LI, C_LI,
            L_S / sigma, EPS_R * EPS0 * 1e-2 / L_S,                  # Ω cm², F/cm²
            SHARE * Rp, (1 - SHARE) * Rp,
            OCV_SLOPE * L_E / (FARADAY * SITES * D), L_E**2 / D,     # Ω cm², s
            Cdl]


def circuit_spectrum(f: np.ndarray, t: dict = TRUTH) -> np.ndarray:
    """Z (Ω cm², complex) of the circuit at ``f`` (Hz), by impedance.py."""
    from impedance.models.circuits import CustomCircuit

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Simulating circuit based on initial")
        c = CustomCircuit(CIRCUIT, initial_guess=circuit_elements(t))
        return np.asarray(c.predict(np.asarray(f, dtype=float), use_initial=True))


def main() -> None:
    f = np.logspace(-2, 6, 61)
    Z = circuit_spectrum(f)
    rng = np.random.default_rng(7)
    Z = (Z.real * (1 + 0.01 * rng.standard_normal(f.size))
         + 1j * Z.imag * (1 + 0.01 * rng.standard_normal(f.size)))
    Z_ohm = Z / AREA_CM2
    lines = ["# synthetic: impedance.py circuit " + CIRCUIT + " (scripts/example_spectrum.py),",
             "# truth: " + ", ".join(f"{k} = {v:g}" for k, v in TRUTH.items()) + " (cell units),",
             f"# 1 % proportional noise (seed 7); Z in Ohm for a {AREA_CM2} cm2 electrode",
             "freq/Hz,Re(Z)/Ohm,-Im(Z)/Ohm"]
    lines += [f"{fi:.6e},{z.real:.6e},{-z.imag:.6e}" for fi, z in zip(f, Z_ohm, strict=True)]
    OUT.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {OUT} ({f.size} points)")


if __name__ == "__main__":
    main()
