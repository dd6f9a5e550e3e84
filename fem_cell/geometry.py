"""Declarative description of the thin-film stack (no dolfinx here).

A stack is an ordered list of layers, bottom (substrate/current collector) to top
(Li).  Interfaces are named ``"<lower>|<upper>"``; outer boundaries are ``bottom``,
``top`` (the top face of the topmost layer, i.e. the Li pad contact), and in 2-D also
``exposed_top`` (free upper surfaces not covered by a narrower layer above, plus the
side walls of narrow layers), ``left`` and ``right``.

All lengths are SI metres.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

#: Names of the outer boundaries of every stack mesh.
BOUNDARY_NAMES_1D = ("bottom", "top")
BOUNDARY_NAMES_2D = ("bottom", "top", "exposed_top", "left", "right")


def interface_name(lower: str, upper: str) -> str:
    """Name of the interface between two stacked layers, e.g. ``"Li3PO4|Li"``."""
    return f"{lower}|{upper}"


@dataclass(frozen=True)
class LayerSpec:
    """One layer of the stack.

    Args:
        name: unique layer name (also the cell-tag name), e.g. ``"Li3PO4"``.
        material: key into the cell's material table.
        thickness: layer thickness (m), > 0.
        width: lateral width in a 2-D cross-section (m); ``None`` = the full
            cross-section width.  Narrow layers are centred.
    """

    name: str
    material: str
    thickness: float
    width: float | None = None


@dataclass(frozen=True)
class StackGeometry:
    """Ordered layers (bottom → top) plus the 2-D cross-section width (m)."""

    layers: tuple[LayerSpec, ...]
    width: float

    def __post_init__(self):
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        if not self.layers:
            raise ValueError("a stack needs at least one layer")
        if not (math.isfinite(self.width) and self.width > 0):
            raise ValueError(f"the cross-section width must be finite and > 0, got {self.width}")
        for layer in self.layers:
            if not (layer.thickness > 0 and math.isfinite(layer.thickness)):
                raise ValueError(f"layer {layer.name!r}: thickness must be finite and > 0")
            if layer.width is not None and not (0 < layer.width <= self.width):
                raise ValueError(
                    f"layer {layer.name!r}: width must be in (0, {self.width}] m")
        for lower, upper in zip(self.layers[:-1], self.layers[1:], strict=False):
            lw = lower.width if lower.width is not None else self.width
            uw = upper.width if upper.width is not None else self.width
            if uw > lw:
                raise ValueError(
                    f"layer {upper.name!r} is wider than {lower.name!r} below it")
        if not math.isfinite(self.total_thickness):
            raise ValueError("the total stack thickness must be finite")

    @property
    def layer_names(self) -> tuple[str, ...]:
        return tuple(layer.name for layer in self.layers)

    @property
    def interface_names(self) -> tuple[str, ...]:
        return tuple(interface_name(a.name, b.name)
                     for a, b in zip(self.layers[:-1], self.layers[1:], strict=False))

    @property
    def total_thickness(self) -> float:
        return sum(layer.thickness for layer in self.layers)

    def layer(self, name: str) -> LayerSpec:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(f"no layer {name!r}; layers are {list(self.layer_names)}")

    def z_bounds(self) -> list[tuple[float, float]]:
        """(bottom, top) height of every layer (m), bottom of the stack at z = 0."""
        out, z = [], 0.0
        for layer in self.layers:
            out.append((z, z + layer.thickness))
            z += layer.thickness
        return out

    def lateral_extent(self, name: str) -> tuple[float, float]:
        """(x_min, x_max) of a layer in the 2-D cross-section (m), centred."""
        layer = self.layer(name)
        w = self.width if layer.width is None else layer.width
        return (0.5 * (self.width - w), 0.5 * (self.width + w))

    def with_thicknesses(self, thickness: dict[str, float]) -> StackGeometry:
        """Copy with some layer thicknesses replaced (m)."""
        layers = tuple(
            LayerSpec(lay.name, lay.material, thickness.get(lay.name, lay.thickness), lay.width)
            for lay in self.layers)
        return StackGeometry(layers, self.width)

