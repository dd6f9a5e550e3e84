"""Mesh resolution settings (SI lengths), declared once (:mod:`fem_cell.params`)."""

from __future__ import annotations

from dataclasses import dataclass

from fem_cell.params import Declared, param

_LENGTH = {"lo": 1e-12, "hi": 1.0, "text": "from 1 pm to 1 m"}


@dataclass(frozen=True)
class MeshSettings(Declared):
    """How finely to mesh the stack.

    Args:
        dim: 1 (through-thickness line) or 2 (cross-section).
        cells_per_layer: minimum number of cells across every layer's thickness.
        growth: largest size ratio of neighbouring cells through the thickness (> 1),
            over the whole stack including across layer interfaces; sizes grow by this
            factor per cell away from every interface (until the size cap).
        max_cell_size: largest cell size through the thickness (m).
        lateral_cells: 2-D: about this many cells across the cross-section width
            before the pad-edge refinement (which adds cells when active).
        lateral_growth: 2-D: growth ratio of lateral cell sizes away from the Li pad
            edges (>= 1; 1 = uniform); the largest ratio of neighbouring lateral cells.
        lateral_edge_size: 2-D: largest lateral width (m) of the cells at a narrow-layer
            (Li pad) edge; ``None`` = the total film thickness above the substrate
            (all layers but the lowest).
        length_scale: metres per mesh-coordinate unit (1e-6: coordinates in µm).
        file: read this mesh file (gmsh ``.msh`` with named physical groups, or any
            meshio format carrying ``gmsh:physical`` data) instead of building one.
    """

    dim: int = param("", "mesh dimension: 1 (through-thickness line) or 2 (cross-section)",
                     default=1, choices=(1, 2))
    #: 64: the exposed R (the finest feature, the trap-filling front a few nm into the
    #: 10 nm degraded layer) within 0.2 % of mesh-converged (docs/model.md "Resolution")
    cells_per_layer: int = param("", "minimum number of cells across every layer",
                                 default=64, kind="integer", lo=1, hi=10_000)
    growth: float = param("1", "largest size ratio of neighbouring cells through the thickness",
                          default=1.25, lo=1.0, hi=10.0, lo_open=True,
                          text="> 1 and <= 10", example="1.25")
    max_cell_size: float = param("um", "largest cell size through the thickness",
                                 default=20e-6, example="20 um", **_LENGTH)
    lateral_cells: int = param("", "2-D: cells across the width before pad-edge refinement",
                               default=120, kind="integer", lo=2, hi=100_000)
    lateral_growth: float = param("1", "2-D: lateral size ratio away from the pad edges (1: "
                                  "uniform)", default=1.05, lo=1.0, hi=10.0,
                                  text=">= 1 and <= 10", example="1.05")
    lateral_edge_size: float | None = param(
        "um", "2-D: largest lateral cell width at a pad edge (absent: the film thickness)",
        default=None, example="1 um", optional=True, **_LENGTH)
    length_scale: float = param("um", "metres per mesh-coordinate unit", default=1e-6,
                                example="1 um", **_LENGTH)
    file: str | None = param("", "read this mesh file instead of building one", default=None,
                             kind="path")
