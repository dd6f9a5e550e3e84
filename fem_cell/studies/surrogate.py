"""A Gaussian-process surrogate of the model's target values, for posterior sampling.

A converged posterior of the default cell needs ~7,000 model evaluations (2.5 h on 2 ranks
at 0.65 s per 1-D case, three cases per evaluation).  With ``[calibration] surrogate =
"gp"`` the sampler (:func:`fem_cell.studies.posterior.sample_posterior`) runs on a
Gaussian-process emulator of the model's value of every target instead, trained and then
*checked* on model runs:

1. **design**: ``surrogate_points`` points of a Latin hypercube over the priors' box (fit
   space: log10 of the value for ``log = true`` parameters), each run by the model (over
   the MPI groups, as the sampler's walkers are);
2. **refinement**, ``surrogate_rounds`` times: sample the surrogate's posterior, run the
   model at ``surrogate_refine`` of its samples and add them to the training set (the
   posterior is usually a small part of the prior box: this puts model runs where the
   answer is);
3. **check** on held-out model runs: ``surrogate_check`` further samples of the final
   surrogate posterior, never trained on; for every target, the surrogate's error in
   units of the target's sigma, |f(m_GP) − f(m_model)| / σ (f the target's transform).
   The result records the rms and largest error per target; above
   :data:`CHECK_LIMIT` σ a warning says the surrogate is not accurate enough for the
   bands;
4. the sampler's ``walkers`` × ``steps`` then run on the surrogate (seconds).

The emulator: one GP per target on the transformed model value (log for a target with a
log transform, else linear), inputs scaled to the unit box, outputs standardised; Matérn
5/2 kernel with one length scale per parameter (ARD), a signal variance and a small
nugget, fitted by maximising the log marginal likelihood (L-BFGS-B, a few deterministic
starts; Rasmussen & Williams 2006, ch. 2 and 5).  The fit runs on rank 0 and is
broadcast, so every rank samples the same chain.

Validity: an emulator interpolates; it says nothing outside the box it was trained on
(the priors' box, which bounds the sampler anyway) and it is only as good as its check —
read the check's figures with the bands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: largest held-out error (in units of a target's sigma) the check accepts without a warning
CHECK_LIMIT = 0.25
#: nugget bounds (variance relative to the standardised signal): a deterministic model
#: needs little, but some for conditioning
NUGGET_BOUNDS = (1e-10, 1e-2)


@dataclass(frozen=True)
class SurrogateSettings:
    """``[calibration] surrogate = "gp"`` and its sizes (see the module docstring)."""

    points: int = 60
    rounds: int = 2
    refine: int = 20
    check: int = 20
    seed: int = 1

    def __post_init__(self):
        for k in ("points", "refine", "check"):
            if getattr(self, k) < 1:
                raise ValueError(f"surrogate {k} {getattr(self, k)}: at least 1")
        if self.rounds < 0:
            raise ValueError(f"surrogate rounds {self.rounds}: at least 0")


def latin_hypercube(n: int, d: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points of a Latin hypercube in [0, 1]^d: each coordinate visits each of the
    ``n`` equal strata once, at a random place inside it."""
    u = (rng.uniform(size=(n, d)) + np.arange(n)[:, None]) / n
    for j in range(d):
        u[:, j] = u[rng.permutation(n), j]
    return u


def _matern52(a: np.ndarray, b: np.ndarray, ell: np.ndarray) -> np.ndarray:
    """Matérn 5/2 correlation between the rows of ``a`` and ``b`` (length scales ell)."""
    diff = (a[:, None, :] - b[None, :, :]) / ell
    r = np.sqrt(np.sum(diff * diff, axis=-1))
    s = math.sqrt(5.0) * r
    return (1.0 + s + s * s / 3.0) * np.exp(-s)


class GaussianProcess:
    """A GP regression of y(x), x in the box [lo, hi]^d (see the module docstring).

    Args:
        x: training inputs (n, d); lo, hi: the box (d,).
        y: training outputs (n,), finite.
        starts: optimiser starts (the first at length scales 0.3, the rest from a fixed
            seed).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, lo: np.ndarray, hi: np.ndarray,
                 starts: int = 6):
        from scipy.optimize import minimize

        x = np.asarray(x, float)
        y = np.asarray(y, float)
        if x.ndim != 2 or len(x) != len(y) or len(y) < 2:
            raise ValueError(f"GP training set: {x.shape} inputs, {y.shape} outputs")
        if not np.all(np.isfinite(y)):
            raise ValueError("GP training outputs must be finite")
        self.lo, self.hi = np.asarray(lo, float), np.asarray(hi, float)
        self.u = self._unit(x)
        self.mean, self.scale = float(y.mean()), float(y.std()) or 1.0
        self.t = (y - self.mean) / self.scale
        d = x.shape[1]
        rng = np.random.default_rng(0)
        # parameters: log length scales (d), log signal variance, log nugget
        bounds = [(math.log(1e-2), math.log(1e2))] * d + [(math.log(1e-2), math.log(1e2)),
                                                          tuple(map(math.log, NUGGET_BOUNDS))]
        best = None
        for k in range(starts):
            ell0 = np.full(d, 0.3) if k == 0 else np.exp(rng.uniform(math.log(0.05),
                                                                     math.log(2.0), d))
            p0 = np.concatenate([np.log(ell0), [0.0, math.log(1e-6)]])
            r = minimize(self._nll, p0, jac=False, method="L-BFGS-B", bounds=bounds)
            if best is None or r.fun < best.fun:
                best = r
        self.params = best.x
        self.nll = float(best.fun)
        self._factor(self.params)

    def _unit(self, x: np.ndarray) -> np.ndarray:
        return (np.asarray(x, float) - self.lo) / (self.hi - self.lo)

    def _cov(self, p: np.ndarray) -> np.ndarray:
        d = self.u.shape[1]
        ell, s2, nug = np.exp(p[:d]), math.exp(p[d]), math.exp(p[d + 1])
        return s2 * _matern52(self.u, self.u, ell) + (s2 * nug + 1e-12) * np.eye(len(self.u))

    def _nll(self, p: np.ndarray) -> float:
        """Negative log marginal likelihood of the standardised outputs."""
        try:
            c = np.linalg.cholesky(self._cov(p))
        except np.linalg.LinAlgError:
            return 1e25
        a = np.linalg.solve(c, self.t)
        return float(0.5 * a @ a + np.log(np.diag(c)).sum()
                     + 0.5 * len(self.t) * math.log(2 * math.pi))

    def _factor(self, p: np.ndarray) -> None:
        from scipy.linalg import cho_factor, cho_solve

        self._chol = cho_factor(self._cov(p), lower=True)
        self._alpha = cho_solve(self._chol, self.t)

    @property
    def length_scales(self) -> np.ndarray:
        """Fitted length scales, as fractions of the box's side in each direction."""
        return np.exp(self.params[:self.u.shape[1]])

    def predict_mean(self, x: np.ndarray) -> np.ndarray:
        """The mean of y at the rows of ``x`` (without the variance's triangular solves)."""
        d = self.u.shape[1]
        ell, s2 = np.exp(self.params[:d]), math.exp(self.params[d])
        k = s2 * _matern52(self._unit(np.atleast_2d(x)), self.u, ell)
        return self.mean + self.scale * (k @ self._alpha)

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, standard deviation) of y at the rows of ``x``."""
        from scipy.linalg import cho_solve

        d = self.u.shape[1]
        ell, s2 = np.exp(self.params[:d]), math.exp(self.params[d])
        k = s2 * _matern52(self._unit(np.atleast_2d(x)), self.u, ell)
        mean = k @ self._alpha
        v = cho_solve(self._chol, k.T)
        var = np.maximum(s2 - np.sum(k * v.T, axis=1), 0.0)
        return self.mean + self.scale * mean, self.scale * np.sqrt(var)


class TargetSurrogate:
    """One GP per target on its transformed model value (log if ``log[j]``).

    Args:
        z: fit-space training points (n, d); lo, hi: the priors' box.
        m: model values (n, targets); rows with a non-finite value are left out of that
            target's GP (a failed model run).
        log: per target, whether its GP is on log(value) (every value must be > 0).
    """

    def __init__(self, z: np.ndarray, m: np.ndarray, lo, hi, log: list[bool]):
        self.log = list(log)
        self.gps = []
        for j, lg in enumerate(self.log):
            y = m[:, j]
            ok = np.isfinite(y) & ((y > 0) if lg else True)
            if ok.sum() < 3:
                raise ValueError(f"target {j}: {int(ok.sum())} usable model values to train "
                                 "a surrogate on (at least 3)")
            self.gps.append(GaussianProcess(z[ok], np.log(y[ok]) if lg else y[ok], lo, hi))
        self.n_train = len(z)

    def predict(self, z: np.ndarray) -> np.ndarray:
        """Predicted model values (points, targets) at fit-space points ``z``."""
        cols = []
        for gp, lg in zip(self.gps, self.log, strict=True):
            mean = gp.predict_mean(z)
            cols.append(np.exp(mean) if lg else mean)
        return np.column_stack(cols)


__all__ = ["CHECK_LIMIT", "GaussianProcess", "SurrogateSettings", "TargetSurrogate",
           "latin_hypercube"]
