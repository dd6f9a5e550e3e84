"""Mesh generation and mesh I/O for the stack (1-D graded line, 2-D gmsh cross-section).

The sub-modules that build meshes import dolfinx; this package itself does not, so that
reading a configuration (which needs :class:`MeshSettings`) stays free of dolfinx.
Import builders from their modules: ``fem_cell.meshing.line``,
``fem_cell.meshing.cross_section``, ``fem_cell.meshing.io``.
"""

from fem_cell.meshing.settings import MeshSettings

__all__ = ["MeshSettings"]
