"""Cell files and user configurations (TOML) → validated, frozen, SI run settings.

Two kinds of TOML file:

* a **cell file** (``fem_cell/data/cells/<name>.toml``, or any path) describes a
  cell completely: layers bottom→top, materials, heat boundary conditions and its
  default anneal program; every value is ``{ value, unit, source }``;
* a **user config** picks a cell (``cell = "kobayashi2022"`` or a path) and overrides
  any part of it; quantities may be written as strings (``"1 um"``) or as
  ``{ value = 1, unit = "um" }`` tables.  It also sets mesh, solver and output options.

Everything is validated once, here.  A problem raises :class:`~fem_cell.errors.ConfigError`
naming the file, the key, the value and what was expected.  See ``docs/configuration.md``.
"""

from __future__ import annotations

import copy
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.constants import ELEMENTARY_CHARGE, FARADAY, GAS_CONSTANT, ZERO_CELSIUS
from fem_cell.errors import ConfigError, UnitError
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.settings import MeshSettings
from fem_cell.program import AnnealProgram, SegmentError, from_segments
from fem_cell.units import (
    EXAMPLE_UNITS,
    SI_UNITS,
    clean_number,
    format_number,
    from_si,
    parse_quantity,
    parse_unit,
    to_si,
)

DEFAULT_CELL = "kobayashi2022"

#: material property → (dimension, display unit, must be > 0)
MATERIAL_PROPERTIES: dict[str, tuple[str, str]] = {
    "thermal_conductivity": ("thermal conductivity", "W/(m K)"),
    "density": ("density", "kg/m3"),
    "specific_heat_capacity": ("specific heat capacity", "J/(kg K)"),
    "electronic_conductivity": ("electrical conductivity", "S/cm"),
    "ionic_conductivity": ("electrical conductivity", "S/cm"),
    "ionic_conductivity_activation_energy": ("energy", "eV"),
    "relative_permittivity": ("dimensionless", "1"),
    "li_chemical_diffusivity": ("diffusivity", "cm2/s"),
    "li_diffusivity_activation_energy": ("energy", "eV"),
    "li_site_density": ("concentration", "mol/m3"),
    "melting_point": ("temperature", "degC"),
}
#: properties every material in the stack must have (heat equation)
REQUIRED_THERMAL = ("thermal_conductivity", "density", "specific_heat_capacity")

THERMAL_KEYS = {
    "bottom": None,
    "contact_conductance": ("heat transfer coefficient", "W/(m2 K)"),
    "top_heat_transfer_coefficient": ("heat transfer coefficient", "W/(m2 K)"),
    "top_emissivity": ("dimensionless", "1"),
    "ambient_temperature": ("temperature", "degC"),
}
BOTTOM_KINDS = ("prescribed", "contact")
SCHEMES = ("bdf2", "backward_euler")

# ---------------------------------------------------------- sanity bounds (SI) ----
# Finite values that would still make a run impossible (overflow in the mesher, more
# time steps than can be counted, ...) are refused at load.  Documented in
# docs/configuration.md ("Bounds").
#: shortest / longest allowed length: layer thickness and width, geometry width,
#: mesh sizes (m).  The whole stack must also be at most MAX_LENGTH thick.
MIN_LENGTH = 1e-12
MAX_LENGTH = 1.0
#: hottest allowed absolute temperature anywhere in a config (K)
MAX_TEMPERATURE = 5000.0
#: longest allowed anneal program, hold, ramp or solver time (s): one year
MAX_DURATION = 365.25 * 86400.0
#: the program duration divided by solver.dt_min must stay below this
MAX_STEPS = 1e12
#: largest heat transfer coefficient / contact conductance (W/(m2 K))
MAX_HEAT_TRANSFER = 1e9
#: (lower, upper) SI bounds of the material properties the heat model uses
PROPERTY_BOUNDS: dict[str, tuple[float, float]] = {
    "thermal_conductivity": (1e-4, 1e4),
    "density": (1.0, 1e5),
    "specific_heat_capacity": (1.0, 1e5),
    "melting_point": (0.0, MAX_TEMPERATURE),
}
#: one electronvolt (J): activation energies are written in eV and stored in J
EV = ELEMENTARY_CHARGE
#: largest activation energy of any Arrhenius law (J): 5 eV
MAX_ACTIVATION_ENERGY = 5.0 * EV
#: largest diffusivity (m²/s), exclusive: solid-state values are < 1e-8 m²/s
MAX_DIFFUSIVITY = 1.0
#: largest exchange / sink velocity (m/s)
MAX_VELOCITY = 1.0
#: largest proton partition coefficient K (–)
MAX_PARTITION = 1e12
#: largest water partial pressure of an exposure (Pa): 100 bar
MAX_PRESSURE = 1e7
PROPERTY_BOUNDS.update({
    "li_chemical_diffusivity": (0.0, MAX_DIFFUSIVITY),
    "li_diffusivity_activation_energy": (0.0, MAX_ACTIVATION_ENERGY),
    "ionic_conductivity_activation_energy": (0.0, MAX_ACTIVATION_ENERGY),
    "li_site_density": (1.0, 1e6),
})
#: integer settings: (minimum, maximum)
INTEGER_BOUNDS: dict[str, tuple[int, int]] = {
    "mesh.cells_per_layer": (1, 10_000),
    "mesh.lateral_cells": (2, 100_000),
    "solver.newton_max_it": (1, 1000),
}
#: name of the material that is Li metal (its layers are watched by the Li-melting guard)
LI_MATERIAL = "Li"

# ------------------------------------------------- chemistry (transport, exposure) ----
#: transport phases, bottom → top.  ``[transport.<phase>]``; a phase is made of the
#: layers whose material has the phase's name (LiCoO2: ``LiCoO2`` + ``degraded``).
TRANSPORT_PHASES = ("LiCoO2", "Li3PO4")
#: ``lithium_diffusivity_from`` → (material property, its activation-energy property):
#: ``li_chemical_diffusivity`` is D_Li itself; ``ionic_conductivity`` gives D_Li by
#: Nernst–Einstein, D = σ R T_ref / (F² c) with c = ``li_site_density``.
LI_DIFFUSIVITY_SOURCES = {
    "li_chemical_diffusivity": ("li_chemical_diffusivity", "li_diffusivity_activation_energy"),
    "ionic_conductivity": ("ionic_conductivity", "ionic_conductivity_activation_energy"),
}
#: proton condition at the top of the upper phase (Li3PO4|Li)
SINK_MODES = ("sink", "rate", "blocking")
#: gases of an exposure (the same list as fem_cell.physics.exposure.GASES)
EXPOSURE_GASES = ("air", "N2", "O2", "CO2", "H2", "H2O", "vacuum")
#: reference temperature of the transport Arrhenius laws (K): 25 °C
CHEMISTRY_T_REF = 25.0 + ZERO_CELSIUS
#: top-level sections holding chemistry parameters (all three, or none, per run)
CHEMISTRY_SECTIONS = ("transport", "degraded_layer", "exposure_model")
#: water_pressure values meaning "saturated vapour at the exposure temperature"
SATURATED = "saturated"


@dataclass(frozen=True)
class _Spec:
    """How one chemistry quantity is read: dimension, display unit, SI bounds."""

    dimension: str
    unit: str
    lo: float
    hi: float
    text: str
    lo_open: bool = False
    hi_open: bool = False
    example: str = ""

    def ok(self, v: float) -> bool:
        return ((v > self.lo if self.lo_open else v >= self.lo)
                and (v < self.hi if self.hi_open else v <= self.hi))

    @property
    def expected(self) -> str:
        noun = "a number" if self.dimension == "dimensionless" else f"a {self.dimension}"
        return f"{noun} {self.text}, e.g. '{self.example}'"


_ENERGY = _Spec("energy", "eV", 0.0, MAX_ACTIVATION_ENERGY, "from 0 to 5 eV",
                example="1.3 eV")
_DIFFUSIVITY = _Spec("diffusivity", "m2/s", 0.0, MAX_DIFFUSIVITY, "> 0 and < 1 m2/s",
                     lo_open=True, hi_open=True, example="1e-26 m2/s")
_VELOCITY = _Spec("velocity", "m/s", 0.0, MAX_VELOCITY, "> 0 and <= 1 m/s", lo_open=True,
                  example="1e-17 m/s")
_FRACTION = _Spec("dimensionless", "1", 0.0, 1.0, "> 0 and <= 1 (a site fraction)",
                  lo_open=True, example="0.6")
_ABS_TEMPERATURE = _Spec("temperature", "degC", 0.0, MAX_TEMPERATURE, "> 0 and <= 5000 K",
                         lo_open=True, example="25 degC")
#: [transport.<phase>] quantities (``lithium_diffusivity_from`` is a choice)
TRANSPORT_PHASE_KEYS: dict[str, _Spec | None] = {
    "proton_diffusivity": _DIFFUSIVITY,
    "proton_diffusivity_activation_energy": _ENERGY,
    "lithium_diffusivity_from": None,
}
TRANSPORT_EXCHANGE_KEYS: dict[str, _Spec | None] = {
    "velocity": _VELOCITY,
    "velocity_activation_energy": _ENERGY,
    "partition": _Spec("dimensionless", "1", 0.0, MAX_PARTITION, "> 0 and <= 1e12",
                       lo_open=True, example="1000"),
    # a heat of transfer: either sign is physical
    "partition_activation_energy": _Spec("energy", "eV", -MAX_ACTIVATION_ENERGY,
                                         MAX_ACTIVATION_ENERGY, "from -5 to 5 eV",
                                         example="0 eV"),
}
TRANSPORT_SINK_KEYS: dict[str, _Spec | None] = {
    "mode": None,
    "velocity": _VELOCITY,
    "velocity_activation_energy": _ENERGY,
}
DEGRADED_LAYER_KEYS: dict[str, _Spec] = {
    "sigma0": _Spec("electrical conductivity", "S/m", 0.0, 1e8, "> 0 and <= 1e8 S/m",
                    lo_open=True, example="1e-5 S/m"),
    "beta": _Spec("dimensionless", "1", 0.0, 100.0, "from 0 to 100", example="9.6"),
    "activation_energy": _ENERGY,
    "pristine_resistance": _Spec("area-specific resistance", "Ohm cm2", 0.0, 1.0,
                                 "from 0 to 1e4 Ohm cm2 (1 Ohm m2)", example="9.75 Ohm cm2"),
    "pristine_activation_energy": _ENERGY,
    "reference_temperature": _ABS_TEMPERATURE,
}
#: [electrochemistry] (optional; the small-signal model): key -> spec.  Absent keys keep
#: the documented defaults of fem_cell.physics.electrochem.ElectrochemParameters.
ELECTROCHEMISTRY_KEYS: dict[str, _Spec] = {
    "degraded_pristine_share": _Spec("dimensionless", "1", 0.0, 1.0, "from 0 to 1", example="0.513"),
    "electrode_site_fraction": _Spec("dimensionless", "1", 0.0, 1.0, "> 0 and < 1", lo_open=True,
                                     hi_open=True, example="0.9"),
    "ocv_slope": _Spec("voltage", "V", -100.0, 0.0, "< 0 and >= -100 V", hi_open=True,
                       example="-0.75 V"),
    "electrode_double_layer_capacitance": _Spec("capacitance per area", "uF/cm2", 0.0, 100.0,
                                                "from 0 to 1e4 uF/cm2", example="10 uF/cm2"),
    "li_interface_resistance": _Spec("area-specific resistance", "Ohm cm2", 0.0, 1.0,
                                     "> 0 and <= 1e4 Ohm cm2", lo_open=True,
                                     example="2 Ohm cm2"),
    "li_exchange_activation_energy": _ENERGY,
    "li_double_layer_capacitance": _Spec("capacitance per area", "uF/cm2", 0.0, 100.0,
                                         "from 0 to 1e4 uF/cm2", example="10 uF/cm2"),
    "alpha_a": _Spec("dimensionless", "1", 0.0, 1.0, "from 0 to 1", example="0.5"),
    "alpha_c": _Spec("dimensionless", "1", 0.0, 1.0, "from 0 to 1", example="0.5"),
    "pad_area": _Spec("area", "mm2", 0.0, 1.0, "> 0 and <= 1 m2", lo_open=True,
                      example="1 mm2"),
    "lead_resistance": _Spec("resistance", "Ohm", 0.0, 1e6, "from 0 to 1e6 Ohm",
                             example="0 Ohm"),
    "lead_inductance": _Spec("inductance", "H", 0.0, 1.0, "from 0 to 1 H", example="0 H"),
}
EXPOSURE_MODEL_KEYS: dict[str, _Spec] = {
    "surface_fraction_ref": _FRACTION,
    "saturation_fraction": _FRACTION,
    "depth_ref": _Spec("length", "nm", MIN_LENGTH, MAX_LENGTH, "from 1 pm to 1 m",
                       example="3 nm"),
    "depth_exponent": _Spec("dimensionless", "1", 0.0, 10.0, "> 0 and <= 10", lo_open=True,
                            example="0.5"),
    "activation_energy": _ENERGY,
}
#: [exposure] keys (``gas`` is a choice; ``water_pressure`` is optional)
EXPOSURE_KEYS: dict[str, _Spec | None] = {
    "gas": None,
    "duration": _Spec("time", "min", 0.0, MAX_DURATION, "from 0 s to one year",
                      example="30 min"),
    "temperature": _ABS_TEMPERATURE,
    "relative_humidity": _Spec("dimensionless", "%", 0.0, 1.0, "from 0 to 100 % (0 to 1)",
                               example="50 %"),
    "water_pressure": _Spec("pressure", "Pa", 0.0, MAX_PRESSURE,
                            f"from 0 to 1e7 Pa, or '{SATURATED}'", example="1000 Pa"),
}
#: what the choice keys (spec None above) expect
CHOICES: dict[str, tuple[str, ...]] = {
    "lithium_diffusivity_from": tuple(LI_DIFFUSIVITY_SOURCES),
    "mode": SINK_MODES,
    "gas": EXPOSURE_GASES,
}


class _Missing:
    """Marks a required value that is absent (shown as ``(missing)`` in errors)."""

    def __repr__(self) -> str:
        return "(missing)"

    def __reduce__(self):
        return (_missing, ())


def _missing() -> _Missing:
    return MISSING


MISSING = _Missing()
#: origin of a value nobody set
DEFAULT_ORIGIN = "default"


# ------------------------------------------------------------------ data classes --
@dataclass(frozen=True)
class Parameter:
    """One sourced parameter: SI value plus what the user wrote."""

    value: float
    unit: str
    given: float
    source: str
    origin: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"value": clean_number(self.given), "unit": self.unit,
                "si_value": clean_number(self.value), "source": self.source,
                "origin": self.origin}


@dataclass(frozen=True)
class Setting:
    """One resolved setting as shown by ``fem-cell config`` and written to run.json.

    Args:
        key: dotted key, e.g. ``"layers.Li3PO4.thickness"``, ``"solver.dt_max"``.
        value: the value as written (number, string, bool), or the default expressed
            in ``unit``.
        unit: unit of ``value`` (``""`` if it has none).
        si_value: the value used by the model, in ``si_unit``.
        si_unit: SI unit of ``si_value`` (``""`` for non-quantities, ``"1"`` for
            dimensionless numbers).
        origin: where it came from: a user config path, the cell file
            (``"<built-in cell kobayashi2022>"`` or its path), ``"default"``,
            ``"command line"`` or ``"derived"``.
        source: the source note of a cell parameter (``""`` if none).
    """

    key: str
    value: Any
    unit: str
    si_value: Any
    si_unit: str
    origin: str
    source: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"value": clean_number(self.value), "unit": self.unit,
                "si_value": clean_number(self.si_value), "si_unit": self.si_unit,
                "origin": self.origin, "source": self.source}


@dataclass(frozen=True)
class Material:
    """A material: named, sourced properties (SI)."""

    name: str
    properties: Mapping[str, Parameter]

    def __getitem__(self, key: str) -> float:
        try:
            return self.properties[key].value
        except KeyError:
            raise KeyError(f"material {self.name!r} has no property {key!r}") from None

    def get(self, key: str, default: float | None = None) -> float | None:
        p = self.properties.get(key)
        return default if p is None else p.value


@dataclass(frozen=True)
class ThermalSettings:
    """Heat boundary conditions (SI).

    Args:
        bottom: ``"prescribed"`` (T = T_plate at the substrate bottom) or
            ``"contact"`` (flux h_c (T_plate − T) through a contact conductance).
        contact_conductance: h_c (W/(m² K)), used when bottom = "contact".
        top_heat_transfer_coefficient: convective h at free top surfaces (W/(m² K)).
        top_emissivity: grey-body emissivity of free top surfaces (–).
        ambient_temperature: gas and surroundings temperature (K).
    """

    bottom: str = "prescribed"
    contact_conductance: float = 2000.0
    top_heat_transfer_coefficient: float = 10.0
    top_emissivity: float = 0.5
    ambient_temperature: float = 298.15


@dataclass(frozen=True)
class SolverSettings:
    """Time integration and Newton settings (SI).

    Args:
        scheme: ``"bdf2"`` (2nd order, default) or ``"backward_euler"`` (1st order).
        dt_initial: first step and step after every program breakpoint (s).
        dt_max: largest step (s).
        dt_min: smallest step before giving up (s).
        temperature_tolerance: local time-error tolerance on T (K).
        relative_tolerance: relative part of the local time-error tolerance (–).
        adaptive: adapt the step from the local error estimate (else fixed dt_max
            steps, still landing on breakpoints and output times).
        newton_rtol: Newton relative residual tolerance (–).
        newton_max_it: Newton iteration limit per step.
    """

    scheme: str = "bdf2"
    dt_initial: float = 0.01
    dt_max: float = 300.0
    dt_min: float = 1e-6
    temperature_tolerance: float = 1e-3
    relative_tolerance: float = 1e-6
    adaptive: bool = True
    newton_rtol: float = 1e-10
    newton_max_it: int = 25


@dataclass(frozen=True)
class OutputSettings:
    """What a run writes.

    Args:
        field_interval: write the fields every this many seconds (and at every
            program breakpoint and the end); 0 = breakpoints and end only.
        fields: write the ``.pvd``/``.vtu`` time series.
        plots: write the matplotlib history plot.
        render: write off-screen pyvista PNGs (2-D runs).
    """

    field_interval: float = 300.0
    fields: bool = True
    plots: bool = True
    render: bool = True


@dataclass(frozen=True)
class RateSettings:
    """An Arrhenius law k(T) = value · exp(−E_a/k_B · (1/T − 1/T_ref)), T_ref = 25 °C (SI).

    Args:
        value: k at T_ref (SI unit of the quantity: m²/s, m/s, –).
        activation_energy: E_a (J per particle; written in eV: 1 eV = 1.602176634e-19 J).
    """

    value: float
    activation_energy: float


@dataclass(frozen=True)
class PhaseTransportSettings:
    """Li⁺/H⁺ transport in one phase (``[transport.<name>]`` + its material), SI.

    Args:
        name: phase name = name of its material (``"LiCoO2"``, ``"Li3PO4"``).
        site_density: Li-site density (mol/m³), from ``materials.<name>.li_site_density``.
        proton_diffusivity: D_H(T) (m²/s).
        lithium_diffusivity: D_Li(T) (m²/s), derived from the material (see
            ``lithium_diffusivity_from``).
        lithium_diffusivity_from: ``"li_chemical_diffusivity"`` (D_Li = that property,
            E_a = ``li_diffusivity_activation_energy``) or ``"ionic_conductivity"``
            (Nernst–Einstein D = σ R T_ref/(F² c), E_a =
            ``ionic_conductivity_activation_energy``; σ's extra 1/T factor neglected).
    """

    name: str
    site_density: float
    proton_diffusivity: RateSettings
    lithium_diffusivity: RateSettings
    lithium_diffusivity_from: str


@dataclass(frozen=True)
class ExchangeSettings:
    """``[transport.exchange]``: j = k_ex(T) c_lower (x_lower − x_upper/K(T)).

    Args:
        velocity: k_ex (m/s).
        partition: K (–), x_upper/x_lower at equilibrium.
    """

    velocity: RateSettings
    partition: RateSettings


@dataclass(frozen=True)
class SinkSettings:
    """``[transport.sink]``: proton condition at the top of the upper phase (Li3PO4|Li).

    Args:
        mode: ``"sink"`` (x = 0), ``"rate"`` (outflux k_s c x) or ``"blocking"``.
        velocity: k_s (m/s), used when mode = ``"rate"``.
    """

    mode: str
    velocity: RateSettings


@dataclass(frozen=True)
class DegradedLayerSettings:
    """``[degraded_layer]``: σ_d(x_H, T) = σ0 a(T) exp(−β x_H) and R_p(T), SI.

    Args:
        sigma0: σ0 at the reference temperature (S/m).
        beta: β (–).
        activation_energy: E_a of σ0 (J).
        pristine_resistance: R_p at the reference temperature (Ω m²).
        pristine_activation_energy: E_a of 1/R_p (J).
        reference_temperature: T_ref of both laws (K).
    """

    sigma0: float
    beta: float
    activation_energy: float
    pristine_resistance: float
    pristine_activation_energy: float
    reference_temperature: float


@dataclass(frozen=True)
class ExposureModelSettings:
    """``[exposure_model]``: water dose → erfc profile x_s erfc(depth/δ), SI.

    Args:
        surface_fraction_ref: x_s at the reference dose (–).
        saturation_fraction: x_sat, largest surface fraction (–).
        depth_ref: δ at the reference dose (m).
        depth_exponent: δ ∝ dose^n (–).
        activation_energy: of the surface reaction (J).
    """

    surface_fraction_ref: float
    saturation_fraction: float
    depth_ref: float
    depth_exponent: float
    activation_energy: float


@dataclass(frozen=True)
class ChemistrySettings:
    """Transport, degraded-layer and exposure-model parameters (SI).

    Args:
        phases: the transport phases, bottom → top (``LiCoO2``, ``Li3PO4``).
        exchange: proton exchange across the phase interface.
        sink: proton condition at the top of the upper phase.
        degraded_layer: the degraded-layer conductivity law.
        exposure_model: the exposure dose → profile law.
        reference_temperature: T_ref of the transport laws (K), 25 °C.
    """

    phases: tuple[PhaseTransportSettings, ...]
    exchange: ExchangeSettings
    sink: SinkSettings
    degraded_layer: DegradedLayerSettings
    exposure_model: ExposureModelSettings
    reference_temperature: float = CHEMISTRY_T_REF

    def phase(self, name: str) -> PhaseTransportSettings:
        for p in self.phases:
            if p.name == name:
                return p
        raise KeyError(f"no transport phase {name!r}; phases are {[p.name for p in self.phases]}")


@dataclass(frozen=True)
class ExposureSettings:
    """``[exposure]``: the gas exposure of the bare LiCoO2 before Li3PO4 deposition (SI).

    Args:
        gas: one of :data:`EXPOSURE_GASES`.
        duration: exposure time (s).
        temperature: gas/sample temperature (K).
        relative_humidity: for ``air`` (0…1).
        water_pressure: for ``H2O``: vapour pressure (Pa); None = saturated vapour at
            ``temperature``.
    """

    gas: str
    duration: float
    temperature: float
    relative_humidity: float
    water_pressure: float | None = None


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated and in SI.

    Besides the settings themselves it carries their provenance and the warnings
    raised while loading:

    Attributes:
        settings: dotted key → :class:`Setting` for every resolved setting (value as
            written, unit, SI value, origin, source note), in display order.
        warnings: one-line warnings the caller should show (e.g. the config changed
            or removed the Li metal layer the Li-melting guard relies on).
        li_layers: names of the layers that are Li metal (material ``"Li"``).
        li_melting_point: melting point (K) of that Li metal, or None when there is
            no Li layer or its material has no ``melting_point``.
        chemistry: transport, degraded-layer and exposure-model parameters
            (``[transport.*]``, ``[degraded_layer]``, ``[exposure_model]``), or None when
            neither the cell nor the user config has any of them (heat-only cell).
            :mod:`fem_cell.physics.parameters` turns them into the physics objects.
        exposure: the ``[exposure]`` before the anneal, or None when there is none.
    """

    name: str
    title: str
    reference: str
    geometry: StackGeometry
    materials: Mapping[str, Material]
    layer_sources: Mapping[str, str]
    geometry_sources: Mapping[str, Parameter]
    thermal: ThermalSettings
    thermal_sources: Mapping[str, Parameter]
    anneal: AnnealProgram
    anneal_spec: Mapping[str, Any]
    mesh: MeshSettings
    solver: SolverSettings
    output: OutputSettings
    files: tuple[str, ...] = field(default_factory=tuple)
    settings: Mapping[str, Setting] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    li_layers: tuple[str, ...] = field(default_factory=tuple)
    li_melting_point: float | None = None
    chemistry: ChemistrySettings | None = None
    electrochemistry: Mapping[str, float] = field(default_factory=dict)
    exposure: ExposureSettings | None = None

    @property
    def origins(self) -> dict[str, str]:
        """Dotted key → origin (file path, built-in cell, ``"default"``, ...)."""
        return {k: s.origin for k, s in self.settings.items()}

    def material_of(self, layer: str) -> Material:
        return self.materials[self.geometry.layer(layer).material]

    def layer_property(self, key: str) -> dict[str, float]:
        """Layer name → SI value of a material property, for every layer."""
        return {lay.name: self.materials[lay.material][key] for lay in self.geometry.layers}

    def with_mesh(self, origin: str = "command line", **changes) -> RunConfig:
        """Copy with some mesh settings changed (e.g. ``dim=2``).

        Args:
            origin: recorded as the origin of the changed settings.
            **changes: :class:`MeshSettings` fields and their new values.
        """
        import dataclasses

        settings = dict(self.settings)
        for k, v in changes.items():
            old = settings.get(f"mesh.{k}")
            unit = old.unit if old is not None else ""
            si_unit = old.si_unit if old is not None else ""
            shown = clean_number(from_si(v, unit)) if unit and isinstance(v, float) else v
            settings[f"mesh.{k}"] = Setting(f"mesh.{k}", shown, unit, v, si_unit, origin)
        return dataclasses.replace(self, mesh=dataclasses.replace(self.mesh, **changes),
                                   settings=settings)

    def with_exposure(self, origin: str = "command line", **changes) -> RunConfig:
        """Copy with some exposure settings changed (CLI ``--gas``, ``--minutes``, ...).

        Validated like ``[exposure]`` in a config file; a bad value raises
        :class:`~fem_cell.errors.ConfigError` naming ``origin`` and the key.

        Args:
            origin: recorded as the origin of the changed settings (and named in errors).
            **changes: :class:`ExposureSettings` fields.  Each value is an SI number
                (``duration=2700.0`` s, ``temperature=313.15`` K,
                ``relative_humidity=0.3``, ``water_pressure=1000.0`` Pa or None =
                saturated), or written as in a config file (``"45 min"``, ``"40 degC"``,
                ``"30 %"``, ``"saturated"``); ``gas`` is a name of :data:`EXPOSURE_GASES`.

        Raises:
            ConfigError: a bad value, or the configuration has no exposure to change.
            TypeError: an unknown field name.
        """
        import dataclasses

        unknown = sorted(set(changes) - set(EXPOSURE_KEYS))
        if unknown:
            raise TypeError(f"with_exposure: unknown exposure field(s) {unknown}; "
                            f"known: {sorted(EXPOSURE_KEYS)}")
        r = _Reader(origin)
        if self.exposure is None:
            raise r.err("exposure", dict(changes),
                        "a cell or user config with an [exposure] table to change")
        rec = _Record()
        kw = vars_of(self.exposure)
        for k, v in changes.items():
            spec = EXPOSURE_KEYS[k]
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            raw = ({"value": v, "unit": SI_UNITS[spec.dimension]}
                   if number and spec is not None and spec.dimension != "dimensionless" else v)
            kw[k] = _exposure_value(k, raw, r, rec, None)
            if number and spec is not None and kw[k] is not None:
                rec.items[f"exposure.{k}"] = Setting(
                    f"exposure.{k}", clean_number(from_si(kw[k], spec.unit)), spec.unit, kw[k],
                    SI_UNITS[spec.dimension], origin)
        settings = dict(self.settings)
        settings.update(rec.items)
        return dataclasses.replace(self, exposure=ExposureSettings(**kw), settings=settings)

    def to_dict(self) -> dict[str, Any]:
        """Resolved configuration for run metadata (``run.json``).

        Values as given + SI + sources, numbers rounded to 12 significant digits
        (no float noise), plus ``settings`` (dotted key → value, unit, SI value, SI
        unit, origin, source) and the load ``warnings``.
        """
        g = self.geometry
        return _clean({
            "cell": {"name": self.name, "title": self.title, "reference": self.reference},
            "files": list(self.files),
            "geometry": {"width_m": g.width,
                         **{k: p.as_dict() for k, p in self.geometry_sources.items()}},
            "layers": [
                {"name": lay.name, "material": lay.material, "thickness_m": lay.thickness,
                 "width_m": lay.width, "source": self.layer_sources.get(lay.name, ""),
                 "li_metal": lay.name in self.li_layers}
                for lay in g.layers],
            "materials": {m.name: {k: p.as_dict() for k, p in m.properties.items()}
                          for m in self.materials.values()},
            "thermal": {**{k: p.as_dict() for k, p in self.thermal_sources.items()},
                        "bottom": self.thermal.bottom},
            "anneal": {"spec": dict(self.anneal_spec),
                       "breakpoints_s": self.anneal.times.tolist(),
                       "breakpoints_K": self.anneal.temperatures.tolist()},
            "mesh": vars_of(self.mesh),
            "solver": vars_of(self.solver),
            "output": vars_of(self.output),
            "li_layers": list(self.li_layers),
            "li_melting_point_K": self.li_melting_point,
            "chemistry": chemistry_dict(self.chemistry),
            "electrochemistry": {k: clean_number(v) for k, v in self.electrochemistry.items()},
            "exposure": None if self.exposure is None else vars_of(self.exposure),
            "settings": {k: s.as_dict() for k, s in self.settings.items()},
            "warnings": list(self.warnings),
        })


def _clean(obj):
    """Recursively round floats to 12 significant digits (see units.clean_number)."""
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return clean_number(obj)


def chemistry_dict(chem: ChemistrySettings | None) -> dict[str, Any] | None:
    """SI values of the chemistry settings (phases keyed by name; energies in J)."""
    import dataclasses

    if chem is None:
        return None
    d = dataclasses.asdict(chem)
    d["phases"] = {p.pop("name"): p for p in d["phases"]}
    return d


def vars_of(obj) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# ------------------------------------------------------------------ reading -------
def available_cells() -> list[str]:
    """Names of the cells shipped with the package."""
    root = resources.files("fem_cell") / "data" / "cells"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every I/O, encoding and syntax problem into ConfigError.

    A missing file, a directory, an unreadable file, a file that is not UTF-8 text
    (e.g. binary data) and invalid TOML each give one ConfigError naming the file.
    A UTF-8 byte-order mark is accepted.
    """
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise ConfigError(where, "<file>", where, "a TOML file, not a directory")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(where, "<file>", where, "an existing TOML file") from None
    except OSError as e:
        raise ConfigError(where, "<file>", where, f"a readable file ({e.strerror or e})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(where, "<file>", f"byte 0x{data[e.start]:02x} at offset {e.start}",
                          "a UTF-8 text file with TOML content (this file is binary or "
                          "in another encoding)") from None
    try:
        return tomllib.loads(text.removeprefix("\ufeff"))
    except tomllib.TOMLDecodeError as e:
        msg = " ".join(str(e).split())
        raise ConfigError(where, "<file>", where, f"valid TOML ({msg})") from None
    except RecursionError:
        raise ConfigError(where, "<file>", where, "valid TOML (nested too deeply)") from None


def _cell_source(spec: str, base: Path | None) -> tuple[dict[str, Any], str]:
    if spec in available_cells():
        res = resources.files("fem_cell") / "data" / "cells" / f"{spec}.toml"
        with res.open("rb") as f:
            return tomllib.load(f), f"<built-in cell {spec}>"
    p = Path(spec)
    if base is not None and not p.is_absolute():
        p = base / p
    if p.suffix == ".toml" and p.exists():
        cell = read_toml(p)
        if isinstance(cell.get("cell"), str) or set(cell) & (USER_KEYS - CELL_KEYS):
            raise ConfigError(str(p), "cell", spec,
                              f"a cell file ([cell], [[layers]], [materials], ...), but {p} "
                              "looks like a user config (it has cell = \"...\" or "
                              "[mesh]/[solver]/[output])")
        return cell, str(p)
    raise ConfigError(None, "cell", spec,
                      f"a built-in cell ({', '.join(available_cells())}) or a path to a cell .toml")


class _Reader:
    """Validation helpers that know which file a value came from."""

    def __init__(self, source: str):
        self.source = source

    def err(self, key: str, value: Any, expected: str) -> ConfigError:
        return ConfigError(self.source, key, value, expected)

    def table(self, raw: Any, key: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise self.err(key, raw, "a table")
        return raw

    def keys(self, raw: Mapping[str, Any], key: str, allowed) -> None:
        for k in raw:
            if k not in allowed:
                where = f"{key}.{k}" if key else k
                raise self.err(where, raw[k], f"one of the known keys {sorted(allowed)}")

    def quantity(self, raw: Any, key: str, dimension: str, *, positive: bool = True,
                 difference: bool = False, default_source: str | None = None,
                 bounds: tuple[float, float] | None = None, bounds_text: str = "") -> Parameter:
        """Parse a quantity written as ``"1 um"`` or ``{value, unit[, source]}``.

        Args:
            bounds: optional (lo, hi) on the SI value (inclusive); ``bounds_text``
                says what they mean in the error message.
        """
        expected = (f"a {'positive ' if positive else ''}{dimension} with a unit, "
                    f"e.g. '{_example(dimension)}' or {{ value = ..., unit = \"...\" }}")
        source = default_source or f"{self.source}"
        if isinstance(raw, dict):
            allowed = {"value", "unit", "source"}
            self.keys(raw, key, allowed)
            if "value" not in raw or "unit" not in raw:
                raise self.err(key, raw, expected + " (both value and unit)")
            value, unit = raw["value"], raw["unit"]
            source = raw.get("source", source)
            if not isinstance(source, str):
                raise self.err(f"{key}.source", source, "a string")
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise self.err(f"{key}.value", value, "a number")
            if not isinstance(unit, str):
                raise self.err(f"{key}.unit", unit, "a unit string, e.g. " + EXAMPLE_UNITS[dimension])
            try:
                si = to_si(value, unit, dimension)
                if difference:
                    si -= parse_unit(unit).offset
            except UnitError as e:
                raise self.err(key, raw, f"{expected}: {e}") from None
            given = value if isinstance(value, float) else float(value)
        elif isinstance(raw, str):
            try:
                si = parse_quantity(raw, dimension)
                if difference:
                    si -= parse_unit(_unit_of(raw)).offset
            except UnitError as e:
                raise self.err(key, raw, f"{expected}: {e}") from None
            given, unit = _split(raw)
        elif dimension == "dimensionless" and isinstance(raw, (int, float)) and not isinstance(raw, bool):
            si, given, unit = float(raw), float(raw), "1"
        elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
            raise self.err(key, raw, expected + " (a bare number has no unit)")
        else:
            raise self.err(key, raw, expected)
        if not np.isfinite(si):
            raise self.err(key, raw, expected + " (finite)")
        if positive and not si > 0:
            raise self.err(key, raw, expected.replace("a positive", "a positive (> 0)"))
        if bounds is not None and not bounds[0] <= si <= bounds[1]:
            raise self.err(key, raw, f"a {dimension} between {format_number(bounds[0])} and "
                                     f"{format_number(bounds[1])} {SI_UNITS[dimension]}"
                                     + (f" ({bounds_text})" if bounds_text else ""))
        return Parameter(si, unit, given, source, self.source)

    def integer(self, raw: Any, key: str, minimum: int, maximum: int | None = None) -> int:
        if (isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum
                or (maximum is not None and raw > maximum)):
            rng = f">= {minimum}" if maximum is None else f"from {minimum} to {maximum}"
            raise self.err(key, raw, f"an integer {rng}")
        return raw

    def number(self, raw: Any, key: str, lo: float, hi: float = np.inf, lo_open=True) -> float:
        ok = isinstance(raw, (int, float)) and not isinstance(raw, bool)
        if ok:
            ok = (raw > lo if lo_open else raw >= lo) and raw <= hi
        if not ok:
            rng = f"{'>' if lo_open else '>='} {lo}" + (f" and <= {hi}" if np.isfinite(hi) else "")
            raise self.err(key, raw, f"a number {rng}")
        return float(raw)

    def boolean(self, raw: Any, key: str) -> bool:
        if not isinstance(raw, bool):
            raise self.err(key, raw, "true or false")
        return raw

    def choice(self, raw: Any, key: str, choices) -> str:
        if raw not in choices:
            raise self.err(key, raw, f"one of {list(choices)}")
        return raw


def _example(dimension: str) -> str:
    unit = EXAMPLE_UNITS[dimension].split(",")[0].split(" or ")[0].strip()
    return {"temperature": "150 degC", "temperature rate": "5 K/min", "time": "60 min",
            "length": "1 um"}.get(dimension, f"1 {unit}")


def _split(text: str) -> tuple[float, str]:
    m = _QUANTITY_TEXT.match(text)
    return float(m.group(1)), (m.group(2) or "1")


_QUANTITY_TEXT = re.compile(r"^\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*(.*?)\s*$")


def _unit_of(text: str) -> str:
    return _split(text)[1]


# ------------------------------------------------------------------ building ------
USER_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal", "mesh",
             "solver", "output", "exposure", "electrochemistry", *CHEMISTRY_SECTIONS}
CELL_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal", "exposure",
             "electrochemistry", *CHEMISTRY_SECTIONS}


def load_config(path: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> RunConfig:
    """Load and validate a run configuration.

    Args:
        path: user config TOML; ``None`` = the built-in default cell with defaults.
        overrides: a dict with the same structure as a user config, applied after
            the file (handy for scripted parameter studies).

    Returns:
        The validated :class:`RunConfig` (SI).

    Raises:
        ConfigError: any invalid input, naming file, key, value and expectation.
    """
    user: dict[str, Any] = {}
    user_src = "<defaults>"
    base = None
    if path is not None:
        user = read_toml(path)
        user_src = str(path)
        base = Path(path).resolve().parent
    if overrides:
        user = _deep_merge(user, dict(overrides))
        if path is None:
            user_src = "<overrides>"
    return build_config(user, user_src, base)


def deep_merge(a: dict, b: Mapping) -> dict:
    """A deep copy of ``a`` with ``b`` merged in: tables recursively, other values
    (including lists) replaced.  Used for user overrides, studies and calibrations."""
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


_deep_merge = deep_merge


class _Record:
    """Collects the :class:`Setting` of every resolved key, in order."""

    def __init__(self):
        self.items: dict[str, Setting] = {}

    def param(self, key: str, p: Parameter, dimension: str, source: str = "") -> None:
        self.items[key] = Setting(key, p.given, p.unit, p.value, SI_UNITS[dimension], p.origin,
                                  source)

    def plain(self, key: str, value: Any, origin: str, si_value: Any = None) -> None:
        self.items[key] = Setting(key, value, "", value if si_value is None else si_value, "",
                                  origin)

    def default(self, key: str, si_value: Any, unit: str = "",
                dimension: str | None = None) -> None:
        if dimension is None:
            self.items[key] = Setting(key, si_value, "", si_value, "", DEFAULT_ORIGIN)
            return
        shown = clean_number(from_si(si_value, unit)) if si_value is not None else None
        if dimension == "temperature difference":
            shown, si_unit = si_value, "K"
        else:
            si_unit = SI_UNITS[dimension]
        self.items[key] = Setting(key, shown, unit, si_value, si_unit, DEFAULT_ORIGIN)


def _note(p: Parameter, raw: Any, reader: _Reader, cell_reader: _Reader) -> str:
    """Source note to show: cell values and tables with a ``source``; else none."""
    return p.source if reader is cell_reader or isinstance(raw, dict) else ""


def _looks_like_cell_file(user: Mapping[str, Any]) -> str | None:
    if isinstance(user.get("cell"), dict):
        return "cell"
    if isinstance(user.get("layers"), list):
        return "layers"
    return None


LENGTH_BOUNDS = (MIN_LENGTH, MAX_LENGTH)
LENGTH_TEXT = "1 pm to 1 m"


def build_config(user: Mapping[str, Any], user_src: str = "<config>", base: Path | None = None) -> RunConfig:
    """Validate a user-config dict (see :func:`load_config`)."""
    ur = _Reader(user_src)
    ur.table(user, "")
    kind = _looks_like_cell_file(user)
    if kind is not None:
        shown = "[cell] table" if kind == "cell" else "[[layers]] array"
        raise ur.err(kind, shown,
                     "a user config, but this file looks like a cell file (it has a "
                     f"{shown}); to run a custom cell, write a user config containing "
                     "cell = \"path/to/cell.toml\" (relative to that config) and pass that")
    ur.keys(user, "", USER_KEYS)
    rec = _Record()
    warnings: list[str] = []
    cell_spec = user.get("cell", DEFAULT_CELL)
    if not isinstance(cell_spec, str):
        raise ur.err("cell", cell_spec, "a cell name or a path to a cell .toml")
    try:
        cell, cell_src = _cell_source(cell_spec, base)
    except ConfigError as e:
        raise ur.err("cell", cell_spec, e.expected) from None
    cr = _Reader(cell_src)
    cr.keys(cell, "", CELL_KEYS)
    files = tuple(s for s in (cell_src, user_src) if not s.startswith("<defaults"))
    rec.plain("cell", cell_spec, user_src if "cell" in user else DEFAULT_ORIGIN, cell_src)

    # -- header
    head = cr.table(cell.get("cell", {}), "cell")
    cr.keys(head, "cell", {"name", "title", "reference", "description"})
    name = str(head.get("name", Path(cell_spec).stem))
    rec.plain("cell.name", name, cell_src if "name" in head else DEFAULT_ORIGIN)

    # -- materials: cell, then user overrides
    materials_raw: dict[str, tuple[dict, _Reader]] = {}
    for mname, props in cr.table(cell.get("materials", {}), "materials").items():
        materials_raw[mname] = ({k: (v, cr) for k, v in cr.table(props, f"materials.{mname}").items()}, cr)
    for mname, props in ur.table(user.get("materials", {}), "materials").items():
        ur.table(props, f"materials.{mname}")
        entry = materials_raw.setdefault(mname, ({}, ur))[0]
        for k, v in props.items():
            entry[k] = (v, ur)
    materials: dict[str, Material] = {}
    cell_melting: dict[str, Parameter] = {}
    for mname, (props, _) in materials_raw.items():
        parsed = {}
        for k, (v, reader) in props.items():
            key = f"materials.{mname}.{k}"
            if k not in MATERIAL_PROPERTIES:
                raise reader.err(key, v, f"one of the known material properties {sorted(MATERIAL_PROPERTIES)}")
            dim, _unit = MATERIAL_PROPERTIES[k]
            parsed[k] = reader.quantity(v, key, dim, bounds=PROPERTY_BOUNDS.get(k))
            rec.param(key, parsed[k], dim, _note(parsed[k], v, reader, cr))
        cell_props = cell.get("materials", {}).get(mname)
        if isinstance(cell_props, dict) and "melting_point" in cell_props:
            cell_melting[mname] = cr.quantity(cell_props["melting_point"],
                                              f"materials.{mname}.melting_point", "temperature",
                                              bounds=PROPERTY_BOUNDS["melting_point"])
        materials[mname] = Material(mname, parsed)

    # -- layers
    layers_raw = cell.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise cr.err("layers", layers_raw if layers_raw is not None else MISSING,
                     "an array of [[layers]] tables, bottom to top")
    user_layers = ur.table(user.get("layers", {}), "layers")
    known = [lay.get("name") for lay in layers_raw if isinstance(lay, dict)]
    for lname in user_layers:
        if lname not in known:
            raise ur.err(f"layers.{lname}", user_layers[lname], f"one of the cell's layers {known}")
    layers, layer_sources = [], {}
    material_reader: dict[str, _Reader] = {}
    cell_material: dict[str, Any] = {}
    for i, lay in enumerate(layers_raw):
        key = f"layers[{i}]"
        cr.table(lay, key)
        cr.keys(lay, key, {"name", "material", "thickness", "width"})
        lname = lay.get("name")
        if not isinstance(lname, str) or not lname:
            raise cr.err(f"{key}.name", lname if lname is not None else MISSING,
                         "a non-empty string")
        cell_material[lname] = lay.get("material")
        merged = {k: (v, cr, f"layers[{lname}].{k}") for k, v in lay.items()}
        over = ur.table(user_layers.get(lname, {}), f"layers.{lname}")
        ur.keys(over, f"layers.{lname}", {"material", "thickness", "width"})
        for k, v in over.items():
            merged[k] = (v, ur, f"layers.{lname}.{k}")
        mat, mreader, mkey = merged.get("material", (MISSING, cr, f"{key}.material"))
        if not isinstance(mat, str) or mat not in materials:
            raise mreader.err(mkey, mat, f"a material defined under [materials] ({sorted(materials)})")
        material_reader[lname] = mreader
        rec.plain(f"layers.{lname}.material", mat, mreader.source)
        if "thickness" not in merged:
            raise cr.err(f"{key}.thickness", MISSING, "a positive length")
        tv, treader, tkey = merged["thickness"]
        th = treader.quantity(tv, tkey, "length", bounds=LENGTH_BOUNDS, bounds_text=LENGTH_TEXT)
        rec.param(f"layers.{lname}.thickness", th, "length", _note(th, tv, treader, cr))
        width = None
        if "width" in merged:
            wv, wreader, wkey = merged["width"]
            wp = wreader.quantity(wv, wkey, "length", bounds=LENGTH_BOUNDS, bounds_text=LENGTH_TEXT)
            width = wp.value
            rec.param(f"layers.{lname}.width", wp, "length", _note(wp, wv, wreader, cr))
        else:
            rec.items[f"layers.{lname}.width"] = Setting(
                f"layers.{lname}.width", "(full geometry.width)", "", None, "", DEFAULT_ORIGIN)
        layers.append(LayerSpec(lname, mat, th.value, width))
        layer_sources[lname] = th.source

    for lay in layers:
        mat = materials[lay.material]
        defined_by = materials_raw[mat.name][1]
        for req in REQUIRED_THERMAL:
            if req not in mat.properties:
                # blame the file that brought this material into the stack
                reader = ur if (defined_by is ur or material_reader[lay.name] is ur) else cr
                raise reader.err(f"materials.{mat.name}.{req}", MISSING,
                                 f"a {MATERIAL_PROPERTIES[req][0]}, e.g. "
                                 f"'{_example(MATERIAL_PROPERTIES[req][0])}' (material "
                                 f"{mat.name!r} lacks it; needed by layer {lay.name!r})")

    # -- geometry
    graw = _merged_table(cell, user, "geometry", cr, ur)
    geometry_sources = {}
    for k, (v, reader) in graw.items():
        if k != "width":
            raise reader.err(f"geometry.{k}", v, "one of the known keys ['width']")
        geometry_sources[k] = reader.quantity(v, f"geometry.{k}", "length", bounds=LENGTH_BOUNDS,
                                              bounds_text=LENGTH_TEXT)
        rec.param(f"geometry.{k}", geometry_sources[k], "length",
                  _note(geometry_sources[k], v, reader, cr))
    if "width" not in geometry_sources:
        raise cr.err("geometry.width", MISSING, "a positive length (2-D cross-section width)")
    stack_reader = ur if ("layers" in user or "geometry" in user) else cr
    try:
        geometry = StackGeometry(tuple(layers), geometry_sources["width"].value)
    except ValueError as e:
        raise stack_reader.err("layers", [lay.name for lay in layers],
                               f"a consistent stack ({e})") from None
    for lay in layers:
        key = f"layers.{lay.name}.width"
        if rec.items[key].origin == DEFAULT_ORIGIN:
            rec.items[key] = Setting(key, "(full geometry.width)", "", geometry.width, "m",
                                     DEFAULT_ORIGIN)
    total = geometry.total_thickness
    if not total <= MAX_LENGTH:
        raise stack_reader.err("layers", f"total thickness {format_number(total)} m",
                               f"a stack at most {format_number(MAX_LENGTH)} m thick")

    # -- thermal
    traw = _merged_table(cell, user, "thermal", cr, ur)
    tsrc: dict[str, Parameter] = {}
    tvals: dict[str, Any] = {}
    for k, (v, reader) in traw.items():
        key = f"thermal.{k}"
        if k not in THERMAL_KEYS:
            raise reader.err(key, v, f"one of the known keys {sorted(THERMAL_KEYS)}")
        if k == "bottom":
            tvals[k] = reader.choice(v, key, BOTTOM_KINDS)
            rec.plain(key, v, reader.source)
            continue
        dim, _ = THERMAL_KEYS[k]
        if k == "ambient_temperature":
            p = reader.quantity(v, key, dim, bounds=(0.0, MAX_TEMPERATURE))
        elif k == "contact_conductance":
            p = reader.quantity(v, key, dim, bounds=(0.0, MAX_HEAT_TRANSFER))
        elif k == "top_heat_transfer_coefficient":
            p = reader.quantity(v, key, dim, positive=False)
            if not 0.0 <= p.value <= MAX_HEAT_TRANSFER:
                raise reader.err(key, v, f"a heat transfer coefficient >= 0 (0 = no convection) "
                                         f"and <= {format_number(MAX_HEAT_TRANSFER)} W/(m2 K)")
        else:  # top_emissivity
            p = reader.quantity(v, key, dim, positive=False)
            if not 0.0 <= p.value <= 1.0:
                raise reader.err(key, v, "an emissivity between 0 and 1")
        tsrc[k] = p
        tvals[k] = p.value
        rec.param(key, p, dim, _note(p, v, reader, cr))
    thermal = ThermalSettings(**tvals)
    for k, unit in (("bottom", ""), ("contact_conductance", "W/(m2 K)"),
                    ("top_heat_transfer_coefficient", "W/(m2 K)"), ("top_emissivity", "1"),
                    ("ambient_temperature", "degC")):
        if f"thermal.{k}" not in rec.items:
            dim = None if k == "bottom" else THERMAL_KEYS[k][0]
            rec.default(f"thermal.{k}", getattr(thermal, k), unit, dim)

    # -- run settings (the program checks need solver.dt_min)
    mesh = _mesh_settings(ur.table(user.get("mesh", {}), "mesh"), ur, base, rec)
    solver = _solver_settings(ur.table(user.get("solver", {}), "solver"), ur, rec)
    output = _output_settings(ur.table(user.get("output", {}), "output"), ur, rec)

    # -- anneal program
    anneal, anneal_spec, prog_reader = _anneal(cell, user, cr, ur, rec, solver)
    user_mats = ur.table(user.get("materials", {}), "materials")
    for lay in layers:
        tm = materials[lay.material].get("melting_point")
        if tm is not None and anneal.max_temperature >= tm:
            if prog_reader is ur:
                reader, key = ur, "anneal"
            elif "melting_point" in user_mats.get(lay.material, {}):
                reader, key = ur, f"materials.{lay.material}.melting_point"
            elif material_reader[lay.name] is ur:
                reader, key = ur, f"layers.{lay.name}.material"
            else:
                reader, key = cr, "anneal"
            raise reader.err(
                key, f"max {anneal.max_temperature - ZERO_CELSIUS:.1f} degC",
                f"a program that stays below the melting point of {lay.material} "
                f"({tm - ZERO_CELSIUS:.1f} degC) while layer {lay.name!r} is present")

    # -- the Li metal layer(s) the Li-melting guard relies on
    li_layers = tuple(lay.name for lay in layers if lay.material == LI_MATERIAL)
    li_tm = materials[LI_MATERIAL].get("melting_point") if li_layers else None
    for lay in layers:
        if cell_material.get(lay.name) == LI_MATERIAL and lay.material != LI_MATERIAL:
            warnings.append(
                f"{user_src}: layers.{lay.name}.material = {lay.material!r}: layer {lay.name!r} "
                f"is Li metal in the cell ({cell_src}) but now uses material {lay.material!r}; "
                f"it is no longer treated as Li, so the Li-melting guard does not watch it")
    li_user = user_mats.get(LI_MATERIAL, {}) if isinstance(user_mats.get(LI_MATERIAL), dict) else {}
    if li_layers and "melting_point" in li_user:
        old = cell_melting.get(LI_MATERIAL)
        if old is None or li_tm is None or abs(old.value - li_tm) > 1e-9:
            was = (f"{old.value - ZERO_CELSIUS:.6g} degC in the cell" if old is not None
                   else "not set in the cell")
            warnings.append(
                f"{user_src}: materials.{LI_MATERIAL}.melting_point = "
                f"{li_user['melting_point']!r}: the Li melting point ({was}) is changed to "
                f"{li_tm - ZERO_CELSIUS:.6g} degC; "
                "the Li-melting guard uses this value")
    cell_li = [n for n, m in cell_material.items() if m == LI_MATERIAL]
    if not cell_li and not li_layers:
        warnings.append(
            f"{cell_src}: no layer is Li metal (material {LI_MATERIAL!r}): the Li-melting "
            "guard is off for this run")
    if li_layers and li_tm is None:
        warnings.append(
            f"{cell_src}: materials.{LI_MATERIAL}.melting_point is missing: layers "
            f"{list(li_layers)} are Li metal but the Li-melting guard has no melting point "
            "to check against")

    # -- chemistry and exposure
    chemistry = _chemistry(cell, user, cr, ur, rec, materials, materials_raw)
    electrochemistry = _electrochemistry(cell, user, cr, ur, rec)
    exposure = _exposure(cell, user, cr, ur, rec, required=chemistry is not None)

    rec.items = _ordered(rec.items)
    return RunConfig(
        name=name, title=str(head.get("title", name)), reference=str(head.get("reference", "")),
        geometry=geometry, materials=materials, layer_sources=layer_sources,
        geometry_sources=geometry_sources, thermal=thermal, thermal_sources=tsrc,
        anneal=anneal, anneal_spec=anneal_spec, mesh=mesh, solver=solver, output=output,
        files=files, settings=rec.items, warnings=tuple(warnings), li_layers=li_layers,
        li_melting_point=li_tm, chemistry=chemistry, exposure=exposure,
        electrochemistry=electrochemistry)


#: display order of the top-level sections
SECTION_ORDER = ("cell", "geometry", "layers", "materials", "thermal", "anneal", "exposure",
                 "transport", "degraded_layer", "exposure_model", "electrochemistry", "mesh",
                 "solver", "output")


def _ordered(items: dict[str, Setting]) -> dict[str, Setting]:
    import dataclasses

    fields = {"mesh": MeshSettings, "solver": SolverSettings, "output": OutputSettings}
    fields = {sec: [f.name for f in dataclasses.fields(cls)] for sec, cls in fields.items()}

    def order(key: str) -> tuple[int, int]:
        head = key.split(".", 1)[0].split("[", 1)[0]
        sec = SECTION_ORDER.index(head) if head in SECTION_ORDER else len(SECTION_ORDER)
        names = fields.get(head, [])
        tail = key.split(".", 1)[-1]
        return sec, names.index(tail) if tail in names else 0

    keys = sorted(items, key=order)  # stable: keeps insertion order within a section
    return {k: items[k] for k in keys}


def _merged_table(cell, user, key, cr: _Reader, ur: _Reader) -> dict[str, tuple[Any, _Reader]]:
    out = {k: (v, cr) for k, v in cr.table(cell.get(key, {}), key).items()}
    out.update({k: (v, ur) for k, v in ur.table(user.get(key, {}), key).items()})
    return out


def _anneal(cell, user, cr: _Reader, ur: _Reader, rec: _Record,
            solver: SolverSettings) -> tuple[AnnealProgram, dict[str, Any], _Reader]:
    """The program, its spec as written, and the reader of the file its shape came from."""
    c = cr.table(cell.get("anneal", {}), "anneal")
    u = ur.table(user.get("anneal", {}), "anneal")
    allowed = {"initial_temperature", "segments", "breakpoints"}
    cr.keys(c, "anneal", allowed)
    ur.keys(u, "anneal", allowed)
    if "segments" in u and "breakpoints" in u:
        raise ur.err("anneal", sorted(u), "either segments or breakpoints, not both")
    merged = {k: (v, cr) for k, v in c.items()}
    if "segments" in u or "breakpoints" in u:  # a user program replaces the cell's
        merged.pop("segments", None)
        merged.pop("breakpoints", None)
    merged.update({k: (v, ur) for k, v in u.items()})
    spec = {k: v for k, (v, _) in merged.items()}
    T_BOUNDS = (0.0, MAX_TEMPERATURE)
    T_TEXT = "absolute temperature"
    dt_min = solver.dt_min
    if "breakpoints" in merged:
        bp, r = merged["breakpoints"]
        if not isinstance(bp, list) or len(bp) < 2:
            raise r.err("anneal.breakpoints", bp, "a list of at least two [time, temperature] pairs")
        times, temps = [], []
        for i, pair in enumerate(bp):
            if not isinstance(pair, list) or len(pair) != 2:
                raise r.err(f"anneal.breakpoints[{i}]", pair, "a [time, temperature] pair, e.g. ['25 min', '150 degC']")
            tp = r.quantity(pair[0], f"anneal.breakpoints[{i}][0]", "time", positive=False,
                            bounds=(0.0, MAX_DURATION), bounds_text="at most one year")
            Tp = r.quantity(pair[1], f"anneal.breakpoints[{i}][1]", "temperature", bounds=T_BOUNDS,
                            bounds_text=T_TEXT)
            rec.param(f"anneal.breakpoints[{i}][0]", tp, "time")
            rec.param(f"anneal.breakpoints[{i}][1]", Tp, "temperature")
            times.append(tp.value)
            temps.append(Tp.value)
        if times[0] != 0.0:
            raise r.err("anneal.breakpoints[0][0]", bp[0][0], "the program to start at time 0")
        for i in range(1, len(times)):
            if not times[i] > times[i - 1]:
                raise r.err(f"anneal.breakpoints[{i}][0]", bp[i][0],
                            f"a time later than the previous breakpoint ({bp[i - 1][0]}): "
                            "breakpoint times must increase strictly")
            if not times[i] - times[i - 1] >= dt_min:
                raise r.err(f"anneal.breakpoints[{i}][0]", bp[i][0],
                            f"a time at least solver.dt_min = {format_number(dt_min)} s after the "
                            f"previous breakpoint ({bp[i - 1][0]}): shorter stretches would be "
                            "stepped over")
        program = AnnealProgram(np.array(times), np.array(temps))
        _check_duration(program, r, "anneal.breakpoints", solver)
        return program, spec, r
    if "segments" not in merged:
        raise ur.err("anneal", spec, "segments = [...] or breakpoints = [...]")
    if "initial_temperature" not in merged:
        raise ur.err("anneal.initial_temperature", MISSING, "a temperature, e.g. '25 degC'")
    v0, r0 = merged["initial_temperature"]
    T0p = r0.quantity(v0, "anneal.initial_temperature", "temperature", bounds=T_BOUNDS,
                      bounds_text=T_TEXT)
    rec.param("anneal.initial_temperature", T0p, "temperature", _note(T0p, v0, r0, cr))
    T0 = T0p.value
    segs, r = merged["segments"]
    if not isinstance(segs, list) or not segs:
        raise r.err("anneal.segments", segs, "a non-empty list of {ramp_to, rate|duration} or {hold} tables")
    parsed = []
    for i, seg in enumerate(segs):
        key = f"anneal.segments[{i}]"
        r.table(seg, key)
        r.keys(seg, key, {"ramp_to", "rate", "duration", "hold"})
        p = {}
        for k, v in seg.items():
            dim = {"ramp_to": "temperature", "rate": "temperature rate", "duration": "time",
                   "hold": "time"}[k]
            if dim == "time":
                q = r.quantity(v, f"{key}.{k}", dim, bounds=(0.0, MAX_DURATION),
                               bounds_text="at most one year")
            elif dim == "temperature":
                q = r.quantity(v, f"{key}.{k}", dim, bounds=T_BOUNDS, bounds_text=T_TEXT)
            else:
                q = r.quantity(v, f"{key}.{k}", dim, difference=True)
            rec.param(f"{key}.{k}", q, dim)
            p[k] = q.value
        parsed.append(p)
    try:
        program = from_segments(T0, parsed, min_duration=dt_min)
    except SegmentError as e:
        i = e.index
        msg = str(e).removeprefix(f"segment {i}: ")
        if e.too_short:
            expected = (f"a segment lasting at least solver.dt_min = {format_number(dt_min)} s, "
                        f"else the run would step over it ({msg})")
        else:
            expected = f"a valid ramp/hold segment ({msg})"
        raise r.err(f"anneal.segments[{i}]", segs[i], expected) from None
    except ValueError as e:
        raise r.err("anneal.segments", segs, f"a valid ramp/hold program ({e})") from None
    for i, d in enumerate(np.diff(program.times)):
        if not d <= MAX_DURATION:
            raise r.err(f"anneal.segments[{i}]", segs[i],
                        f"a segment lasting at most one year ({format_number(MAX_DURATION)} s), "
                        f"not {format_number(float(d))} s")
    _check_duration(program, r, "anneal.segments", solver)
    return program, spec, r


def _check_duration(program: AnnealProgram, r: _Reader, key: str, solver: SolverSettings) -> None:
    """Whole-program bounds: at most one year, and at most MAX_STEPS smallest steps."""
    d = program.duration
    if not d <= MAX_DURATION:
        raise r.err(key, f"{format_number(d)} s in total",
                    f"a program lasting at most one year ({format_number(MAX_DURATION)} s)")
    if not d / solver.dt_min <= MAX_STEPS:
        raise r.err(key, f"{format_number(d)} s in total",
                    f"a program at most {MAX_STEPS:.0e} × solver.dt_min = "
                    f"{format_number(MAX_STEPS * solver.dt_min)} s long (solver.dt_min = "
                    f"{format_number(solver.dt_min)} s); shorten it or raise solver.dt_min")


MESH_DISPLAY_UNITS = {"max_cell_size": "um", "length_scale": "um", "lateral_edge_size": "um"}
SOLVER_TIME_KEYS = ("dt_initial", "dt_max", "dt_min")


def _mesh_settings(raw: Mapping[str, Any], r: _Reader, base: Path | None,
                   rec: _Record | None = None) -> MeshSettings:
    rec = rec if rec is not None else _Record()
    allowed = {"dim", "cells_per_layer", "growth", "max_cell_size", "lateral_cells",
               "lateral_growth", "lateral_edge_size", "length_scale", "file"}
    r.keys(raw, "mesh", allowed)
    kw: dict[str, Any] = {}
    if "dim" in raw:
        kw["dim"] = r.choice(raw["dim"], "mesh.dim", (1, 2))
    for k in ("cells_per_layer", "lateral_cells"):
        if k in raw:
            lo, hi = INTEGER_BOUNDS[f"mesh.{k}"]
            kw[k] = r.integer(raw[k], f"mesh.{k}", lo, hi)
    if "growth" in raw:
        kw["growth"] = r.number(raw["growth"], "mesh.growth", 1.0, 10.0)
    if "lateral_growth" in raw:
        kw["lateral_growth"] = r.number(raw["lateral_growth"], "mesh.lateral_growth", 1.0, 10.0, lo_open=False)
    for k in ("dim", "cells_per_layer", "lateral_cells", "growth", "lateral_growth"):
        if k in kw:
            rec.plain(f"mesh.{k}", raw[k], r.source, kw[k])
    for k in ("max_cell_size", "length_scale", "lateral_edge_size"):
        if k in raw:
            q = r.quantity(raw[k], f"mesh.{k}", "length", bounds=LENGTH_BOUNDS,
                           bounds_text=LENGTH_TEXT)
            kw[k] = q.value
            rec.param(f"mesh.{k}", q, "length")
    if "file" in raw:
        f = raw["file"]
        if not isinstance(f, str):
            raise r.err("mesh.file", f, "a path to a mesh file")
        p = Path(f)
        if base is not None and not p.is_absolute():
            p = base / p
        if not p.is_file():
            raise r.err("mesh.file", f, "an existing mesh file")
        kw["file"] = str(p)
        rec.plain("mesh.file", f, r.source, str(p))
    m = MeshSettings(**kw)
    for k in vars_of(m):
        if f"mesh.{k}" not in rec.items:
            if k in MESH_DISPLAY_UNITS and getattr(m, k) is not None:
                rec.default(f"mesh.{k}", getattr(m, k), MESH_DISPLAY_UNITS[k], "length")
            else:
                rec.default(f"mesh.{k}", getattr(m, k))
    return m


def _solver_settings(raw: Mapping[str, Any], r: _Reader,
                     rec: _Record | None = None) -> SolverSettings:
    rec = rec if rec is not None else _Record()
    times = set(SOLVER_TIME_KEYS)
    allowed = times | {"scheme", "temperature_tolerance", "relative_tolerance", "adaptive",
                       "newton_rtol", "newton_max_it"}
    r.keys(raw, "solver", allowed)
    kw: dict[str, Any] = {}
    for k in SOLVER_TIME_KEYS:
        if k in raw:
            q = r.quantity(raw[k], f"solver.{k}", "time", bounds=(0.0, MAX_DURATION),
                           bounds_text="at most one year")
            kw[k] = q.value
            rec.param(f"solver.{k}", q, "time")
    if "scheme" in raw:
        kw["scheme"] = r.choice(raw["scheme"], "solver.scheme", SCHEMES)
    if "temperature_tolerance" in raw:
        q = r.quantity(raw["temperature_tolerance"], "solver.temperature_tolerance", "temperature",
                       difference=True)
        kw["temperature_tolerance"] = q.value
        rec.param("solver.temperature_tolerance", q, "temperature")
    if "relative_tolerance" in raw:
        kw["relative_tolerance"] = r.number(raw["relative_tolerance"], "solver.relative_tolerance", 0.0, 1.0, lo_open=False)
    if "newton_rtol" in raw:
        kw["newton_rtol"] = r.number(raw["newton_rtol"], "solver.newton_rtol", 0.0, 1.0)
    if "newton_max_it" in raw:
        lo, hi = INTEGER_BOUNDS["solver.newton_max_it"]
        kw["newton_max_it"] = r.integer(raw["newton_max_it"], "solver.newton_max_it", lo, hi)
    if "adaptive" in raw:
        kw["adaptive"] = r.boolean(raw["adaptive"], "solver.adaptive")
    for k in ("scheme", "relative_tolerance", "newton_rtol", "newton_max_it", "adaptive"):
        if k in kw:
            rec.plain(f"solver.{k}", raw[k], r.source, kw[k])
    s = SolverSettings(**kw)
    if not s.dt_min <= s.dt_initial <= s.dt_max:
        raise r.err("solver", {"dt_min": s.dt_min, "dt_initial": s.dt_initial, "dt_max": s.dt_max},
                    "dt_min <= dt_initial <= dt_max")
    for k in vars_of(s):
        if f"solver.{k}" not in rec.items:
            if k in SOLVER_TIME_KEYS:
                rec.default(f"solver.{k}", getattr(s, k), "s", "time")
            elif k == "temperature_tolerance":
                rec.default(f"solver.{k}", getattr(s, k), "K", "temperature difference")
            else:
                rec.default(f"solver.{k}", getattr(s, k))
    return s


def _output_settings(raw: Mapping[str, Any], r: _Reader,
                     rec: _Record | None = None) -> OutputSettings:
    rec = rec if rec is not None else _Record()
    r.keys(raw, "output", {"field_interval", "fields", "plots", "render"})
    kw: dict[str, Any] = {}
    if "field_interval" in raw:
        q = r.quantity(raw["field_interval"], "output.field_interval", "time", positive=False)
        if q.value < 0 or q.value > MAX_DURATION:
            raise r.err("output.field_interval", raw["field_interval"],
                        "a time >= 0 and at most one year")
        kw["field_interval"] = q.value
        rec.param("output.field_interval", q, "time")
    for k in ("fields", "plots", "render"):
        if k in raw:
            kw[k] = r.boolean(raw[k], f"output.{k}")
            rec.plain(f"output.{k}", kw[k], r.source)
    o = OutputSettings(**kw)
    for k in vars_of(o):
        if f"output.{k}" not in rec.items:
            if k == "field_interval":
                rec.default(f"output.{k}", o.field_interval, "s", "time")
            else:
                rec.default(f"output.{k}", getattr(o, k))
    return o


# ------------------------------------------------------------------ chemistry -----
def _section_items(cell: Mapping[str, Any], user: Mapping[str, Any], path: tuple[str, ...],
                   cr: _Reader, ur: _Reader) -> dict[str, tuple[Any, _Reader]]:
    """Merged ``key → (value, reader)`` of the table at ``path`` (cell, then user)."""
    out: dict[str, tuple[Any, _Reader]] = {}
    for raw, r in ((cell, cr), (user, ur)):
        t: Any = raw
        for i, name in enumerate(path):
            t = r.table(t, ".".join(path[:i])).get(name, {})
        out.update({k: (v, r) for k, v in r.table(t, ".".join(path)).items()})
    return out


def _spec_quantity(raw: Any, key: str, spec: _Spec, r: _Reader) -> Parameter:
    """Parse a quantity and check it against ``spec`` (one-line ConfigError)."""
    p = r.quantity(raw, key, spec.dimension, positive=False)
    if not spec.ok(p.value):
        raise r.err(key, raw, spec.expected)
    return p


def _required(items: Mapping[str, tuple[Any, _Reader]], section: str, keys: Mapping[str, Any],
              blame: _Reader, why: str = "") -> None:
    for k, spec in keys.items():
        if k not in items:
            what = spec.expected if spec is not None else f"one of {list(CHOICES[k])}"
            raise blame.err(f"{section}.{k}", MISSING, what + why)


def _chemistry(cell: Mapping[str, Any], user: Mapping[str, Any], cr: _Reader, ur: _Reader,
               rec: _Record, materials: Mapping[str, Material],
               materials_raw: Mapping[str, tuple[dict, _Reader]]) -> ChemistrySettings | None:
    """``[transport.*]``, ``[degraded_layer]``, ``[exposure_model]`` → SI (None if absent)."""
    in_cell = [k for k in CHEMISTRY_SECTIONS if k in cell]
    in_user = [k for k in CHEMISTRY_SECTIONS if k in user]
    if not in_cell and not in_user:
        return None
    blame = cr if in_cell else ur
    why = (" (the chemistry parameters [transport.*], [degraded_layer] and [exposure_model] "
           "are needed together)")

    def param(items, section, k, spec) -> Parameter:
        v, r = items[k]
        p = _spec_quantity(v, f"{section}.{k}", spec, r)
        rec.param(f"{section}.{k}", p, spec.dimension, _note(p, v, r, cr))
        return p

    def rate(items, section, k, spec, energy=_ENERGY) -> RateSettings:
        return RateSettings(param(items, section, k, spec).value,
                            param(items, section, f"{k}_activation_energy", energy).value)

    # -- [transport]
    allowed = set(TRANSPORT_PHASES) | {"exchange", "sink"}
    cr.keys(cr.table(cell.get("transport", {}), "transport"), "transport", allowed)
    ur.keys(ur.table(user.get("transport", {}), "transport"), "transport", allowed)
    phases = []
    for name in TRANSPORT_PHASES:
        section = f"transport.{name}"
        items = _section_items(cell, user, ("transport", name), cr, ur)
        for k, (v, r) in items.items():
            if k not in TRANSPORT_PHASE_KEYS:
                raise r.err(f"{section}.{k}", v,
                            f"one of the known keys {sorted(TRANSPORT_PHASE_KEYS)}")
        _required(items, section, TRANSPORT_PHASE_KEYS, blame, why)
        d_h = rate(items, section, "proton_diffusivity", _DIFFUSIVITY)
        v, r = items["lithium_diffusivity_from"]
        how = r.choice(v, f"{section}.lithium_diffusivity_from", tuple(LI_DIFFUSIVITY_SOURCES))
        rec.plain(f"{section}.lithium_diffusivity_from", how, r.source)
        phases.append(_phase_transport(name, how, d_h, r, rec, materials, materials_raw,
                                       blame, ur))

    ex = _section_items(cell, user, ("transport", "exchange"), cr, ur)
    sk = _section_items(cell, user, ("transport", "sink"), cr, ur)
    for section, items, keys in (("transport.exchange", ex, TRANSPORT_EXCHANGE_KEYS),
                                 ("transport.sink", sk, TRANSPORT_SINK_KEYS)):
        for k, (v, r) in items.items():
            if k not in keys:
                raise r.err(f"{section}.{k}", v, f"one of the known keys {sorted(keys)}")
        _required(items, section, keys, blame, why)
    exchange = ExchangeSettings(rate(ex, "transport.exchange", "velocity", _VELOCITY),
                                rate(ex, "transport.exchange", "partition",
                                     TRANSPORT_EXCHANGE_KEYS["partition"],
                                     TRANSPORT_EXCHANGE_KEYS["partition_activation_energy"]))
    v, r = sk["mode"]
    mode = r.choice(v, "transport.sink.mode", SINK_MODES)
    rec.plain("transport.sink.mode", mode, r.source)
    sink = SinkSettings(mode, rate(sk, "transport.sink", "velocity", _VELOCITY))

    # -- [degraded_layer], [exposure_model]
    values: dict[str, dict[str, float]] = {}
    readers: dict[str, dict[str, _Reader]] = {}
    for section, keys in (("degraded_layer", DEGRADED_LAYER_KEYS),
                          ("exposure_model", EXPOSURE_MODEL_KEYS)):
        items = _section_items(cell, user, (section,), cr, ur)
        for k, (v, r) in items.items():
            if k not in keys:
                raise r.err(f"{section}.{k}", v, f"one of the known keys {sorted(keys)}")
        _required(items, section, keys, blame, why)
        values[section] = {k: param(items, section, k, spec).value for k, spec in keys.items()}
        readers[section] = {k: items[k][1] for k in keys}
    em = values["exposure_model"]
    if not em["surface_fraction_ref"] < em["saturation_fraction"]:
        rd = readers["exposure_model"]
        k = "saturation_fraction" if rd["saturation_fraction"] is ur else "surface_fraction_ref"
        other = "surface_fraction_ref" if k == "saturation_fraction" else "saturation_fraction"
        rel = "above" if k == "saturation_fraction" else "below"
        raise rd[k].err(f"exposure_model.{k}", clean_number(em[k]),
                        f"a fraction {rel} exposure_model.{other} = "
                        f"{format_number(clean_number(em[other]))} (x_s at the reference dose "
                        "must stay below the saturation fraction)")
    return ChemistrySettings(
        phases=tuple(phases), exchange=exchange, sink=sink,
        degraded_layer=DegradedLayerSettings(**values["degraded_layer"]),
        exposure_model=ExposureModelSettings(**em))


def _electrochemistry(cell: Mapping[str, Any], user: Mapping[str, Any], cr: _Reader,
                      ur: _Reader, rec: _Record) -> dict[str, float]:
    """``[electrochemistry]`` (optional) → {key: SI value} for the small-signal model."""
    items = _section_items(cell, user, ("electrochemistry",), cr, ur)
    out: dict[str, float] = {}
    for k, (v, r) in items.items():
        spec = ELECTROCHEMISTRY_KEYS.get(k)
        if spec is None:
            raise r.err(f"electrochemistry.{k}", v,
                        f"one of the known keys {sorted(ELECTROCHEMISTRY_KEYS)}")
        p = _spec_quantity(v, f"electrochemistry.{k}", spec, r)
        rec.param(f"electrochemistry.{k}", p, spec.dimension, _note(p, v, r, cr))
        out[k] = p.value
    return out


def _phase_transport(name: str, how: str, d_h: RateSettings, how_reader: _Reader, rec: _Record,
                     materials: Mapping[str, Material],
                     materials_raw: Mapping[str, tuple[dict, _Reader]],
                     blame: _Reader, ur: _Reader) -> PhaseTransportSettings:
    """A phase's properties: D_H from [transport.<name>], D_Li and c from its material."""
    section = f"transport.{name}"
    if name not in materials:
        raise blame.err(f"materials.{name}", MISSING,
                        f"a material named {name!r} (the transport phase [{section}] is made "
                        f"of it)")
    mat = materials[name]
    props, mat_reader = materials_raw[name]
    d_key, e_key = LI_DIFFUSIVITY_SOURCES[how]
    needs = ("li_site_density", d_key, e_key)
    for k in needs:
        if k not in mat.properties:
            # blame the file that asked for it: the user's lithium_diffusivity_from, else the
            # file that defines the material
            r = ur if how_reader is ur else mat_reader
            dim, _unit = MATERIAL_PROPERTIES[k]
            raise r.err(f"materials.{name}.{k}", MISSING,
                        f"a {dim}, e.g. '{_example(dim)}' (needed by [{section}] with "
                        f"lithium_diffusivity_from = {how!r})")
    c = mat["li_site_density"]
    ea = mat[e_key]
    if how == "ionic_conductivity":
        d_li = mat[d_key] * GAS_CONSTANT * CHEMISTRY_T_REF / (FARADAY**2 * c)
        note = (f"Nernst-Einstein D = sigma R T_ref/(F^2 c) from materials.{name}.{d_key} and "
                f"li_site_density at 25 degC (sigma's extra 1/T factor neglected)")
    else:
        d_li = mat[d_key]
        note = f"materials.{name}.{d_key}"
    if not _DIFFUSIVITY.ok(d_li):
        v, r = props.get(d_key, (None, mat_reader))
        raise r.err(f"materials.{name}.{d_key}", v,
                    f"a value giving a Li diffusivity {_DIFFUSIVITY.text} "
                    f"(it gives {format_number(clean_number(d_li))} m2/s for [{section}])")
    for key, si, unit, dim, src in (
            ("site_density", c, "mol/m3", "concentration", f"materials.{name}.li_site_density"),
            ("lithium_diffusivity", d_li, "m2/s", "diffusivity", note),
            ("lithium_diffusivity_activation_energy", ea, "eV", "energy",
             f"materials.{name}.{e_key}")):
        rec.items[f"{section}.{key}"] = Setting(
            f"{section}.{key}", clean_number(from_si(si, unit)), unit, si, SI_UNITS[dim],
            "derived", src)
    return PhaseTransportSettings(name, c, d_h, RateSettings(d_li, ea), how)


def _exposure_value(k: str, raw: Any, r: _Reader, rec: _Record, cr: _Reader | None):
    """SI value of one [exposure] key (str for gas, None for a saturated water pressure)."""
    key = f"exposure.{k}"
    if k == "gas":
        g = r.choice(raw, key, EXPOSURE_GASES)
        rec.plain(key, g, r.source)
        return g
    if k == "water_pressure" and (raw is None or raw == SATURATED):
        rec.items[key] = Setting(key, f"({SATURATED} at exposure.temperature)", "", None, "Pa",
                                 r.source)
        return None
    spec = EXPOSURE_KEYS[k]
    p = _spec_quantity(raw, key, spec, r)
    rec.param(key, p, spec.dimension, _note(p, raw, r, cr) if cr is not None else "")
    return p.value


def _exposure(cell: Mapping[str, Any], user: Mapping[str, Any], cr: _Reader, ur: _Reader,
              rec: _Record, required: bool) -> ExposureSettings | None:
    """``[exposure]`` → SI (None when neither file has one and it is not ``required``)."""
    if "exposure" not in cell and "exposure" not in user:
        if not required:
            return None
        blame = cr if any(k in cell for k in CHEMISTRY_SECTIONS) else ur
        raise blame.err("exposure", MISSING,
                        "an [exposure] table (gas, duration, temperature, relative_humidity): "
                        "the chemistry parameters need the exposure that sets the initial "
                        "proton profile")
    items = _section_items(cell, user, ("exposure",), cr, ur)
    for k, (v, r) in items.items():
        if k not in EXPOSURE_KEYS:
            raise r.err(f"exposure.{k}", v, f"one of the known keys {sorted(EXPOSURE_KEYS)}")
    blame = cr if "exposure" in cell else ur
    required = {k: s for k, s in EXPOSURE_KEYS.items() if k != "water_pressure"}
    _required(items, "exposure", required, blame)
    kw = {k: _exposure_value(k, v, r, rec, cr) for k, (v, r) in items.items()}
    if "water_pressure" not in kw:
        kw["water_pressure"] = None
        rec.items["exposure.water_pressure"] = Setting(
            "exposure.water_pressure", f"({SATURATED} at exposure.temperature)", "", None, "Pa",
            DEFAULT_ORIGIN)
    order = list(EXPOSURE_KEYS)
    for k in order:  # display in the documented order
        rec.items[f"exposure.{k}"] = rec.items.pop(f"exposure.{k}")
    return ExposureSettings(**kw)
