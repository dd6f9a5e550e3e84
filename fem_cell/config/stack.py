"""The stack of a configuration: materials, layers, cross-section width (cell file +
user overrides), validated against :data:`~fem_cell.physics.parameters.MATERIAL_PROPERTIES`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fem_cell.config.reader import MISSING, Parameter, Reader, Record, Setting, dimension_of, note
from fem_cell.config.sections import merged_items, only
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.physics.parameters import (
    MATERIAL_PROPERTIES,
    MAX_LENGTH,
    MIN_LENGTH,
    REQUIRED_THERMAL,
)
from fem_cell.units import format_number

LENGTH_BOUNDS = (MIN_LENGTH, MAX_LENGTH)
LENGTH_TEXT = "1 pm to 1 m"


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


@dataclass
class Stack:
    """What :func:`read_stack` found (besides the geometry, the bookkeeping the loader
    needs for its messages)."""

    geometry: StackGeometry
    materials: dict[str, Material]
    material_reader: dict[str, Reader]  # layer name -> file that set its material
    cell_material: dict[str, Any]       # layer name -> material in the cell file
    cell_melting: dict[str, Parameter]  # material -> melting point in the cell file


def read_materials(cell, user, cr: Reader, ur: Reader, rec: Record):
    """``[materials.*]``: cell, then user overrides → (materials, defining reader, melting
    points of the cell)."""
    raw: dict[str, tuple[dict, Reader]] = {}
    for mname, props in cr.table(cell.get("materials", {}), "materials").items():
        raw[mname] = ({k: (v, cr) for k, v in cr.table(props, f"materials.{mname}").items()},
                      cr)
    for mname, props in ur.table(user.get("materials", {}), "materials").items():
        ur.table(props, f"materials.{mname}")
        entry = raw.setdefault(mname, ({}, ur))[0]
        for k, v in props.items():
            entry[k] = (v, ur)
    materials: dict[str, Material] = {}
    melting: dict[str, Parameter] = {}
    for mname, (props, _) in raw.items():
        parsed = {}
        for k, (v, reader) in props.items():
            if k not in MATERIAL_PROPERTIES:
                raise reader.err(f"materials.{mname}.{k}", v, "one of the known material "
                                 f"properties {sorted(MATERIAL_PROPERTIES)}")
        for k, (v, reader) in props.items():
            key = f"materials.{mname}.{k}"
            spec = MATERIAL_PROPERTIES[k]
            parsed[k] = reader.quantity(v, key, dimension_of(spec.unit),
                                        bounds=(spec.lo, spec.hi) if spec.hi < float("inf")
                                        else None)
            rec.param(key, parsed[k], dimension_of(spec.unit), note(parsed[k], v, reader, cr),
                      spec.doc)
        cell_props = cell.get("materials", {}).get(mname)
        if isinstance(cell_props, dict) and "melting_point" in cell_props:
            melting[mname] = cr.quantity(cell_props["melting_point"],
                                         f"materials.{mname}.melting_point", "temperature")
        materials[mname] = Material(mname, parsed)
    return materials, {m: r for m, (_, r) in raw.items()}, melting


def read_layers(cell, user, cr: Reader, ur: Reader, rec: Record,
                materials: Mapping[str, Material]):
    """``[[layers]]`` of the cell with ``[layers.<name>]`` user overrides, bottom → top."""
    layers_raw = cell.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise cr.err("layers", layers_raw if layers_raw is not None else MISSING,
                     "an array of [[layers]] tables, bottom to top")
    user_layers = ur.table(user.get("layers", {}), "layers")
    known = [lay.get("name") for lay in layers_raw if isinstance(lay, dict)]
    for lname in user_layers:
        if lname not in known:
            raise ur.err(f"layers.{lname}", user_layers[lname],
                         f"one of the cell's layers {known}")
    layers, material_reader, cell_material = [], {}, {}
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
            raise mreader.err(mkey, mat,
                              f"a material defined under [materials] ({sorted(materials)})")
        material_reader[lname] = mreader
        rec.plain(f"layers.{lname}.material", mat, mreader.source)
        if "thickness" not in merged:
            raise cr.err(f"{key}.thickness", MISSING, "a positive length")
        th = _length(merged["thickness"], f"layers.{lname}.thickness", rec, cr)
        width = None
        if "width" in merged:
            width = _length(merged["width"], f"layers.{lname}.width", rec, cr).value
        else:
            rec.items[f"layers.{lname}.width"] = Setting(
                f"layers.{lname}.width", "(full geometry.width)", "", None, "", "default")
        layers.append(LayerSpec(lname, mat, th.value, width))
    return layers, material_reader, cell_material


def _length(item, key: str, rec: Record, cr: Reader) -> Parameter:
    v, reader, where = item
    p = reader.quantity(v, where, "length", bounds=LENGTH_BOUNDS, bounds_text=LENGTH_TEXT)
    rec.param(key, p, "length", note(p, v, reader, cr))
    return p


def _check_thermal(layers, materials, defined_by: Mapping[str, Reader],
                   material_reader: Mapping[str, Reader], ur: Reader, cr: Reader) -> None:
    for lay in layers:
        mat = materials[lay.material]
        for req in REQUIRED_THERMAL:
            if req not in mat.properties:
                # blame the file that brought this material into the stack
                reader = ur if (defined_by[mat.name] is ur
                                or material_reader[lay.name] is ur) else cr
                dim = dimension_of(MATERIAL_PROPERTIES[req].unit)
                raise reader.err(f"materials.{mat.name}.{req}", MISSING,
                                 f"a {dim}, e.g. '{MATERIAL_PROPERTIES[req].example}' "
                                 f"(material {mat.name!r} lacks it; needed by layer "
                                 f"{lay.name!r})")


def read_stack(cell, user, cr: Reader, ur: Reader, rec: Record) -> Stack:
    """Materials, layers and the cross-section width → :class:`Stack`."""
    materials, defined_by, melting = read_materials(cell, user, cr, ur, rec)
    layers, material_reader, cell_material = read_layers(cell, user, cr, ur, rec, materials)
    _check_thermal(layers, materials, defined_by, material_reader, ur, cr)
    graw = merged_items(cell, user, ("geometry",), cr, ur)
    only(graw, "geometry", ("width",))
    if "width" not in graw:
        raise cr.err("geometry.width", MISSING, "a positive length (2-D cross-section width)")
    v, r = graw["width"]
    width = _length((v, r, "geometry.width"), "geometry.width", rec, cr)
    stack_reader = ur if ("layers" in user or "geometry" in user) else cr
    try:
        geometry = StackGeometry(tuple(layers), width.value)
    except ValueError as e:
        raise stack_reader.err("layers", [lay.name for lay in layers],
                               f"a consistent stack ({e})") from None
    for lay in layers:
        key = f"layers.{lay.name}.width"
        if rec.items[key].origin == "default":
            rec.items[key] = Setting(key, "(full geometry.width)", "", geometry.width, "m",
                                     "default")
    if not geometry.total_thickness <= MAX_LENGTH:
        raise stack_reader.err("layers", f"total thickness "
                               f"{format_number(geometry.total_thickness)} m",
                               f"a stack at most {format_number(MAX_LENGTH)} m thick")
    return Stack(geometry, materials, material_reader, cell_material, melting)


__all__ = ["LENGTH_BOUNDS", "LENGTH_TEXT", "Material", "Stack", "read_stack"]
