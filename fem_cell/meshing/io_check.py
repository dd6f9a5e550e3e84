"""Checking a read mesh against the configured layer stack (regions, groups, sizes)."""

from __future__ import annotations

import os

import numpy as np

from fem_cell._dolfinx import MPI
from fem_cell.domain import Domain
from fem_cell.errors import MeshError
from fem_cell.geometry import StackGeometry

#: Relative tolerance of the geometric checks of a read mesh against the configured
#: stack (layer thicknesses, region widths): 1 %.
GEOMETRY_RTOL = 0.01

#: Facet groups every mesh needs (boundary conditions of the heat problem).
REQUIRED_FACET_GROUPS = ("bottom", "top")


def _extents(domain: Domain, name: str) -> np.ndarray:
    """Global (min, max) of every coordinate over the cells of a region (collective).

    Returns an array of shape (gdim, 2), in mesh units; (inf, -inf) if empty.
    """
    msh = domain.mesh
    gdim = msh.geometry.dim
    cells = domain.cells(name) if name in domain.cell_names else np.zeros(0, dtype=np.int32)
    x = msh.geometry.x[:, :gdim]
    if len(cells):
        pts = x[msh.geometry.dofmaps[0][cells].ravel()]
        lo, hi = pts.min(axis=0), pts.max(axis=0)
    else:
        lo, hi = np.full(gdim, np.inf), np.full(gdim, -np.inf)
    lo, hi = np.array(lo, dtype=np.float64), np.array(hi, dtype=np.float64)
    domain.comm.Allreduce(MPI.IN_PLACE, lo, op=MPI.MIN)
    domain.comm.Allreduce(MPI.IN_PLACE, hi, op=MPI.MAX)
    return np.stack([lo, hi], axis=1)


def _check_regions(domain: Domain, geometry: StackGeometry, src: str) -> None:
    """Every layer has a non-empty region named like it, every region is a layer."""
    comm = domain.comm
    msh = domain.mesh
    tdim = msh.topology.dim
    n_own = msh.topology.index_map(tdim).size_local
    ct = domain.cell_tags
    own_vals = ct.values[ct.indices < n_own]
    layers = list(geometry.layer_names)
    regions = sorted(domain.cell_names, key=domain.cell_names.get)

    counts = {}
    for name in sorted(set(layers) | set(regions)):  # same order on every rank
        tag = domain.cell_names.get(name)
        local = 0 if tag is None else int(np.count_nonzero(own_vals == tag))
        counts[name] = comm.allreduce(local, op=MPI.SUM)
    missing = [n for n in layers if counts[n] == 0]
    if missing:
        raise MeshError(f"{src}the mesh has no region for layer(s) {missing}; its regions are "
                        f"{regions}; every layer of the cell needs a non-empty region named "
                        "like it")
    extra = [n for n in regions if n not in layers]
    if extra:
        raise MeshError(f"{src}region(s) {extra} in the mesh are not layers of the cell "
                        f"(layers: {layers}); every region must be one of its layers")


def _check_boundary_groups(domain: Domain, src: str) -> None:
    """The facet groups of :data:`REQUIRED_FACET_GROUPS` exist and are not empty."""
    comm = domain.comm
    msh = domain.mesh
    tdim = msh.topology.dim
    n_own_f = msh.topology.index_map(tdim - 1).size_local
    ft = domain.facet_tags
    for name in REQUIRED_FACET_GROUPS:
        tag = domain.facet_names.get(name)
        local = 0 if tag is None else int(np.count_nonzero(
            (ft.values == tag) & (ft.indices < n_own_f)))
        if comm.allreduce(local, op=MPI.SUM) == 0:
            raise MeshError(f"{src}facet group {name!r} is missing or empty (groups: "
                            f"{sorted(domain.facet_names)}); the boundary conditions need "
                            f"{' and '.join(repr(g) for g in REQUIRED_FACET_GROUPS)}")


def _check_sizes(domain: Domain, geometry: StackGeometry, src: str, rtol: float) -> None:
    """Region thicknesses (and widths in 2-D) equal the layers' within ``rtol``."""
    tdim = domain.mesh.topology.dim
    ell = domain.length_scale
    axis = tdim - 1  # thickness axis: x in 1-D, y in 2-D
    checks = []  # (region, quantity, mesh value in m, configured value in m)
    for layer in geometry.layers:
        ext = _extents(domain, layer.name)
        checks.append((layer.name, "thickness", float(ext[axis, 1] - ext[axis, 0]) * ell,
                       layer.thickness))
        if tdim == 2:
            lo, hi = geometry.lateral_extent(layer.name)
            checks.append((layer.name, "width", float(ext[0, 1] - ext[0, 0]) * ell, hi - lo))
    bad = [c for c in checks if not abs(c[2] - c[3]) <= rtol * c[3]]
    if bad:
        name, what, got, want = bad[0]
        factors = np.array([c[3] / c[2] for c in checks if c[2] > 0])
        hint = "check [mesh] length_scale (metres per mesh-coordinate unit"
        hint += f", now {ell:g} m) and the configured geometry"
        if len(factors) == len(checks) and np.ptp(np.log(factors)) < 2 * rtol:
            hint += (f"; every size is off by the same factor {float(np.median(factors)):.4g}: "
                     f"length_scale = {ell * float(np.median(factors)):.4g} m would match")
        raise MeshError(f"{src}region {name!r}: {what} in the mesh {got:.6g} m "
                        f"({got / ell:.6g} mesh units x length_scale {ell:g} m) differs from "
                        f"the configured {want:.6g} m by more than {rtol:.0%}; {hint}")


def check_domain_against_geometry(domain: Domain, geometry: StackGeometry,
                                  path: str | os.PathLike | None = None,
                                  rtol: float = GEOMETRY_RTOL) -> None:
    """Validate a read mesh against the configured stack (collective).

    Checks, in this order (the first failure is raised, identically on every rank):

    1. every layer of the stack has a non-empty region named like it;
    2. every region of the mesh is a layer of the stack (no extra regions);
    3. the facet groups ``bottom`` and ``top`` exist and are not empty;
    4. each region's extent along the thickness axis (x in 1-D, y in 2-D) equals the
       layer's thickness, and in 2-D each region's lateral extent (x) equals the
       layer's width (``width`` or the cross-section width; the Li pad for the top
       layer), both within the relative tolerance ``rtol`` (1 %).  Extents are
       ``length_scale`` × mesh coordinates, so a mesh drawn in the wrong unit fails
       here with a hint at ``[mesh] length_scale``.

    Args:
        domain: the (read) mesh with its region names and length scale (m per unit).
        geometry: the layer stack the physics will be set up for (SI).
        path: the mesh file, named in the messages.
        rtol: relative tolerance of the geometric checks.

    Raises:
        MeshError: one line naming the file, the region/group and what was expected.
    """
    src = f"{path}: " if path is not None else ""
    _check_regions(domain, geometry, src)
    _check_boundary_groups(domain, src)
    _check_sizes(domain, geometry, src, rtol)


__all__ = ["GEOMETRY_RTOL", "REQUIRED_FACET_GROUPS", "check_domain_against_geometry"]
