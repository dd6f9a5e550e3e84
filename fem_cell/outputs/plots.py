"""Plots (matplotlib, Agg) and off-screen pyvista renders of run outputs.

Only rank 0 calls these; they read what the run wrote, so they can also be used on
the outputs of an earlier run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np


def pyplot():
    """``matplotlib.pyplot`` on the headless Agg backend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, path: str | Path, *, dpi: int = 120, tight: bool = True) -> None:
    """Lay out (unless ``tight=False``), write ``path`` and close the figure."""
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    pyplot().close(fig)


def time_axis(t_s) -> tuple[float, str]:
    """A scale (s per unit) and unit for a time axis spanning ``t_s``: days, h or min once
    the span is 3 of them, else s (a 7-day hold in days, not 10,080 min)."""
    t_s = np.asarray(t_s, dtype=float)
    span = float(np.max(t_s)) if t_s.size else 0.0
    for scale, unit in ((86400.0, "days"), (3600.0, "h"), (60.0, "min")):
        if span >= 3 * scale:
            return scale, unit
    return 1.0, "s"


def plot_anneal_history(history, path: str | Path, title: str = "") -> None:
    """Plate and film temperatures vs time, and the film lag behind the plate."""
    plt = pyplot()
    scale, unit = time_axis(history.column("time_s"))
    t = history.column("time_s") / scale
    plate = history.column("T_plate_C")
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 6), sharex=True,
                                   gridspec_kw={"height_ratios": [2, 1]})
    ax1.plot(t, plate, "k-", lw=2, label="hot plate")
    ax1.plot(t, history.column("T_mean_C"), "C1--", label="film mean")
    ax1.fill_between(t, history.column("T_min_C"), history.column("T_max_C"), color="C1",
                     alpha=0.3, label="film min–max")
    ax1.set_ylabel("temperature [°C]")
    ax1.legend(loc="best")
    ax1.grid(alpha=0.3)
    if title:
        ax1.set_title(title, fontsize=10)
    lag = 1e3 * (history.column("T_mean_C") - plate)
    ax2.plot(t, lag, "C0-", label="film mean − plate")
    ax2.plot(t, 1e3 * (history.column("T_top_C") - plate), "C3:", label="Li top − plate")
    ax2.set_xlabel(f"time [{unit}]")
    ax2.set_ylabel("ΔT [mK]")
    for a in (ax1, ax2):
        a.ticklabel_format(axis="y", useOffset=False)
    ax2.legend(loc="best")
    ax2.grid(alpha=0.3)
    save_figure(fig, path)


def offscreen_pyvista():
    """Import pyvista set up for headless off-screen rendering, without VTK noise.

    On a machine without an X display VTK first tries an X window and prints "bad X
    server connection. DISPLAY=" before falling back.  Unless the user chose a window
    class (``VTK_DEFAULT_OPENGL_WINDOW``) or has a display, pick EGL when libEGL is
    present, else OSMesa when libOSMesa is; and raise VTK's logger threshold to errors,
    so a successful render prints nothing.
    """
    import ctypes.util
    import os

    if not os.environ.get("DISPLAY") and not os.environ.get("VTK_DEFAULT_OPENGL_WINDOW"):
        if ctypes.util.find_library("EGL"):
            os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkEGLRenderWindow"
        elif ctypes.util.find_library("OSMesa"):
            os.environ["VTK_DEFAULT_OPENGL_WINDOW"] = "vtkOSOpenGLRenderWindow"
    import pyvista

    try:
        from vtkmodules.vtkCommonCore import vtkLogger, vtkObject

        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_ERROR)
        vtkObject.GlobalWarningDisplayOff()
    except ImportError:  # pragma: no cover - very old VTK
        pass
    pyvista.OFF_SCREEN = True
    return pyvista


def plot_interface_resistance(history, path: str | Path, title: str = "", data=None) -> None:
    """R_interface(t) at 25 °C (and at the current temperature) over the program;
    ``data``: a measured history (:class:`~fem_cell.analysis.measured.MeasuredHistory`)
    drawn as markers beside the model curve it is compared with."""
    plt = pyplot()
    scale, unit = time_axis(history.column("time_s"))
    t = history.column("time_s") / scale
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.semilogy(t, history.column("R_interface_ohm_cm2"), "C0-", lw=2,
                label="R_interface at 25 °C")
    ax.semilogy(t, history.column("R_interface_T_ohm_cm2"), "C0:",
                label="R_interface at the current temperature")
    if data is not None:
        where = "at 25 °C" if data.at == "25C" else "in situ"
        ax.semilogy(data.times / scale, data.R_ohm_cm2, "o", color="C3", ms=4, mfc="none",
                    label=f"measured {where} ({Path(data.source).name})")
    ax.set_xlabel(f"time [{unit}]")
    ax.set_ylabel("interface resistance [Ω cm²]")
    ax.grid(alpha=0.3, which="both")
    ax2 = ax.twinx()
    ax2.plot(t, history.column("T_plate_C"), "k-", lw=1, alpha=0.6, label="plate")
    ax2.set_ylabel("plate temperature [°C]")
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, loc="center right", fontsize=9)
    if title:
        ax.set_title(title, fontsize=10)
    save_figure(fig, path)


def plot_exposure_history(rows: dict, path: str | Path, title: str = "") -> None:
    """R_interface (25 °C) and the loaded depth against exposure time (rank 0)."""
    plt = pyplot()
    scale, unit = time_axis(rows["t_s"])
    t = np.asarray(rows["t_s"]) / scale
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(t, rows["R_interface_ohm_cm2"], marker=".")
    ax[0].set_ylabel("R_interface at 25 °C [Ω cm²]")
    ax[1].plot(t, rows["loaded_depth_nm"], marker=".")
    ax[1].set_ylabel("loaded depth = protons / (c n_t) [nm]")
    for a in ax:
        a.set_xlabel(f"exposure time [{unit}]")
        a.grid(alpha=0.3)
    if title:
        fig.suptitle(f"{title}: exposure", fontsize=10)
    save_figure(fig, path)


def plot_proton_profiles(recorder, path: str | Path, times: list[float] | None = None,
                         title: str = "") -> None:
    """1-D proton site fraction vs height above the LiCoO2|Li3PO4 interface (nm), at
    up to six of the recorded times (first, last and evenly spread between)."""
    plt = pyplot()
    n = len(recorder.times)
    if n == 0:
        return
    if times is None:
        idx = sorted(set(np.linspace(0, n - 1, min(n, 6)).round().astype(int)))
    else:
        idx = [int(np.argmin(np.abs(np.asarray(recorder.times) - t))) for t in times]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5), gridspec_kw={"width_ratios": [1, 1.4]})
    zmin = min(float(np.nanmin(p["height_nm"])) for p in recorder.profiles)
    zmax = max(float(np.nanmax(p["height_nm"])) for p in recorder.profiles)
    for ax, xlim, where in ((axes[0], (max(zmin, -40.0), 5.0), "LiCoO2 side (zoom)"),
                            (axes[1], (-10.0, zmax), "whole film")):
        for k, i in enumerate(idx):
            prof = recorder.profiles[i]
            c = f"C{k}"
            lab = f"t = {recorder.times[i] / 60:.1f} min"
            for j, phase in enumerate(p for p in prof if p != "height_nm"):
                x = np.maximum(prof[phase], 1e-12)
                ax.semilogy(prof["height_nm"], x, color=c, ls="-" if j == 0 else "--",
                            marker="." if ax is axes[0] else None, ms=3,
                            label=lab if j == 0 else None)
        ax.axvline(0.0, color="k", lw=0.8)
        ax.set_xlim(*xlim)
        ax.set_ylim(1e-9, 1.5)
        ax.set_title(where, fontsize=9)
        ax.grid(alpha=0.3, which="both")
        ax.set_xlabel("height above the LiCoO2|Li3PO4 interface [nm]")
    axes[0].set_ylabel("proton site fraction x_H [–] (solid: LiCoO2, dashed: Li3PO4)")
    axes[1].legend(fontsize=8, loc="upper right")
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)


def group_spectra(spectra: dict, rtol: float = 1e-4) -> list[tuple[list[str], np.ndarray,
                                                                       np.ndarray]]:
    """Cases whose spectra coincide — max |ΔZ| ≤ ``rtol`` · max |Z| at the same
    frequencies — as one group ``(names, f, Z)``, in first-seen order (curves that would
    hide each other on a plot)."""
    groups: list[tuple[list[str], np.ndarray, np.ndarray]] = []
    for name, (f, Z) in spectra.items():
        f, Z = np.asarray(f, dtype=float), np.asarray(Z, dtype=complex)
        for names, fg, Zg in groups:
            if (fg.shape == f.shape and np.allclose(fg, f, rtol=1e-9)
                    and np.max(np.abs(Zg - Z)) <= rtol * np.max(np.abs(Zg))):
                names.append(name)
                break
        else:
            groups.append(([name], f, Z))
    return groups


def _decade_points(f: np.ndarray, Z: np.ndarray) -> list[tuple[float, complex]]:
    """Z interpolated (in log f) at each whole decade of frequency inside the sweep."""
    lf = np.log10(f)
    order = np.argsort(lf)
    lf, Z = lf[order], Z[order]
    out = []
    for k in range(int(np.ceil(lf[0] - 1e-9)), int(np.floor(lf[-1] + 1e-9)) + 1):
        out.append((10.0 ** k, complex(np.interp(k, lf, Z.real), np.interp(k, lf, Z.imag))))
    return out


def _hz(f: float) -> str:
    for unit, scale in (("MHz", 1e6), ("kHz", 1e3), ("Hz", 1.0), ("mHz", 1e-3)):
        if f >= scale * 0.999:
            return f"{f / scale:g} {unit}"
    return f"{f:g} Hz"


MARKERS = "osD^v<>ph*"


def plot_nyquist_overlay(spectra: dict, path: str | Path, title: str = "") -> None:
    """Nyquist plots (−Z'' vs Z', Ω cm², equal axes) of several spectra, and a zoom on the
    interface arcs after the Li3PO4 bulk arc.

    Cases whose spectra coincide (:func:`group_spectra`) are one curve labelled with all
    their names; each curve carries a marker at every whole decade of frequency, and the
    decades are written beside the first curve; the legend sits below the plots.

    Args:
        spectra: case name → (frequencies in Hz, complex Z in Ω cm²).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 6.4), layout="constrained")
    from matplotlib.lines import Line2D

    groups = group_spectra(spectra)
    handles = []
    for k, (names, f, Z) in enumerate(groups):
        # earlier curves wider, so a curve drawn over another leaves it visible as a halo
        colour, marker, lw = f"C{k % 10}", MARKERS[k % len(MARKERS)], max(1.2, 3.6 - 0.6 * k)
        dec = _decade_points(f, Z)
        for ax in axes:
            ax.plot(Z.real, -Z.imag, "-", color=colour, lw=lw, alpha=0.9)
            ax.plot([z.real for _, z in dec], [-z.imag for _, z in dec], marker, color=colour,
                    ms=5, mfc="white", mew=1.3, ls="none")
        handles.append(Line2D([], [], color=colour, lw=lw, marker=marker, mfc="white",
                              label=" = ".join(names)))
    for ax in axes:
        ax.set_xlabel("Z' [Ω cm²]")
        ax.set_ylabel("−Z'' [Ω cm²]")
        ax.grid(alpha=0.3)
    f_all = np.concatenate([g[1] for g in groups])
    axes[0].set_aspect("equal", adjustable="datalim")
    axes[0].set_title(f"whole spectra ({_hz(f_all.min())} – {_hz(f_all.max())}); markers "
                      "at each decade of frequency", fontsize=9)
    # zoom past the electrolyte (bulk) arc: from the first minimum of −Z'' (high → low f)
    starts = []
    for _, f, Z in groups:
        order = np.argsort(f)[::-1]
        y, x = -Z.imag[order], Z.real[order]
        mins = [i for i in range(1, len(y) - 1) if y[i] <= y[i - 1] and y[i] <= y[i + 1]]
        starts.append(x[mins[0]] if mins else x.min())
    lo = min(starts)
    axes[1].set_xlim(lo - 30, lo + 220)
    axes[1].set_ylim(-10, 125)
    axes[1].set_aspect("equal", adjustable="box")
    axes[1].set_title("interface arcs and diffusion (zoom after the Li3PO4 bulk arc)",
                      fontsize=9)
    names, f, Z = groups[0]
    zx0, zx1 = axes[1].get_xlim()
    for ax in axes:
        x0, x1 = ax.get_xlim()
        y0, y1 = ax.get_ylim()
        for fd, z in _decade_points(f, Z):
            crowded = ax is axes[0] and zx0 <= z.real <= zx1  # labelled in the zoom
            if x0 <= z.real <= x1 and y0 <= -z.imag <= y1 and not crowded:
                ax.annotate(_hz(fd), (z.real, -z.imag), xytext=(5, 5),
                            textcoords="offset points", fontsize=7, color="C0")
    fig.legend(handles=handles, loc="outside lower center", ncol=min(3, len(groups)),
               fontsize=8,
               title=f"{len(spectra)} cases; cases whose spectra agree within 0.01 % share a "
                     "curve", title_fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path, tight=False)
