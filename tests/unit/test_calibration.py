"""The least-squares machinery of fem_cell.studies.calibration on cheap analytic "cases" (no PDE
solves): a runner stands in for fem_cell.studies.cases.run_case."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from fem_cell._dolfinx import MPI
from fem_cell.studies.calibration import (
    CalibrationError,
    FitParameter,
    Target,
    calibrate,
    parse_quantity_name,
    quantity_value,
    residual_of,
)


def _value(ov, key):
    v = ov[key]
    return v["value"] if isinstance(v, dict) else v


def make_runner(fn, calls=None):
    """A case runner evaluating ``fn(params, case_overrides) -> dict`` (all keys "p.*" are
    parameters, the rest describe the case)."""
    def runner(base_config, layers, job, record, comm):
        overrides = {}
        for layer in layers:          # [quiet output, base, target, parameter values]
            overrides.update(layer)
        params = {k: _value(overrides, k) for k in overrides if k.startswith("p.")}
        if calls is not None:
            calls.append((job, dict(overrides)))
        out = fn(params, overrides)
        keep = {k: out[k] for k in record.summary}
        for col, t in record.history:
            keep[f"{col}@{t:g}s"] = out[f"{col}@{t:g}s"]
        return keep
    return runner


def test_recovers_known_parameters_of_R_a_over_k_plus_b():
    """R(T) = a/k(T) + b with k(T) = k0 exp(-E (1/T - 1/T0)): targets generated with known
    (k0, E, b); started elsewhere, the fit recovers them."""
    true = {"p.k0": 3e-3, "p.E": 2.0, "p.b": 10.0}
    temps = [1.0, 1.5, 2.0, 3.0]

    def model(p, ov):
        T = ov["case.T"]
        k = p["p.k0"] * math.exp(-p["p.E"] * (1.0 / T - 1.0))
        return {"R": 0.5 / k + p["p.b"]}

    targets = [Target(f"T{T}", {"case.T": T}, "anneal", "R", model(true, {"case.T": T})["R"],
                      0.01, "log") for T in temps]
    params = [FitParameter("p.k0", 1e-2, lower=1e-5, upper=1.0, unit="1"),
              FitParameter("p.E", 1.0, lower=0.0, upper=5.0, log=False, unit="1"),
              FitParameter("p.b", 5.0, lower=1.0, upper=100.0, unit="1")]
    res = calibrate(None, params, targets, MPI.COMM_SELF, runner=make_runner(model),
                    progress=False, max_nfev=100, fd_step=1e-6)
    v = res.values
    assert v["p.k0"] == pytest.approx(true["p.k0"], rel=1e-4)
    assert v["p.E"] == pytest.approx(true["p.E"], abs=1e-4)
    assert v["p.b"] == pytest.approx(true["p.b"], rel=1e-4)
    assert res.cost < 1e-8
    assert all(t["satisfied"] for t in res.targets)
    assert res.dof == 1 and res.error_basis == "residual variance"


def test_linear_model_standard_errors_match_analytic():
    """y_i = a + b x_i, linear residuals: the standard errors are those of ordinary least
    squares, s² (XᵀX)⁻¹ with s² = SSR/(m − 2) (data with noise)."""
    x = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    noise = np.array([0.3, -0.2, 0.1, 0.25, -0.4, 0.05])
    y = 2.0 + 0.7 * x + noise
    sigma = 0.5

    def model(p, ov):
        return {"y": p["p.a"] + p["p.b"] * ov["case.x"]}

    targets = [Target(f"y{i}", {"case.x": float(xi)}, "anneal", "y", float(yi), sigma,
                      "linear") for i, (xi, yi) in enumerate(zip(x, y, strict=True))]
    params = [FitParameter("p.a", 0.0, lower=-10, upper=10, log=False, unit="1"),
              FitParameter("p.b", 0.0, lower=-10, upper=10, log=False, unit="1")]
    res = calibrate(None, params, targets, MPI.COMM_SELF, runner=make_runner(model),
                    progress=False, max_nfev=50)
    X = np.column_stack([np.ones_like(x), x])
    beta, *_ = np.linalg.lstsq(X, y, rcond=None)
    ssr = float(np.sum((y - X @ beta) ** 2))
    cov = ssr / (len(x) - 2) * np.linalg.inv(X.T @ X)
    a, b = res.parameters
    assert a["value"] == pytest.approx(beta[0], abs=1e-7)
    assert b["value"] == pytest.approx(beta[1], abs=1e-7)
    assert a["stderr"] == pytest.approx(math.sqrt(cov[0, 0]), rel=1e-5)
    assert b["stderr"] == pytest.approx(math.sqrt(cov[1, 1]), rel=1e-5)
    # errors from the sigmas alone: (XᵀX / σ²)⁻¹
    cov1 = sigma ** 2 * np.linalg.inv(X.T @ X)
    assert a["stderr_fit_sigmas"] == pytest.approx(math.sqrt(cov1[0, 0]), rel=1e-5)
    rho = cov[0, 1] / math.sqrt(cov[0, 0] * cov[1, 1])
    assert res.correlation[0][1] == pytest.approx(rho, abs=1e-5)


def test_exactly_determined_uses_target_sigmas():
    def model(p, ov):
        return {"y": 3.0 * p["p.a"]}

    res = calibrate(None, [FitParameter("p.a", 1.0, lower=0.1, upper=10, unit="1")],
                    [Target("y", {}, "anneal", "y", 6.0, 0.02, "log")], MPI.COMM_SELF,
                    runner=make_runner(model), progress=False)
    p = res.parameters[0]
    assert p["value"] == pytest.approx(2.0, rel=1e-6)
    assert res.dof == 0 and "exactly determined" in res.error_basis
    # log y = log 3 + ln10 · log10 a  →  σ_log10(a) = 0.02 / ln 10
    assert p["stderr_fit"] == pytest.approx(0.02 / math.log(10.0), rel=1e-4)
    assert p["factor"] == pytest.approx(10 ** (0.02 / math.log(10.0)), rel=1e-6)


def test_one_sided_targets():
    """A hinge that holds costs nothing and does not move the parameter; one that is
    violated pulls the parameter exactly to its bound value."""
    def model(p, ov):
        return {"y": p["p.a"]}

    pa = FitParameter("p.a", 1.0, lower=0.1, upper=10, unit="1")
    run = make_runner(model)
    res = calibrate(None, [pa], [Target("lo", {}, "anneal", "y", 0.5, 0.1, "log", "at_least"),
                                 Target("hi", {}, "anneal", "y", 2.0, 0.1, "log", "at_most")],
                    MPI.COMM_SELF, runner=run, progress=False)
    assert res.values["p.a"] == pytest.approx(1.0)
    assert res.cost == 0.0
    assert not any(t["active"] for t in res.targets)
    assert all(t["satisfied"] for t in res.targets)
    assert not res.parameters[0]["identifiable"]
    assert math.isinf(res.parameters[0]["stderr"])
    # violated: at least 3 — and a weak equal target at 1 pulling the other way
    res = calibrate(None, [pa], [Target("lo", {}, "anneal", "y", 3.0, 0.01, "log", "at_least"),
                                 Target("weak", {}, "anneal", "y", 1.0, 10.0, "log")],
                    MPI.COMM_SELF, runner=run, progress=False, max_nfev=100)
    assert res.values["p.a"] == pytest.approx(3.0, rel=2e-3)
    assert res.targets[0]["residual"] <= 0.0 and abs(res.targets[0]["residual"]) < 0.2


def test_residual_of_kinds():
    t = Target("x", value=10.0, sigma=0.1, transform="log")
    assert residual_of(t, 10.0 * math.e ** 0.1) == pytest.approx(1.0)
    t = Target("x", value=10.0, sigma=2.0, transform="linear", kind="at_least")
    assert residual_of(t, 12.0) == 0.0
    assert residual_of(t, 6.0) == pytest.approx(-2.0)
    t = Target("x", value=10.0, sigma=2.0, transform="linear", kind="at_most")
    assert residual_of(t, 6.0) == 0.0
    assert residual_of(t, 14.0) == pytest.approx(2.0)


def test_bounds_are_respected():
    """The unconstrained optimum (a = 100) lies beyond the upper bound 10: the fit stops at
    the bound and says so."""
    def model(p, ov):
        return {"y": p["p.a"]}

    res = calibrate(None, [FitParameter("p.a", 1.0, lower=0.1, upper=10.0, unit="1")],
                    [Target("y", {}, "anneal", "y", 100.0, 0.05, "log")], MPI.COMM_SELF,
                    runner=make_runner(model), progress=False, max_nfev=50)
    p = res.parameters[0]
    assert p["value"] <= 10.0
    assert p["value"] == pytest.approx(10.0, rel=1e-6)
    assert p["at_bound"]
    with pytest.raises(CalibrationError, match="lower > 0"):
        FitParameter("p.a", 1.0, lower=0.0, upper=1.0)
    with pytest.raises(CalibrationError, match="outside"):
        FitParameter("p.a", 5.0, lower=0.1, upper=1.0)


def test_cases_shared_between_targets_and_parameter_overrides(tmp_path):
    """Targets with the same job and overrides share one run; parameters arrive as
    {value, unit} overrides in their unit; results are written."""
    calls = []

    def model(p, ov):
        return {"R_interface_ohm_cm2": 2.0 * p["p.k"], "H_LiCoO2_removed_fraction": 0.95,
                "R_interface_ohm_cm2_initial": 4.0 * p["p.k"],
                "R_interface_ohm_cm2@600s": 3.0 * p["p.k"]}

    targets = [Target("R", {"anneal.x": 1}, "anneal", "R_interface_ohm_cm2", 4.0, 0.01),
               Target("removed", {"anneal.x": 1}, "anneal", "H_LiCoO2_removed_fraction", 0.93,
                      0.01, "linear", "at_least"),
               Target("ratio", {"anneal.x": 1}, "anneal",
                      "R_interface_ohm_cm2@600s/R_interface_ohm_cm2_initial", 0.75, 0.01)]
    res = calibrate(None, [FitParameter("p.k", 1.0, lower=0.1, upper=10, unit="m/s")],
                    targets, MPI.COMM_SELF, runner=make_runner(model, calls), progress=False,
                    out=tmp_path / "cal")
    assert res.values["p.k"] == pytest.approx(2.0, rel=1e-6)
    assert len(calls) == len(res.evaluations)          # one run per evaluation (one case)
    assert calls[0][1]["p.k"] == {"value": 1.0, "unit": "m/s"}
    assert calls[0][1]["anneal.x"] == 1
    d = json.loads((tmp_path / "cal" / "parameters.json").read_text())
    assert d["parameters"][0]["key"] == "p.k"
    assert (tmp_path / "cal" / "targets.csv").read_text().count("\n") == 4
    assert res.overrides() == {"p.k": {"value": res.values["p.k"], "unit": "m/s"}}
    assert "p.k" in res.table() and "ratio" in res.table()


def test_override_layers_merge_tables_and_set_dotted_keys():
    from fem_cell.studies.calibration import apply_overrides

    user = {"mesh": {"dim": 1, "cells_per_layer": 8}, "output": {"plots": True}}
    d = apply_overrides(user, {"mesh": {"cells_per_layer": 32},
                               "transport.exchange.velocity": {"value": 2e-17, "unit": "m/s"},
                               "anneal.segments": [{"hold": "1 h"}]})
    assert d["mesh"] == {"dim": 1, "cells_per_layer": 32}
    assert d["transport"]["exchange"]["velocity"] == {"value": 2e-17, "unit": "m/s"}
    assert d["anneal"]["segments"] == [{"hold": "1 h"}]
    assert user["mesh"]["cells_per_layer"] == 8            # not modified


def test_quantity_names():
    assert parse_quantity_name("R_interface_ohm_cm2@604800s/R_interface_ohm_cm2_initial") == (
        ["R_interface_ohm_cm2_initial"], [("R_interface_ohm_cm2", 604800.0)])
    assert quantity_value("a@6.048e5s/b", {"a@604800s": 3.0, "b": 4.0}) == 0.75
    with pytest.raises(CalibrationError):
        parse_quantity_name("a@10")
    with pytest.raises(CalibrationError):
        Target("x", quantity="a/b/c")
    with pytest.raises(CalibrationError):
        quantity_value("zz", {"a": 1.0})


def test_initial_and_unit_from_the_base_configuration():
    """initial=None / unit=None take the cell file's value and unit (a rate the cell file
    writes as ``value``; the number is read from the configuration, not copied here)."""
    from fem_cell.config import load_config

    key = "transport.sink.velocity"
    s = load_config().settings[key]
    assert not s.source.startswith("prefactor")  # written as its value at 25 °C
    x0, unit = float(s.value), s.unit
    seen = []

    def model(p, ov):
        seen.append(ov[key])
        return {"y": ov[key]["value"] / x0}

    res = calibrate(None, [FitParameter(key, lower=x0 / 1e3, upper=x0 * 1e3)],
                    [Target("y", {}, "anneal", "y", 2.0, 0.01)], MPI.COMM_SELF,
                    runner=make_runner(model), progress=False)
    assert seen[0] == {"value": pytest.approx(x0), "unit": unit}
    assert res.parameters[0]["initial"] == pytest.approx(x0)
    assert res.values[key] == pytest.approx(2 * x0, rel=1e-6)


def test_prefactor_form_from_the_base_configuration():
    """form="prefactor": the fitted number is the rate's prefactor k(T → ∞), passed to
    the cases as ``{prefactor, unit}``; initial=None takes the prefactor the cell file
    writes, and is refused for a rate the cell file writes as its value."""
    from fem_cell.config import load_config

    key = "transport.exchange.velocity"
    s = load_config().settings[key]
    assert s.source.startswith("prefactor")  # written as its prefactor
    k0, unit = float(s.value), s.unit
    seen = []

    def model(p, ov):
        seen.append(ov[key])
        return {"y": ov[key]["prefactor"] / k0}

    res = calibrate(None, [FitParameter(key, lower=k0 / 1e3, upper=k0 * 1e3,
                                        form="prefactor")],
                    [Target("y", {}, "anneal", "y", 0.5, 0.01)], MPI.COMM_SELF,
                    runner=make_runner(model), progress=False)
    assert seen[0] == {"prefactor": pytest.approx(k0), "unit": unit}
    assert res.values[key] == pytest.approx(0.5 * k0, rel=1e-6)
    with pytest.raises(CalibrationError, match="initial prefactor"):
        calibrate(None, [FitParameter("transport.sink.velocity", lower=1e-12, upper=1e-3,
                                      form="prefactor")],
                  [Target("y", {}, "anneal", "y", 2.0, 0.01)], MPI.COMM_SELF,
                  runner=make_runner(model), progress=False)
    with pytest.raises(CalibrationError, match="form"):
        FitParameter(key, lower=1.0, upper=2.0, form="log")
