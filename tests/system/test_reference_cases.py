"""Reference cases of the experiment (science brief §4) on the default cell, 1-D, through
the anneal job's library entry (simulated exposure → heat + Li⁺/H⁺ transport →
R_interface).  Each test says what its agreement can show (its role,
:mod:`fem_cell.jobs.reproduce_cases`):

1. unexposed, or exposed to N2/O2/CO2/H2 (and dry air): R_interface 8.6–10.3 Ω cm² —
   *input* (the pristine R_p) and *by construction* (no water, no protons);
2. 30 min H2O exposure: R_interface ≥ 136 Ω cm² (> 10× the unexposed value) — *fitted*;
3. H2O-exposed cell annealed 150 °C / 1 h in battery form: 10.3 Ω cm² ± 10 % — *fitted*;
4. H2O-exposed cell held 7 days at 25 °C: still ≥ 90 % of its resistance — *fitted*
   (a calibration constraint);
7. anneal programs above the Li melting point are refused (config: tests/unit/
   test_config.py; computed temperature: tests/system/test_run_folder.py) — *by
   construction*;
8. after the 150 °C / 1 h anneal ≥ 90 % of the protons have left LiCoO2, into Li3PO4
   or consumed at Li — removal, not redistribution — *fitted* (a constraint); the
   conservation check behind it compares time-integrated fluxes with inventories.

Humid air is a *prediction*: its resistance grows with the water activity, and lies near
what the H2O case implies for a trap-filling front (excess ∝ √a_w).
"""

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.errors import ConfigError
from fem_cell.jobs.anneal import run_anneal


def Exposure(gas, **changes):  # noqa: N802 - the cell's exposure with changes
    import dataclasses

    return dataclasses.replace(load_config().exposure, gas=gas, **changes)


pytestmark = pytest.mark.serial

QUIET = {"output": {"fields": False, "plots": False, "render": False}}
EXPOSURE_ONLY = {"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "1 s"}]},
                 "solver": {"dt_min": "0.01 s", "dt_initial": "0.1 s"}, **QUIET}


def _run(overrides=None, exposure=None):
    cfg = load_config(overrides={**QUIET, **(overrides or {})})
    return run_anneal(cfg, MPI.COMM_SELF, progress=False, exposure=exposure).history


@pytest.fixture(scope="module")
def annealed():
    return _run()


@pytest.mark.parametrize("gas", ["N2", "O2", "CO2", "H2", "vacuum"])
def test_case1_dry_gases_leave_the_pristine_interface(gas):
    h = _run(EXPOSURE_ONLY, Exposure(gas=gas))
    R = h.column("R_interface_ohm_cm2")[0]
    assert 8.6 <= R <= 10.3
    assert h.column("H_LiCoO2_mol_m2")[0] == 0.0


def test_case1_dry_air():
    h = _run(EXPOSURE_ONLY, Exposure(gas="air", relative_humidity=0.0))
    assert 8.6 <= h.column("R_interface_ohm_cm2")[0] <= 10.3


def test_case2_water_exposure_degrades(annealed):
    R0 = annealed.column("R_interface_ohm_cm2")[0]
    assert R0 >= 136.0
    assert R0 > 10 * 9.75  # more than tenfold the unexposed value


def test_humid_air_degrades_through_its_water():
    """(predicted) monotone in the humidity; at 50 % and 90 % RH the excess within 30 % of
    √a_w × the H2O excess (the sharp Stefan front: depth ∝ √(x_s t), x_s ∝ a_w).  Drier
    air loads a front only ~1 nm deep, no longer sharp against its ~0.7 nm width
    (λ/√n_t), and falls well below √a_w (20 % RH: 0.17 of the H2O excess, √0.2 = 0.45):
    the expectation holds only where the front is deep."""
    rhs = (0.0, 0.2, 0.5, 0.9, 1.0)
    r = [_run(EXPOSURE_ONLY, Exposure(gas="air", relative_humidity=rh))
         .column("R_interface_ohm_cm2")[0] for rh in rhs]
    assert all(a < b for a, b in zip(r, r[1:], strict=False))
    for rh, R in zip(rhs[2:-1], r[2:-1], strict=True):
        assert (R - r[0]) / (r[-1] - r[0]) == pytest.approx(rh**0.5, rel=0.3), rh


def test_case3_anneal_restores(annealed):
    R = annealed.column("R_interface_ohm_cm2")[-1]
    assert R == pytest.approx(10.3, rel=0.10)


def test_case4_room_temperature_does_not_recover():
    h = _run({"anneal": {"initial_temperature": "25 degC", "segments": [{"hold": "168 h"}]},
              "solver": {"dt_max": "1 h"}})
    R = h.column("R_interface_ohm_cm2")
    assert h.column("time_s")[-1] == pytest.approx(7 * 86400.0)
    assert R[-1] >= 0.90 * R[0]


def test_case7_program_above_li_melting_refused():
    with pytest.raises(ConfigError, match="melting"):
        load_config(overrides={"anneal": {"segments": [
            {"ramp_to": "190 degC", "rate": "5 K/min"}, {"hold": "10 min"}]}})


def test_case8_protons_removed_not_redistributed(annealed):
    h = annealed
    lco = h.column("H_LiCoO2_mol_m2")
    lpo = h.column("H_Li3PO4_mol_m2")
    consumed = h.column("H_consumed_mol_m2")   # ∫ sink flux dt, not an inventory difference
    removed = 1.0 - lco[-1] / lco[0]
    assert removed >= 0.90
    # everything that left LiCoO2 is in Li3PO4 or was reduced at Li: the time-integrated
    # sink flux against the inventories, to the time-integration error at the default
    # tolerance (tests/verification/test_proton_conservation.py shows it converging).
    # Measured: the hold's 300-s steps (dt_max) each add up to 1e-3 of the loss (the
    # trapezoid of the sink flux against BDF2's own balance), the same steps and amounts
    # whether the heat's steps bound the transport's or not; their sum was -1.3e-3 then
    # and is -3.4e-3 now (the cooling's steps no longer cancel part of it).  A
    # redistribution instead of a removal would be O(1).
    assert lco[0] - lco[-1] == pytest.approx(lpo[-1] + consumed[-1], rel=5e-3)
    assert np.abs(h.column("mass_balance_rel")).max() < 1e-5
