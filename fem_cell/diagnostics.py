"""Derived quantities of the anneal-chemistry model, reduced over all ranks.

Per unit film area: in 1-D integrals are already per m²; in 2-D (per unit depth) they
are divided by the length of the LiCoO2|Li3PO4 interface, so the 1-D and 2-D columns
compare directly.

Columns (history.csv):

* ``R_interface_ohm_cm2``: interface resistance evaluated at 25 °C (what an impedance
  measurement after cooling sees); ``R_interface_T_ohm_cm2`` at the current temperature;
* ``H_LiCoO2_mol_m2``, ``H_Li3PO4_mol_m2``: proton inventories;
* ``H_consumed_mol_m2``: protons gone from the films (initial − current inventory), i.e.
  reduced at the Li sink;
* ``H_flux_interface_mol_m2_s``: exchange flux LiCoO2 → Li3PO4 (from the interface law);
* ``mass_balance_rel``: the discrete proton balance of the last step,
  (d/dt inventory + sink outflow) / (largest of the terms) — round-off when protons are
  conserved (0 on the initial row, where no step was taken);
* ``xH_min``, ``xH_max``: extreme site fractions over both phases (never clipped; a run
  stops if they leave [0, 1] by more than 1e-6).
"""

from __future__ import annotations

import numpy as np

from fem_cell.physics.degraded import ohm_m2_to_ohm_cm2

CHEMISTRY_COLUMNS = ["R_interface_ohm_cm2", "R_interface_T_ohm_cm2", "H_LiCoO2_mol_m2",
                     "H_Li3PO4_mol_m2", "H_consumed_mol_m2", "H_flux_interface_mol_m2_s",
                     "mass_balance_rel", "xH_min", "xH_max"]
FRACTION_TOLERANCE = 1e-6


class ChemistryDiagnostics:
    """Collective evaluation of :data:`CHEMISTRY_COLUMNS` for a ChemistryModel."""

    def __init__(self, model):
        self.model = model
        self.area = model.resistance.width  # 1 in 1-D; interface length (m) in 2-D
        self.initial_total: float | None = None

    def __call__(self, after_step: bool = True) -> dict[str, float]:
        m = self.model
        tr = m.transport
        h_lco = tr.inventory("LiCoO2") / self.area
        h_lpo = tr.inventory("Li3PO4") / self.area
        total = h_lco + h_lpo
        if self.initial_total is None:
            self.initial_total = total
        bounds = tr.check_fractions(tol=FRACTION_TOLERANCE, raise_error=True)["bounds"]
        return {
            "R_interface_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.at_reference()),
            "R_interface_T_ohm_cm2": ohm_m2_to_ohm_cm2(m.resistance.total(None)),
            "H_LiCoO2_mol_m2": h_lco,
            "H_Li3PO4_mol_m2": h_lpo,
            "H_consumed_mol_m2": self.initial_total - total,
            "H_flux_interface_mol_m2_s": tr.interface_flux() / self.area,
            "mass_balance_rel": tr.mass_balance_residual() if after_step else 0.0,
            "xH_min": min(b[0] for b in bounds.values()),
            "xH_max": max(b[1] for b in bounds.values()),
        }


def summary_values(rows: dict[str, np.ndarray]) -> dict[str, float]:
    """Initial and final values of the chemistry columns, and the headline numbers."""
    out: dict[str, float] = {}
    for c in CHEMISTRY_COLUMNS:
        if c in rows and len(rows[c]):
            out[f"{c}_initial"] = float(rows[c][0])
            out[f"{c}_final"] = float(rows[c][-1])
    for c in ("R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2", "H_consumed_mol_m2"):
        if c in rows and len(rows[c]):
            out[c] = float(rows[c][-1])
    if "H_LiCoO2_mol_m2" in rows and len(rows["H_LiCoO2_mol_m2"]) and rows["H_LiCoO2_mol_m2"][0] > 0:
        out["H_LiCoO2_removed_fraction"] = float(
            1.0 - rows["H_LiCoO2_mol_m2"][-1] / rows["H_LiCoO2_mol_m2"][0])
    if "mass_balance_rel" in rows and len(rows["mass_balance_rel"]):
        out["mass_balance_rel_max"] = float(np.abs(rows["mass_balance_rel"]).max())
    return out
