"""Pictures of a sampled posterior: the corner plot (marginals and pair densities, with
the prior bounds) and the chains (every walker's trace, burn-in shaded).

The functions take plain arrays (values in the parameters' units) and labels, so they do
not depend on the sampler.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

#: fewest posterior samples the corner plot draws density contours for
MIN_SAMPLES_FOR_CONTOURS = 200
#: fewest histogram bins (of the prior range) every parameter's samples must occupy
MIN_BINS_FOR_CONTOURS = 5


def _occupied_bins(v: np.ndarray, bounds: tuple[float, float], bins: int) -> int:
    lo, hi = bounds
    k = np.clip(((v - lo) / (hi - lo) * bins).astype(int), 0, bins - 1)
    return int(np.unique(k).size)


def plot_corner(samples: np.ndarray, labels: Sequence[str], path: str | Path, *,
                log: Sequence[bool], bounds: Sequence[tuple[float, float]],
                title: str = "") -> Path:
    """Corner plot of ``samples`` (n, d) (log parameters shown as log10), 5/50/95 %
    quantiles marked, axes spanning the prior bounds."""
    import corner
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = np.array(samples, dtype=float, copy=True)
    lab, rng = [], []
    for j, (name, lg, (lo, hi)) in enumerate(zip(labels, log, bounds, strict=True)):
        if lg:
            x[:, j] = np.log10(x[:, j])
            lab.append(f"log10 {name}")
            rng.append((np.log10(lo), np.log10(hi)))
        else:
            lab.append(name)
            rng.append((lo, hi))
    d = x.shape[1]
    # density contours need a few hundred samples spread over several bins of the prior
    # box (else corner warns "too few points to create valid contours" and draws none):
    # a short or very narrow chain shows its samples as points instead
    bins = min(30, max(8, int(np.sqrt(len(x)))))
    occupied = min(_occupied_bins(x[:, j], rng[j], bins) for j in range(x.shape[1]))
    few = len(x) < MIN_SAMPLES_FOR_CONTOURS or occupied < MIN_BINS_FOR_CONTOURS
    fig = plt.figure(figsize=(2.6 * d + 1, 2.6 * d + 1))
    corner.corner(x, labels=lab, range=rng, quantiles=(0.05, 0.5, 0.95), show_titles=True,
                  title_fmt=".3g", title_kwargs={"fontsize": 9}, label_kwargs={"fontsize": 9},
                  fig=fig, bins=bins, smooth=1.0,
                  plot_datapoints=d > 1 and len(x) < 4000, plot_contours=not few,
                  plot_density=not few, fill_contours=False,
                  data_kwargs={"alpha": 0.6, "ms": 3, "color": "C0"} if few else None)
    if few:
        why = (f"fewer than {MIN_SAMPLES_FOR_CONTOURS}" if len(x) < MIN_SAMPLES_FOR_CONTOURS
               else f"within {occupied} of {bins} bins of the prior range")
        title = (f"{title}\n" if title else "") + (
            f"{len(x)} samples ({why}): points, no density contours")
    if title:
        fig.suptitle(title, fontsize=10, y=1.0 + 0.04 * title.count("\n") + 0.02)
    out = Path(path)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return out


def plot_chains(chain: np.ndarray, labels: Sequence[str], path: str | Path, *, burn: int,
                log: Sequence[bool]) -> Path:
    """Trace of every walker (steps, walkers, d), one panel per parameter; the discarded
    burn-in shaded."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps, _, d = chain.shape
    fig, axes = plt.subplots(d, 1, figsize=(8, 1.9 * d + 0.6), sharex=True, squeeze=False)
    for j in range(d):
        ax = axes[j, 0]
        y = np.log10(chain[:, :, j]) if log[j] else chain[:, :, j]
        ax.plot(np.arange(steps), y, lw=0.6, alpha=0.6)
        ax.axvspan(0, burn, color="0.9", zorder=0)
        ax.set_ylabel(("log10 " if log[j] else "") + labels[j], fontsize=8)
        ax.ticklabel_format(axis="y", useOffset=False) if not log[j] else None
    axes[-1, 0].set_xlabel("step (shaded: burn-in, discarded)")
    fig.tight_layout()
    out = Path(path)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    return out


__all__ = ["plot_chains", "plot_corner"]
