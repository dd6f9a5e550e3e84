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


def plot_anneal_history(history, path: str | Path, title: str = "") -> None:
    """Plate and film temperatures vs time, and the film lag behind the plate."""
    plt = pyplot()
    t = history.column("time_s") / 60.0
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
    ax2.set_xlabel("time [min]")
    ax2.set_ylabel("ΔT [mK]")
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
    t = history.column("time_s") / 60.0
    fig, ax = plt.subplots(figsize=(7.5, 4.5))
    ax.semilogy(t, history.column("R_interface_ohm_cm2"), "C0-", lw=2,
                label="R_interface at 25 °C")
    ax.semilogy(t, history.column("R_interface_T_ohm_cm2"), "C0:",
                label="R_interface at the current temperature")
    if data is not None:
        where = "at 25 °C" if data.at == "25C" else "in situ"
        ax.semilogy(data.times / 60.0, data.R_ohm_cm2, "o", color="C3", ms=4, mfc="none",
                    label=f"measured {where} ({Path(data.source).name})")
    ax.set_xlabel("time [min]")
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
    t = np.asarray(rows["t_s"]) / 60.0
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].plot(t, rows["R_interface_ohm_cm2"], marker=".")
    ax[0].set_ylabel("R_interface at 25 °C [Ω cm²]")
    ax[1].plot(t, rows["loaded_depth_nm"], marker=".")
    ax[1].set_ylabel("loaded depth = protons / (c n_t) [nm]")
    for a in ax:
        a.set_xlabel("exposure time [min]")
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


def plot_nyquist_overlay(spectra: dict, path: str | Path, title: str = "") -> None:
    """Nyquist plots (−Z'' vs Z', Ω cm², equal axes) of several spectra, and a zoom on the
    interface arcs below 60 Ω cm².

    Args:
        spectra: case name → (frequencies in Hz, complex Z in Ω cm²).
    """
    plt = pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
    for k, (name, (_f, Z)) in enumerate(spectra.items()):
        ls = "-" if k < 10 else "--"
        for ax in axes:
            ax.plot(Z.real, -Z.imag, ls, color=f"C{k % 10}", lw=1.5, label=name)
    for ax in axes:
        ax.set_xlabel("Z' [Ω cm²]")
        ax.set_ylabel("−Z'' [Ω cm²]")
        ax.grid(alpha=0.3)
    axes[0].set_aspect("equal", adjustable="datalim")
    axes[0].set_title("whole spectra (10 mHz – 1 MHz)", fontsize=9)
    # zoom past the electrolyte (bulk) arc: from the first minimum of −Z'' (high → low f)
    starts = []
    for _, (f, Z) in spectra.items():
        order = np.argsort(f)[::-1]
        y, x = -Z.imag[order], Z.real[order]
        mins = [i for i in range(1, len(y) - 1) if y[i] <= y[i - 1] and y[i] <= y[i + 1]]
        starts.append(x[mins[0]] if mins else x.min())
    lo = min(starts)
    axes[1].set_xlim(lo - 30, lo + 220)
    axes[1].set_ylim(-10, 125)
    axes[1].set_aspect("equal", adjustable="box")
    axes[1].set_title("interface arcs and diffusion (zoom after the Li3PO4 bulk arc)", fontsize=9)
    axes[1].legend(fontsize=8, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    save_figure(fig, path)
