"""Reading and writing tagged stack meshes, so users can bring their own meshes.

File contents
-------------
A mesh file holds the cells of one dimension (intervals, triangles or quadrilaterals,
tetrahedra or hexahedra) plus the tagged facets (vertices, lines, …), with

* ``gmsh:physical`` cell data: the region tag of every cell and the group tag of every
  facet (``gmsh:geometrical`` carries the same numbers), and
* the *physical names*: name → (tag, dimension), e.g. ``"Li3PO4" → (4, 2)`` and
  ``"Li3PO4|Li" → (13, 1)``.  In gmsh files these are ``$PhysicalNames``; meshio
  calls them ``field_data``.

Coordinates are in mesh units (``length_scale`` metres, µm by default).

Supported suffixes: ``.msh`` (gmsh 2.2 ASCII is written; any gmsh version is read),
``.vtu`` and ``.xdmf`` (+ ``.h5``).  meshio does not store ``field_data`` in VTU or
XDMF files, so :func:`write_mesh` adds it itself, in the layout meshio's readers
expect (a VTU ``<FieldData>`` block, an XDMF ``<Information>`` element).  Reading
converts every non-gmsh file with meshio into a temporary gmsh 2.2 file first; any
meshio-readable format carrying ``gmsh:physical`` cell data and ``field_data`` names
therefore works.

This module is the public entry point; the code lives in
:mod:`~fem_cell.meshing.io_read` (reading and inspecting mesh files),
:mod:`~fem_cell.meshing.io_write` (writing meshes) and :mod:`~fem_cell.meshing.io_check`
(checking a read domain against the configured geometry).
"""

from fem_cell.meshing.io_check import (
    GEOMETRY_RTOL,
    REQUIRED_FACET_GROUPS,
    check_domain_against_geometry,
)
from fem_cell.meshing.io_read import mesh_file_dimension, read_mesh
from fem_cell.meshing.io_write import MESH_SUFFIXES, write_mesh

__all__ = ["GEOMETRY_RTOL", "MESH_SUFFIXES", "REQUIRED_FACET_GROUPS",
           "check_domain_against_geometry", "mesh_file_dimension", "read_mesh", "write_mesh"]
