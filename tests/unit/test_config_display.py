"""`fem-cell config` listing: every resolved setting with value, unit, SI value, origin."""

import dataclasses
import json
import textwrap

import pytest

from fem_cell.config import OutputSettings, SolverSettings, load_config
from fem_cell.config.display import render
from fem_cell.config.sections import toml_keys
from fem_cell.meshing.settings import MeshSettings
from fem_cell.physics.parameters import DegradedLayerLaw, ExposureModel, ThermalBoundary


def _cell_file() -> dict:
    """The built-in cell file as TOML (its values are being re-fitted: read, not copied)."""
    import tomllib
    from importlib import resources

    return tomllib.loads((resources.files("fem_cell") / "data/cells/kobayashi2022.toml")
                         .read_text())


@pytest.fixture
def user(tmp_path):
    p = tmp_path / "user.toml"
    p.write_text(textwrap.dedent("""
        [layers.Li3PO4]
        thickness = "0.8 um"
        [solver]
        dt_max = "2 min"
        [mesh]
        cells_per_layer = 4
        [output]
        plots = false
    """))
    return p


def test_every_setting_is_listed(user):
    cfg = load_config(user)
    keys = set(cfg.settings)
    for prefix, cls in (("mesh", MeshSettings), ("solver", SolverSettings),
                        ("output", OutputSettings), ("thermal", ThermalBoundary)):
        for f in dataclasses.fields(cls):
            assert f"{prefix}.{f.name}" in keys, f"{prefix}.{f.name}"
    for lay in cfg.geometry.layers:
        for k in ("material", "thickness", "width"):
            assert f"layers.{lay.name}.{k}" in keys
    for m in cfg.materials.values():
        for k in m.properties:
            assert f"materials.{m.name}.{k}" in keys
    assert "anneal.initial_temperature" in keys and "anneal.segments[1].hold" in keys
    assert "geometry.width" in keys
    for k in ("gas", "duration", "temperature", "relative_humidity", "water_pressure"):
        assert f"exposure.{k}" in keys
    for d in (DegradedLayerLaw, ExposureModel):
        sec = "degraded_layer" if d is DegradedLayerLaw else "exposure_model"
        for k in toml_keys(d):
            assert f"{sec}.{k}" in keys, f"{sec}.{k}"
    for ph in ("LiCoO2", "Li3PO4"):
        for k in ("proton_diffusivity", "proton_diffusivity_activation_energy",
                  "lithium_diffusivity_from", "site_density", "lithium_diffusivity",
                  "lithium_diffusivity_activation_energy"):
            assert f"transport.{ph}.{k}" in keys
    for k in ("exchange.velocity", "exchange.velocity_activation_energy", "exchange.partition",
              "exchange.partition_activation_energy", "sink.mode", "sink.velocity",
              "sink.velocity_activation_energy"):
        assert f"transport.{k}" in keys
    text = render(cfg)
    for k in keys:
        assert k in text, k


def test_text_shows_unit_si_value_and_origin(user):
    text = render(load_config(user))
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln and not ln.startswith(" ")}
    assert lines["layers.Li3PO4.thickness"].split()[1:5] == ["0.8", "um", "8e-07", "m"]
    assert lines["layers.Li3PO4.thickness"].split()[5] == "user"
    flat = " ".join(text.split())       # the origin legend is wrapped at 120 columns
    assert f"user = {user}" in flat and "cell = <built-in cell kobayashi2022>" in flat
    lco = lines["layers.LiCoO2.thickness"].split()
    assert lco[1:6] == ["90", "nm", "9e-08", "m", "cell"]
    assert lines["solver.dt_max"].split()[1:6] == ["2", "min", "120", "s", "user"]
    assert lines["solver.dt_min"].split()[-1] == "default"
    assert lines["mesh.cells_per_layer"].split()[1:] == ["4", "user"]
    assert lines["mesh.growth"].split()[1:] == ["1.25", "default"]
    assert lines["output.plots"].split()[1:] == ["false", "user"]
    assert lines["anneal.segments[0].rate"].split()[1:5] == ["5", "K/min", "0.0833333", "K/s"]
    assert "9.000000000000001e-08" not in text and "0.08333333333333333" not in text
    assert "anneal program" in text and "6600" in text


def test_columns_are_aligned(user):
    text = render(load_config(user))
    rows = [ln for ln in text.splitlines() if ln.startswith(("layers.", "solver.", "mesh."))]
    header = next(ln for ln in text.splitlines() if ln.startswith("key "))
    col = header.index("origin")
    assert all(ln[col - 2:col] == "  " for ln in rows)


def test_json(user):
    data = json.loads(render(load_config(user), "json"))
    s = data["settings"]["layers.LiCoO2.thickness"]
    assert s == {"value": 90.0, "unit": "nm", "si_value": 9e-08, "si_unit": "m",
                 "origin": "<built-in cell kobayashi2022>", "source": s["source"]}
    assert s["source"].startswith("C:")
    assert data["settings"]["solver.dt_max"]["origin"] == str(user)
    assert data["settings"]["solver.dt_min"]["origin"] == "default"
    assert data["program"]["breakpoints_s"] == [0, 1500, 5100, 6600]
    assert data["li_layers"] == ["Li"] and data["warnings"] == []


def test_warnings_are_shown(tmp_path):
    p = tmp_path / "w.toml"
    p.write_text('[materials.Li]\nmelting_point = "170 degC"\n')
    cfg = load_config(p)
    assert "WARNING: " + cfg.warnings[0] in render(cfg)
    assert json.loads(render(cfg, "json"))["warnings"] == list(cfg.warnings)


def test_command_line_origin():
    text = render(load_config().with_mesh(dim=2))
    line = next(ln for ln in text.splitlines() if ln.startswith("mesh.dim "))
    assert line.split()[1] == "2" and line.endswith("command line")


def test_unknown_format():
    with pytest.raises(ValueError, match="unknown format"):
        render(load_config(), "yaml")


def test_chemistry_rows_and_exposure_line(tmp_path):
    p = tmp_path / "chem.toml"
    p.write_text('[exposure]\ngas = "air"\nrelative_humidity = "30 %"\n'
                 '[transport.exchange]\nvelocity = "2e-17 m/s"\n')
    cfg = load_config(p)
    text = render(cfg)
    lines = {ln.split()[0]: ln for ln in text.splitlines() if ln and not ln.startswith(" ")}
    assert lines["exposure.relative_humidity"].split()[1:6] == ["30", "%", "0.3", "1", "user"]
    assert lines["transport.exchange.velocity"].split()[1:6] == ["2e-17", "m/s", "2e-17", "m/s",
                                                                 "user"]
    ea = lines["transport.LiCoO2.proton_diffusivity_activation_energy"].split()
    cell_ea = _cell_file()["transport"]["LiCoO2"]["proton_diffusivity_activation_energy"]
    assert float(ea[1]) == pytest.approx(cell_ea["value"], rel=1e-12) and ea[2] == "eV"
    assert ea[3] == "cell" and len(ea) == 4        # no SI column: energies stay in eV
    # a rate the cell file writes as its prefactor is listed as that prefactor
    d_h = lines["transport.LiCoO2.proton_diffusivity"].split()
    cell_dh = _cell_file()["transport"]["LiCoO2"]["proton_diffusivity"]
    assert float(d_h[1]) == pytest.approx(cell_dh["prefactor"], rel=1e-12)
    all_lines = text.splitlines()
    i = all_lines.index(lines["transport.LiCoO2.proton_diffusivity"])
    assert all_lines[i + 1].lstrip().startswith("prefactor")   # its source note, below it
    d_li = lines["transport.Li3PO4.lithium_diffusivity"].split()
    assert d_li[2] == "m2/s" and d_li[5] == "derived"
    j = all_lines.index(lines["transport.Li3PO4.lithium_diffusivity"])
    assert "Nernst-Einstein" in all_lines[j + 1]
    assert "[exposure]" in text and "[transport]" in text and "[degraded_layer]" in text
    assert "exposure: air, 30 min at 25 degC, relative humidity 30 %" in text
    data = json.loads(render(cfg, "json"))
    ex = data["physics"]["exposure"]
    assert ex["gas"] == "air" and ex["relative_humidity"] == 0.3
    assert data["physics"]["chemistry"]["exchange"]["velocity"]["value"] == 2e-17
    assert data["settings"]["exposure.gas"]["origin"] == str(p)


def test_exposure_command_line_origin():
    text = render(load_config().with_exposure(gas="N2", duration=600.0))
    line = next(ln for ln in text.splitlines() if ln.startswith("exposure.duration "))
    assert line.split()[1:5] == ["10", "min", "600", "s"] and line.endswith("command line")
    assert "exposure: N2, 10 min at 25 degC (no water: leaves no protons)" in text


@pytest.mark.parametrize("files", [(), ("docs/examples/contact_100C.toml",)])
def test_listing_fits_120_columns_with_energies_in_ev(files):
    """Every line of the text listing fits 120 columns (source notes wrapped below their
    key); activation energies show in eV only (J is the model's business: --json)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    text = render(load_config(*(root / f for f in files)))
    assert max(len(ln) for ln in text.splitlines()) <= 120
    ea = [ln for ln in text.splitlines()
          if ln.startswith("transport.LiCoO2.trapping.detrapping_activation_energy")][0]
    assert ea.split()[1:4] == ["1.278", "eV", "cell"] and " J " not in ea + " "
