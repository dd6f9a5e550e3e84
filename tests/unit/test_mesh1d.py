"""1-D graded stack mesh: tags, layer thicknesses, grading."""

import numpy as np
import pytest

from fem_cell.config import load_config
from fem_cell.meshing.line import build_line_mesh, layer_node_coordinates
from fem_cell.meshing.settings import MeshSettings


@pytest.fixture(scope="module")
def cfg():
    return load_config()


@pytest.mark.mpi
def test_tags_and_thicknesses(cfg, comm):
    g = cfg.geometry
    d = build_line_mesh(g, cfg.mesh, comm)
    assert set(d.cell_names) == set(g.layer_names)
    assert set(d.facet_names) == {"bottom", "top", *g.interface_names}
    assert "degraded|Li3PO4" in d.facet_names
    for lay in g.layers:  # 1-D "volume" = thickness (m), globally reduced
        assert d.volume(lay.name) == pytest.approx(lay.thickness, rel=1e-12)
    # every facet group is exactly one vertex, at the right height
    pairs = zip(g.layer_names[:-1], g.layer_names[1:], strict=True)
    for (lo, up), (_, z_top) in zip(pairs, g.z_bounds()[:-1], strict=True):
        name = f"{lo}|{up}"
        owned = d.facet_tags.indices < d.mesh.topology.index_map(0).size_local
        n = comm.allreduce(int(np.sum((d.facet_tags.values == d.facet_tag(name)) & owned)))
        assert n == 1, name
        x = d.mesh.geometry.x[:, 0]
        local = [x[i] * d.length_scale for i in d.facets(name)]
        zs = comm.allgather(local)
        assert any(np.isclose(z, z_top, rtol=0, atol=1e-15) for zz in zs for z in zz)


def test_grading(cfg):
    s = MeshSettings(cells_per_layer=8, growth=1.25, max_cell_size=20e-6)
    nodes = layer_node_coordinates(cfg.geometry, s)
    for lay, z in zip(cfg.geometry.layers, nodes, strict=True):
        h = np.diff(z)
        assert len(h) >= s.cells_per_layer
        assert z[-1] - z[0] == pytest.approx(lay.thickness, rel=1e-12)
        assert h.max() <= min(lay.thickness / s.cells_per_layer, s.max_cell_size) * 1.05
        ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
        assert ratio.max() < s.growth * 1.1
    # the nm layer is resolved and the substrate cell next to it is comparably small
    degraded = np.diff(nodes[2])
    substrate = np.diff(nodes[0])
    assert degraded.max() <= 10e-9 / 8 * 1.001
    assert substrate[-1] < 2 * (90e-9 / 8)
    assert substrate.max() == pytest.approx(20e-6, rel=0.05)


@pytest.mark.parametrize("cpl", [1, 4, 16])
def test_refinement_scales(cfg, cpl):
    s = MeshSettings(cells_per_layer=cpl)
    n = sum(len(z) - 1 for z in layer_node_coordinates(cfg.geometry, s))
    assert n >= 5 * cpl


# growth = the largest size ratio of neighbouring cells over the whole mesh (hardening:
# it used to behave like e^(growth-1), and jumped 1.26 at substrate|LiCoO2 for 1.1)
@pytest.mark.mpi
@pytest.mark.parametrize("growth", [1.1, 1.25, 2.0, 10.0])
@pytest.mark.parametrize("cpl", [1, 8])
def test_growth_is_the_largest_neighbour_ratio(cfg, comm, growth, cpl):
    s = MeshSettings(cells_per_layer=cpl, growth=growth)
    d = build_line_mesh(cfg.geometry, s, comm)
    x = d.mesh.geometry.x[:, 0]
    z = np.unique(np.concatenate(comm.allgather(np.unique(x)))) * d.length_scale
    h = np.diff(z)
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= growth * (1 + 1e-9)
    # the grading actually uses the allowed ratio (not a much smaller one)
    assert ratio.max() >= min(growth, 1.5) ** 0.5
    # minimum cells per layer and the size cap still hold
    per = layer_node_coordinates(cfg.geometry, s)
    for lay, zl in zip(cfg.geometry.layers, per, strict=True):
        hl = np.diff(zl)
        assert len(hl) >= cpl
        assert hl.max() <= min(lay.thickness / cpl, s.max_cell_size) * (1 + 1e-9)


@pytest.mark.parametrize("growth", [1.01, 1.1, 1.25, 1.5, 2.0, 5.0, 10.0])
@pytest.mark.parametrize("cpl", [1, 3, 8])
@pytest.mark.parametrize("max_size", [20e-6, 0.1e-6])
def test_growth_bound_across_interfaces(cfg, growth, cpl, max_size):
    s = MeshSettings(cells_per_layer=cpl, growth=growth, max_cell_size=max_size)
    per = layer_node_coordinates(cfg.geometry, s)
    z = np.concatenate([per[0]] + [p[1:] for p in per[1:]])
    h = np.diff(z)
    assert np.all(h > 0)
    ratio = np.maximum(h[1:] / h[:-1], h[:-1] / h[1:])
    assert ratio.max() <= growth * (1 + 1e-9)
    for (z0, z1), zl in zip(cfg.geometry.z_bounds(), per, strict=True):
        assert zl[0] == z0 and zl[-1] == pytest.approx(z1, rel=1e-15)


def test_growth_per_cell_away_from_an_interface(cfg):
    """Sizes grow by exactly ``growth`` per cell into the substrate (until the cap)."""
    s = MeshSettings(cells_per_layer=8, growth=1.25)
    h = np.diff(layer_node_coordinates(cfg.geometry, s)[0])[::-1]  # from the interface down
    r = h[1:6] / h[:5]
    assert np.allclose(r, 1.25, rtol=1e-6)
