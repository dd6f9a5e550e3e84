"""The checked-in reference meshes read back with all regions, pass the validation of
user meshes and give the layer sizes of the default cell."""

from pathlib import Path

import numpy as np
import pytest

from fem_cell.config import load_config
from fem_cell.meshing.io import check_domain_against_geometry, mesh_file_dimension, read_mesh
from fem_cell.model import build_domain

MESHES = Path(__file__).resolve().parents[2] / "meshes"


@pytest.mark.mpi
@pytest.mark.parametrize("dim", [1, 2])
def test_reference_mesh(dim, comm):
    cfg = load_config()
    path = MESHES / f"kobayashi2022_{dim}d.msh"
    assert mesh_file_dimension(path) == dim
    d = read_mesh(path, comm)
    check_domain_against_geometry(d, cfg.geometry, path=path)
    assert d.dim == dim
    for lay in cfg.geometry.layers:
        width = 1.0 if dim == 1 else (lay.width or cfg.geometry.width)
        assert d.volume(lay.name) == pytest.approx(lay.thickness * width, rel=1e-9)
    assert {"bottom", "top", *cfg.geometry.interface_names} <= set(d.facet_names)
    # the full validation path of [mesh] file
    d2 = build_domain(cfg.with_mesh(dim=dim, file=str(path)), comm)
    assert d2.dim == dim


@pytest.mark.mpi
def test_reference_2d_mesh_is_refined_at_the_pad_edges(comm):
    cfg = load_config()
    d = read_mesh(MESHES / "kobayashi2022_2d.msh", comm)
    films = sum(lay.thickness for lay in cfg.geometry.layers[1:])
    lo, hi = cfg.geometry.lateral_extent(cfg.geometry.layers[-1].name)
    x = d.mesh.geometry.x[:, 0] * d.length_scale
    cols = np.unique(np.concatenate(comm.allgather(np.unique(np.round(x, 15)))))
    h = np.diff(cols)
    for e in (lo, hi):
        i = int(np.argmin(np.abs(cols - e)))
        assert cols[i] == pytest.approx(e, rel=1e-12)
        assert max(h[i - 1], h[i]) <= films * (1 + 1e-6)
