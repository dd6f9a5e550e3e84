"""Study specs: every problem is one line naming the spec file and the key, before any
case runs; ranges, grids, zips and program keys expand to the right cases."""

import math

import numpy as np
import pytest

from fem_cell.studies import SpecError, load_spec
from fem_cell.studies.runner import reach_analysis, table_rows

pytestmark = pytest.mark.serial

SHORT = {"anneal": {"segments": [{"ramp_to": "120 degC", "rate": "50 K/min"},
                                 {"hold": "5 min"}]}}


def _spec(params, **extra):
    d = {"study": {"name": "t"}, "config": SHORT, "parameters": params,
         "record": {"summary": ["R_interface_ohm_cm2"]}}
    d.update(extra)
    return d


def _error(d, tmp_path=None) -> str:
    with pytest.raises(SpecError) as e:
        load_spec(d, source="spec.toml")
    msg = str(e.value)
    assert "\n" not in msg
    assert msg.startswith("spec.toml: ")
    return msg


def test_unknown_parameter_key_names_the_case_and_key():
    msg = _error(_spec([{"key": "transport.exchange.velocityy", "values": ["1e-17 m/s"]}]))
    assert "case 0" in msg and "transport.exchange.velocityy" in msg and "known keys" in msg


def test_empty_range_and_empty_values():
    msg = _error(_spec([{"key": "transport.exchange.velocity",
                         "range": {"start": 1e-17, "stop": 1e-16, "num": 0, "unit": "m/s"}}]))
    assert "range.num" in msg and "empty range" in msg
    msg = _error(_spec([{"key": "transport.exchange.velocity", "values": []}]))
    assert "values" in msg and "non-empty" in msg


def test_wrong_units():
    msg = _error(_spec([{"key": "exposure.relative_humidity", "values": ["30 K"]}]))
    assert "exposure.relative_humidity" in msg and "temperature" in msg
    msg = _error(_spec([{"key": "program.hold_temperature",
                         "range": {"start": 1, "stop": 2, "num": 2, "unit": "min"}}]))
    assert "range.unit" in msg and "temperature" in msg
    msg = _error(_spec([{"key": "program.hold_time", "values": [5]}]))
    assert "program.hold_time" in msg and "unit" in msg


def test_melting_case_is_refused_before_anything_runs():
    msg = _error(_spec([{"key": "program.hold_temperature", "values": ["150 degC", "190 degC"]}]))
    assert "case 1" in msg and "190 degC" in msg and "melting point" in msg


def test_values_and_range_exclusive_and_keys():
    assert "exactly one of" in _error(_spec([{"key": "program.hold_time"}]))
    assert "program keys" in _error(_spec([{"key": "program.hold", "values": ["1 min"]}]))
    assert "index [7]" in _error(_spec([{"key": "anneal.segments[7].hold",
                                         "values": ["1 min"]}]))
    assert "study.job" in _error({**_spec([{"key": "program.hold_time", "values": ["1 min"]}]),
                                  "study": {"job": "bake"}})
    assert "known keys" in _error({**_spec([]), "stuff": 1})


def test_unknown_record_keys():
    p = [{"key": "program.hold_time", "values": ["1 min"]}]
    msg = _error(_spec(p, record={"summary": ["R_interfase"]}))
    assert "record.summary" in msg and "R_interfase" in msg
    msg = _error(_spec(p, record={"history": [{"column": "R", "times": ["1 min"]}]}))
    assert "record.history[0].column" in msg
    msg = _error(_spec(p, record={"history": [{"column": "R_interface_ohm_cm2",
                                               "times": ["10 h"]}]}))
    assert "record.history" in msg and "within the program" in msg
    msg = _error(_spec(p, plot={"value": "T_plate_max_C"}))
    assert "plot.value" in msg


def test_grid_zip_range_and_si_values():
    s = load_spec(_spec([
        {"key": "anneal.segments[0].ramp_to", "values": ["100 degC", "120 degC"]},
        {"key": "transport.exchange.velocity",
         "range": {"start": 1e-18, "stop": 1e-16, "num": 3, "log": True, "unit": "m/s"}}]))
    assert len(s.cases) == 6 and s.grid_shape() == (2, 3)
    assert s.cases[4].values == {"anneal.segments[0].ramp_to": "120 degC",
                                 "transport.exchange.velocity": "1e-17 m/s"}
    assert s.cases[4].si["anneal.segments[0].ramp_to"] == pytest.approx(393.15)
    assert s.cases[4].si["transport.exchange.velocity"] == pytest.approx(1e-17)
    # the [config] program list is indexed; outputs are quiet
    assert s.cases[0].overrides["output"] == {"fields": False, "plots": False, "render": False}
    z = load_spec(_spec([{"key": "program.hold_time", "values": ["1 min", "2 min"]},
                         {"key": "program.hold_temperature", "values": ["80 degC", "90 degC"]}],
                        study={"combine": "zip"}))
    assert [c.values["program.hold_temperature"] for c in z.cases] == ["80 degC", "90 degC"]
    assert "same number" in _error(_spec(
        [{"key": "program.hold_time", "values": ["1 min", "2 min"]},
         {"key": "program.hold_temperature", "values": ["80 degC"]}], study={"combine": "zip"}))


def test_program_keys_write_ramp_hold_ramp_from_the_base_program():
    s = load_spec({"study": {"name": "p"},
                   "parameters": [{"key": "program.hold_temperature", "values": ["100 degC"]}]})
    from fem_cell.config import load_config

    cfg = load_config(None, s.cases[0].overrides)
    # default cell program: 25 °C, 5 K/min, 60 min hold
    assert cfg.anneal.times.tolist() == pytest.approx([0, 900, 4500, 5400])
    assert cfg.anneal.temperatures.tolist() == pytest.approx([298.15, 373.15, 373.15, 298.15])
    assert s.cases[0].si["program.hold_temperature"] == pytest.approx(373.15)


def test_indexed_key_into_the_cell_program():
    s = load_spec({"study": {"name": "p"},
                   "parameters": [{"key": "anneal.segments[1].hold", "values": ["10 min"]}]})
    from fem_cell.config import load_config

    cfg = load_config(None, s.cases[0].overrides)
    assert cfg.anneal.times[2] - cfg.anneal.times[1] == pytest.approx(600)


def test_hash_ignores_plot_and_group_size(tmp_path):
    p = [{"key": "program.hold_time", "values": ["1 min"]}]
    a = load_spec(_spec(p))
    b = load_spec(_spec(p, plot={"log": True}, study={"name": "t", "group_size": 2}))
    c = load_spec(_spec([{"key": "program.hold_time", "values": ["2 min"]}]))
    assert a.hash == b.hash != c.hash


def test_spec_file_errors_name_the_file(tmp_path):
    f = tmp_path / "s.toml"
    f.write_text('[study]\nbase = "nope.toml"\n')
    with pytest.raises(SpecError, match=r"s\.toml: study\.base = 'nope\.toml'"):
        load_spec(f)
    f.write_text("[study\n")
    with pytest.raises(SpecError, match="valid TOML"):
        load_spec(f)


def test_reach_analysis_log_log():
    s = load_spec(_spec([{"key": "program.hold_temperature", "values": ["100 degC", "120 degC"]},
                         {"key": "program.hold_time", "values": ["1 min", "10 min", "100 min"]}],
                        config={}, summary={"reach": {"value": "R_interface_ohm_cm2",
                                                      "target": 12, "along": "program.hold_time"}}))
    recs = {}
    R = [[100, 40, 20], [50, 10, 9]]  # 120 °C reaches 12 between 1 and 10 min
    for c in s.cases:
        i, j = divmod(c.index, 3)
        recs[c.index] = {"status": "completed", "recorded": {"R_interface_ohm_cm2": R[i][j]},
                         "wall_time_s": 1.0}
    rows = table_rows(s, recs)
    out = reach_analysis(s, rows, s.reach)
    assert out["results"][0]["reached"] == "not reached"
    f = (math.log(12) - math.log(50)) / (math.log(10) - math.log(50))
    assert out["results"][1]["value"] == pytest.approx(math.exp(f * math.log(10)))
    assert out["unit"] == "min"
    assert np.isfinite(out["results"][1]["value"])


STUDIES = sorted((__import__("pathlib").Path(__file__).resolve().parents[2] / "studies")
                 .glob("*.toml"))


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.name)
def test_example_specs_validate(path):
    if "[design]" in path.read_text():
        from fem_cell.studies.design import load_design

        cand, pred, settings = load_design(path)
        assert cand.cases and len(pred.cases) == 1 and settings["sigma"] > 0
        return
    s = load_spec(path)
    if s.kind == "sweep":
        assert 1 <= len(s.cases) <= 64
    else:
        assert s.fit.parameters and s.fit.targets


def test_calibration_spec_parses_to_si_parameters_and_targets():
    s = load_spec(STUDIES[[p.name for p in STUDIES].index("calibration.toml")])
    p = {q["key"]: q for q in s.fit.parameters}
    ed = p["transport.LiCoO2.trapping.detrapping_activation_energy"]
    assert (ed["unit"], ed["lower"], ed["upper"], ed["log"]) == ("eV", 0.9, 1.6, False)
    assert ed["initial"] == pytest.approx(1.278)  # omitted: the cell file's value
    assert p["exposure_model.surface_fraction"]["log"] is True
    assert s.fit.method == "least_squares"
    t = {q["name"]: q for q in s.fit.targets}
    assert t["anneal 150 degC 1 h"]["value"] == 10.3
    assert t["anneal 150 degC 1 h"]["overrides"]["anneal.segments"][1] == {"hold": "1 h"}
    h2o = t["H2O 30 min >= 136"]
    assert h2o["job"] == "expose" and h2o["kind"] == "at_least"
    bad = {"study": {"kind": "calibration"},
           "parameters": [{"key": "transport.LiCoO2.trapping.detrapping_activation_energy",
                           "initial": "1.2 eV", "lower": "1.3 eV", "upper": "1.5 eV"}],
           "targets": [{"name": "x", "value": 1.0, "sigma": 1.0}]}
    assert "lower <= initial <= upper" in _error(bad)
    bad["parameters"][0].update(lower="1e-20 K")
    assert "parameters[0].lower" in _error(bad)


def test_posterior_spec_priors_and_sampler():
    s = load_spec(STUDIES[[p.name for p in STUDIES].index("posterior_quick.toml")])
    assert s.fit.method == "posterior"
    assert s.fit.sampler == {"walkers": 6, "steps": 12, "burn": 4, "seed": 1, "init": "ball",
                             "init_spread": 0.05}
    p = {q["key"]: q for q in s.fit.parameters}
    nu = p["transport.LiCoO2.trapping.detrapping_rate"]
    # bounds omitted: the cell file's plausible range; the cell gives the prefactor
    assert (nu["lower"], nu["upper"], nu["form"], nu["prior"]) == (1e12, 1e14, "prefactor",
                                                                   "auto")
    ed = p["transport.LiCoO2.trapping.detrapping_activation_energy"]
    assert (ed["lower"], ed["upper"]) == pytest.approx((1.0, 1.4))
    base = {"study": {"kind": "calibration"},
            "calibration": {"method": "posterior", "walkers": 4, "steps": 10},
            "parameters": [{"key": "transport.LiCoO2.trapping.detrapping_activation_energy",
                            "prior": "normal", "mean": "1.2 eV", "sd": "0.05 eV"}],
            "targets": [{"name": "x", "value": 1.0, "sigma": 1.0}]}
    ok = load_spec(base)
    q = ok.fit.parameters[0]
    assert (q["prior"], q["prior_mean"], q["prior_sd"]) == ("normal", pytest.approx(1.2),
                                                            pytest.approx(0.05))
    for change, where in (({"walkers": 3}, "calibration.walkers"),
                          ({"burn": 10}, "calibration.burn"),
                          ({"method": "mcmc"}, "calibration.method"),
                          ({"thin": 2}, "calibration")):
        bad = {**base, "calibration": {**base["calibration"], **change}}
        assert where in _error(bad)
    bad = {**base, "parameters": [{**base["parameters"][0], "prior": "uniform"}]}
    assert "prior" in _error(bad)
    bad = {**base, "parameters": [{"key": "degraded_layer.pristine_resistance"}]}
    assert "plausible range" in _error(bad)
    bad = {**base, "calibration": {"method": "least_squares", "walkers": 4}}
    assert "only with method = 'posterior'" in _error(bad)


def test_posterior_surrogate_settings():
    s = load_spec(STUDIES[[p.name for p in STUDIES].index("posterior_surrogate.toml")])
    assert s.fit.sampler["surrogate"] == {"points": 60, "rounds": 2, "refine": 20,
                                          "check": 20, "seed": 1}
    from fem_cell.studies.posterior import SamplerSettings
    from fem_cell.studies.surrogate import SurrogateSettings

    st = SamplerSettings(**s.fit.sampler)
    assert st.surrogate == SurrogateSettings(points=60, rounds=2, refine=20, check=20, seed=1)
    base = {"study": {"kind": "calibration"},
            "calibration": {"method": "posterior", "walkers": 4, "steps": 10,
                            "surrogate": "gp"},
            "parameters": [{"key": "transport.LiCoO2.trapping.detrapping_activation_energy"}],
            "targets": [{"name": "x", "value": 1.0, "sigma": 1.0}]}
    assert load_spec(base).fit.sampler["surrogate"] == {"seed": 1}      # the defaults
    for change, where in (({"surrogate": "nn"}, "calibration.surrogate"),
                          ({"surrogate_points": 0}, "calibration.surrogate_points"),
                          ({"surrogate_rounds": -1}, "calibration.surrogate_rounds"),
                          ({"surrogate": "none", "surrogate_check": 5},
                           "calibration.surrogate_check")):
        bad = {**base, "calibration": {**base["calibration"], **change}}
        assert where in _error(bad)
