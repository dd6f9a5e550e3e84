"""Initial proton profile in LiCoO2 from a gas exposure before Li3PO4 deposition.

Model (science.md §2, calibrated to §3's feasible point)
---------------------------------------------------------
Only water reacts: at the LiCoO2 surface H2O exchanges H⁺ for Li⁺ (Kobayashi 2022: N2,
O2, CO2, H2 do not degrade; humid air degrades through its water).  The profile is set
by the surface reaction, not by room-temperature bulk diffusion (D_H(25 °C) ≈ 1e-26
m²/s would move protons < 0.1 nm in 30 min):

    x_H(depth) = x_s · erfc(depth / δ)

with the water dose Q = p_H2O · t · a(T)  (Pa s; a(T) = exp(−E_a/k_B (1/T − 1/T_ref)),
E_a = 0 by default: temperature enters through the vapour pressure only) and

    x_s = x_sat (1 − exp(−Q / Q_x))          (saturating surface exchange)
    δ   = δ_ref (Q / Q_ref)^(1/2)            (reaction depth ∝ √dose, diffusion-like)

Q_ref is the paper's case: pure H2O vapour at its saturation pressure at 25 °C for
30 min (p_sat(25 °C) = 3169.9 Pa, Buck 1996 ⇒ Q_ref = 5.706e6 Pa s).  Q_x is fixed so
that x_s(Q_ref) = 0.6, and δ_ref = 3 nm: the paper's case gives the feasible profile
0.6 erfc(depth / 3 nm) of science.md §3 exactly.  Dry gases, and air at 0 % RH, give
x_H = 0.

Water saturation pressure: Buck (1996) over liquid water,
p_sat(T) = 611.21 exp[(18.678 − T_c/234.5) · T_c / (257.14 + T_c)] Pa, T_c in °C
(A. L. Buck, J. Appl. Meteorol. 20, 1527 (1981), 1996 update; ±0.05 % 0–50 °C).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.params import Arrhenius
from fem_cell.physics.parameters import Exposure, ExposureModel
from fem_cell.physics.water import VALID_RANGE, saturation_pressure

REFERENCE_DURATION = 30 * 60.0  # s, Kobayashi 2022 (A)
REFERENCE_TEMPERATURE = 25.0 + ZERO_CELSIUS  # K


def reference_dose() -> float:
    """Q_ref (Pa s): saturated H2O vapour, 25 °C, 30 min."""
    return saturation_pressure(REFERENCE_TEMPERATURE) * REFERENCE_DURATION


def saturation_dose(model: ExposureModel) -> float:
    """Q_x (Pa s) so that x_s(Q_ref) = surface_fraction_ref."""
    r = model.surface_fraction_ref / model.saturation_fraction
    return reference_dose() / -math.log(1.0 - r)


def dose(model: ExposureModel, exposure: Exposure) -> float:
    """Effective water dose Q = p_H2O t a(T) (Pa s)."""
    a = Arrhenius(1.0, model.activation_energy, REFERENCE_TEMPERATURE)(exposure.temperature)
    return exposure.water_partial_pressure() * exposure.duration * a


def surface_fraction(model: ExposureModel, exposure: Exposure) -> float:
    """x_s (–)."""
    return model.saturation_fraction * -math.expm1(-dose(model, exposure)
                                                   / saturation_dose(model))


def depth(model: ExposureModel, exposure: Exposure) -> float:
    """δ (m)."""
    q = dose(model, exposure)
    return model.depth_ref * (q / reference_dose()) ** model.depth_exponent if q > 0 else 0.0


@dataclass(frozen=True)
class ExposureProfile:
    """x_H(depth) = surface_fraction · erfc(depth / depth_scale); depth in m, ≥ 0."""

    surface_fraction: float
    depth_scale: float

    def __call__(self, depth: np.ndarray) -> np.ndarray:
        depth = np.asarray(depth, dtype=float)
        if self.surface_fraction == 0.0 or self.depth_scale == 0.0:
            return np.zeros_like(depth)
        return np.where(depth >= 0.0,
                        self.surface_fraction * _erfc(np.maximum(depth, 0.0) / self.depth_scale),
                        0.0)

    def inventory(self, site_density: float) -> float:
        """∫₀^∞ c x dz = c x_s δ / √π (mol/m²), semi-infinite."""
        return site_density * self.surface_fraction * self.depth_scale / math.sqrt(math.pi)


_erfc = np.vectorize(math.erfc, otypes=[float])


def validity(exposure: Exposure, model: ExposureModel, film_thickness: float) -> tuple[
        list[str], list[str]]:
    """Where an exposure leaves the model's validity: ``(warnings, errors)``.

    * the water vapour pressure is extrapolated outside Buck's fit (−40 … 50 °C);
    * the erfc profile's depth scale δ exceeds the exposed film (errors: the profile
      would not fit; warnings: its tail beyond 3δ is cut off by the film's bottom).
    """
    warn, err = [], []
    if exposure.gas in ("H2O", "air"):
        lo, hi = VALID_RANGE
        if not lo <= exposure.temperature <= hi and (
                exposure.gas == "air" or exposure.water_pressure is None):
            warn.append(f"exposure.temperature {exposure.temperature - ZERO_CELSIUS:.4g} °C: the "
                        f"water vapour pressure is extrapolated beyond its fit "
                        f"({lo - ZERO_CELSIUS:.0f} to {hi - ZERO_CELSIUS:.0f} °C, Buck 1996)")
    delta = depth(model, exposure)
    if delta > film_thickness:
        err.append(f"the exposure's proton profile (depth scale {delta * 1e9:.3g} nm) is deeper "
                   f"than the exposed LiCoO2 film ({film_thickness * 1e9:.3g} nm): outside the "
                   "exposure model's validity (a shorter, drier or cooler exposure)")
    elif 3 * delta > film_thickness:
        warn.append(f"the exposure's proton profile (depth scale {delta * 1e9:.3g} nm) reaches "
                    f"the bottom of the {film_thickness * 1e9:.3g} nm LiCoO2 film: its tail is "
                    "cut off there")
    return warn, err


def exposure_profile(exposure: Exposure, model: ExposureModel) -> ExposureProfile:
    """The erfc profile an exposure leaves."""
    return ExposureProfile(surface_fraction(model, exposure), depth(model, exposure))


def apply_exposure(block, profile: ExposureProfile, phase: str = "LiCoO2",
                   surface: str | None = None) -> None:
    """Set the initial fields of a :class:`~fem_cell.physics.transport.TransportPhysics`.

    x_H = profile(depth) in ``phase`` (depth below the exposed surface, i.e. the top of
    the phase = its interface with the next phase), 0 in the other phases, Φ = 0.

    Args:
        block: the transport block.
        profile: from :func:`exposure_profile`.
        phase: the exposed phase.
        surface: height of the exposed surface (m); default: top of the phase
            (largest vertical coordinate of its cells, over all ranks).
    """
    from mpi4py import MPI  # here, so that loading a configuration needs no MPI

    d = block.domain
    vert = d.dim - 1
    if surface is None:
        p = block.phase(phase)
        cells = d.cells(*p.regions)
        V = block.V
        dofs = np.unique(V.dofmap.list[cells].ravel())
        xyz = V.tabulate_dof_coordinates()[dofs]
        local = float(xyz[:, vert].max()) if len(dofs) else -np.inf
        surface = d.comm.allreduce(local, op=MPI.MAX) * d.length_scale
    for q in block.phases:
        if q.name == phase:
            block.set_profile(q.name, lambda X, s=surface: profile(s - X[vert]))
        else:
            block.set_uniform(q.name, 0.0)
    block.phi.x.array[:] = 0.0


__all__ = ["ExposureProfile", "apply_exposure", "depth", "dose", "exposure_profile",
           "reference_dose", "saturation_dose", "surface_fraction", "validity"]
