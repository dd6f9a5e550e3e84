"""Nyquist and Bode plots of an impedance spectrum (matplotlib, Agg; rank 0 only).

Units at the edge: Ω cm² per unit Li-pad area, Hz, degrees.  The Nyquist plot has equal
axes and −Z'' pointing up (the electrochemists' convention); a fitted equivalent circuit
(:class:`fem_cell.analysis.eis.CircuitFit`) is overlaid when given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell.outputs.plots import pyplot, save_figure


def plot_nyquist(path: str | Path, f, Z, fit=None, title: str = "",
                 label: str = "FEM", zoom: tuple[float, float] | None = None,
                 data=None) -> None:
    """−Z'' vs Z' (Ω cm², equal axes), decades of frequency marked, fit overlaid.

    The low-frequency capacitive tail of the diffusion can be orders of magnitude taller
    than the arcs; the view is limited to the real span of the spectrum above 1 Hz so
    the arcs stay visible (the full tail is in bode.png).  ``zoom`` = (Z'min, Z'max) in
    Ω cm² adds an inset (equal axes) of that span, e.g. around the interface arcs that
    are small next to the Li3PO4 bulk arc.  ``data``: a measured spectrum
    (:class:`~fem_cell.analysis.measured.MeasuredSpectrum`) drawn as open markers.
    """
    plt = pyplot()
    f = np.asarray(f, float)
    Z = np.asarray(Z, complex)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot(Z.real, -Z.imag, "o", ms=3.5, color="C0", label=label)
    if data is not None:
        ax.plot(data.Z_ohm_cm2.real, -data.Z_ohm_cm2.imag, "s", ms=4, mfc="none", color="k",
                label=f"measured ({data.label or Path(data.source).name})")
    if fit is not None:
        ax.plot(fit.Z_fit.real, -fit.Z_fit.imag, "-", color="C3", lw=1.2,
                label=f"fit {fit.circuit}")
    dec = np.arange(np.ceil(np.log10(f.min())), np.floor(np.log10(f.max())) + 1)
    for d in dec:
        k = int(np.argmin(np.abs(np.log10(f) - d)))
        ax.annotate(f"$10^{{{int(d)}}}$ Hz", (Z[k].real, -Z[k].imag), fontsize=7,
                    textcoords="offset points", xytext=(4, 4), color="0.3")
    sel = f >= min(1.0, np.median(f))
    xr = (min(0.0, Z.real[sel].min()), Z.real[sel].max())
    span = xr[1] - xr[0]
    ax.set_xlim(xr[0] - 0.03 * span, xr[1] + 0.05 * span)
    ax.set_ylim(min(0.0, (-Z.imag[sel]).min()) - 0.03 * span, 0.6 * span)
    ax.set_aspect("equal", adjustable="box")
    ax.set_xlabel("Z' [Ω cm²]")
    ax.set_ylabel("−Z'' [Ω cm²]")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    if zoom is not None and zoom[1] > zoom[0]:
        z0, z1 = zoom
        ins = ax.inset_axes([0.56, 0.56, 0.42, 0.42])
        m = (Z.real >= z0) & (Z.real <= z1)
        ins.plot(Z.real[m], -Z.imag[m], "o", ms=2.5, color="C0")
        if data is not None:
            md = (data.Z_ohm_cm2.real >= z0) & (data.Z_ohm_cm2.real <= z1)
            ins.plot(data.Z_ohm_cm2.real[md], -data.Z_ohm_cm2.imag[md], "s", ms=3,
                     mfc="none", color="k")
        if fit is not None:
            mf = (fit.Z_fit.real >= z0) & (fit.Z_fit.real <= z1)
            ins.plot(fit.Z_fit.real[mf], -fit.Z_fit.imag[mf], "-", color="C3", lw=1)
        for d in dec:
            k = int(np.argmin(np.abs(np.log10(f) - d)))
            if m[k]:
                ins.annotate(f"$10^{{{int(d)}}}$", (Z[k].real, -Z[k].imag), fontsize=6,
                             textcoords="offset points", xytext=(3, 3), color="0.3")
        ins.set_xlim(z0, z1)
        ins.set_ylim(0.0, 0.6 * (z1 - z0))
        ins.set_aspect("equal", adjustable="box")
        ins.tick_params(labelsize=6)
        ins.grid(alpha=0.3)
        ins.set_title("interface arcs", fontsize=7)
    save_figure(fig, path, tight=False)          # laid out before the inset was added


def plot_bode(path: str | Path, f, Z, fit=None, title: str = "", data=None) -> None:
    """|Z| (Ω cm², log) and phase (degrees) vs frequency, fit (and ``data``, a measured
    spectrum) overlaid."""
    plt = pyplot()
    f = np.asarray(f, float)
    Z = np.asarray(Z, complex)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True)
    a1.loglog(f, np.abs(Z), "o", ms=3.5, color="C0", label="FEM")
    a2.semilogx(f, np.degrees(np.angle(Z)), "o", ms=3.5, color="C0")
    if data is not None:
        a1.loglog(data.frequencies, np.abs(data.Z_ohm_cm2), "s", ms=4, mfc="none", color="k",
                  label=f"measured ({data.label or Path(data.source).name})")
        a2.semilogx(data.frequencies, np.degrees(np.angle(data.Z_ohm_cm2)), "s", ms=4,
                    mfc="none", color="k")
    if fit is not None:
        ff = f if fit.frequencies is None else fit.frequencies   # a long sweep: fitted subset
        a1.loglog(ff, np.abs(fit.Z_fit), "-", color="C3", lw=1.2, label="fit")
        a2.semilogx(ff, np.degrees(np.angle(fit.Z_fit)), "-", color="C3", lw=1.2)
    a1.set_ylabel("|Z| [Ω cm²]")
    a2.set_ylabel("phase [°]")
    a2.set_xlabel("frequency [Hz]")
    for a in (a1, a2):
        a.grid(alpha=0.3, which="both")
    a1.legend(fontsize=8)
    if title:
        a1.set_title(title, fontsize=9)
    save_figure(fig, path)


__all__ = ["bode_fit_figure", "nyquist_fit_figure", "plot_bode", "plot_fit_overlay", "plot_nyquist",
           "residual_fit_figure"]


def nyquist_fit_figure(spectra, models):
    """Nyquist overlay (a matplotlib Figure): measured spectra (markers), the fitted
    model (lines) with decade markers."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 5.2))
    for k, (s, Zm) in enumerate(zip(spectra, models, strict=True)):
        c = f"C{k % 10}"
        ax.plot(s.Z_ohm_cm2.real, -s.Z_ohm_cm2.imag, "o", ms=3.5, mfc="none", color=c,
                label=f"{s.label} (data)")
        ax.plot(Zm.real, -Zm.imag, "-", color=c, lw=1.3, label=f"{s.label} (model fit)")
        for d in range(int(np.floor(np.log10(s.frequencies.min()))),
                       int(np.ceil(np.log10(s.frequencies.max()))) + 1):
            i = int(np.argmin(np.abs(np.log10(s.frequencies) - d)))
            if abs(np.log10(s.frequencies[i]) - d) < 0.1:
                ax.annotate(f"1e{d} Hz", (Zm[i].real, -Zm[i].imag), fontsize=6,
                            textcoords="offset points", xytext=(3, 3))
    ax.set_xlabel("Z′ (Ω cm²)")
    ax.set_ylabel("−Z″ (Ω cm²)")
    ax.set_aspect("equal", adjustable="datalim")
    ax.legend(fontsize=7, loc="best")
    fig.tight_layout()
    return fig


def bode_fit_figure(spectra, models):
    """Bode overlay (|Z| and phase against frequency), data markers and model lines."""
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(6.4, 5.6), sharex=True)
    for k, (s, Zm) in enumerate(zip(spectra, models, strict=True)):
        c = f"C{k % 10}"
        a1.loglog(s.frequencies, np.abs(s.Z_ohm_cm2), "o", ms=3, mfc="none", color=c,
                  label=f"{s.label} (data)")
        a1.loglog(s.frequencies, np.abs(Zm), "-", color=c, label=f"{s.label} (model)")
        a2.semilogx(s.frequencies, np.degrees(np.angle(s.Z_ohm_cm2)), "o", ms=3, mfc="none",
                    color=c)
        a2.semilogx(s.frequencies, np.degrees(np.angle(Zm)), "-", color=c)
    a1.set_ylabel("|Z| (Ω cm²)")
    a2.set_ylabel("phase (°)")
    a2.set_xlabel("frequency (Hz)")
    a1.legend(fontsize=7)
    fig.tight_layout()
    return fig


def residual_fit_figure(spectra, models, weighting: str = "modulus"):
    """Relative residuals of Z′ and Z″ (model − data, % of |Z_data|) against frequency."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    for k, (s, Zm) in enumerate(zip(spectra, models, strict=True)):
        c = f"C{k % 10}"
        a = np.abs(s.Z_ohm_cm2)
        ax.semilogx(s.frequencies, 100 * (Zm - s.Z_ohm_cm2).real / a, "o-", ms=3, color=c,
                    label=f"{s.label}: Z′")
        ax.semilogx(s.frequencies, 100 * (Zm - s.Z_ohm_cm2).imag / a, "s--", ms=3, color=c,
                    mfc="none", label=f"{s.label}: Z″")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("frequency (Hz)")
    ax.set_ylabel("(model − data) / |Z_data| (%)")
    ax.set_title(f"relative residuals ({weighting} weighting)", fontsize=9)
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_fit_overlay(spectra, models, nyquist_path, bode_path, residual_path,
                     weighting: str = "modulus") -> None:
    """Write the three fit pictures: :func:`nyquist_fit_figure`, :func:`bode_fit_figure`
    and :func:`residual_fit_figure`."""
    plt = pyplot()
    for fig, path in ((nyquist_fit_figure(spectra, models), nyquist_path),
                      (bode_fit_figure(spectra, models), bode_path),
                      (residual_fit_figure(spectra, models, weighting), residual_path)):
        fig.savefig(path, dpi=120)
        plt.close(fig)
