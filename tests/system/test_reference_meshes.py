"""The checked-in reference meshes read back with all regions and give the layer sizes
of the default cell."""

from pathlib import Path

import pytest

from fem_cell.config import load_config
from fem_cell.meshing.io import check_domain_against_geometry, read_mesh

MESHES = Path(__file__).resolve().parents[2] / "meshes"


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_reference_mesh(dim, comm):
    cfg = load_config()
    d = read_mesh(MESHES / f"kobayashi2022_{dim}d.msh", comm)
    check_domain_against_geometry(d, cfg.geometry)
    assert d.dim == dim
    for lay in cfg.geometry.layers:
        width = 1.0 if dim == 1 else (lay.width or cfg.geometry.width)
        assert d.volume(lay.name) == pytest.approx(lay.thickness * width, rel=1e-9)
    assert {"bottom", "top", *cfg.geometry.interface_names} <= set(d.facet_names)
