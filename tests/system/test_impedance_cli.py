"""`fem-cell impedance` from the command line: pristine, --exposed, --state (a run folder
of `fem-cell expose`), bad arguments in one line."""

import csv
import json

import pytest
from helpers import run_cli as cli

pytestmark = pytest.mark.serial


def _summary(out):
    return json.loads((out / "summary.json").read_text())


def test_exposed_and_state_give_the_same_spectrum(tmp_path):
    assert cli("expose", "--out", tmp_path / "h2o", "-q", cwd=tmp_path).returncode == 0
    a = cli("impedance", "--exposed", "--out", tmp_path / "a", "-q", cwd=tmp_path)
    b = cli("impedance", "--state", tmp_path / "h2o", "--out", tmp_path / "b", "-q", cwd=tmp_path)
    assert a.returncode == 0 and b.returncode == 0, a.stderr + b.stderr
    sa, sb = _summary(tmp_path / "a"), _summary(tmp_path / "b")
    assert sa["R_interface_fit_ohm_cm2"] >= 136
    assert sb["R_interface_fit_ohm_cm2"] == pytest.approx(sa["R_interface_fit_ohm_cm2"], rel=1e-8)
    assert sb["R_interface_ohm_cm2"] == pytest.approx(sb["R_interface_fit_ohm_cm2"], rel=0.02)
    for k in ("R_interface_fit_stderr_ohm_cm2", "kk_residual_max", "R_interface_ohm_cm2"):
        assert k in sb
    with open(tmp_path / "b" / "impedance.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 61 and list(rows[0]) == ["frequency_Hz", "Z_real_ohm_cm2",
                                                 "Z_imag_ohm_cm2", "Z_abs_ohm_cm2", "phase_deg"]


def test_temperature_and_frequencies(tmp_path):
    r = cli("impedance", "--temperature-C", "150", "--frequencies", "1", "1e7", "21",
            "--method", "direct", "--out", tmp_path / "o", "-q", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    s = _summary(tmp_path / "o")
    assert s["temperature_C"] == pytest.approx(150.0) and s["frequencies"]["n"] == 21
    assert s["method"] == "direct"


@pytest.mark.parametrize("args", [["--frequencies", "10", "1", "5"],
                                  ["--frequencies", "1", "10", "1.5"],
                                  ["--temperature-C", "-300"],
                                  ["--exposed", "--state", "nowhere"]])
def test_bad_arguments_one_line(tmp_path, args):
    r = cli("impedance", *args, "--out", tmp_path / "o", cwd=tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert len([ln for ln in r.stderr.splitlines() if ln.strip()]) == 1, r.stderr
    assert not (tmp_path / "o").exists()
