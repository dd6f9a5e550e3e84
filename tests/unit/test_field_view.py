"""The interactive film-field view (fem_cell.outputs.field_view) from a run folder made
here: a three-layer cross-section of quadrilaterals with known fields at three times,
written as VTU pieces + PVD like the anneal's ``fields/films.pvd``, one ghost cell
duplicated in it.  The view's numbers are the file's (log10 x_H with its floor), its
layers the stack's, its pad the config's; the page carries no network reference."""

import json
import re

import numpy as np
import pytest

from fem_cell.outputs.field_view import (
    LOG_FLOOR,
    FieldViewError,
    film_view_data,
    film_view_html,
    write_film_view,
)

pytestmark = pytest.mark.unit

#: the films (µm): LiCoO2 0.09, degraded 0.01, Li3PO4 1.0 above a 500 µm substrate
EDGES = [500.0, 500.09, 500.1, 501.1]
TIMES = [0.0, 1500.0, 6600.0]
WIDTH_UM = 3000.0


def _grid(t: float):
    import pyvista

    xs = np.linspace(0.0, WIDTH_UM, 7)
    ys = np.concatenate([np.linspace(EDGES[k], EDGES[k + 1], 3)[:-1] for k in range(3)]
                        + [[EDGES[-1]]])
    X, Y = np.meshgrid(xs, ys)
    pts = np.c_[X.ravel(), Y.ravel(), np.zeros(X.size)]
    nx = xs.size
    cells, layer = [], []
    for j in range(ys.size - 1):
        for i in range(nx - 1):
            a = j * nx + i
            cells.append([4, a, a + 1, a + 1 + nx, a + nx])
            yc = 0.5 * (ys[j] + ys[j + 1])
            layer.append(2 + int(np.searchsorted(EDGES, yc) - 1))
    # a ghost copy of the first cell, as a parallel piece carries it
    cells.append(list(cells[0]))
    layer.append(layer[0])
    ghost = np.zeros(len(cells), dtype=np.uint8)
    ghost[-1] = 1
    g = pyvista.UnstructuredGrid(np.array(cells).ravel(),
                                 np.full(len(cells), pyvista.CellType.QUAD), pts)
    y = pts[:, 1]
    xH = np.where(y > 500.05, 10 ** (-1 - 3 * (y - 500.05) - t / 3000.0), 1e-12)
    g.point_data["xH"] = xH
    g.point_data["xLi"] = 1 - xH
    g.point_data["phi_V"] = 1e-3 * pts[:, 0] / WIDTH_UM
    g.point_data["T_C"] = np.full(len(pts), 25.0 + t / 60.0)
    g.cell_data["layer"] = np.array(layer, dtype=float)
    g.cell_data["vtkGhostType"] = ghost
    return g


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    d = tmp_path_factory.mktemp("view")
    (d / "fields").mkdir()
    entries = []
    for k, t in enumerate(TIMES):
        _grid(t).save(d / "fields" / f"films_{k:06d}.vtu")
        entries.append(f'<DataSet timestep="{t}" part="0" file="films_{k:06d}.vtu"/>')
    (d / "fields" / "films.pvd").write_text(
        '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n<Collection>\n'
        + "\n".join(entries) + "\n</Collection>\n</VTKFile>\n")
    layers = [{"name": n, "thickness_m": th, "width_m": w, "li_metal": li}
              for n, th, w, li in (("substrate", 5e-4, None, False),
                                   ("LiCoO2", 9e-8, None, False),
                                   ("degraded", 1e-8, None, False),
                                   ("Li3PO4", 1e-6, None, False), ("Li", 5e-7, 1e-3, True))]
    (d / "run.json").write_text(json.dumps({"config": {"layers": layers, "geometry": {
        "width_m": WIDTH_UM * 1e-6}}}))
    return d


def test_numbers_are_the_files(run):
    import pyvista

    d = film_view_data(run)
    assert d["times_s"] == TIMES
    assert [(L["name"], L["tag"]) for L in d["layers"]] == [("LiCoO2", 2), ("degraded", 3),
                                                            ("Li3PO4", 4)]
    for L, (y0, y1) in zip(d["layers"], zip(EDGES[:-1], EDGES[1:], strict=True),
                           strict=True):
        assert (L["y0"], L["y1"]) == pytest.approx((y0, y1), abs=1e-9)
    assert d["pad"] == {"name": "Li", "x0": pytest.approx(1000.0), "x1": pytest.approx(2000.0)}
    # the ghost copy is dropped: two triangles per owned quadrilateral
    owned = len(_grid(0.0).celltypes) - 1
    assert len(d["triangles"]) == 3 * 2 * owned
    tri = np.asarray(d["triangles"]).reshape(-1, 3)
    assert len({tuple(sorted(t)) for t in tri.tolist()}) == 2 * owned
    g = pyvista.read(run / "fields" / "films_000002.vtu")
    g = g.extract_cells(np.flatnonzero(np.asarray(g.cell_data["vtkGhostType"]) == 0))
    assert np.allclose(d["x"], g.points[:, 0], rtol=1e-6)
    want = np.log10(np.maximum(np.asarray(g.point_data["xH"]), LOG_FLOOR))
    assert np.allclose(d["fields"]["xH"]["series"][2], want, rtol=1e-4, atol=1e-12)
    assert d["fields"]["xH"]["min"] == pytest.approx(np.log10(LOG_FLOOR))
    assert d["fields"]["T_C"]["series"][2][0] == pytest.approx(25.0 + 6600.0 / 60.0)
    assert set(d["fields"]) == {"xH", "xLi", "phi_V", "T_C"}


def test_time_subsampling_keeps_first_and_last(run):
    d = film_view_data(run, max_times=2)
    assert d["times_s"] == [TIMES[0], TIMES[-1]]


def test_page_is_self_contained(run, tmp_path):
    p = write_film_view(run, tmp_path / "view.html", title="test <cell>")
    page = p.read_text(encoding="utf-8")
    assert "test &lt;cell&gt;" in page
    assert not re.search(r"(src|href)\s*=\s*[\"']?(https?:|//)", page)
    assert "fetch(" not in page and "XMLHttpRequest" not in page
    blob = re.search(r'<script type="application/json" data-role="data">(.*?)</script>', page,
                     re.S).group(1)
    assert json.loads(blob.replace("<\\/", "</")) == json.loads(json.dumps(film_view_data(run)))
    two = film_view_html(film_view_data(run), view_id="a") + film_view_html(
        film_view_data(run), view_id="b")
    assert 'getElementById("a")' in two and 'getElementById("b")' in two
    with pytest.raises(ValueError, match="view_id"):
        film_view_html(film_view_data(run), view_id='x"><script>')


def test_errors(run, tmp_path):
    with pytest.raises(FieldViewError, match="no fields/films.pvd"):
        film_view_data(tmp_path)
    (tmp_path / "fields").mkdir()
    (tmp_path / "fields" / "films.pvd").write_text((run / "fields" / "films.pvd").read_text())
    with pytest.raises(FieldViewError, match="run.json"):
        film_view_data(tmp_path)
