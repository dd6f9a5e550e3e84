"""The chemistry tables of a configuration → the physics' declared parameter types.

``[transport.<phase>]``, ``[transport.exchange]``, ``[transport.sink]``,
``[degraded_layer]`` and ``[exposure_model]`` come together (all or none);
``[exposure]`` is required with them; ``[electrochemistry]`` is optional (the impedance
needs it).  A phase's Li diffusivity and site density are derived from its material.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fem_cell.config.reader import MISSING, Reader, Record, Setting, dimension_of
from fem_cell.config.sections import (
    merged_items,
    plausibility_warnings,
    read_declared,
    record_plausible,
)
from fem_cell.config.stack import Material
from fem_cell.constants import FARADAY, GAS_CONSTANT
from fem_cell.params import T_REF, Arrhenius, specs
from fem_cell.physics.exposure import validity as exposure_validity
from fem_cell.physics.parameters import (
    LI_DIFFUSIVITY_SOURCES,
    MATERIAL_PROPERTIES,
    Chemistry,
    DegradedLayerLaw,
    ElectrochemSettings,
    Exchange,
    Exposure,
    ExposureModel,
    PhaseTransport,
    Sink,
    Trapping,
)
from fem_cell.units import clean_number, format_number

#: transport phases, bottom → top; a phase is made of the layers of its material
TRANSPORT_PHASES = ("LiCoO2", "Li3PO4")
#: top-level sections holding chemistry parameters (all, or none, per run)
CHEMISTRY_SECTIONS = ("transport", "degraded_layer", "exposure_model")
WHY = (" (the chemistry parameters [transport.*], [degraded_layer] and [exposure_model] are "
       "needed together)")


def read_chemistry(cell, user, cr: Reader, ur: Reader, rec: Record,
                   materials: Mapping[str, Material],
                   warnings: list[str]) -> Chemistry | None:
    """The chemistry (None when neither file has any of its sections)."""
    in_cell = [k for k in CHEMISTRY_SECTIONS if k in cell]
    if not in_cell and not any(k in user for k in CHEMISTRY_SECTIONS):
        return None
    blame = cr if in_cell else ur
    allowed = set(TRANSPORT_PHASES) | {"exchange", "sink"}
    cr.keys(cr.table(cell.get("transport", {}), "transport"), "transport", allowed)
    ur.keys(ur.table(user.get("transport", {}), "transport"), "transport", allowed)
    for path in [("transport", n) for n in TRANSPORT_PHASES] + [
            ("transport", n, "trapping") for n in TRANSPORT_PHASES] + [
            ("transport", "exchange"), ("transport", "sink"), ("degraded_layer",),
            ("exposure_model",)]:
        record_plausible(cell, path, cr, rec)

    def section(cls, path: tuple[str, ...], items=None, **kw):
        if items is None:
            items = merged_items(cell, user, path, cr, ur)
        obj = read_declared(cls, items, ".".join(path), rec, cr, blame=blame, why=WHY, **kw)
        warnings.extend(plausibility_warnings(obj, ".".join(path), rec.plausible))
        return obj

    phases = []
    for name in TRANSPORT_PHASES:
        items = merged_items(cell, user, ("transport", name), cr, ur)
        trap_raw = items.pop("trapping", None)
        given = _material_part(name, items, materials, rec, blame, ur)
        given["trapping"] = _trapping(name, trap_raw, cell, user, cr, ur, section)
        phases.append((name, section(PhaseTransport, ("transport", name), items, given=given)))
    return Chemistry(
        phases=tuple(phases),
        exchange=section(Exchange, ("transport", "exchange")),
        sink=section(Sink, ("transport", "sink")),
        degraded_layer=section(DegradedLayerLaw, ("degraded_layer",),
                               t_ref="reference_temperature"),
        exposure_model=section(ExposureModel, ("exposure_model",),
                               t_ref="reference_temperature"))


def _trapping(name: str, raw, cell, user, cr: Reader, ur: Reader, section) -> Trapping | None:
    """``[transport.<name>.trapping]``: None when absent, or when a file sets it to the
    string ``"none"`` (e.g. a user file turning the cell's traps off)."""
    if raw is None:
        return None
    value, reader = raw
    if value == "none":
        return None
    if not isinstance(value, dict):
        raise reader.err(f"transport.{name}.trapping", value,
                         "a table of trap parameters, or \"none\" (no traps)")
    user_t = user.get("transport", {}).get(name, {}) if isinstance(user.get("transport"),
                                                                    dict) else {}
    if isinstance(user_t, dict) and user_t.get("trapping") == "none":
        return None
    path = ("transport", name, "trapping")
    items = {}
    cell_t = cell.get("transport", {}).get(name, {}).get("trapping")
    if isinstance(cell_t, dict):
        items.update({k: (v, cr) for k, v in cell_t.items()})
    if isinstance(user_t, dict) and isinstance(user_t.get("trapping"), dict):
        items.update({k: (v, ur) for k, v in user_t["trapping"].items()})
    return section(Trapping, path, items)


def _material_part(name: str, items, materials: Mapping[str, Material], rec: Record,
                   blame: Reader, ur: Reader) -> dict[str, Any]:
    """site_density and lithium_diffusivity of a phase, from its material."""
    section = f"transport.{name}"
    if name not in materials:
        raise blame.err(f"materials.{name}", MISSING,
                        f"a material named {name!r} (the transport phase [{section}] is made "
                        f"of it)")
    if "lithium_diffusivity_from" not in items:
        return {}  # read_declared reports the missing choice
    how, how_reader = items["lithium_diffusivity_from"]
    if how not in LI_DIFFUSIVITY_SOURCES:
        return {}  # read_declared reports the bad choice
    mat = materials[name]
    d_key, e_key = LI_DIFFUSIVITY_SOURCES[how]
    for k in ("li_site_density", d_key, e_key):
        if k not in mat.properties:
            r = ur if how_reader is ur else blame
            spec = MATERIAL_PROPERTIES[k]
            raise r.err(f"materials.{name}.{k}", MISSING,
                        f"a {dimension_of(spec.unit)}, e.g. '{spec.example}' (needed by "
                        f"[{section}] with lithium_diffusivity_from = {how!r})")
    c, ea = mat["li_site_density"], mat[e_key]
    if how == "ionic_conductivity":
        d_li = mat[d_key] * GAS_CONSTANT * T_REF / (FARADAY**2 * c)
        src = (f"Nernst-Einstein D = sigma R T_ref/(F^2 c) from materials.{name}.{d_key} and "
               f"li_site_density at 25 degC (sigma's extra 1/T factor neglected)")
    else:
        d_li = mat[d_key]
        src = f"materials.{name}.{d_key}"
    dspec = specs(PhaseTransport)["proton_diffusivity"]
    if not dspec.ok(d_li):
        p = mat.properties[d_key]
        raise Reader(p.origin).err(f"materials.{name}.{d_key}", p.given,
                                   f"a value giving a Li diffusivity {dspec.text} (it gives "
                                   f"{format_number(clean_number(d_li))} m2/s for [{section}])")
    sp = specs(PhaseTransport)
    rec.derived(f"{section}.site_density", c, "mol/m3", f"materials.{name}.li_site_density",
                sp["site_density"].doc)
    rec.derived(f"{section}.lithium_diffusivity", d_li, "m2/s", src,
                sp["lithium_diffusivity"].doc)
    rec.derived(f"{section}.lithium_diffusivity_activation_energy", ea, "eV",
                f"materials.{name}.{e_key}")
    return {"site_density": c, "lithium_diffusivity": Arrhenius(d_li, ea, T_REF)}


def read_exposure(cell, user, cr: Reader, ur: Reader, rec: Record,
                  required: bool) -> Exposure | None:
    """``[exposure]`` (None when neither file has one and it is not ``required``)."""
    if "exposure" not in cell and "exposure" not in user:
        if not required:
            return None
        blame = cr if any(k in cell for k in CHEMISTRY_SECTIONS) else ur
        raise blame.err("exposure", MISSING,
                        "an [exposure] table (gas, duration, temperature, relative_humidity): "
                        "the chemistry parameters need the exposure that sets the initial "
                        "proton profile")
    blame = cr if "exposure" in cell else ur
    ex = read_declared(Exposure, merged_items(cell, user, ("exposure",), cr, ur), "exposure",
                       rec, cr, blame=blame)
    saturated_setting(rec, ex)
    return ex


def check_exposure(ex: Exposure | None, chem: Chemistry | None, geometry, reader: Reader,
                   warnings: list[str]) -> None:
    """The exposure within the exposure model's validity (ConfigError naming ``reader``'s
    file otherwise); near its limits, warnings."""
    if ex is None or chem is None:
        return
    warn, err = exposure_validity(ex)
    if err:
        raise reader.err("exposure", {"gas": ex.gas, "duration_min": ex.duration / 60,
                                      "temperature_C": round(ex.temperature - 273.15, 6)},
                         f"an exposure the model can describe: {err[0]}")
    warnings.extend(f"{reader.source}: {w}" for w in warn)


def saturated_setting(rec: Record, ex: Exposure) -> None:
    """Show an absent water pressure as what it means."""
    key = "exposure.water_pressure"
    if ex.water_pressure is None and key in rec.items:
        s = rec.items[key]
        rec.items[key] = Setting(key, "(saturated at exposure.temperature)", "", None, "Pa",
                                 s.origin, "", s.doc)


def read_electrochemistry(cell, user, cr: Reader, ur: Reader,
                          rec: Record) -> ElectrochemSettings | None:
    """``[electrochemistry]`` (None when neither file has one)."""
    if "electrochemistry" not in cell and "electrochemistry" not in user:
        return None
    blame = cr if "electrochemistry" in cell else ur
    return read_declared(ElectrochemSettings,
                         merged_items(cell, user, ("electrochemistry",), cr, ur),
                         "electrochemistry", rec, cr, blame=blame)


__all__ = ["CHEMISTRY_SECTIONS", "TRANSPORT_PHASES", "check_exposure", "read_chemistry",
           "read_electrochemistry", "read_exposure", "saturated_setting"]
