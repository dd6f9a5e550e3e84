"""The impedance job's tables: the spectrum (``impedance.csv``) and the element
contributions (``contributions.csv``), and the spectrum as an in-memory table."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from fem_cell.model.impedance import F_CM2, OHM_CM2, Elements

#: columns of impedance.csv
CSV_COLUMNS = ("frequency_Hz", "Z_real_ohm_cm2", "Z_imag_ohm_cm2", "Z_abs_ohm_cm2", "phase_deg")
#: columns of contributions.csv
CONTRIBUTION_COLUMNS = ("element", "region", "R_ohm_cm2", "C_F_cm2", "L_H_cm2",
                        "f_characteristic_Hz", "note")


def _contribution_rows(el: Elements) -> list[dict]:
    def fch(R, C):
        return 1.0 / (2 * math.pi * R * C) if R > 0 and C > 0 else float("nan")

    nan = float("nan")
    R_int = el.R_interface
    return [
        dict(element="Li3PO4 bulk", region="Li3PO4", R_ohm_cm2=el.R_bulk * OHM_CM2,
             C_F_cm2=el.C_bulk * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(el.R_bulk, el.C_bulk),
             note="ionic resistance L/sigma parallel to the geometric capacitance eps/L"),
        dict(element="degraded layer", region="degraded", R_ohm_cm2=el.R_degraded * OHM_CM2,
             C_F_cm2=nan, L_H_cm2=nan, f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"Li+ path through the protonated LiCoO2 skin (pristine part "
                   f"{el.R_degraded_pristine * OHM_CM2:.4g} Ohm cm2); in series with the charge "
                   f"transfer inside the C_dl branch: frequency of that interface arc")),
        dict(element="LiCoO2 charge transfer", region="LiCoO2|degraded",
             R_ohm_cm2=el.R_ct * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=("Butler-Volmer R_ct = (1 - s) R_p(T), independent of protons; C_dl at "
                   "degraded|Li3PO4")),
        dict(element="LiCoO2|Li3PO4 interface (arc)", region="degraded|Li3PO4",
             R_ohm_cm2=R_int * OHM_CM2, C_F_cm2=el.C_dl * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=fch(R_int, el.C_dl),
             note=(f"R_degraded + R_ct: the diagnostic integral of the state "
                   f"{el.R_interface_state * OHM_CM2:.6g} Ohm cm2 (the spectrum's fitted arc "
                   "is the measured value)")),
        dict(element="Li interface", region="Li3PO4|Li", R_ohm_cm2=el.R_Li * OHM_CM2,
             C_F_cm2=el.C_Li * F_CM2, L_H_cm2=nan, f_characteristic_Hz=fch(el.R_Li, el.C_Li),
             note="Butler-Volmer charge transfer parallel to its double layer"),
        dict(element="LiCoO2 diffusion", region="LiCoO2",
             R_ohm_cm2=el.R_diffusion * OHM_CM2,
             C_F_cm2=el.tau_diffusion / el.R_diffusion * F_CM2, L_H_cm2=nan,
             f_characteristic_Hz=1.0 / (2 * math.pi * el.tau_diffusion),
             note="finite-length reflective Warburg R_D coth(sqrt(iw tau))/sqrt(iw tau) of the "
                  "proton-free film (protons in the bulk lower D locally); C = tau/R_D is the "
                  "low-frequency (intercalation) capacitance"),
        dict(element="leads", region="-", R_ohm_cm2=el.R_series * OHM_CM2, C_F_cm2=nan,
             L_H_cm2=el.L_series * OHM_CM2,
             f_characteristic_Hz=(el.R_series / (2 * math.pi * el.L_series)
                                  if el.L_series > 0 else nan),
             note="series resistance and inductance of leads and contacts (times pad area)"),
    ]


def write_spectrum_csv(path: Path, f, Z) -> None:
    """impedance.csv: :data:`CSV_COLUMNS` (Ω cm², degrees)."""
    data = np.column_stack([f, Z.real, Z.imag, np.abs(Z), np.degrees(np.angle(Z))])
    np.savetxt(path, data, delimiter=",", header=",".join(CSV_COLUMNS), comments="",
               fmt="%.12e")


def write_contributions_csv(path: Path, el: Elements) -> None:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(CONTRIBUTION_COLUMNS))
        w.writeheader()
        for row in _contribution_rows(el):
            w.writerow({k: (f"{v:.10g}" if isinstance(v, float) else v) for k, v in row.items()})


class SpectrumTable:
    """The spectrum as a table (:data:`CSV_COLUMNS`)."""

    def __init__(self, f, Z):
        self.data = {"frequency_Hz": np.asarray(f), "Z_real_ohm_cm2": Z.real,
                     "Z_imag_ohm_cm2": Z.imag, "Z_abs_ohm_cm2": np.abs(Z),
                     "phase_deg": np.degrees(np.angle(Z))}
        self.columns = list(CSV_COLUMNS)

    def column(self, name: str) -> np.ndarray:
        return self.data[name]


__all__ = ["CONTRIBUTION_COLUMNS", "CSV_COLUMNS", "SpectrumTable", "write_contributions_csv",
           "write_spectrum_csv"]
