"""Field series for other tools (fem_cell.outputs.vtk_read): one time of a series read
as one grid without the ghost copy a parallel piece carries, and converted for meshio —
the .vtu and .xdmf it writes read back with meshio to the same points, cells and data."""

import meshio
import numpy as np
import pytest
from helpers import section_grid, write_section_run

from fem_cell.outputs.vtk_read import (
    SeriesError,
    export_time,
    read_time,
    series_times,
    to_meshio,
)

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def pvd(tmp_path_factory):
    return write_section_run(tmp_path_factory.mktemp("series")) / "fields" / "films.pvd"


def test_read_time_drops_the_ghost_copy(pvd):
    assert series_times(pvd) == [0.0, 1500.0, 6600.0]
    g = read_time(pvd, 1400.0)
    assert g.field_data["time_s"][0] == 1500.0
    raw = section_grid(1500.0)
    assert g.n_cells == raw.n_cells - 1 and "vtkGhostType" not in g.cell_data
    assert g.n_points == raw.n_points
    assert np.allclose(np.sort(g.point_data["xH"]), np.sort(raw.point_data["xH"]))


@pytest.mark.parametrize("suffix", [".vtu", ".xdmf"])
def test_meshio_reads_the_export(pvd, tmp_path, suffix):
    out = export_time(pvd, tmp_path / f"films{suffix}", time=6600.0)
    m = meshio.read(out)
    g = read_time(pvd, 6600.0)
    assert [c.type for c in m.cells] == ["quad"] and len(m.cells[0].data) == g.n_cells
    assert np.allclose(m.points[:, :2], np.asarray(g.points)[:, :2])
    for name in ("xH", "xLi", "phi_V", "T_C", "T_K"):
        assert np.allclose(m.point_data[name], g.point_data[name]), name
    assert np.allclose(m.cell_data["layer"][0], g.cell_data["layer"])


def test_to_meshio_field_data_and_errors(pvd, tmp_path):
    m = to_meshio(read_time(pvd, 0.0))
    assert float(np.asarray(m.field_data["time_s"]).ravel()[0]) == 0.0
    with pytest.raises(SeriesError, match="no such field series"):
        read_time(tmp_path / "none.pvd")
    with pytest.raises(SeriesError, match="meshio cannot write"):
        export_time(pvd, tmp_path / "films.unknown")
