""":class:`RunConfig`: everything a run needs, validated, in SI, with provenance."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fem_cell.config.chemistry import check_exposure, saturated_setting
from fem_cell.config.reader import Reader, Record, Setting
from fem_cell.config.sections import read_declared
from fem_cell.config.settings import OutputSettings, SolverSettings
from fem_cell.config.stack import Material
from fem_cell.geometry import StackGeometry
from fem_cell.meshing.settings import MeshSettings
from fem_cell.params import Arrhenius, key_of, specs
from fem_cell.physics.parameters import (
    Chemistry,
    ElectrochemSettings,
    Exposure,
    ThermalBoundary,
)
from fem_cell.program import AnnealProgram
from fem_cell.units import SI_UNITS, clean_number, clean_numbers, from_si


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, validated and in SI.

    Attributes:
        name, title, reference: the cell's header.
        geometry: layers bottom → top and the 2-D width.
        materials: material name → :class:`~fem_cell.config.stack.Material`.
        thermal: heat boundary conditions (``[thermal]``).
        anneal: the hot-plate program; ``anneal_spec`` as written.
        mesh, solver, output: run settings.
        chemistry: the proton chemistry (``[transport.*]``, ``[degraded_layer]``,
            ``[exposure_model]``), or None (a heat-only cell).
        electrochemistry: ``[electrochemistry]`` (small-signal model), or None.
        exposure: ``[exposure]`` before the anneal, or None.
        files: the files read (cell, user config).
        settings: dotted key → :class:`~fem_cell.config.reader.Setting` for every resolved
            setting (value as written, unit, SI value, origin, source note, meaning).
        warnings: one-line warnings the caller should show.
        li_layers: the layers that are Li metal (material ``"Li"``).
        li_melting_point: their melting point (K), or None.
        plausible: dotted key → physically plausible (lo, hi) written in the cell file
            next to the value (SI; for an Arrhenius rate: of its prefactor).  The default
            prior range of a posterior calibration (:mod:`fem_cell.studies.posterior`).
    """

    name: str
    title: str
    reference: str
    geometry: StackGeometry
    materials: Mapping[str, Material]
    thermal: ThermalBoundary
    anneal: AnnealProgram
    anneal_spec: Mapping[str, Any]
    mesh: MeshSettings
    solver: SolverSettings
    output: OutputSettings
    chemistry: Chemistry | None = None
    electrochemistry: ElectrochemSettings | None = None
    exposure: Exposure | None = None
    files: tuple[str, ...] = field(default_factory=tuple)
    settings: Mapping[str, Setting] = field(default_factory=dict)
    warnings: tuple[str, ...] = field(default_factory=tuple)
    li_layers: tuple[str, ...] = field(default_factory=tuple)
    li_melting_point: float | None = None
    plausible: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def origins(self) -> dict[str, str]:
        """Dotted key → origin (file path, built-in cell, ``"default"``, ...)."""
        return {k: s.origin for k, s in self.settings.items()}

    def material_of(self, layer: str) -> Material:
        return self.materials[self.geometry.layer(layer).material]

    def layer_property(self, key: str) -> dict[str, float]:
        """Layer name → SI value of a material property, for every layer."""
        return {lay.name: self.materials[lay.material][key] for lay in self.geometry.layers}

    def source_of(self, key: str) -> str:
        """The source note (else origin) of a dotted key."""
        s = self.settings.get(key)
        return "" if s is None else (s.source or s.origin)

    def with_mesh(self, origin: str = "command line", **changes) -> RunConfig:
        """Copy with some mesh settings changed (e.g. ``dim=2``), recorded as ``origin``."""
        settings = dict(self.settings)
        sp = specs(MeshSettings)
        for k, v in changes.items():
            unit = sp[k].unit if sp[k].kind == "quantity" else ""
            shown = clean_number(from_si(v, unit)) if unit and isinstance(v, float) else v
            si_unit = SI_UNITS["length"] if unit else ""
            settings[f"mesh.{k}"] = Setting(f"mesh.{k}", shown, unit, v, si_unit, origin, "",
                                            sp[k].doc)
        return dataclasses.replace(self, mesh=dataclasses.replace(self.mesh, **changes),
                                   settings=settings)

    def with_exposure(self, origin: str = "command line", **changes) -> RunConfig:
        """Copy with some exposure settings changed (CLI ``--gas``, ``--minutes``, ...).

        Validated like ``[exposure]`` in a config file; a bad value raises
        :class:`~fem_cell.errors.ConfigError` naming ``origin`` and the key.

        Args:
            origin: recorded as the origin of the changed settings (and named in errors).
            **changes: :class:`~fem_cell.physics.parameters.Exposure` fields, each an SI
                number (``duration=2700.0``), or written as in a config file (``"45 min"``,
                ``"40 degC"``, ``"30 %"``, ``"saturated"``).

        Raises:
            ConfigError: a bad value, or the configuration has no exposure to change.
            TypeError: an unknown field name.
        """
        sp = specs(Exposure)
        unknown = sorted(set(changes) - set(sp))
        if unknown:
            raise TypeError(f"with_exposure: unknown exposure field(s) {unknown}; "
                            f"known: {sorted(sp)}")
        r = Reader(origin)
        if self.exposure is None:
            raise r.err("exposure", dict(changes),
                        "a cell or user config with an [exposure] table to change")
        items = {}
        for k, v in changes.items():
            s = sp[k]
            number = isinstance(v, (int, float)) and not isinstance(v, bool)
            if number and s.kind == "quantity":  # shown in the declared unit
                v = {"value": clean_number(from_si(v, s.unit)), "unit": s.unit}
            items[key_of(k, s)] = (v, r)
        rec = Record()
        current = {k: getattr(self.exposure, k) for k in sp if k not in changes}
        ex = read_declared(Exposure, items, "exposure", rec, r, given=current)
        saturated_setting(rec, ex)
        warnings = [w for w in self.warnings if "exposure" not in w]
        check_exposure(ex, self.chemistry, self.geometry, r, warnings)
        settings = dict(self.settings)
        settings.update(rec.items)
        return dataclasses.replace(self, exposure=ex, settings=settings,
                                   warnings=tuple(warnings))

    def with_settings(self, origin: str = "command line", **tables) -> RunConfig:
        """Copy with ``[solver]`` or ``[output]`` keys changed (values as in a file)."""
        r = Reader(origin)
        rec = Record()
        kw = {}
        for name, cls in (("solver", SolverSettings), ("output", OutputSettings)):
            if name not in tables:
                continue
            items = {k: (v, r) for k, v in tables[name].items()}
            current = {k: getattr(getattr(self, name), k) for k in specs(cls)
                       if key_of(k, specs(cls)[k]) not in items}
            kw[name] = read_declared(cls, items, name, rec, r, given=current)
        settings = dict(self.settings)
        settings.update(rec.items)
        return dataclasses.replace(self, settings=settings, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Resolved configuration for run metadata (``run.json``): the cell header,
        files, layers, the program's breakpoints, every setting (dotted key → value,
        unit, SI value, SI unit, origin, source), the Li layers and the warnings."""
        g = self.geometry
        return clean_numbers({
            "cell": {"name": self.name, "title": self.title, "reference": self.reference},
            "files": list(self.files),
            "layers": [{"name": lay.name, "material": lay.material,
                        "thickness_m": lay.thickness, "width_m": lay.width,
                        "li_metal": lay.name in self.li_layers} for lay in g.layers],
            "geometry": {"width_m": g.width},
            "anneal": {"spec": dict(self.anneal_spec),
                       "breakpoints_s": self.anneal.times.tolist(),
                       "breakpoints_K": self.anneal.temperatures.tolist()},
            "physics": physics_dict(self),
            "mesh": _fields(self.mesh),
            "solver": _fields(self.solver),
            "output": _fields(self.output),
            "li_layers": list(self.li_layers),
            "li_melting_point_K": self.li_melting_point,
            "settings": {k: s.as_dict() for k, s in self.settings.items()},
            "warnings": list(self.warnings),
        })


def _fields(obj) -> dict[str, Any]:
    return {f.name: _plain(getattr(obj, f.name)) for f in dataclasses.fields(obj)}


def _plain(v):
    if isinstance(v, Arrhenius):
        return {"value": v.value, "activation_energy_J": v.activation_energy, "T_ref_K": v.T_ref}
    if dataclasses.is_dataclass(v) and not isinstance(v, type):
        return _fields(v)
    if isinstance(v, tuple) and v and isinstance(v[0], tuple):  # chemistry phases
        return {n: _plain(p) for n, p in v}
    return v


def physics_dict(cfg: RunConfig) -> dict[str, Any]:
    """SI values of every physical parameter (materials, thermal, chemistry,
    electrochemistry, exposure): the part of a configuration that decides a state."""
    return {
        "materials": {m.name: {k: p.value for k, p in m.properties.items()}
                      for m in cfg.materials.values()},
        "thermal": _fields(cfg.thermal),
        "chemistry": None if cfg.chemistry is None else _fields(cfg.chemistry),
        "electrochemistry": (None if cfg.electrochemistry is None
                             else _fields(cfg.electrochemistry)),
        "exposure": None if cfg.exposure is None else _fields(cfg.exposure),
    }


__all__ = ["RunConfig", "physics_dict"]
