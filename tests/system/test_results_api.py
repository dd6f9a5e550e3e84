"""Run folders as objects (fem_cell.open_run): tables round-trip the job's own results,
time conveniences, fields through pyvista, figures without a display, overlays."""

from __future__ import annotations

import numpy as np
import pytest

import fem_cell
from fem_cell._dolfinx import MPI
from fem_cell.outputs.results import RunFolderError

pytestmark = pytest.mark.serial


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from fem_cell.config import load_config
    from fem_cell.jobs.anneal import anneal_job
    from fem_cell.jobs.impedance import impedance_job

    d = tmp_path_factory.mktemp("results_api")
    cfg = load_config(overrides={"mesh": {"dim": 1}, "output": {"render": False}})
    a = anneal_job(cfg, d / "anneal", MPI.COMM_SELF, progress=False)
    hot = load_config(overrides={"mesh": {"dim": 1}, "output": {"render": False,
                                                               "fields": False},
                                 "anneal": {"segments": [{"ramp_to": "120 degC",
                                                          "rate": "5 K/min"},
                                                         {"hold": "30 min"}]}})
    anneal_job(hot, d / "anneal_120", MPI.COMM_SELF, progress=False)
    i = impedance_job(cfg, d / "imp", MPI.COMM_SELF, progress=False)
    return d, a, i


def test_history_round_trip_and_time_units(runs):
    d, a, _ = runs
    run = fem_cell.open_run(d / "anneal")
    assert run.job == "anneal" and run.status == "completed"
    assert {"history", "profiles"} <= set(run.tables())
    h, mem = run.history, a.history.to_pandas()
    assert list(h.columns) == list(mem.columns)
    np.testing.assert_allclose(h["R_interface_ohm_cm2"], mem["R_interface_ohm_cm2"], rtol=1e-12)
    np.testing.assert_allclose(h["time_h"] * 3600, h["time_s"], rtol=1e-12)
    assert h["time_min"].iloc[-1] == pytest.approx(run.summary["t_end_s"] / 60)
    assert run["R_interface_ohm_cm2"] == pytest.approx(a.summary["R_interface_ohm_cm2"])
    assert run.config["mesh"]["dim"] == 1
    assert set(run.profiles.columns) >= {"time_s", "height_nm", "xH"}
    assert "<table>" in run._repr_html_()


def test_fields_through_pyvista(runs):
    d, _, _ = runs
    run = fem_cell.open_run(d / "anneal")
    assert "temperature" in run.fields()
    last = run.read_field("temperature")
    assert "T_C" in last.point_data
    assert float(np.max(last.point_data["T_C"])) == pytest.approx(25.0, abs=0.5)  # cooled
    with pytest.raises(RunFolderError, match="no field series"):
        run.read_field("nothing")


def test_spectrum_and_figures(runs):
    d, _, i = runs
    imp = fem_cell.open_run(d / "imp")
    s = imp.spectrum
    np.testing.assert_allclose(s["Z_real_ohm_cm2"] + 1j * s["Z_imag_ohm_cm2"],
                               i.details["impedance"].Z_ohm_cm2, rtol=1e-9)
    fig = imp.plot("nyquist")
    assert fig.axes[0].get_xlabel() == "Z′ (Ω cm²)"
    fig = fem_cell.plot.compare([d / "anneal", d / "anneal_120"], "R", labels=["150", "120"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "time (min)" and len(ax.get_lines()) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["150", "120"]
    with pytest.raises(ValueError, match="kind"):
        imp.plot("polar")


def test_errors_and_api_names(tmp_path, runs):
    d, _, _ = runs
    with pytest.raises(RunFolderError, match="not a fem-cell run folder"):
        fem_cell.open_run(tmp_path)
    with pytest.raises(RunFolderError, match="no proton_profiles.csv"):
        _ = fem_cell.open_run(d / "imp").profiles
    assert {"open_run", "compare_runs", "plot", "read_spectrum", "fit_spectrum"} <= set(
        dir(fem_cell))


def test_checkpoints_documented_layout(runs):
    """The saved state read without dolfinx (docs/outputs.md, "Checkpoints"): every field
    with its unit and meaning, one row per DOF, the values the run's profiles show."""
    import h5py

    d, a, _ = runs
    run = fem_cell.open_run(d / "anneal")
    saved = run.checkpoints()
    assert min(saved) == 0.0 and max(saved) == pytest.approx(run.summary["t_end_s"])
    state = run.read_checkpoint()              # the last
    T = state["T"]
    assert T.attrs["unit"] == "K" and T.attrs["location"] == "vertices"
    assert T["T"].max() == pytest.approx(a.history.column("T_max_C")[-1] + 273.15, abs=1e-6)
    x = state["xH_LiCoO2"]
    assert x.attrs["unit"] == "1" and "mobile proton site fraction" in x.attrs["meaning"]
    assert "25.69 mV" in state["phi"].attrs["meaning"]
    # the stack's film heights in µm (the LiCoO2 film starts 500 µm up)
    assert x["x_um"].min() >= 500.0 - 1e-6 and x["x_um"].max() < 502.0
    with h5py.File(saved[0.0]) as f:               # the raw layout the docs describe
        assert f["meta"].attrs["length_scale_m"] == pytest.approx(1e-6)
        assert f["fields/T"].attrs["meaning"] == "temperature"
        assert f["fields/T/coords"].shape[1] == 3 and "level0" in f["fields/T"]
    with pytest.raises(RunFolderError, match="no checkpoints"):
        fem_cell.open_run(d / "imp").read_checkpoint()
