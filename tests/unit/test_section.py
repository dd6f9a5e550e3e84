"""Cross-section pictures (fem_cell.outputs.section) from a run folder made here
(tests/helpers.py: three film layers with known fields, a ghost cell duplicated): the
series reader drops the ghost cell and names the layers from run.json, the layered height
map puts every layer in one unit band, and the temperature, proton and impedance
pictures are written (their look was checked by eye: docs/img)."""

import numpy as np
import pytest
from helpers import SECTION_EDGES, SECTION_TIMES, section_grid, write_section_run

from fem_cell.outputs.section import (
    Layer,
    SectionError,
    SectionSeries,
    layered_height,
    render_impedance_2d,
    render_protons_2d,
    render_temperature_2d,
)

pytestmark = pytest.mark.unit


def test_reader_drops_ghosts_and_names_layers(tmp_path):
    run = write_section_run(tmp_path)
    series = SectionSeries(run / "fields" / "films.pvd")
    assert series.times == SECTION_TIMES
    s = series.read(1000.0)                       # nearest stored time
    assert s.time == 1500.0
    owned = len(section_grid(0.0).celltypes) - 1
    assert len(s.triangles) == 2 * owned
    assert [L.name for L in s.layers] == ["LiCoO2", "degraded", "Li3PO4"]
    assert [L.thickness_label for L in s.layers] == ["90 nm", "10 nm", "1 µm"]
    assert s.pad == {"name": "Li", "x0": pytest.approx(1000.0), "x1": pytest.approx(2000.0)}
    assert s.cell_data["layer"].shape == (len(s.triangles),)
    with pytest.raises(SectionError, match="no such field series"):
        SectionSeries(run / "fields" / "nothing.pvd")


def test_layered_height_puts_each_layer_in_one_band():
    layers = [Layer(2 + k, f"L{k}", a, b) for k, (a, b) in
              enumerate(zip(SECTION_EDGES[:-1], SECTION_EDGES[1:], strict=True))]
    y = np.array(SECTION_EDGES + [500.045, 500.095, 500.6])
    h = layered_height(y, layers)
    assert np.allclose(h[:4], [0, 1, 2, 3])
    assert np.allclose(h[4:], [0.5, 1.5, 2.5])
    fine = np.linspace(SECTION_EDGES[0], SECTION_EDGES[-1], 1001)
    assert np.all(np.diff(layered_height(fine, layers)) >= 0)   # monotone


def test_pictures_are_written(tmp_path):
    run = write_section_run(tmp_path)
    write_section_run(tmp_path, "temperature")
    (tmp_path / "imp").mkdir()
    imp = write_section_run(tmp_path / "imp", "impedance", times=[1618.0, 5.4e4],
                            impedance=True)
    for f, call in (("p.png", lambda p: render_protons_2d(run / "fields" / "films.pvd",
                                                          [0.0, 6600.0], p, note="coarse")),
                    ("t.png", lambda p: render_temperature_2d(
                        run / "fields" / "temperature.pvd", 5000.0, 423.15, p)),
                    ("i.png", lambda p: render_impedance_2d(
                        imp / "fields" / "impedance.pvd", p))):
        call(tmp_path / f)
        assert (tmp_path / f).stat().st_size > 20_000, f
