"""Physics parameter objects from a validated configuration (parameters are data).

:func:`fem_cell.config.load_config` reads ``[transport.*]``, ``[degraded_layer]``,
``[exposure_model]`` and ``[exposure]`` (cell file + user overrides; see
``docs/configuration.md``) into plain SI settings (``RunConfig.chemistry``,
``RunConfig.exposure``).  The functions here turn those into the frozen dataclasses the
physics modules use.  With the built-in cell they equal the modules' documented
defaults (``LICOO2_TRANSPORT``, ``LI3PO4_TRANSPORT``, ``ExchangeParameters()``,
``SinkBC()``, ``DegradedLayerLaw()``, ``ExposureModel()``, ``Exposure()``) to round-off.

Activation energies are stored in J on the config and handed to the physics in eV.
Each :class:`~fem_cell.physics.transport.Arrhenius` carries the source note of its
value from the config listing (``RunConfig.settings``).

Example:
    >>> from fem_cell.config import load_config
    >>> cfg = load_config()
    >>> exchange_parameters(cfg).velocity.value
    8.19e-18
"""

from __future__ import annotations

from fem_cell.config import RateSettings, RunConfig
from fem_cell.constants import ELEMENTARY_CHARGE
from fem_cell.domain import Domain
from fem_cell.errors import ConfigError
from fem_cell.physics.degraded import DegradedLayerLaw
from fem_cell.physics.exposure import Exposure, ExposureModel
from fem_cell.physics.transport import (
    Arrhenius,
    ExchangeParameters,
    Phase,
    PhaseTransport,
    SinkBC,
)


def _chemistry(cfg: RunConfig):
    if cfg.chemistry is None:
        raise ConfigError(cfg.files[0] if cfg.files else None, "transport", "(missing)",
                          "a cell or user config with the chemistry parameters "
                          "[transport.*], [degraded_layer] and [exposure_model] "
                          "(see docs/configuration.md)")
    return cfg.chemistry


def _ev(energy_joule: float) -> float:
    return energy_joule / ELEMENTARY_CHARGE


def _source(cfg: RunConfig, key: str) -> str:
    s = cfg.settings.get(key)
    if s is None:
        return ""
    return s.source or s.origin


def _arrhenius(cfg: RunConfig, rate: RateSettings, key: str) -> Arrhenius:
    return Arrhenius(rate.value, _ev(rate.activation_energy), cfg.chemistry.reference_temperature,
                     source=_source(cfg, key))


def transport_phase_properties(cfg: RunConfig) -> dict[str, PhaseTransport]:
    """Phase name (``"LiCoO2"``, ``"Li3PO4"``) → :class:`PhaseTransport`, bottom → top."""
    chem = _chemistry(cfg)
    out = {}
    for p in chem.phases:
        k = f"transport.{p.name}"
        out[p.name] = PhaseTransport(
            site_density=p.site_density,
            proton_diffusivity=_arrhenius(cfg, p.proton_diffusivity, f"{k}.proton_diffusivity"),
            lithium_diffusivity=_arrhenius(cfg, p.lithium_diffusivity,
                                           f"{k}.lithium_diffusivity"))
    return out


def exchange_parameters(cfg: RunConfig) -> ExchangeParameters:
    """``[transport.exchange]`` → :class:`ExchangeParameters`."""
    ex = _chemistry(cfg).exchange
    return ExchangeParameters(
        velocity=_arrhenius(cfg, ex.velocity, "transport.exchange.velocity"),
        partition=_arrhenius(cfg, ex.partition, "transport.exchange.partition"))


def sink_boundary(cfg: RunConfig) -> str:
    """Facet group of the sink: ``"<top upper-phase layer>|<layer above it>"``.

    The upper phase is the last transport phase (Li3PO4); the layer above its topmost
    layer is the Li contact (``"Li3PO4|Li"`` for the built-in cell).  Falls back to
    :class:`SinkBC`'s default name when the upper phase is the top of the stack (then
    the boundary is absent from the mesh and only ``mode = "blocking"`` can run).
    """
    upper = _chemistry(cfg).phases[-1].name
    names = [lay.name for lay in cfg.geometry.layers]
    mats = [lay.material for lay in cfg.geometry.layers]
    idx = [i for i, m in enumerate(mats) if m == upper]
    if idx and idx[-1] + 1 < len(names):
        return f"{names[idx[-1]]}|{names[idx[-1] + 1]}"
    return SinkBC.boundary


def sink_bc(cfg: RunConfig) -> SinkBC:
    """``[transport.sink]`` → :class:`SinkBC` on :func:`sink_boundary`."""
    sk = _chemistry(cfg).sink
    return SinkBC(boundary=sink_boundary(cfg), mode=sk.mode,
                  velocity=_arrhenius(cfg, sk.velocity, "transport.sink.velocity"))


def degraded_law(cfg: RunConfig) -> DegradedLayerLaw:
    """``[degraded_layer]`` → :class:`DegradedLayerLaw`."""
    d = _chemistry(cfg).degraded_layer
    return DegradedLayerLaw(sigma0=d.sigma0, beta=d.beta,
                            activation_energy=_ev(d.activation_energy),
                            pristine_resistance=d.pristine_resistance,
                            pristine_activation_energy=_ev(d.pristine_activation_energy),
                            T_ref=d.reference_temperature)


def exposure_model(cfg: RunConfig) -> ExposureModel:
    """``[exposure_model]`` → :class:`ExposureModel`."""
    m = _chemistry(cfg).exposure_model
    return ExposureModel(surface_fraction_ref=m.surface_fraction_ref,
                         saturation_fraction=m.saturation_fraction, depth_ref=m.depth_ref,
                         depth_exponent=m.depth_exponent,
                         activation_energy=_ev(m.activation_energy))


def exposure(cfg: RunConfig) -> Exposure:
    """``[exposure]`` (after ``RunConfig.with_exposure``) → :class:`Exposure`."""
    e = cfg.exposure
    if e is None:
        raise ConfigError(cfg.files[0] if cfg.files else None, "exposure", "(missing)",
                          "an [exposure] table (gas, duration, temperature, relative_humidity)")
    return Exposure(gas=e.gas, duration=e.duration, temperature=e.temperature,
                    relative_humidity=e.relative_humidity, water_pressure=e.water_pressure)


def phases(cfg: RunConfig, domain: Domain) -> tuple[Phase, ...]:
    """The transport phases present in ``domain``, bottom → top, with the config's properties.

    Like :func:`~fem_cell.physics.transport.default_phases`: a phase's regions are the
    layers whose material has the phase's name and which are regions of ``domain``
    (LiCoO2: ``LiCoO2`` + ``degraded``; Li3PO4: ``Li3PO4``), bottom → top.  Phases with
    no region in the domain are left out.

    Raises:
        ValueError: no phase has a region in the domain.
    """
    props = transport_phase_properties(cfg)
    out = []
    for name, pr in props.items():
        regions = tuple(lay.name for lay in cfg.geometry.layers
                        if lay.material == name and lay.name in domain.cell_names)
        if regions:
            out.append(Phase(name, regions, pr))
    if not out:
        raise ValueError(f"no transport phase {list(props)} has a region in the domain "
                         f"(regions: {sorted(domain.cell_names)})")
    return tuple(out)


__all__ = ["degraded_law", "exchange_parameters", "exposure", "exposure_model", "phases",
           "sink_boundary", "sink_bc", "transport_phase_properties"]
