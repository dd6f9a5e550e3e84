"""The posterior sampler against closed forms (linear-Gaussian problem, priors alone) and
its resume contract.  The model is a toy case runner (tests/helpers_posterior.py): these
tests verify the sampling machinery, not the cell model."""

import math

import numpy as np
import pytest
from helpers_posterior import closed_form, toy_problem, toy_runner

from fem_cell._dolfinx import MPI
from fem_cell.studies.calibration import CalibrationError, FitParameter, Target
from fem_cell.studies.posterior import (
    SamplerSettings,
    log_prior,
    prior_interval,
    sample_posterior,
)

pytestmark = pytest.mark.verification
SELF = MPI.COMM_SELF


def _run(params, targets, **kw):
    s = SamplerSettings(**{"walkers": 16, "steps": 3000, "seed": 3, "init_spread": 0.01, **kw})
    return sample_posterior(None, params, targets, SELF, settings=s, runner=toy_runner,
                            progress=False)


def test_linear_gaussian_posterior_matches_closed_form():
    params, targets, y = toy_problem(seed=0)
    res = _run(params, targets)
    mean, cov = closed_form(y)
    v = res.kept()[0]
    sd = np.sqrt(np.diag(cov))
    ess = np.array(res.diagnostics["ess"])
    assert ess.min() > 300
    # Monte-Carlo error of the mean: sd / sqrt(ESS); 4 of them
    assert np.all(np.abs(v.mean(0) - mean) < 4 * sd / np.sqrt(ess)), (v.mean(0), mean)
    # of the standard deviation: ~ sd / sqrt(2 ESS); 4 of them
    assert np.all(np.abs(v.std(0) - sd) < 4 * sd / np.sqrt(2 * ess)), (v.std(0), sd)
    # the correlation (−0.85 for these times)
    rho = cov[0, 1] / (sd[0] * sd[1])
    assert abs(np.corrcoef(v.T)[0, 1] - rho) < 0.05
    assert max(res.diagnostics["rhat"]) < 1.1
    ident = res.identifiability()
    assert list(ident["constrained"]) == ["yes", "yes"]
    # the 90 % interval of a Gaussian: mean ± 1.645 sd
    assert np.allclose(ident["p95"] - ident["p05"], 2 * 1.645 * sd, rtol=0.1)


def test_priors_alone_are_reproduced():
    """A target that carries no information (sigma 1e6): the posterior is the prior —
    normal (truncated far out) and log-uniform."""
    pn = FitParameter("toy.a", 2.0, lower=-10, upper=14, log=False, unit="1", prior="normal",
                      prior_mean=2.0, prior_sd=1.5)
    pl = FitParameter("toy.b", 1e-3, lower=1e-6, upper=1.0, log=True, unit="1",
                      prior="log-uniform")
    t = [Target("y", {"toy.t": 1.0}, "anneal", "R_interface_ohm_cm2", 0.0, 1e6, "linear")]
    res = _run([pn, pl], t, steps=4000, init="prior")
    v = res.kept()[0]
    ess = np.array(res.diagnostics["ess"])
    assert abs(v[:, 0].mean() - 2.0) < 4 * 1.5 / math.sqrt(ess[0])
    assert abs(v[:, 0].std() - 1.5) < 4 * 1.5 / math.sqrt(2 * ess[0])
    lz = np.log10(v[:, 1])  # uniform on [-6, 0]: mean -3, sd 6/sqrt(12)
    assert abs(lz.mean() + 3) < 4 * (6 / math.sqrt(12)) / math.sqrt(ess[1])
    ident = res.identifiability()
    assert list(ident["constrained"]) == ["no", "no"]
    assert abs(ident["shrinkage"]).max() < 0.2


def test_prior_density_and_quantiles():
    p = FitParameter("k", 1.0, lower=1e-2, upper=1e2, log=True, unit="1")  # auto: log-uniform
    # log-uniform on 4 decades: constant density in log10, quantiles 10**(-2 + 4 q)
    assert log_prior(p, -1.0) == pytest.approx(log_prior(p, 1.5))
    assert prior_interval(p) == pytest.approx([10**-1.8, 1.0, 10**1.8], rel=1e-3)
    u = FitParameter("k", 1.0, lower=1e-2, upper=1e2, log=True, unit="1", prior="uniform")
    # uniform in the value seen in log10 space: density ∝ x
    assert log_prior(u, 1.0) - log_prior(u, 0.0) == pytest.approx(math.log(10))
    assert prior_interval(u)[1] == pytest.approx(50.005, rel=1e-3)
    assert log_prior(p, 2.5) == -math.inf


@pytest.mark.parametrize("kw", [dict(prior="normal"), dict(prior="gamma"),
                                dict(prior="uniform", prior_sd=1.0),
                                dict(prior="normal", prior_mean=0.0, prior_sd=0.0)])
def test_bad_priors_refused(kw):
    with pytest.raises(CalibrationError):
        FitParameter("k", 1.0, lower=0.1, upper=10, log=False, unit="1", **kw)


def test_bad_sampler_settings_refused():
    for kw in (dict(walkers=3), dict(steps=1), dict(burn=10, steps=10), dict(init="x"),
               dict(init_spread=0.0)):
        with pytest.raises(CalibrationError):
            SamplerSettings(**kw)
    params, targets, _ = toy_problem()
    with pytest.raises(CalibrationError, match="twice"):
        _run(params, targets, walkers=2, steps=5)


def test_resume_gives_the_uninterrupted_chain(tmp_path):
    params, targets, _ = toy_problem(seed=1)
    full = _run(params, targets, steps=40)
    ck = tmp_path / "chain.npz"
    s = dict(walkers=16, seed=3, init_spread=0.01)
    part = sample_posterior(None, params, targets, SELF, settings=SamplerSettings(steps=15, **s),
                            runner=toy_runner, progress=False, checkpoint=ck)
    assert part.chain.shape[0] == 15
    rest = sample_posterior(None, params, targets, SELF, settings=SamplerSettings(steps=40, **s),
                            runner=toy_runner, progress=False, checkpoint=ck)
    assert np.array_equal(rest.chain, full.chain)
    assert np.array_equal(rest.log_prob, full.log_prob)
    assert np.array_equal(rest.accepted, full.accepted)
    # a checkpoint of another calibration is refused
    with pytest.raises(CalibrationError, match="different calibration"):
        sample_posterior(None, params, targets, SELF,
                         settings=SamplerSettings(steps=40, walkers=16, seed=4),
                         runner=toy_runner, progress=False, checkpoint=ck)


def test_failed_model_points_have_zero_posterior():
    params, targets, _ = toy_problem(seed=2)
    from fem_cell.errors import ConvergenceError

    def runner(base, ov, job, record, comm):
        out = toy_runner(base, ov, job, record, comm)
        vals = {}
        for layer in ov:
            vals.update(layer)
        if float(vals["toy.a"]) > 1.3:
            raise ConvergenceError("no convergence (test)")
        return out

    res = sample_posterior(None, params, targets, SELF,
                           settings=SamplerSettings(walkers=8, steps=300, seed=1),
                           runner=runner, progress=False)
    assert res.failures and "no convergence" in res.failures[0]
    assert res.kept()[0][:, 0].max() <= 1.3


# ------------------------------------------------------------------ surrogate --------
SURROGATE = {"points": 20, "rounds": 1, "refine": 10, "check": 10}


def test_surrogate_posterior_matches_closed_form():
    """On a Gaussian-process emulator trained on 30 model runs (and checked on 10 more),
    the linear-Gaussian posterior is the closed form's within Monte-Carlo error; the
    check finds the emulator exact to 1e-3 sigma; 40 model runs in all."""
    params, targets, y = toy_problem(seed=0)
    res = _run(params, targets, surrogate=SURROGATE)
    assert res.evaluations == 40
    sc = res.surrogate
    assert sc["passed"] and sc["training_runs"] == 30 and sc["check_runs"] == 10
    assert sc["largest_error_sigma"] < 1e-3
    mean, cov = closed_form(y)
    v = res.kept()[0]
    sd = np.sqrt(np.diag(cov))
    ess = np.array(res.diagnostics["ess"])
    assert ess.min() > 300 and res.diagnostics["converged"]
    assert np.all(np.abs(v.mean(0) - mean) < 4 * sd / np.sqrt(ess)), (v.mean(0), mean)
    assert np.all(np.abs(v.std(0) - sd) < 4 * sd / np.sqrt(2 * ess)), (v.std(0), sd)


def test_surrogate_check_flags_a_poor_emulator():
    """A model with a kink the design cannot resolve (|a − 1| at 4 training points): the
    check on held-out runs finds errors above the limit and the result says so."""
    params, targets, _ = toy_problem(seed=0)

    def kinked(base, ov, job, record, comm):
        out = toy_runner(base, ov, job, record, comm)
        vals = {}
        for layer in ov:
            vals.update(layer)
        out["R_interface_ohm_cm2"] += 3.0 * abs(float(vals["toy.a"]) - 1.0) ** 0.5
        return out

    s = SamplerSettings(walkers=8, steps=200, seed=3,
                        surrogate={"points": 4, "rounds": 0, "refine": 1, "check": 10})
    res = sample_posterior(None, params, targets, SELF, settings=s, runner=kinked,
                           progress=False)
    assert not res.surrogate["passed"] and res.surrogate["largest_error_sigma"] > 0.25
    assert any("surrogate check" in w for w in res.diagnostics["warnings"])


def test_surrogate_resume_replays_the_model_runs(tmp_path):
    """A calibration stopped during its model runs (the runner raises in the 25th) resumes
    from its checkpoint: the 24 runs done are replayed, not repeated, and the chain
    equals an uninterrupted run's."""
    params, targets, _ = toy_problem(seed=1)
    kw = dict(walkers=16, steps=400, seed=3, init_spread=0.01, surrogate=SURROGATE)
    full = _run(params, targets, **kw)
    calls = []

    def stopping(base, ov, job, record, comm):
        calls.append(1)
        if len(calls) == 25 * len(targets):
            raise KeyboardInterrupt
        return toy_runner(base, ov, job, record, comm)

    ck = tmp_path / "chain.npz"
    with pytest.raises(KeyboardInterrupt):
        sample_posterior(None, params, targets, SELF, settings=SamplerSettings(**kw),
                         runner=stopping, progress=False, checkpoint=ck)
    saved = np.load(tmp_path / "surrogate_runs.npz")["z"].shape[0]
    assert saved == 24                       # every finished run (one rank: one at a time)
    calls.clear()
    rest = sample_posterior(None, params, targets, SELF, settings=SamplerSettings(**kw),
                            runner=stopping, progress=False, checkpoint=ck)
    assert len(calls) == (40 - 24) * len(targets)     # only the runs not saved
    assert rest.evaluations == 40
    assert np.array_equal(rest.chain, full.chain)
    assert np.array_equal(rest.log_prob, full.log_prob)


def test_vectorised_prior_and_residuals_equal_the_scalar_ones():
    from fem_cell.studies.calibration import residual_of
    from fem_cell.studies.posterior import log_prior_many, residuals_of

    ps = [FitParameter("k", 1.0, lower=1e-2, upper=1e2, log=True, unit="1"),
          FitParameter("k", 1.0, lower=1e-2, upper=1e2, log=True, unit="1", prior="uniform"),
          FitParameter("a", 2.0, lower=-10, upper=14, log=False, unit="1", prior="normal",
                       prior_mean=2.0, prior_sd=1.5)]
    for p in ps:
        z = np.linspace(p.to_fit(p.lower) - 0.5, p.to_fit(p.upper) + 0.5, 41)
        assert np.allclose(log_prior_many(p, z), [log_prior(p, v) for v in z], rtol=1e-12)
    for kind in ("equal", "at_least", "at_most"):
        for tr in ("log", "linear"):
            t = Target("y", {}, "anneal", "R_interface_ohm_cm2", 10.0, 0.1, tr, kind)
            v = np.array([0.5, 9.0, 10.0, 12.0, 300.0])
            assert np.allclose(residuals_of(t, v), [residual_of(t, x) for x in v])
    t = Target("y", {}, "anneal", "R_interface_ohm_cm2", 10.0, 0.1, "log")
    assert np.all(np.isinf(residuals_of(t, np.array([0.0, -1.0, np.nan]))))
