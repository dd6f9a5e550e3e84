"""The gas exposure of the bare LiCoO2 surface, as a boundary condition of the transport.

Model (science.md §1–2; docs/model.md "Exposure")
-------------------------------------------------
Only water reacts: at the bare LiCoO2 surface H2O exchanges H⁺ for Li⁺ (Kobayashi 2022:
N2, O2, CO2, H2 do not degrade; humid air degrades through its water).  During the
exposure the transport (:mod:`fem_cell.physics.transport`, the same laws as the hold and
the anneal) runs on the LiCoO2 alone with its top surface held at the *mobile* proton
fraction

    x_s = S(T) · a_w,     a_w = p_H2O / p_sat(T)           (water activity, ≤ 1)

(one proton per water molecule exchanged: linear in the activity).  S(T) is
``[exposure_model] surface_fraction`` (an Arrhenius law, S at a_w = 1).  How deep the
protons get in the exposure time is then the transport's answer: with McNabb–Foster
traps a trap-filling front moves in as s² ≈ 2 D_H x_s t / n_t (the sharp-front limit,
:func:`stefan_front`), which is what lets 30 min of vapour load the top nanometres while
the filled traps hold them at 25 °C.  Dry gases, vacuum and air at 0 % RH give a_w = 0:
no protons.

Validity: the water vapour pressure (Buck 1996) is fitted from −40 to 50 °C (warning
outside); a_w > 1 (more water than saturated vapour: liquid condenses) is refused.

Water saturation pressure: Buck (1996) over liquid water,
p_sat(T) = 611.21 exp[(18.678 − T_c/234.5) · T_c / (257.14 + T_c)] Pa, T_c in °C.
"""

from __future__ import annotations

import math

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.physics.parameters import Exposure, ExposureModel
from fem_cell.physics.water import VALID_RANGE, saturation_pressure

#: Kobayashi 2022's exposure (A): 30 min
REFERENCE_DURATION = 30 * 60.0


def water_activity(exposure: Exposure) -> float:
    """a_w = p_H2O / p_sat(T) of the exposure gas (0 for dry gases and vacuum)."""
    p = exposure.water_partial_pressure()
    return p / saturation_pressure(exposure.temperature) if p > 0 else 0.0


def surface_fraction(model: ExposureModel, exposure: Exposure) -> float:
    """x_s = S(T) a_w (–): the mobile proton fraction held at the bare surface."""
    return model.surface_fraction(exposure.temperature) * water_activity(exposure)


def water_dose(exposure: Exposure) -> float:
    """p_H2O · t (Pa s), for reports (the model uses a_w and t, not the dose)."""
    return exposure.water_partial_pressure() * exposure.duration


def validity(exposure: Exposure) -> tuple[list[str], list[str]]:
    """Where an exposure leaves the model's validity: ``(warnings, errors)``.

    * the water vapour pressure is extrapolated outside Buck's fit (−40 … 50 °C);
    * a water pressure above saturation (a_w > 1: liquid water) is refused.
    """
    warn, err = [], []
    if exposure.gas in ("H2O", "air"):
        lo, hi = VALID_RANGE
        if not lo <= exposure.temperature <= hi:
            warn.append(f"exposure.temperature {exposure.temperature - ZERO_CELSIUS:.4g} °C: the "
                        f"water vapour pressure is extrapolated beyond its fit "
                        f"({lo - ZERO_CELSIUS:.0f} to {hi - ZERO_CELSIUS:.0f} °C, Buck 1996)")
        a = water_activity(exposure)
        if a > 1.0 + 1e-9:
            err.append(f"water activity {a:.4g} > 1: {exposure.water_partial_pressure():.6g} Pa "
                       f"of water is above its saturation pressure "
                       f"{saturation_pressure(exposure.temperature):.6g} Pa at "
                       f"{exposure.temperature - ZERO_CELSIUS:.4g} °C (liquid water "
                       "condenses; the model describes vapour only)")
    return warn, err


def stefan_front(mobile_surface: float, trap_density: float) -> float:
    """γ of the sharp trap-filling front s(t) = 2 γ √(D t) (moving-boundary limit of fast,
    irreversible trapping: mobile x_s at the surface, traps n_t filled behind the front):
    √π γ exp(γ²) erf(γ) = x_s / n_t.  For x_s ≪ n_t, γ² ≈ x_s/(2 n_t)."""
    st = mobile_surface / trap_density
    if st <= 0:
        return 0.0
    lo, hi = 0.0, 10.0
    for _ in range(200):
        g = 0.5 * (lo + hi)
        if math.sqrt(math.pi) * g * math.exp(g * g) * math.erf(g) < st:
            lo = g
        else:
            hi = g
    return 0.5 * (lo + hi)


__all__ = ["REFERENCE_DURATION", "stefan_front", "surface_fraction", "validity",
           "water_activity", "water_dose"]
