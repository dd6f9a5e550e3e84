"""Mesh generation and mesh I/O for the stack (1-D graded line, 2-D gmsh cross-section)."""

from fem_cell.meshing.line import build_line_mesh, layer_node_coordinates
from fem_cell.meshing.settings import MeshSettings

__all__ = ["MeshSettings", "build_line_mesh", "layer_node_coordinates"]
