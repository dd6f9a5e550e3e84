"""The impedance job end to end (1-D): run folder, files, columns, summary; the fitted
interface resistance equals the state's own R_interface (pristine, exposed, annealed
anneal-run folder); reference cases 1, 2, 5 and 6 from the job's outputs; refusal and
failure bookkeeping."""

import csv
import json

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.config import load_config
from fem_cell.jobs.impedance import CSV_COLUMNS, impedance_job

pytestmark = pytest.mark.serial

SHORT = {"anneal": {"segments": [{"ramp_to": "150 degC", "rate": "50 K/min"},
                                 {"hold": "10 min"}]},
         "output": {"plots": False, "render": False, "fields": False}}
SUMMARY_KEYS = ("R_interface_fit_ohm_cm2", "R_interface_fit_stderr_ohm_cm2", "kk_residual_max",
                "R_interface_ohm_cm2", "H_LiCoO2_mol_m2", "H_Li3PO4_mol_m2", "status",
                "temperature_C", "method", "factorizations", "wall_time_s", "R_bulk_fit_ohm_cm2",
                "C_bulk_fit_F_cm2", "C_interface_fit_F_cm2", "R_Li_fit_ohm_cm2",
                "C_Li_fit_F_cm2", "R_diffusion_fit_ohm_cm2", "tau_diffusion_fit_s")


def summary(out):
    return json.loads((out / "summary.json").read_text())


@pytest.fixture(scope="module")
def cfg():
    return load_config(None, overrides=SHORT)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory, cfg):
    out = tmp_path_factory.mktemp("imp") / "pristine"
    impedance_job(cfg, out, MPI.COMM_WORLD, progress=False)
    return out


@pytest.fixture(scope="module")
def anneal_run(tmp_path_factory, cfg):
    from fem_cell.jobs.anneal import anneal_job

    out = tmp_path_factory.mktemp("imp") / "anneal"
    anneal_job(cfg, out, MPI.COMM_WORLD, progress=False)
    return out


def test_pristine_files_columns_summary(pristine):
    run = json.loads((pristine / "run.json").read_text())
    assert run["status"] == "completed" and run["job"] == "impedance"
    for f in ("impedance.csv", "contributions.csv", "spectrum_impedancepy.csv", "nyquist.png",
              "bode.png", "summary.json", "run.json"):
        assert (pristine / f).stat().st_size > 0, f
        assert f in run["files"], f
    with open(pristine / "impedance.csv") as fh:
        rows = list(csv.reader(fh))
    assert tuple(rows[0]) == CSV_COLUMNS
    data = np.array(rows[1:], float)
    assert data.shape == (61, 5)
    assert data[0, 0] == pytest.approx(1e-2) and data[-1, 0] == pytest.approx(1e6)
    Z = data[:, 1] + 1j * data[:, 2]
    assert np.allclose(np.abs(Z), data[:, 3], rtol=1e-10)
    assert np.allclose(np.degrees(np.angle(Z)), data[:, 4], atol=1e-8)
    with open(pristine / "contributions.csv") as fh:
        elems = [r["element"] for r in csv.DictReader(fh)]
    for e in ("Li3PO4 bulk", "degraded layer", "LiCoO2 charge transfer", "Li interface",
              "LiCoO2 diffusion", "leads"):
        assert e in elems
    spec = np.loadtxt(pristine / "spectrum_impedancepy.csv", delimiter=",")
    assert spec.shape == (61, 3)
    s = summary(pristine)
    for k in SUMMARY_KEYS:
        assert k in s, k
    assert s["status"] == "completed" and s["method"] == "rom"
    assert s["temperature_C"] == pytest.approx(25.0)


def test_pristine_reference_case_1(pristine):
    s = summary(pristine)
    assert s["R_interface_ohm_cm2"] == pytest.approx(9.75)
    assert s["R_interface_fit_ohm_cm2"] == pytest.approx(s["R_interface_ohm_cm2"], rel=0.02)
    assert 8.6 <= s["R_interface_fit_ohm_cm2"] <= 10.3
    assert s["kk_residual_max"] < 1e-3
    assert s["H_LiCoO2_mol_m2"] == 0.0


def test_exposed_state_reference_case_2(anneal_run, tmp_path, cfg):
    ck = anneal_run / "checkpoints" / "t000000000.000s.h5"     # the exposed initial state
    out = tmp_path / "exposed"
    impedance_job(cfg, out, MPI.COMM_WORLD, state=ck, progress=False)
    s = summary(out)
    assert s["R_interface_fit_ohm_cm2"] >= 136.0
    assert s["R_interface_fit_ohm_cm2"] == pytest.approx(s["R_interface_ohm_cm2"], rel=0.02)
    assert s["kk_residual_max"] < 1e-3
    assert s["H_LiCoO2_mol_m2"] > 0
    # the state's R is the anneal's own (same film mesh, node for node)
    from fem_cell.solvers.checkpoint import read_checkpoint_meta

    meta = read_checkpoint_meta(ck)["meta"]
    assert s["R_interface_ohm_cm2"] == pytest.approx(meta["R_interface_ohm_cm2"], rel=1e-9)


def test_annealed_run_folder_as_state(anneal_run, tmp_path, cfg):
    out = tmp_path / "annealed"
    impedance_job(cfg, out, MPI.COMM_WORLD, state=anneal_run, progress=False)
    s = summary(out)
    assert s["operating_point"] == "state" and s["state_time_s"] == pytest.approx(750.0)
    assert s["R_interface_fit_ohm_cm2"] == pytest.approx(s["R_interface_ohm_cm2"], rel=0.02)
    a = json.loads((anneal_run / "summary.json").read_text())
    final = {k: v for k, v in a.items() if "R_interface" in k}
    assert any(np.isclose(v, s["R_interface_ohm_cm2"], rtol=1e-9)
               for v in final.values() if isinstance(v, float)), final
    assert s["H_Li3PO4_mol_m2"] > 0 or s["H_LiCoO2_mol_m2"] >= 0


def test_case5_interface_arc_moves_down_by_resistance_ratio(pristine, anneal_run, tmp_path,
                                                            cfg):
    out = tmp_path / "exposed5"
    impedance_job(cfg, out, MPI.COMM_WORLD, progress=False,
                  state=anneal_run / "checkpoints" / "t000000000.000s.h5")
    p, d = summary(pristine), summary(out)
    assert d["C_interface_fit_F_cm2"] == pytest.approx(p["C_interface_fit_F_cm2"], rel=0.02)
    shift = p["apex_frequencies_Hz"]["interface"] / d["apex_frequencies_Hz"]["interface"]
    ratio = d["R_interface_fit_ohm_cm2"] / p["R_interface_fit_ohm_cm2"]
    assert shift == pytest.approx(ratio, rel=0.02)
    assert ratio > 10


def test_case6_bulk_resistance_ratio(pristine, tmp_path, cfg):
    out = tmp_path / "hot"
    impedance_job(cfg, out, MPI.COMM_WORLD, temperature=423.15, progress=False)
    p, h = summary(pristine), summary(out)
    assert h["temperature_C"] == pytest.approx(150.0)
    ratio = p["R_bulk_fit_ohm_cm2"] / h["R_bulk_fit_ohm_cm2"]
    assert 560 <= ratio <= 990
    assert h["R_interface_fit_ohm_cm2"] == pytest.approx(h["R_interface_ohm_cm2"], rel=0.02)
    assert h["kk_residual_max"] < 1e-3


def test_refuses_existing_folder_and_records_failure(pristine, tmp_path, cfg):
    from fem_cell.outputs.rundir import OutputError
    from fem_cell.solvers.checkpoint import CheckpointError

    with pytest.raises(OutputError):
        impedance_job(cfg, pristine, MPI.COMM_WORLD, progress=False)
    out = tmp_path / "bad"
    with pytest.raises(CheckpointError):
        impedance_job(cfg, out, MPI.COMM_WORLD, state=tmp_path / "nothing", progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "nothing" in run["reason"]
    assert summary(out)["status"] == "failed"


def test_2d_job_field_maps_and_1d_comparison(tmp_path):
    """Coarse 2-D cross-section (1 mm pad on 3 mm films): field maps at the two apex
    frequencies in a .pvd series whose time values are the frequencies, the 2-D vs 1-D
    comparison in summary.json, and the fit equal to the state's R within 2 %."""
    import xml.etree.ElementTree as ET

    cfg = load_config(None).with_mesh(dim=2, lateral_cells=8, lateral_growth=1.5)
    out = tmp_path / "eis2d"
    impedance_job(cfg, out, MPI.COMM_WORLD, progress=False)
    s = summary(out)
    assert s["dim"] == 2 and s["status"] == "completed"
    assert s["R_interface_fit_ohm_cm2"] == pytest.approx(s["R_interface_ohm_cm2"], rel=0.02)
    c = s["comparison_1d"]
    assert c["available"] and 0 < c["Z_max_relative_difference"] < 0.01
    assert abs(c["R_interface_fit_difference_ohm_cm2"]) < 0.02 * s["R_interface_ohm_cm2"]
    pvd = ET.parse(out / "fields" / "impedance.pvd").getroot()
    times = [float(d.get("timestep")) for d in pvd.iter("DataSet")]
    assert times == pytest.approx(sorted(s["field_frequencies_Hz"]))
    ap = s["apex_frequencies_Hz"]
    assert times == pytest.approx(sorted([ap["bulk"], ap["interface"]]))
    run = json.loads((out / "run.json").read_text())
    assert "fields/impedance.pvd" in run["files"]
    # the maps as a picture (Re δφ and |Re j| per frequency, layers drawn equally high)
    assert "impedance_2d.png" in run["files"]
    assert (out / "impedance_2d.png").stat().st_size > 30_000


def test_interrupt_via_guard_is_recorded(tmp_path, cfg):
    """A signal seen by the guard (polled around the sweep) stops the run: run.json and
    summary.json say ``interrupted``."""
    import signal
    from contextlib import contextmanager

    from fem_cell.jobs.interrupts import Interrupted

    class Guard:
        pending = None

        @contextmanager
        def deferred(self):
            yield self

        def check(self, comm, t=None):
            raise Interrupted(signal.SIGINT, t, collective=True)

    out = tmp_path / "stopped"
    with pytest.raises(Interrupted):
        impedance_job(cfg, out, MPI.COMM_WORLD, guard=Guard(), progress=False)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "interrupted" and run["reason"] == "SIGINT"
    assert summary(out)["status"] == "interrupted"
