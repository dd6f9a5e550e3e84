"""The physics' parameter types, declared once (see :mod:`fem_cell.params`).

Each class is one table of a cell file; each field one key, with its unit, SI bounds
and meaning.  None has a default: the cell file (``fem_cell/data/cells/*.toml``) is
the only source of their values, and :mod:`fem_cell.config` fills these classes from
it.  The physics modules take them as they are (SI; activation energies in J).

==========================  ===========================  ==================================
table                       class                        used by
==========================  ===========================  ==================================
``[materials.<name>]``      :data:`MATERIAL_PROPERTIES`   heat, transport, electrochemistry
``[thermal]``               :class:`ThermalBoundary`      heat boundary conditions
``[transport.<phase>]``     :class:`PhaseTransport`       Li⁺/H⁺ transport
``[transport.<ph>.trapping]`` :class:`Trapping`           McNabb–Foster proton traps
``[transport.exchange]``    :class:`Exchange`             LiCoO2|Li3PO4 proton exchange
``[transport.sink]``        :class:`Sink`                 protons at Li3PO4|Li
``[degraded_layer]``        :class:`DegradedLayerLaw`     σ_d(x_H, T), R_interface
``[exposure_model]``        :class:`ExposureModel`        water dose → proton profile
``[exposure]``              :class:`Exposure`             the exposure itself
``[electrochemistry]``      :class:`ElectrochemSettings`  small-signal (impedance) model
==========================  ===========================  ==================================
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.params import (
    EV,
    MAX_ACTIVATION_ENERGY,
    Arrhenius,
    Declared,
    Spec,
    derived,
    param,
    rate,
)
from fem_cell.physics.water import CRITICAL_TEMPERATURE, saturation_pressure

#: shortest / longest allowed length (m)
MIN_LENGTH, MAX_LENGTH = 1e-12, 1.0
#: hottest allowed absolute temperature anywhere in a config (K)
MAX_TEMPERATURE = 5000.0
#: longest allowed time (s): 100 years (shelf life is a real question; nothing
#: numerical limits it: steps grow to dt_max)
MAX_DURATION = 100 * 365.25 * 86400.0
#: largest heat transfer coefficient / contact conductance (W/(m2 K))
MAX_HEAT_TRANSFER = 1e9
#: largest water partial pressure of an exposure (Pa): 100 bar
MAX_PRESSURE = 1e7
GASES = ("air", "N2", "O2", "CO2", "H2", "H2O", "vacuum")
SINK_MODES = ("sink", "rate", "blocking")
BOTTOM_KINDS = ("prescribed", "contact")
#: ``lithium_diffusivity_from`` → (material property, its activation-energy property)
LI_DIFFUSIVITY_SOURCES = {
    "li_chemical_diffusivity": ("li_chemical_diffusivity", "li_diffusivity_activation_energy"),
    "ionic_conductivity": ("ionic_conductivity", "ionic_conductivity_activation_energy"),
}

_ENERGY = {"lo": 0.0, "hi": MAX_ACTIVATION_ENERGY, "text": "from 0 to 5 eV",
           "example": "1.3 eV"}
_DIFFUSIVITY = {"lo": 0.0, "hi": 1.0, "lo_open": True, "hi_open": True,
                "text": "> 0 and < 1 m2/s", "example": "1e-26 m2/s"}
_VELOCITY = {"lo": 0.0, "hi": 1.0, "lo_open": True, "text": "> 0 and <= 1 m/s",
             "example": "1e-17 m/s"}
_FRACTION = {"lo": 0.0, "hi": 1.0, "lo_open": True, "text": "> 0 and <= 1 (a site fraction)",
             "example": "0.6"}
_ABS_T = {"lo": 0.0, "hi": MAX_TEMPERATURE, "lo_open": True, "text": "> 0 and <= 5000 K",
          "example": "25 degC"}


def energy(doc: str, **kw) -> Spec:
    """Spec of an activation energy (eV at the edge, J inside)."""
    return Spec("quantity", "eV", doc, **{**_ENERGY, **kw})


# ------------------------------------------------------------------------ materials --
#: material property → declaration.  Heat needs the first three for every layer; the
#: others where a physics block uses the material.
MATERIAL_PROPERTIES: dict[str, Spec] = {
    "thermal_conductivity": Spec("quantity", "W/(m K)", "thermal conductivity k", lo=1e-4,
                                 hi=1e4, example="1 W/(m K)"),
    "density": Spec("quantity", "kg/m3", "mass density ρ", lo=1.0, hi=1e5,
                    example="1 kg/m3"),
    "specific_heat_capacity": Spec("quantity", "J/(kg K)", "specific heat capacity c_p",
                                   lo=1.0, hi=1e5, example="1 J/(kg K)"),
    "electronic_conductivity": Spec("quantity", "S/cm", "electronic conductivity", lo=0.0,
                                    lo_open=True, example="1 S/cm"),
    "ionic_conductivity": Spec("quantity", "S/cm", "Li⁺ conductivity at 25 °C", lo=0.0,
                               lo_open=True, example="1 S/cm"),
    "ionic_conductivity_activation_energy": energy("activation energy of the Li⁺ conductivity"),
    "relative_permittivity": Spec("number", "1", "relative permittivity ε_r", lo=0.0,
                                  lo_open=True, example="10"),
    "li_chemical_diffusivity": Spec("quantity", "cm2/s", "Li chemical diffusivity D̃ at 25 °C",
                                    lo=0.0, hi=1.0, hi_open=True, lo_open=True,
                                    example="1 cm2/s"),
    "li_diffusivity_activation_energy": energy("activation energy of D̃"),
    "li_site_density": Spec("quantity", "mol/m3", "Li-site density (shared by Li⁺ and H⁺)",
                            lo=1.0, hi=1e6, example="1 mol/m3"),
    "melting_point": Spec("quantity", "degC", "melting point (Li: the melting guard)", lo=0.0,
                          hi=MAX_TEMPERATURE, example="150 degC"),
}
#: properties every material in the stack must have (heat equation)
REQUIRED_THERMAL = ("thermal_conductivity", "density", "specific_heat_capacity")


# -------------------------------------------------------------------------- thermal --
@dataclass(frozen=True)
class ThermalBoundary(Declared):
    """``[thermal]``: heat boundary conditions of the stack (SI)."""

    bottom: str = param("", "substrate bottom: 'prescribed' (T = T_plate) or 'contact' "
                        "(flux h_c (T_plate − T))", choices=BOTTOM_KINDS)
    contact_conductance: float = param(
        "W/(m2 K)", "contact conductance h_c to the plate (bottom = 'contact')", lo=0.0,
        hi=MAX_HEAT_TRANSFER, example="2000 W/(m2 K)")
    top_heat_transfer_coefficient: float = param(
        "W/(m2 K)", "convective h at free top surfaces (0 = none)", lo=0.0,
        hi=MAX_HEAT_TRANSFER, text=">= 0 (0 = no convection) and <= 1e+09 W/(m2 K)",
        example="10 W/(m2 K)")
    top_emissivity: float = param("1", "grey-body emissivity of free top surfaces", lo=0.0,
                                  hi=1.0, text="an emissivity between 0 and 1", example="0.5")
    ambient_temperature: float = param("degC", "temperature of the gas and surroundings",
                                       **_ABS_T)


# ------------------------------------------------------------------------ transport --
@dataclass(frozen=True)
class Trapping(Declared):
    """``[transport.<phase>.trapping]``: McNabb–Foster trapping of protons on Li sites.

    Protons are mobile (site fraction x, Nernst–Planck with Li⁺) or trapped (x_t, an O–H
    bond on a Li site, immobile).  Per Li site (:mod:`fem_cell.physics.transport`)::

        ∂x_t/∂t = k_t(T) x (n_t − x_t) − k_d(T) x_t
        k_t = D_H(T) / λ²                       (diffusion-limited capture, FESTIM's
                                                  k_0 = D_0/λ² with E_k = E_D)
        k_d = ν exp(−E_d / k_B T)               (detrapping: attempt frequency ν)
    """

    density: float = param("1", "trap-site density n_t (traps per Li site)", **_FRACTION)
    spacing: float = param("nm", "trap spacing λ (capture rate k_t = D_H(T)/λ²)", lo=1e-11,
                           hi=1e-8, text="from 0.01 to 10 nm", example="0.28 nm")
    detrapping_rate: Arrhenius = rate(
        "s-1", "detrapping rate k_d = ν exp(−E_d/k_B T) (written as its prefactor ν, the "
        "attempt frequency, or its value at 25 °C)", energy_key="detrapping_activation_energy",
        lo=0.0, hi=1e20, lo_open=True, text="> 0 and <= 1e20 s-1", example="1e13 s-1")

    def capture_rate(self, proton_diffusivity: Arrhenius, T):
        """k_t(T) = D_H(T)/λ² (1/s per unit free-trap fraction), float or UFL."""
        return proton_diffusivity(T) / self.spacing**2

    def release_rate(self, T):
        """k_d(T) (1/s), float or UFL."""
        return self.detrapping_rate(T)


@dataclass(frozen=True)
class PhaseTransport(Declared):
    """``[transport.<phase>]`` + the phase's material: Li⁺/H⁺ transport in one phase.

    A phase is made of the layers whose material has the phase's name (LiCoO2: the
    ``LiCoO2`` and ``degraded`` layers).
    """

    lithium_diffusivity_from: str = param(
        "", "material property giving D_Li: 'li_chemical_diffusivity' (D_Li itself) or "
        "'ionic_conductivity' (Nernst–Einstein D = σ R T_ref/(F² c))",
        choices=tuple(LI_DIFFUSIVITY_SOURCES))
    proton_diffusivity: Arrhenius = rate(
        "m2/s", "proton diffusivity D_H at 25 °C",
        energy_key="proton_diffusivity_activation_energy", **_DIFFUSIVITY)
    site_density: float = derived("mol/m3", "Li-site density c (materials.<phase>.li_site_density)")
    lithium_diffusivity: Arrhenius = derived("m2/s", "Li diffusivity D_Li (from the material)")
    trapping: Trapping | None = derived("", "proton traps ([transport.<phase>.trapping]; None: "
                                        "all protons mobile)")


@dataclass(frozen=True)
class Exchange(Declared):
    """``[transport.exchange]``: j = k_ex(T) c_lower (x_lower − x_upper/K(T)) across
    LiCoO2|Li3PO4 (mol m⁻² s⁻¹, lower → upper)."""

    velocity: Arrhenius = rate("m/s", "exchange velocity k_ex at 25 °C",
                               energy_key="velocity_activation_energy", **_VELOCITY)
    partition: Arrhenius = rate(
        "1", "partition coefficient K = x_upper/x_lower at equilibrium",
        energy_key="partition_activation_energy", lo=0.0, hi=1e12, lo_open=True,
        text="> 0 and <= 1e12", example="1000", energy_lo=-MAX_ACTIVATION_ENERGY,
        energy_hi=MAX_ACTIVATION_ENERGY)


@dataclass(frozen=True)
class Sink(Declared):
    """``[transport.sink]``: protons at the top of the upper phase (Li3PO4|Li)."""

    mode: str = param("", "'sink' (x = 0: reduced by Li), 'rate' (outflux k_s c x) or "
                      "'blocking' (no flux)", choices=SINK_MODES)
    velocity: Arrhenius = rate("m/s", "sink velocity k_s (mode = 'rate')",
                               energy_key="velocity_activation_energy", **_VELOCITY)


# ------------------------------------------------------------------- degraded layer --
@dataclass(frozen=True)
class DegradedLayerLaw(Declared):
    """``[degraded_layer]``: the Li⁺ conductivity of the degraded layer (the top
    ``degraded`` region of LiCoO2, thickness L_d from the stack) and the pristine
    interface resistance it is part of::

        σ_d(x_H, T) = σ_d0(T) exp(−β x_H),   σ_d0(T) = L_d / (s R_p(T))
        R_interface(T) = (1 − s) R_p(T) + ∫_degraded dz / σ_d(x_H, T)
                       = R_p(T) [(1 − s) + s ⟨exp(β x_H)⟩_degraded]

    x_H = mobile + trapped protons; s = the proton-free layer's share of the pristine
    R_p (the rest is charge transfer at LiCoO2).  Protons deeper in LiCoO2 do not enter
    (they slow Li chemical diffusion instead, :mod:`fem_cell.model.impedance`).
    """

    beta: float = param("1", "β of g(x_H) = exp(−β x_H)", lo=0.0, hi=100.0,
                        text="from 0 to 100", example="9.6")
    pristine_resistance: Arrhenius = rate(
        "Ohm cm2", "pristine interface resistance R_p at the reference temperature (its "
        "conductance is activated: R_p(T) = R_p / exp(−E_a/k_B (1/T − 1/T_ref)))",
        energy_key="pristine_activation_energy", lo=0.0, hi=1.0, lo_open=True,
        text="> 0 and <= 1e4 Ohm cm2 (1 Ohm m2)", example="9.75 Ohm cm2")
    pristine_share: float = param(
        "1", "share s of R_p in the proton-free degraded layer (the rest is charge transfer "
        "at LiCoO2)", lo=0.0, hi=1.0, lo_open=True, hi_open=True, text="> 0 and < 1",
        example="0.5")
    reference_temperature: float = param("degC", "T_ref of R_p", **_ABS_T)

    def g(self, x):
        """g(x) = exp(−β x) (float or UFL)."""
        if isinstance(x, (int, float)):
            return math.exp(-self.beta * x)
        import ufl

        return ufl.exp(-self.beta * x)

    def pristine(self, T: float) -> float:
        """R_p(T) (Ω m²)."""
        return self.pristine_resistance.inverse(float(T))

    def charge_transfer(self, T: float) -> float:
        """(1 − s) R_p(T) (Ω m²): charge transfer at LiCoO2, proton-independent."""
        return (1.0 - self.pristine_share) * self.pristine(T)

    def layer_resistivity(self, x, T, thickness: float):
        """1/σ_d(x, T) = s R_p(T)/L_d · exp(β x) (Ω m), float or UFL x (T a number or
        UFL)."""
        if isinstance(x, (int, float)):
            e = math.exp(self.beta * x)
        else:
            import ufl

            e = ufl.exp(self.beta * x)
        Rp = (self.pristine_resistance.inverse(T) if _is_number(T)
              else self.pristine_resistance.value / self.pristine_resistance.factor(T))
        return self.pristine_share * Rp / thickness * e

    def conductivity(self, x, T, thickness: float):
        """σ_d(x, T) (S/m) of a layer of thickness L_d (m), float or UFL."""
        return 1.0 / self.layer_resistivity(x, T, thickness)

    def resistance(self, mean_exp: float, T: float) -> float:
        """R_interface(T) (Ω m²) from ⟨exp(β x_H)⟩ over the degraded layer."""
        return self.pristine(T) * ((1.0 - self.pristine_share)
                                   + self.pristine_share * mean_exp)


def _is_number(x) -> bool:
    return isinstance(x, (int, float)) or type(x).__module__ == "numpy"


# ------------------------------------------------------------------------- exposure --
@dataclass(frozen=True)
class ExposureModel(Declared):
    """``[exposure_model]``: the water-activity condition on the bare LiCoO2 surface
    during an exposure (:mod:`fem_cell.physics.exposure`)::

        x_s = S(T) a_w,   a_w = p_H2O / p_sat(T)    (no liquid water: a_w <= 1)

    x_s is the *mobile* proton fraction held at the surface; how deep the protons go is
    the transport's business (traps, :class:`Trapping`)."""

    surface_fraction: Arrhenius = rate(
        "1", "mobile proton fraction S at the surface in saturated water vapour (a_w = 1)",
        energy_key="surface_fraction_activation_energy", lo=0.0, hi=1.0, lo_open=True,
        text="> 0 and <= 1", example="1e-4", energy_lo=-MAX_ACTIVATION_ENERGY,
        energy_hi=MAX_ACTIVATION_ENERGY)
    reference_temperature: float = param("degC", "T_ref of S", **_ABS_T)


@dataclass(frozen=True)
class Exposure(Declared):
    """``[exposure]``: the gas exposure of the bare LiCoO2 surface before Li3PO4."""

    gas: str = param("", "gas the LiCoO2 surface is exposed to", choices=GASES)
    duration: float = param("min", "exposure time", lo=0.0, hi=MAX_DURATION,
                            text="from 0 s to 100 years", example="30 min")
    temperature: float = param(
        "degC", "gas and sample temperature", lo=0.0, lo_open=True, hi=CRITICAL_TEMPERATURE,
        text="> 0 K and at most 373.9 °C (water's critical point: above it there is no "
             "vapour pressure)", example="25 degC")
    relative_humidity: float = param("%", "relative humidity of air (gas = 'air' only)",
                                     lo=0.0, hi=1.0, text="from 0 to 100 % (0 to 1)",
                                     example="50 %")
    water_pressure: float | None = param(
        "Pa", "H2O partial pressure (gas = 'H2O' only); absent or 'saturated' = saturated "
        "vapour at the exposure temperature", lo=0.0, hi=MAX_PRESSURE,
        text="from 0 to 1e7 Pa, or 'saturated'", example="1000 Pa", optional=True)

    def water_partial_pressure(self) -> float:
        """p_H2O (Pa) of the gas: the given H2O pressure or saturated vapour, RH × p_sat
        for air, 0 for dry gases and vacuum."""
        if self.gas == "H2O":
            if self.water_pressure is not None:
                return self.water_pressure
            return saturation_pressure(self.temperature)
        if self.gas == "air":
            return self.relative_humidity * saturation_pressure(self.temperature)
        return 0.0


@dataclass(frozen=True)
class Chemistry:
    """The proton chemistry of a cell: its transport phases (bottom → top), the exchange
    between them, the sink at Li, the degraded-layer law and the exposure model."""

    phases: tuple[tuple[str, PhaseTransport], ...]
    exchange: Exchange
    sink: Sink
    degraded_layer: DegradedLayerLaw
    exposure_model: ExposureModel

    @property
    def phase_names(self) -> tuple[str, ...]:
        return tuple(n for n, _ in self.phases)

    def phase(self, name: str) -> PhaseTransport:
        for n, p in self.phases:
            if n == name:
                return p
        raise KeyError(f"no transport phase {name!r}; phases are {list(self.phase_names)}")


# ---------------------------------------------------------------- electrochemistry --
@dataclass(frozen=True)
class ElectrochemSettings(Declared):
    """``[electrochemistry]``: small-signal model parameters that are not material
    properties (:mod:`fem_cell.physics.electrochem`, ``docs/impedance.md``)."""

    electrode_site_fraction: float = param("1", "operating-point Li fraction x0 of Li_xCoO2",
                                           lo=0.0, hi=1.0, lo_open=True, hi_open=True,
                                           text="> 0 and < 1", example="0.9")
    ocv_slope: float = param("V", "dU/dx of LiCoO2 (V per unit site fraction)", lo=-100.0,
                             hi=0.0, hi_open=True, text="< 0 and >= -100 V", example="-0.75 V")
    electrode_double_layer_capacitance: float = param(
        "uF/cm2", "double-layer capacitance at LiCoO2", lo=0.0, hi=100.0,
        text="from 0 to 1e4 uF/cm2", example="10 uF/cm2")
    li_interface_resistance: Arrhenius = rate(
        "Ohm cm2", "charge-transfer resistance of Li|Li3PO4 at 25 °C (its exchange current "
        "is activated)", energy_key="li_exchange_activation_energy", lo=0.0, hi=1.0,
        lo_open=True, text="> 0 and <= 1e4 Ohm cm2", example="2 Ohm cm2")
    li_double_layer_capacitance: float = param("uF/cm2", "double-layer capacitance at Li",
                                               lo=0.0, hi=100.0, text="from 0 to 1e4 uF/cm2",
                                               example="10 uF/cm2")
    alpha_a: float = param("1", "anodic transfer coefficient", lo=0.0, hi=1.0,
                           text="from 0 to 1", example="0.5")
    alpha_c: float = param("1", "cathodic transfer coefficient", lo=0.0, hi=1.0,
                           text="from 0 to 1", example="0.5")
    pad_area: float = param("mm2", "Li pad area (converts lead R/L to area-specific values)",
                            lo=0.0, hi=1.0, lo_open=True, text="> 0 and <= 1 m2",
                            example="1 mm2")
    lead_resistance: float = param("Ohm", "series resistance of leads and contacts", lo=0.0,
                                   hi=1e6, text="from 0 to 1e6 Ohm", example="0 Ohm")
    lead_inductance: float = param("H", "series inductance of the leads", lo=0.0, hi=1.0,
                                   text="from 0 to 1 H", example="0 H")


__all__ = ["BOTTOM_KINDS", "Chemistry", "DegradedLayerLaw", "EV", "ElectrochemSettings", "Exchange",
           "Exposure", "ExposureModel", "GASES", "LI_DIFFUSIVITY_SOURCES", "MATERIAL_PROPERTIES",
           "MAX_DURATION", "MAX_LENGTH", "MAX_TEMPERATURE", "MIN_LENGTH", "PhaseTransport",
           "REQUIRED_THERMAL", "SINK_MODES", "Sink", "ThermalBoundary", "Trapping", "ZERO_CELSIUS",
           "energy"]
