"""The interactive film-field view (fem_cell.outputs.field_view) from a run folder made
here: a three-layer cross-section of quadrilaterals with known fields at three times,
written as VTU pieces + PVD like the anneal's ``fields/films.pvd``, one ghost cell
duplicated in it.  The view's numbers are the file's (log10 x_H with its floor), its
layers the stack's, its pad the config's; the page carries no network reference."""

import json
import re

import numpy as np
import pytest
from helpers import SECTION_EDGES, SECTION_TIMES, section_grid, write_section_run

from fem_cell.outputs.field_view import (
    LOG_FLOOR,
    FieldViewError,
    _significant,
    film_view_data,
    film_view_html,
    write_film_view,
)

pytestmark = pytest.mark.unit

EDGES, TIMES = SECTION_EDGES, SECTION_TIMES


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return write_section_run(tmp_path_factory.mktemp("view"))


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
    owned = len(section_grid(0.0).celltypes) - 1
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


@pytest.mark.parametrize("digits", [5, 7, 9])
def test_significant_digits_are_the_formatted_ones(digits):
    """The vectorised rounding gives ``float(f"{v:.{digits}g}")``: on 200,000 values
    over 26 decades of both signs, on powers of ten and their neighbours, exact ties,
    values beyond 10^±22, zeros and non-finite values."""
    rng = np.random.default_rng(digits)
    v = rng.lognormal(0.0, 10.0, 200_000) * rng.choice([-1.0, 1.0], 200_000)
    tens = 10.0 ** np.arange(-12, 13)
    v = np.concatenate([v, tens, np.nextafter(tens, 0), np.nextafter(tens, np.inf), -tens,
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 9.99996, 0.000123456789,
                         1.5e-30, 2.5e25, 0.125, 99999.5]])
    got = np.array(_significant(v, digits))
    ref = np.array([float(f"{x:.{digits}g}") for x in v])
    finite = np.isfinite(ref)
    assert np.array_equal(got[finite], ref[finite])
    assert np.array_equal(got[~finite], ref[~finite], equal_nan=True)
