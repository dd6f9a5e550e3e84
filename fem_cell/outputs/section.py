"""2-D cross-section fields as pictures: read a run's ``.pvd`` series, draw it with axes.

The films are µm (the degraded layer 10 nm) under a mm-wide pad on a 0.5 mm substrate, so
a picture in true proportions shows them as a line.  These renders (matplotlib, headless)
draw the films with **every layer the same height** — the layer's name and thickness
written beside it, boundaries dashed, the Li pad's extent marked above — with x in µm,
a colour bar with the unit, and values interpolated on the mesh's triangles (Gouraud for
point data, flat for cell data).  The temperature picture adds the whole cross-section in
true proportions above the zoom on the films.

:func:`read_section` is shared with the interactive view
(:mod:`fem_cell.outputs.field_view`): pieces of a parallel run merged, ghost cells
dropped, layer names and the pad from the run folder's ``run.json`` when there is one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from fem_cell.constants import ZERO_CELSIUS
from fem_cell.errors import InputError
from fem_cell.outputs.plots import pyplot, save_figure
from fem_cell.outputs.vtk_read import SeriesError, read_time, series_times

#: floor of a site fraction before log10
LOG_FLOOR = 1e-8


class SectionError(InputError):
    """A field series that is not a 2-D cross-section this module can draw."""


@dataclass
class Layer:
    """One layer of the drawn region: cell tag, name and height range (µm)."""

    tag: int
    name: str
    y0: float
    y1: float

    @property
    def thickness_label(self) -> str:
        th = self.y1 - self.y0
        return f"{th * 1e3:.3g} nm" if th < 1.0 else f"{th:.3g} µm"


@dataclass
class Section:
    """One time of a cross-section series: points (µm), triangles, point and cell data
    (each quadrilateral split in two: cell data repeated per triangle)."""

    x: np.ndarray
    y: np.ndarray
    triangles: np.ndarray
    point_data: dict[str, np.ndarray]
    cell_data: dict[str, np.ndarray]
    layers: list[Layer]
    pad: dict | None
    time: float
    times: list[float] = field(default_factory=list)


def _stack(run_dir: Path) -> tuple[list[dict], float | None]:
    try:
        info = json.loads((run_dir / "run.json").read_text(encoding="utf-8"))
        return list(info["config"]["layers"]), float(info["config"]["geometry"]["width_m"])
    except (OSError, ValueError, KeyError, TypeError):
        return [], None


def stack_of(run_dir: str | Path) -> tuple[list[dict], float]:
    """The run folder's layers (``run.json`` config) and width (m), or SectionError."""
    layers, width = _stack(Path(run_dir))
    if not layers or width is None:
        raise SectionError(f"{run_dir}: run.json does not describe the stack")
    return layers, width


def _triangles(grid) -> tuple[np.ndarray, np.ndarray]:
    """Triangles of the grid's cells and, per triangle, the cell it comes from."""
    conn = np.asarray(grid.cell_connectivity)
    sizes = np.diff(np.asarray(grid.cell_offsets))
    if np.all(sizes == 3):
        return conn.reshape(-1, 3), np.arange(sizes.size)
    if np.all(sizes == 4):
        q = conn.reshape(-1, 4)
        cells = np.arange(q.shape[0])
        return (np.concatenate([q[:, [0, 1, 2]], q[:, [0, 2, 3]]]),
                np.concatenate([cells, cells]))
    raise SectionError(f"cells with {sorted(set(sizes.tolist()))} points: only degree-1 "
                       "triangles and quadrilaterals are drawn")


class SectionSeries:
    """A ``.pvd`` cross-section series (rank 0); ``read(t)`` gives a :class:`Section`."""

    def __init__(self, pvd: str | Path, run_dir: str | Path | None = None):
        self.pvd = Path(pvd)
        try:
            self.times = series_times(self.pvd)
        except SeriesError as e:
            raise SectionError(str(e)) from None
        if not self.times:
            raise SectionError(f"{self.pvd}: no stored time")
        self.stack, width = _stack(Path(run_dir) if run_dir else self.pvd.parent.parent)
        self.width_um = width * 1e6 if width else None

    def nearest(self, t: float) -> float:
        return min(self.times, key=lambda s: abs(s - t))

    def read(self, t: float | None = None) -> Section:
        tt = self.times[-1] if t is None else self.nearest(t)
        g = read_time(self.pvd, tt)  # pieces merged, ghost cells dropped
        b = g.bounds
        if b[1] - b[0] <= 0 or b[3] - b[2] <= 0:
            raise SectionError(f"{self.pvd}: not a 2-D cross-section (bounds {tuple(b)})")
        tri, of_cell = _triangles(g)
        pts = np.asarray(g.points)
        cdata = {k: np.asarray(g.cell_data[k])[of_cell] for k in g.cell_data}
        pdata = {k: np.asarray(g.point_data[k]) for k in g.point_data}
        layers = []
        if "layer" in g.cell_data:
            tags = np.asarray(g.cell_data["layer"]).astype(int)
            for tag in sorted(set(tags.tolist())):
                c = g.extract_cells(np.flatnonzero(tags == tag))
                spec = self.stack[tag - 1] if 1 <= tag <= len(self.stack) else {}
                layers.append(Layer(tag, spec.get("name", f"layer {tag}"), float(c.bounds[2]),
                                    float(c.bounds[3])))
        else:
            layers.append(Layer(0, "section", float(b[2]), float(b[3])))
        pad = None
        for spec in self.stack:
            if spec.get("li_metal") and spec.get("width_m") and self.width_um:
                pw = float(spec["width_m"]) * 1e6
                pad = {"name": spec["name"], "x0": (self.width_um - pw) / 2,
                       "x1": (self.width_um + pw) / 2}
        return Section(pts[:, 0].copy(), pts[:, 1].copy(), tri, pdata, cdata, layers, pad, tt,
                       list(self.times))


def layered_height(y: np.ndarray, layers: list[Layer]) -> np.ndarray:
    """Height → drawn height with every layer one unit tall (layer k spans [k, k+1])."""
    out = np.empty_like(np.asarray(y, dtype=float))
    y = np.asarray(y, dtype=float)
    for k, L in enumerate(layers):
        span = max(L.y1 - L.y0, 1e-30)
        inside = (y >= L.y0 - 1e-9 * span) & (y <= L.y1 + 1e-9 * span)
        out[inside] = k + (y[inside] - L.y0) / span
    return out


def draw_layered(ax, s: Section, values: np.ndarray, *, cell: bool = False, cmap="viridis",
                 clim=None, layers: list[Layer] | None = None):
    """Draw ``values`` (per point, or per triangle with ``cell``) of section ``s`` on
    ``ax`` with every layer (of ``layers``, default all) the same height; returns the
    mappable for a colour bar."""
    import matplotlib.tri as mtri

    layers = layers or s.layers
    keep_tags = {L.tag for L in layers}
    if "layer" in s.cell_data:
        keep = np.isin(s.cell_data["layer"].astype(int), list(keep_tags))
    else:
        keep = np.ones(len(s.triangles), dtype=bool)
    ymin, ymax = layers[0].y0, layers[-1].y1
    used = np.unique(s.triangles[keep])
    inside = np.zeros(s.x.size, dtype=bool)
    inside[used] = True
    Y = np.where(inside, layered_height(np.clip(s.y, ymin, ymax), layers), np.nan)
    tri = mtri.Triangulation(s.x, np.nan_to_num(Y), s.triangles[keep])
    if cell:
        m = ax.tripcolor(tri, facecolors=np.asarray(values)[keep], cmap=cmap)
    else:
        m = ax.tripcolor(tri, np.asarray(values), shading="gouraud", cmap=cmap)
    if clim is not None:
        m.set_clim(*clim)
    n = len(layers)
    for k in range(1, n):
        ax.axhline(k, color="w", ls="--", lw=0.8)
    ax.set_yticks([k + 0.5 for k in range(n)])
    ax.set_yticklabels([f"{L.name}\n({L.thickness_label})" for L in layers], fontsize=8)
    ax.set_ylim(0, n)
    ax.set_xlim(float(s.x.min()), float(s.x.max()))
    ax.set_xlabel("lateral position x [µm]")
    if s.pad is not None:
        ax.annotate("", xy=(s.pad["x0"], 1.02), xytext=(s.pad["x1"], 1.02),
                    xycoords=("data", "axes fraction"),
                    arrowprops={"arrowstyle": "-", "lw": 5, "color": "0.55"})
        ax.text(s.pad["x1"] + 0.01 * (s.x.max() - s.x.min()), 1.02, f"{s.pad['name']} pad",
                transform=ax.get_xaxis_transform(), ha="left", va="center", fontsize=8)
    return m


def _minutes(t: float) -> str:
    return f"{t / 60:.4g} min" if t < 7200 else f"{t / 3600:.4g} h"


def render_protons_2d(pvd: str | Path, times: list[float], path: str | Path,
                      note: str = "") -> None:
    """log10 x_H (total protons) over the films at ``times`` (s; nearest stored), one
    panel each, every layer drawn the same height, one colour bar."""
    series = SectionSeries(pvd)
    plt = pyplot()
    fig, axes = plt.subplots(len(times), 1, figsize=(9, 2.9 * len(times) + 0.6),
                             squeeze=False, layout="constrained")
    m = None
    for ax, t in zip(axes[:, 0], times, strict=True):
        s = series.read(t)
        v = np.log10(np.maximum(s.point_data["xH"], LOG_FLOOR))
        m = draw_layered(ax, s, v, clim=(np.log10(LOG_FLOOR), 0.0))
        ax.set_title(f"t = {_minutes(s.time)}" + (" (exposed, before the anneal)"
                                                    if s.time == s.times[0] else
                                                    " (end)" if s.time == s.times[-1]
                                                    else ""), fontsize=9, loc="left", pad=16)
    fig.colorbar(m, ax=axes[:, 0].tolist(), label="log10 x_H (total protons) [-]",
                 fraction=0.04, pad=0.02)
    fig.suptitle("protons in the films (every layer drawn the same height)"
                 + (f"\n{note}" if note else ""), fontsize=10)
    save_figure(fig, path, tight=False)


def render_temperature_2d(pvd: str | Path, t: float, T_plate_K: float,
                          path: str | Path) -> None:
    """T − T_plate (mK) at ``t``: the whole cross-section in true proportions, and the
    films above the substrate with every layer the same height."""
    import matplotlib.tri as mtri

    s = SectionSeries(pvd).read(t)
    dT = 1e3 * (s.point_data["T_K"] - T_plate_K)
    plt = pyplot()
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(9, 6.4), layout="constrained",
                                 gridspec_kw={"height_ratios": [1.1, 1.0]})
    lim = (float(dT.min()), float(dT.max()))
    m = a1.tripcolor(mtri.Triangulation(s.x, s.y, s.triangles), dT, shading="gouraud",
                     cmap="coolwarm")
    m.set_clim(*lim)
    a1.set_aspect("equal")
    a1.set_xlabel("lateral position x [µm]")
    a1.set_ylabel("height [µm]")
    films = [L for L in s.layers if L.tag != 1] or s.layers
    top = s.layers[-1].y1
    a1.set_title(f"whole cross-section, true proportions (the films are the top "
                 f"{top - films[0].y0:.3g} µm)", fontsize=9, loc="left")
    fig.colorbar(m, ax=a1, label="T − T_plate [mK]", fraction=0.04, pad=0.02)
    in_films = np.unique(s.triangles[np.isin(s.cell_data["layer"].astype(int),
                                             [L.tag for L in films])]) \
        if "layer" in s.cell_data else np.arange(dT.size)
    m2 = draw_layered(a2, s, dT, cmap="coolwarm", layers=films,
                      clim=(float(dT[in_films].min()), float(dT[in_films].max())))
    a2.set_title("the films, every layer drawn the same height (own colour scale)",
                 fontsize=9, loc="left", pad=16)
    fig.colorbar(m2, ax=a2, label="T − T_plate [mK]", fraction=0.04, pad=0.02)
    fig.suptitle(f"t = {_minutes(s.time)}, plate at {T_plate_K - ZERO_CELSIUS:.1f} °C",
                 fontsize=10)
    save_figure(fig, path, tight=False)


def render_impedance_2d(pvd: str | Path, path: str | Path) -> None:
    """The 2-D small-signal fields at each stored frequency (the series' time value):
    Re δφ (V per A/m² of pad current) and |Re j| (ionic current density per unit pad
    current density) over the films, every layer the same height."""
    from matplotlib.colors import LogNorm

    series = SectionSeries(pvd)
    plt = pyplot()
    n = len(series.times)
    fig, axes = plt.subplots(n, 2, figsize=(14, 3.1 * n + 0.6), squeeze=False,
                             layout="constrained")
    for row, f in enumerate(series.times):
        s = series.read(f)
        m = draw_layered(axes[row, 0], s, s.point_data["phi_re"], cmap="viridis")
        fig.colorbar(m, ax=axes[row, 0], label="Re δφ [V per A/m²]", fraction=0.05, pad=0.02)
        axes[row, 0].set_title(f"f = {f:.4g} Hz: potential", fontsize=9, loc="left",
                               pad=16)
        j = s.cell_data["j_re"]
        jm = np.hypot(j[:, 0], j[:, 1]) if j.ndim == 2 else np.abs(j)
        top = float(jm.max()) if jm.size and jm.max() > 0 else 1.0
        m = draw_layered(axes[row, 1], s, np.maximum(jm, top * 1e-4), cell=True,
                         cmap="magma")
        m.set_norm(LogNorm(vmin=top * 1e-4, vmax=top))
        fig.colorbar(m, ax=axes[row, 1], label="|Re j| per unit pad current [-]",
                     fraction=0.05, pad=0.02)
        axes[row, 1].set_title(f"f = {f:.4g} Hz: ionic current density (log scale)",
                               fontsize=9, loc="left", pad=16)
    fig.suptitle("small-signal fields (per 1 A/m² into the pad)", fontsize=10)
    save_figure(fig, path, tight=False)


__all__ = ["LOG_FLOOR", "Layer", "Section", "SectionError", "SectionSeries", "draw_layered",
           "layered_height", "render_impedance_2d", "render_protons_2d",
           "render_temperature_2d", "stack_of"]
