"""Cell files and user configurations (TOML) → a validated :class:`RunConfig`.

Two kinds of TOML file:

* a **cell file** (``fem_cell/data/cells/<name>.toml``, or any path) describes a cell
  completely: layers bottom→top, materials, heat boundary conditions, its default
  anneal program and its chemistry; every value is ``{ value, unit, source }``;
* a **user config** picks a cell (``cell = "kobayashi2022"`` or a path) and overrides
  any part of it; quantities may be written as strings (``"1 um"``) or as
  ``{ value = 1, unit = "um" }`` tables.  It also sets mesh, solver and output options.

Everything is validated once, here, against the declarations of
:mod:`fem_cell.physics.parameters`, :mod:`fem_cell.meshing.settings` and
:mod:`fem_cell.config.settings`.  A problem raises :class:`~fem_cell.errors.ConfigError`
naming the file, the key, the value and what was expected.  See ``docs/configuration.md``.
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from fem_cell.config.anneal import read_program
from fem_cell.config.chemistry import (
    CHEMISTRY_SECTIONS,
    check_exposure,
    read_chemistry,
    read_electrochemistry,
    read_exposure,
)
from fem_cell.config.reader import Reader, Record, Setting
from fem_cell.config.run import RunConfig
from fem_cell.config.sections import merged_items, read_declared
from fem_cell.config.settings import OutputSettings, SolverSettings
from fem_cell.config.stack import Stack, read_stack
from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import ConfigError
from fem_cell.meshing.settings import MeshSettings
from fem_cell.physics.parameters import ThermalBoundary

DEFAULT_CELL = "kobayashi2022"
#: name of the material that is Li metal (its layers are watched by the Li-melting guard)
LI_MATERIAL = "Li"
USER_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal", "mesh",
             "solver", "output", "exposure", "electrochemistry", *CHEMISTRY_SECTIONS}
CELL_KEYS = {"cell", "layers", "materials", "geometry", "thermal", "anneal", "exposure",
             "electrochemistry", *CHEMISTRY_SECTIONS}
#: display order of the top-level sections
SECTION_ORDER = ("cell", "geometry", "layers", "materials", "thermal", "anneal", "exposure",
                 "transport", "degraded_layer", "exposure_model", "electrochemistry", "mesh",
                 "solver", "output")


def available_cells() -> list[str]:
    """Names of the cells shipped with the package."""
    root = resources.files("fem_cell") / "data" / "cells"
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning every I/O, encoding and syntax problem into ConfigError.

    A missing file, a directory, a FIFO or other special file, an unreadable file, a
    file that is not UTF-8 text and invalid TOML each give one ConfigError naming the
    file.  A UTF-8 byte-order mark is accepted.
    """
    path = Path(path)
    where = str(path)
    if path.is_dir():
        raise ConfigError(where, "<file>", where, "a TOML file, not a directory")
    if path.exists() and not path.is_file():
        raise ConfigError(where, "<file>", where, "a regular TOML file (this is a pipe, "
                          "socket or device)")
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


def load_config(path: str | Path | None = None,
                overrides: Mapping[str, Any] | None = None,
                origin: str | None = None) -> RunConfig:
    """Load and validate a run configuration.

    Args:
        path: user config TOML; ``None`` = the built-in default cell with defaults.
        overrides: a dict with the same structure as a user config, applied after
            the file (handy for scripted parameter studies).
        origin: where the overrides come from, for messages and the listing
            (default: the file, or ``<overrides>`` without one).

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
        user = deep_merge(user, dict(overrides))
        if origin is not None:
            user_src = origin if path is None else f"{path} + {origin}"
        elif path is None:
            user_src = "<overrides>"
    return build_config(user, user_src, base)


def _looks_like_cell_file(user: Mapping[str, Any]) -> str | None:
    if isinstance(user.get("cell"), dict):
        return "cell"
    if isinstance(user.get("layers"), list):
        return "layers"
    return None


def _open_cell(user: Mapping[str, Any], ur: Reader, base: Path | None):
    ur.table(user, "")
    kind = _looks_like_cell_file(user)
    if kind is not None:
        shown = "[cell] table" if kind == "cell" else "[[layers]] array"
        raise ur.err(kind, shown,
                     "a user config, but this file looks like a cell file (it has a "
                     f"{shown}); to run a custom cell, write a user config containing "
                     "cell = \"path/to/cell.toml\" (relative to that config) and pass that")
    ur.keys(user, "", USER_KEYS)
    cell_spec = user.get("cell", DEFAULT_CELL)
    if not isinstance(cell_spec, str):
        raise ur.err("cell", cell_spec, "a cell name or a path to a cell .toml")
    try:
        cell, cell_src = _cell_source(cell_spec, base)
    except ConfigError as e:
        raise ur.err("cell", cell_spec, e.expected) from None
    cr = Reader(cell_src)
    cr.keys(cell, "", CELL_KEYS)
    return cell_spec, cell, cr


def build_config(user: Mapping[str, Any], user_src: str = "<config>",
                 base: Path | None = None) -> RunConfig:
    """Validate a user-config dict (see :func:`load_config`)."""
    ur = Reader(user_src)
    cell_spec, cell, cr = _open_cell(user, ur, base)
    rec = Record()
    warnings: list[str] = []
    rec.plain("cell", cell_spec, user_src if "cell" in user else "default", cr.source)
    head = cr.table(cell.get("cell", {}), "cell")
    cr.keys(head, "cell", {"name", "title", "reference", "description"})
    name = str(head.get("name", Path(cell_spec).stem))
    rec.plain("cell.name", name, cr.source if "name" in head else "default")
    stack = read_stack(cell, user, cr, ur, rec)
    thermal = read_declared(ThermalBoundary, merged_items(cell, user, ("thermal",), cr, ur),
                            "thermal", rec, cr)
    mesh = read_declared(MeshSettings, _user_table(user, "mesh", ur), "mesh", rec, cr,
                         blame=ur, base=base)
    solver = read_declared(SolverSettings, _user_table(user, "solver", ur), "solver", rec, cr,
                           blame=ur)
    output = read_declared(OutputSettings, _user_table(user, "output", ur), "output", rec, cr,
                           blame=ur)
    anneal, anneal_spec, prog_reader = read_program(cell, user, cr, ur, rec, solver.dt_min)
    _check_melting(stack, anneal, prog_reader, user, ur, cr)
    li_layers, li_tm = _li_layers(stack, user, ur, cr, user_src, warnings)
    chemistry = read_chemistry(cell, user, cr, ur, rec, stack.materials, warnings)
    electrochemistry = read_electrochemistry(cell, user, cr, ur, rec)
    exposure = read_exposure(cell, user, cr, ur, rec, required=chemistry is not None)
    check_exposure(exposure, chemistry, stack.geometry, ur if "exposure" in user else cr,
                   warnings)
    files = tuple(s for s in (cr.source, user_src) if not s.startswith("<defaults"))
    return RunConfig(
        name=name, title=str(head.get("title", name)), reference=str(head.get("reference", "")),
        geometry=stack.geometry, materials=stack.materials, thermal=thermal, anneal=anneal,
        anneal_spec=anneal_spec, mesh=mesh, solver=solver, output=output, chemistry=chemistry,
        electrochemistry=electrochemistry, exposure=exposure, files=files,
        settings=_ordered(rec.items), warnings=tuple(warnings), li_layers=li_layers,
        li_melting_point=li_tm, plausible=dict(rec.plausible))


def _user_table(user: Mapping[str, Any], key: str, ur: Reader):
    return {k: (v, ur) for k, v in ur.table(user.get(key, {}), key).items()}


def _check_melting(stack: Stack, anneal, prog_reader: Reader, user, ur: Reader,
                   cr: Reader) -> None:
    """A program reaching the melting point of a layer's material is refused."""
    user_mats = ur.table(user.get("materials", {}), "materials")
    for lay in stack.geometry.layers:
        tm = stack.materials[lay.material].get("melting_point")
        if tm is None or anneal.max_temperature < tm:
            continue
        if prog_reader is ur:
            reader, key = ur, "anneal"
        elif "melting_point" in user_mats.get(lay.material, {}):
            reader, key = ur, f"materials.{lay.material}.melting_point"
        elif stack.material_reader[lay.name] is ur:
            reader, key = ur, f"layers.{lay.name}.material"
        else:
            reader, key = cr, "anneal"
        raise reader.err(
            key, f"max {anneal.max_temperature - ZERO_CELSIUS:.1f} degC",
            f"a program that stays below the melting point of {lay.material} "
            f"({tm - ZERO_CELSIUS:.1f} degC) while layer {lay.name!r} is present")


def _li_layers(stack: Stack, user, ur: Reader, cr: Reader, user_src: str,
               warnings: list[str]) -> tuple[tuple[str, ...], float | None]:
    """The Li-metal layers the melting guard watches, and their melting point; warns
    when a config changes or removes what the guard relies on."""
    layers = stack.geometry.layers
    li_layers = tuple(lay.name for lay in layers if lay.material == LI_MATERIAL)
    li_tm = stack.materials[LI_MATERIAL].get("melting_point") if li_layers else None
    for lay in layers:
        if stack.cell_material.get(lay.name) == LI_MATERIAL and lay.material != LI_MATERIAL:
            warnings.append(
                f"{user_src}: layers.{lay.name}.material = {lay.material!r}: layer {lay.name!r} "
                f"is Li metal in the cell ({cr.source}) but now uses material {lay.material!r}; "
                f"it is no longer treated as Li, so the Li-melting guard does not watch it")
    user_mats = ur.table(user.get("materials", {}), "materials")
    li_user = user_mats.get(LI_MATERIAL) if isinstance(user_mats.get(LI_MATERIAL), dict) else {}
    if li_layers and "melting_point" in li_user:
        old = stack.cell_melting.get(LI_MATERIAL)
        if old is None or li_tm is None or abs(old.value - li_tm) > 1e-9:
            was = (f"{old.value - ZERO_CELSIUS:.6g} degC in the cell" if old is not None
                   else "not set in the cell")
            warnings.append(
                f"{user_src}: materials.{LI_MATERIAL}.melting_point = "
                f"{li_user['melting_point']!r}: the Li melting point ({was}) is changed to "
                f"{li_tm - ZERO_CELSIUS:.6g} degC; the Li-melting guard uses this value")
    cell_li = [n for n, m in stack.cell_material.items() if m == LI_MATERIAL]
    if not cell_li and not li_layers:
        warnings.append(f"{cr.source}: no layer is Li metal (material {LI_MATERIAL!r}): the "
                        "Li-melting guard is off for this run")
    if li_layers and li_tm is None:
        warnings.append(
            f"{cr.source}: materials.{LI_MATERIAL}.melting_point is missing: layers "
            f"{list(li_layers)} are Li metal but the Li-melting guard has no melting point "
            "to check against")
    return li_layers, li_tm


def _ordered(items: dict[str, Setting]) -> dict[str, Setting]:
    """Settings grouped by section in :data:`SECTION_ORDER` (stable within a section)."""
    def order(key: str) -> int:
        head = key.split(".", 1)[0].split("[", 1)[0]
        return SECTION_ORDER.index(head) if head in SECTION_ORDER else len(SECTION_ORDER)

    return {k: items[k] for k in sorted(items, key=order)}


__all__ = ["CELL_KEYS", "DEFAULT_CELL", "LI_MATERIAL", "USER_KEYS", "available_cells",
           "build_config", "deep_merge", "load_config", "read_toml"]
