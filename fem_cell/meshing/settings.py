"""Mesh resolution settings (SI lengths)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MeshSettings:
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

    dim: int = 1
    cells_per_layer: int = 16
    growth: float = 1.25
    max_cell_size: float = 20e-6
    lateral_cells: int = 120
    lateral_growth: float = 1.05
    lateral_edge_size: float | None = None
    length_scale: float = 1e-6
    file: str | None = None

    def __post_init__(self):
        if self.dim not in (1, 2):
            raise ValueError(f"dim must be 1 or 2, got {self.dim}")
        if self.cells_per_layer < 1:
            raise ValueError("cells_per_layer must be >= 1")
        if not self.growth > 1.0:
            raise ValueError("growth must be > 1")
        if not self.max_cell_size > 0:
            raise ValueError("max_cell_size must be > 0")
        if self.lateral_cells < 2:
            raise ValueError("lateral_cells must be >= 2")
        if not self.lateral_growth >= 1.0:
            raise ValueError("lateral_growth must be >= 1")
        if self.lateral_edge_size is not None and not self.lateral_edge_size > 0:
            raise ValueError("lateral_edge_size must be > 0")
        if not self.length_scale > 0:
            raise ValueError("length_scale must be > 0")
