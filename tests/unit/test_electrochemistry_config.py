"""[electrochemistry] (small-signal model parameters) is data: values with units and
sources in the cell file, user overrides reach ElectrochemParameters, bad input gives one
line."""

import pytest

from fem_cell.config import load_config
from fem_cell.errors import ConfigError


def test_cell_file_gives_the_model_parameters():
    from fem_cell.model import electrochem_parameters

    cfg = load_config()
    e = electrochem_parameters(cfg)
    lpo = cfg.materials["Li3PO4"]
    assert e.electrolyte_conductivity.value == lpo["ionic_conductivity"]
    assert e.electrolyte_conductivity.activation_energy == lpo[
        "ionic_conductivity_activation_energy"]
    ec = cfg.electrochemistry
    for f in ("electrode_site_fraction", "ocv_slope", "electrode_double_layer_capacitance",
              "li_double_layer_capacitance", "alpha_a", "alpha_c", "pad_area"):
        assert getattr(e, f) == getattr(ec, f), f
    assert e.degraded_relative_permittivity == 0.0  # the job model (docs/impedance.md)


@pytest.mark.parametrize("alphas", [(0.5, 0.5), (1.0, 1.0), (0.3, 0.4)])
def test_li_interface_resistance_is_kept_for_any_transfer_coefficients(tmp_path, alphas):
    """R_ct = R T/(F i0 (α_a + α_c)): the configured Li|Li3PO4 resistance is what the
    linearised Butler–Volmer law gives, whatever α_a + α_c (it used to assume 1)."""
    from fem_cell.constants import FARADAY, GAS_CONSTANT
    from fem_cell.model import electrochem_parameters

    a, c = alphas
    p = tmp_path / "u.toml"
    p.write_text(f'[electrochemistry]\nalpha_a = {a}\nalpha_c = {c}\n')
    e = electrochem_parameters(load_config(p))
    T = 298.15
    R = GAS_CONSTANT * T / (FARADAY * e.li_i0(T) * (e.alpha_a + e.alpha_c))
    assert R == pytest.approx(2e-4, rel=1e-12)  # 2 Ohm cm2 of the cell file


def test_user_overrides_reach_the_model(tmp_path):
    from fem_cell.constants import FARADAY, GAS_CONSTANT
    from fem_cell.model import electrochem_parameters

    p = tmp_path / "u.toml"
    p.write_text('[electrochemistry]\nli_interface_resistance = "5 Ohm cm2"\n'
                 'electrode_double_layer_capacitance = "20 uF/cm2"\n'
                 'lead_inductance = "1 uH"\n')
    cfg = load_config(p)
    e = electrochem_parameters(cfg)
    assert e.li_exchange_current.value == pytest.approx(GAS_CONSTANT * 298.15 / (FARADAY * 5e-4))
    assert e.electrode_double_layer_capacitance == pytest.approx(0.2)
    assert e.lead_inductance == pytest.approx(1e-6)
    assert cfg.settings["electrochemistry.li_interface_resistance"].origin == str(p)


@pytest.mark.parametrize("line,key", [
    ('ocv_slope = "0.5 V"', "electrochemistry.ocv_slope"),
    ('pad_area = "1 s"', "electrochemistry.pad_area"),
    ('double_layer = "10 uF/cm2"', "electrochemistry.double_layer"),
    ('electrode_site_fraction = "1.5"', "electrochemistry.electrode_site_fraction"),
])
def test_bad_values_one_line(tmp_path, line, key):
    p = tmp_path / "bad.toml"
    p.write_text(f"[electrochemistry]\n{line}\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}: {key} = ") and "\n" not in msg
