"""[electrochemistry] (small-signal model parameters) is data: values with units and
sources in the cell file, user overrides reach ElectrochemParameters, bad input gives one
line."""

import dataclasses

import pytest

from fem_cell.config import load_config
from fem_cell.errors import ConfigError


def test_cell_file_equals_documented_defaults():
    from fem_cell.physics.electrochem import ElectrochemParameters

    a = ElectrochemParameters.from_config(load_config())
    b = ElectrochemParameters()
    for f in dataclasses.fields(b):
        assert getattr(a, f.name) == pytest.approx(getattr(b, f.name), rel=1e-12), f.name


def test_user_overrides_reach_the_model(tmp_path):
    from fem_cell.physics.electrochem import ElectrochemParameters, _rct_to_i0

    p = tmp_path / "u.toml"
    p.write_text('[electrochemistry]\nli_interface_resistance = "5 Ohm cm2"\n'
                 'electrode_double_layer_capacitance = "20 uF/cm2"\n'
                 'lead_inductance = "1 uH"\n')
    cfg = load_config(p)
    e = ElectrochemParameters.from_config(cfg)
    assert e.li_exchange_current == pytest.approx(_rct_to_i0(5e-4))
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
