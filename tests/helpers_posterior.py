"""A linear-Gaussian toy model for the posterior sampler (no PDE): the 'case runner'
returns y(t) = a + b t for the parameters in the overrides, so the targets
y_i ± sigma make a linear-Gaussian problem whose posterior is known in closed form."""

import numpy as np

from fem_cell.studies.calibration import FitParameter, Target

TIMES = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
SIGMA = 0.3
TRUE = (1.0, 0.5)


def toy_runner(base, overrides, job, record, comm):  # noqa: ARG001
    vals = {}
    for layer in overrides:
        vals.update(layer)
    a, b = float(vals["toy.a"]), float(vals["toy.b"])
    return {"R_interface_ohm_cm2": a + b * float(vals["toy.t"])}


def toy_problem(seed: int = 0, bound: float = 20.0, prior: str = "uniform"):
    """(parameters, targets, data y) of the toy problem with noise seed ``seed``."""
    rng = np.random.default_rng(seed)
    y = TRUE[0] + TRUE[1] * TIMES + SIGMA * rng.standard_normal(TIMES.size)
    params = [FitParameter("toy.a", 0.0, lower=-bound, upper=bound, log=False, unit="1",
                           prior=prior),
              FitParameter("toy.b", 0.0, lower=-bound, upper=bound, log=False, unit="1",
                           prior=prior)]
    targets = [Target(f"y{i}", {"toy.t": float(t)}, "anneal", "R_interface_ohm_cm2",
                      float(y[i]), SIGMA, "linear") for i, t in enumerate(TIMES)]
    return params, targets, y


def closed_form(y):
    """Posterior mean and covariance of (a, b) under a flat prior."""
    X = np.column_stack([np.ones(TIMES.size), TIMES])
    cov = SIGMA**2 * np.linalg.inv(X.T @ X)
    return cov @ X.T @ y / SIGMA**2, cov
