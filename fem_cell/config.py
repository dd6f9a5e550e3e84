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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import ConfigError, UnitError
from fem_cell.geometry import LayerSpec, StackGeometry
from fem_cell.meshing.settings import MeshSettings
from fem_cell.program import AnnealProgram, from_segments
from fem_cell.units import EXAMPLE_UNITS, parse_quantity, parse_unit, to_si

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


# ------------------------------------------------------------------ data classes --
@dataclass(frozen=True)
class Parameter:
    """One sourced parameter: SI value plus what the user wrote."""

    value: float
    unit: str
    given: float
    source: str

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.given, "unit": self.unit, "si_value": self.value,
                "source": self.source}


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
class RunConfig:
    """Everything a run needs, validated and in SI."""

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

    def material_of(self, layer: str) -> Material:
        return self.materials[self.geometry.layer(layer).material]

    def layer_property(self, key: str) -> dict[str, float]:
        """Layer name → SI value of a material property, for every layer."""
        return {lay.name: self.materials[lay.material][key] for lay in self.geometry.layers}

    def with_mesh(self, **changes) -> RunConfig:
        """Copy with some mesh settings changed (e.g. ``dim=2``)."""
        import dataclasses

        return dataclasses.replace(self, mesh=dataclasses.replace(self.mesh, **changes))

    def to_dict(self) -> dict[str, Any]:
        """Resolved configuration (values as given + SI + sources), for metadata."""
        g = self.geometry
        return {
            "cell": {"name": self.name, "title": self.title, "reference": self.reference},
            "files": list(self.files),
            "geometry": {"width_m": g.width,
                         **{k: p.as_dict() for k, p in self.geometry_sources.items()}},
            "layers": [
                {"name": lay.name, "material": lay.material, "thickness_m": lay.thickness,
                 "width_m": lay.width, "source": self.layer_sources.get(lay.name, "")}
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
        }


def vars_of(obj) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}


# ------------------------------------------------------------------ reading -------
def available_cells() -> list[str]:
    """Names of the cells shipped with the package."""
    root = resources.files("fem_cell") / "data" / "cells"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax errors into ConfigError."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(str(path), "<file>", str(path), "an existing TOML file") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(str(path), "<file>", str(path), f"valid TOML ({e})") from None
    except OSError as e:
        raise ConfigError(str(path), "<file>", str(path), f"a readable file ({e})") from None


def _cell_source(spec: str, base: Path | None) -> tuple[dict[str, Any], str]:
    if spec in available_cells():
        res = resources.files("fem_cell") / "data" / "cells" / f"{spec}.toml"
        with res.open("rb") as f:
            return tomllib.load(f), f"<built-in cell {spec}>"
    p = Path(spec)
    if base is not None and not p.is_absolute():
        p = base / p
    if p.suffix == ".toml" and p.exists():
        return read_toml(p), str(p)
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
                 difference: bool = False, default_source: str | None = None) -> Parameter:
        """Parse a quantity written as ``"1 um"`` or ``{value, unit[, source]}``."""
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
                    si = float(value) * parse_unit(unit).factor
            except UnitError as e:
                raise self.err(key, raw, f"{expected}: {e}") from None
            given = float(value)
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
        return Parameter(si, unit, given, source)

    def integer(self, raw: Any, key: str, minimum: int) -> int:
        if isinstance(raw, bool) or not isinstance(raw, int) or raw < minimum:
            raise self.err(key, raw, f"an integer >= {minimum}")
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
    parts = text.strip().split(None, 1)
    return float(parts[0]), (parts[1] if len(parts) > 1 else "1")


def _unit_of(text: str) -> str:
    return _split(text)[1]


# ------------------------------------------------------------------ building ------
USER_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal", "mesh",
             "solver", "output"}
CELL_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal"}


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


def _deep_merge(a: dict, b: Mapping) -> dict:
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), dict):
            out[k] = _deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def build_config(user: Mapping[str, Any], user_src: str = "<config>", base: Path | None = None) -> RunConfig:
    """Validate a user-config dict (see :func:`load_config`)."""
    ur = _Reader(user_src)
    ur.table(user, "")
    ur.keys(user, "", USER_KEYS)
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

    # -- header
    head = cr.table(cell.get("cell", {}), "cell")
    cr.keys(head, "cell", {"name", "title", "reference", "description"})
    name = str(head.get("name", Path(cell_spec).stem))

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
    for mname, (props, _) in materials_raw.items():
        parsed = {}
        for k, (v, reader) in props.items():
            key = f"materials.{mname}.{k}"
            if k not in MATERIAL_PROPERTIES:
                raise reader.err(key, v, f"one of the known material properties {sorted(MATERIAL_PROPERTIES)}")
            dim, _unit = MATERIAL_PROPERTIES[k]
            parsed[k] = reader.quantity(v, key, dim)
        materials[mname] = Material(mname, parsed)

    # -- layers
    layers_raw = cell.get("layers")
    if not isinstance(layers_raw, list) or not layers_raw:
        raise cr.err("layers", layers_raw, "an array of [[layers]] tables, bottom to top")
    user_layers = ur.table(user.get("layers", {}), "layers")
    known = [lay.get("name") for lay in layers_raw if isinstance(lay, dict)]
    for lname in user_layers:
        if lname not in known:
            raise ur.err(f"layers.{lname}", user_layers[lname], f"one of the cell's layers {known}")
    layers, layer_sources = [], {}
    for i, lay in enumerate(layers_raw):
        key = f"layers[{i}]"
        cr.table(lay, key)
        cr.keys(lay, key, {"name", "material", "thickness", "width"})
        lname = lay.get("name")
        if not isinstance(lname, str) or not lname:
            raise cr.err(f"{key}.name", lname, "a non-empty string")
        merged = {k: (v, cr, f"layers[{lname}].{k}") for k, v in lay.items()}
        over = ur.table(user_layers.get(lname, {}), f"layers.{lname}")
        ur.keys(over, f"layers.{lname}", {"material", "thickness", "width"})
        for k, v in over.items():
            merged[k] = (v, ur, f"layers.{lname}.{k}")
        mat, mreader, mkey = merged.get("material", (None, cr, f"{key}.material"))
        if mat not in materials:
            raise mreader.err(mkey, mat, f"a material defined under [materials] ({sorted(materials)})")
        if "thickness" not in merged:
            raise cr.err(f"{key}.thickness", None, "a positive length")
        tv, treader, tkey = merged["thickness"]
        th = treader.quantity(tv, tkey, "length")
        width = None
        if "width" in merged:
            wv, wreader, wkey = merged["width"]
            width = wreader.quantity(wv, wkey, "length").value
        layers.append(LayerSpec(lname, mat, th.value, width))
        layer_sources[lname] = th.source

    for lay in layers:
        mat = materials[lay.material]
        for req in REQUIRED_THERMAL:
            if req not in mat.properties:
                raise cr.err(f"materials.{mat.name}.{req}", None,
                             f"a {MATERIAL_PROPERTIES[req][0]} (needed by layer {lay.name!r})")

    # -- geometry
    graw = _merged_table(cell, user, "geometry", cr, ur)
    geometry_sources = {}
    for k, (v, reader) in graw.items():
        if k != "width":
            raise reader.err(f"geometry.{k}", v, "one of the known keys ['width']")
        geometry_sources[k] = reader.quantity(v, f"geometry.{k}", "length")
    if "width" not in geometry_sources:
        raise cr.err("geometry.width", None, "a positive length (2-D cross-section width)")
    try:
        geometry = StackGeometry(tuple(layers), geometry_sources["width"].value)
    except ValueError as e:
        raise ur.err("layers", [lay.name for lay in layers], f"a consistent stack ({e})") from None

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
            continue
        dim, _ = THERMAL_KEYS[k]
        p = reader.quantity(v, key, dim, positive=(k != "top_emissivity"))
        if k == "top_emissivity" and not 0.0 <= p.value <= 1.0:
            raise reader.err(key, v, "an emissivity between 0 and 1")
        if k == "top_heat_transfer_coefficient" and p.value < 0:
            raise reader.err(key, v, "a heat transfer coefficient >= 0")
        tsrc[k] = p
        tvals[k] = p.value
    thermal = ThermalSettings(**tvals)

    # -- anneal program
    anneal, anneal_spec = _anneal(cell, user, cr, ur)
    for lay in layers:
        tm = materials[lay.material].get("melting_point")
        if tm is not None and anneal.max_temperature >= tm:
            reader = ur if "anneal" in user else cr
            raise reader.err(
                "anneal", f"max {anneal.max_temperature - ZERO_CELSIUS:.1f} degC",
                f"a program that stays below the melting point of {lay.material} "
                f"({tm - ZERO_CELSIUS:.1f} degC) while layer {lay.name!r} is present")

    mesh = _mesh_settings(ur.table(user.get("mesh", {}), "mesh"), ur, base)
    solver = _solver_settings(ur.table(user.get("solver", {}), "solver"), ur)
    output = _output_settings(ur.table(user.get("output", {}), "output"), ur)
    return RunConfig(
        name=name, title=str(head.get("title", name)), reference=str(head.get("reference", "")),
        geometry=geometry, materials=materials, layer_sources=layer_sources,
        geometry_sources=geometry_sources, thermal=thermal, thermal_sources=tsrc,
        anneal=anneal, anneal_spec=anneal_spec, mesh=mesh, solver=solver, output=output,
        files=files)


def _merged_table(cell, user, key, cr: _Reader, ur: _Reader) -> dict[str, tuple[Any, _Reader]]:
    out = {k: (v, cr) for k, v in cr.table(cell.get(key, {}), key).items()}
    out.update({k: (v, ur) for k, v in ur.table(user.get(key, {}), key).items()})
    return out


def _anneal(cell, user, cr: _Reader, ur: _Reader) -> tuple[AnnealProgram, dict[str, Any]]:
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
    if "breakpoints" in merged:
        bp, r = merged["breakpoints"]
        if not isinstance(bp, list) or len(bp) < 2:
            raise r.err("anneal.breakpoints", bp, "a list of at least two [time, temperature] pairs")
        times, temps = [], []
        for i, pair in enumerate(bp):
            if not isinstance(pair, list) or len(pair) != 2:
                raise r.err(f"anneal.breakpoints[{i}]", pair, "a [time, temperature] pair, e.g. ['25 min', '150 degC']")
            times.append(r.quantity(pair[0], f"anneal.breakpoints[{i}][0]", "time", positive=False).value)
            temps.append(r.quantity(pair[1], f"anneal.breakpoints[{i}][1]", "temperature").value)
        if times[0] != 0.0:
            raise r.err("anneal.breakpoints[0][0]", bp[0][0], "the program to start at time 0")
        for i in range(1, len(times)):
            if not times[i] > times[i - 1]:
                raise r.err(f"anneal.breakpoints[{i}][0]", bp[i][0],
                            f"a time later than the previous breakpoint ({bp[i - 1][0]}): "
                            "breakpoint times must increase strictly")
        return AnnealProgram(np.array(times), np.array(temps)), spec
    if "segments" not in merged:
        raise ur.err("anneal", spec, "segments = [...] or breakpoints = [...]")
    if "initial_temperature" not in merged:
        raise ur.err("anneal.initial_temperature", None, "a temperature, e.g. '25 degC'")
    v0, r0 = merged["initial_temperature"]
    T0 = r0.quantity(v0, "anneal.initial_temperature", "temperature").value
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
            p[k] = r.quantity(v, f"{key}.{k}", dim, difference=(k == "rate")).value
        parsed.append(p)
    try:
        return from_segments(T0, parsed), spec
    except ValueError as e:
        raise r.err("anneal.segments", segs, f"a valid ramp/hold program ({e})") from None


def _mesh_settings(raw: Mapping[str, Any], r: _Reader, base: Path | None) -> MeshSettings:
    allowed = {"dim", "cells_per_layer", "growth", "max_cell_size", "lateral_cells",
               "lateral_growth", "length_scale", "file"}
    r.keys(raw, "mesh", allowed)
    kw: dict[str, Any] = {}
    if "dim" in raw:
        kw["dim"] = r.choice(raw["dim"], "mesh.dim", (1, 2))
    if "cells_per_layer" in raw:
        kw["cells_per_layer"] = r.integer(raw["cells_per_layer"], "mesh.cells_per_layer", 1)
    if "lateral_cells" in raw:
        kw["lateral_cells"] = r.integer(raw["lateral_cells"], "mesh.lateral_cells", 2)
    if "growth" in raw:
        kw["growth"] = r.number(raw["growth"], "mesh.growth", 1.0, 10.0)
    if "lateral_growth" in raw:
        kw["lateral_growth"] = r.number(raw["lateral_growth"], "mesh.lateral_growth", 1.0, 10.0, lo_open=False)
    for k in ("max_cell_size", "length_scale"):
        if k in raw:
            kw[k] = r.quantity(raw[k], f"mesh.{k}", "length").value
    if "file" in raw:
        f = raw["file"]
        if not isinstance(f, str):
            raise r.err("mesh.file", f, "a path to a mesh file")
        p = Path(f)
        if base is not None and not p.is_absolute():
            p = base / p
        if not p.exists():
            raise r.err("mesh.file", f, "an existing mesh file")
        kw["file"] = str(p)
    return MeshSettings(**kw)


def _solver_settings(raw: Mapping[str, Any], r: _Reader) -> SolverSettings:
    times = {"dt_initial", "dt_max", "dt_min"}
    allowed = times | {"scheme", "temperature_tolerance", "relative_tolerance", "adaptive",
                       "newton_rtol", "newton_max_it"}
    r.keys(raw, "solver", allowed)
    kw: dict[str, Any] = {}
    for k in times:
        if k in raw:
            kw[k] = r.quantity(raw[k], f"solver.{k}", "time").value
    if "scheme" in raw:
        kw["scheme"] = r.choice(raw["scheme"], "solver.scheme", SCHEMES)
    if "temperature_tolerance" in raw:
        kw["temperature_tolerance"] = r.quantity(
            raw["temperature_tolerance"], "solver.temperature_tolerance", "temperature",
            difference=True).value
    if "relative_tolerance" in raw:
        kw["relative_tolerance"] = r.number(raw["relative_tolerance"], "solver.relative_tolerance", 0.0, 1.0, lo_open=False)
    if "newton_rtol" in raw:
        kw["newton_rtol"] = r.number(raw["newton_rtol"], "solver.newton_rtol", 0.0, 1.0)
    if "newton_max_it" in raw:
        kw["newton_max_it"] = r.integer(raw["newton_max_it"], "solver.newton_max_it", 1)
    if "adaptive" in raw:
        kw["adaptive"] = r.boolean(raw["adaptive"], "solver.adaptive")
    s = SolverSettings(**kw)
    if not s.dt_min <= s.dt_initial <= s.dt_max:
        raise r.err("solver", {"dt_min": s.dt_min, "dt_initial": s.dt_initial, "dt_max": s.dt_max},
                    "dt_min <= dt_initial <= dt_max")
    return s


def _output_settings(raw: Mapping[str, Any], r: _Reader) -> OutputSettings:
    r.keys(raw, "output", {"field_interval", "fields", "plots", "render"})
    kw: dict[str, Any] = {}
    if "field_interval" in raw:
        kw["field_interval"] = r.quantity(raw["field_interval"], "output.field_interval", "time",
                                          positive=False).value
        if kw["field_interval"] < 0:
            raise r.err("output.field_interval", raw["field_interval"], "a time >= 0")
    for k in ("fields", "plots", "render"):
        if k in raw:
            kw[k] = r.boolean(raw[k], f"output.{k}")
    return OutputSettings(**kw)
