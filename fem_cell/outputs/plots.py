"""Plots (matplotlib, Agg) and off-screen pyvista renders of run outputs.

Only rank 0 calls these; they read what the run wrote, so they can also be used on
the outputs of an earlier run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fem_cell.constants import ZERO_CELSIUS


def plot_anneal_history(history, path: str | Path, title: str = "") -> None:
    """Plate and film temperatures vs time, and the film lag behind the plate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


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


def render_temperature_2d(pvd: str | Path, t: float, T_plate_K: float, path: str | Path) -> None:
    """Off-screen pyvista PNG of T − T_plate (mK) at time t over the cross-section.

    Args:
        pvd: the run's ``fields/temperature.pvd``.
        t: output time to show (s).
        T_plate_K: plate temperature at t (K).
        path: PNG to write.
    """
    pyvista = offscreen_pyvista()
    reader = pyvista.get_reader(str(pvd))
    times = np.asarray(reader.time_values)
    reader.set_active_time_value(float(times[np.argmin(np.abs(times - t))]))
    grid = reader.read().combine()
    grid.point_data["dT_mK"] = 1e3 * (np.asarray(grid.point_data["T_K"]) - T_plate_K)
    p = pyvista.Plotter(off_screen=True, window_size=(1400, 900))
    bar = {"title": f"T − T_plate [mK] at t = {t / 60:.1f} min ({T_plate_K - ZERO_CELSIUS:.1f} °C)",
           "vertical": False}
    p.add_mesh(grid, scalars="dT_mK", cmap="coolwarm", scalar_bar_args=bar)
    p.add_text("cross-section, coordinates in µm (films are the top 1.6 µm)", font_size=10)
    p.view_xy()
    p.camera.zoom(1.1)
    p.screenshot(str(path))
    p.close()
