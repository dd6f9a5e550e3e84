"""Run folders as objects for notebooks: ``fem_cell.open_run(path)``.

Any folder a ``fem-cell`` command wrote (anneal, expose, impedance, reproduce, study,
calibrate, fit-spectrum) opens as a :class:`RunFolder`:

* ``.job``, ``.status``, ``.summary`` (``summary.json``), ``.run`` (``run.json``),
  ``.config`` (the resolved configuration run.json records: values, SI values, units,
  sources);
* tables as pandas DataFrames with unit-suffixed columns, read when first asked for:
  ``.history`` (``history.csv``, plus ``time_min``, ``time_h`` and ``time_days``),
  ``.profiles`` (``proton_profiles.csv``), ``.spectrum`` (``impedance.csv``), ``.table``
  (``reproduction.csv`` or a study's ``results.csv``), ``.data_comparison``;
  ``.tables()`` lists what the folder has;
* ``.fields()``: the field series (``.pvd``) by name, ``.read_field(name, time=None)``:
  one time of a series as a pyvista grid (the last by default; parallel pieces merged,
  ghost cells dropped), ``.to_meshio(...)`` / ``.export_field(name, path)``: the same for
  meshio and the tools it writes for; ``.film_view()``: the interactive 2-D view;
* ``.plot(kind)``: a matplotlib Figure (``"R"``: R_interface(t); ``"temperature"``;
  ``"profiles"``; ``"nyquist"``; ``"bode"``), without a display;
* ``_repr_html_``: a short table in a notebook.

:func:`compare` overlays several runs in one figure.  Nothing here computes: it reads.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.errors import InputError
from fem_cell.outputs.plots import pyplot, time_axis
from fem_cell.outputs.vtk_read import export_time, read_time, to_meshio

#: table name → file
TABLE_FILES = {"history": "history.csv", "profiles": "proton_profiles.csv",
               "spectrum": "impedance.csv", "reproduction": "reproduction.csv",
               "results": "results.csv", "data_comparison": "data_comparison.csv",
               "contributions": "contributions.csv", "exposure_history": "exposure_history.csv",
               "fit": "fit_spectrum.csv", "posterior": "posterior.csv",
               "identifiability": "identifiability.csv", "bands": "bands.csv"}
#: plot kinds of :meth:`RunFolder.plot` and :func:`compare`
PLOTS = ("R", "temperature", "profiles", "nyquist", "bode")


class RunFolderError(InputError):
    """A folder that is not a fem-cell run folder (or lacks what was asked for)."""


def add_time_units(df):
    """``time_min``, ``time_h`` and ``time_days`` beside a ``time_s`` column (in place)."""
    if "time_s" in df.columns:
        t = df["time_s"]
        i = list(df.columns).index("time_s") + 1
        for name, scale in (("time_min", 60.0), ("time_h", 3600.0), ("time_days", 86400.0)):
            if name not in df.columns:
                df.insert(i, name, t / scale)
                i += 1
    return df


class RunFolder:
    """A run folder written by a fem-cell command (see the module docstring)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not (self.path / "run.json").is_file():
            raise RunFolderError(f"{self.path}: not a fem-cell run folder (no run.json)")
        try:
            self.run: dict[str, Any] = json.loads((self.path / "run.json").read_text("utf-8"))
        except (OSError, ValueError) as e:
            raise RunFolderError(f"{self.path}/run.json: unreadable ({e})") from None
        s = self.path / "summary.json"
        self.summary: dict[str, Any] = (json.loads(s.read_text("utf-8")) if s.is_file()
                                        else {})
        self._tables: dict[str, Any] = {}

    # -- identity --------------------------------------------------------------------------
    @property
    def job(self) -> str:
        return str(self.run.get("job", "?"))

    @property
    def status(self) -> str:
        return str(self.run.get("status", "?"))

    @property
    def config(self) -> dict[str, Any]:
        """The resolved configuration recorded in run.json (empty for a study)."""
        return self.run.get("config") or {}

    def __getitem__(self, key: str):
        return self.summary[key]

    def __repr__(self) -> str:
        return f"RunFolder({str(self.path)!r}, job={self.job!r}, status={self.status!r})"

    # -- tables ----------------------------------------------------------------------------
    def tables(self) -> list[str]:
        """The tables this folder has (names for :meth:`read_table`)."""
        return [k for k, f in TABLE_FILES.items() if (self.path / f).is_file()]

    def read_table(self, name: str):
        """A table as a DataFrame (cached); ``time_s`` gets ``time_min/h/days`` beside it."""
        import pandas as pd

        if name not in TABLE_FILES:
            raise RunFolderError(f"table {name!r}: one of {sorted(TABLE_FILES)}")
        if name not in self._tables:
            f = self.path / TABLE_FILES[name]
            if not f.is_file():
                raise RunFolderError(f"{self.path}: no {TABLE_FILES[name]} (a {self.job} run "
                                     f"has {self.tables() or 'no tables'})")
            self._tables[name] = add_time_units(pd.read_csv(f, comment="#"))
        return self._tables[name]

    @property
    def history(self):
        return self.read_table("history")

    @property
    def profiles(self):
        return self.read_table("profiles")

    @property
    def spectrum(self):
        return self.read_table("spectrum")

    @property
    def data_comparison(self):
        return self.read_table("data_comparison")

    @property
    def table(self):
        """The job's main table: ``reproduction.csv`` or a study's ``results.csv``."""
        for name in ("reproduction", "results"):
            if (self.path / TABLE_FILES[name]).is_file():
                return self.read_table(name)
        raise RunFolderError(f"{self.path}: a {self.job} run has no results table")

    # -- fields ----------------------------------------------------------------------------
    def fields(self) -> dict[str, Path]:
        """Field series (``.pvd``, ParaView/pyvista) by name, e.g. ``temperature``."""
        d = self.path / "fields"
        return {p.stem: p for p in sorted(d.glob("*.pvd"))} if d.is_dir() else {}

    def _series(self, name: str) -> Path:
        series = self.fields()
        if name not in series:
            raise RunFolderError(f"{self.path}: no field series {name!r} (it has "
                                 f"{sorted(series) or 'none: run with [output] fields = true'})")
        return series[name]

    def read_field(self, name: str, time: float | None = None):
        """One time (s; None = the last) of a field series as a pyvista UnstructuredGrid:
        the pieces of a parallel run merged into one grid, ghost cells dropped, shared
        points once (:func:`fem_cell.outputs.vtk_read.read_time`)."""
        return read_time(self._series(name), time)

    def to_meshio(self, name: str, time: float | None = None):
        """The same as a :class:`meshio.Mesh` of linear cells (``field_data["time_s"]``)."""
        return to_meshio(self.read_field(name, time))

    def export_field(self, name: str, path: str | Path, time: float | None = None) -> Path:
        """Write one time of a field series with meshio, format by suffix (``.vtu``,
        ``.xdmf`` + ``.h5``, …): a file meshio and other tools read."""
        return export_time(self._series(name), path, time)

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoints(self) -> dict[float, Path]:
        """The saved states (``checkpoints/t*.h5``) by time (s)."""
        from fem_cell.solvers.checkpoint import CheckpointError, read_checkpoint_meta

        out = {}
        for p in sorted((self.path / "checkpoints").glob("*.h5")):
            try:
                out[read_checkpoint_meta(p)["t"]] = p
            except CheckpointError:
                continue
        return dict(sorted(out.items()))

    def read_checkpoint(self, time: float | None = None) -> dict:
        """The state saved nearest ``time`` (s; None = the last) as DataFrames, one per
        field: ``x_um`` (and ``y_um`` in 2-D), the field's values in a column named after
        it, one row per DOF; ``.attrs``: ``unit``, ``meaning``, ``location``, ``t_s``.
        (The file's layout: docs/outputs.md, "Checkpoints".)"""
        import pandas as pd

        from fem_cell.solvers.checkpoint import read_checkpoint_fields

        saved = self.checkpoints()
        if not saved:
            raise RunFolderError(f"{self.path}: no checkpoints (run with [output] "
                                 "checkpoints = true)")
        t = max(saved) if time is None else min(saved, key=lambda s: abs(s - time))
        data = read_checkpoint_fields(saved[t])
        meta = data.pop("_meta")
        um = float(meta.get("length_scale_m") or 1e-6) / 1e-6
        dim = 2 if any(np.ptp(d["coords"][:, 1]) > 0 for d in data.values()) else 1
        out = {}
        for name, d in data.items():
            cols = {"x_um": d["coords"][:, 0] * um}
            if dim == 2:
                cols["y_um"] = d["coords"][:, 1] * um
            cols[name] = d["values"]
            df = pd.DataFrame(cols)
            df.attrs.update(unit=d["unit"], meaning=d["meaning"], location=d["location"],
                            t_s=t)
            out[name] = df
        return out

    # -- pictures --------------------------------------------------------------------------
    def film_view(self, path: str | Path | None = None):
        """The interactive view of a 2-D run's film fields
        (:mod:`fem_cell.outputs.field_view`): written to ``path`` as a standalone page, or
        (no path) returned as an object a notebook displays (``_repr_html_``)."""
        from fem_cell.outputs.field_view import (
            FieldViewError,
            film_view_data,
            film_view_html,
            write_film_view,
        )

        try:
            if path is not None:
                return write_film_view(self.path, path)
            return _Html(film_view_html(film_view_data(self.path),
                                        view_id=f"film-view-{abs(hash(self.path)) % 10**8}"))
        except FieldViewError as e:
            raise RunFolderError(str(e)) from None

    def plot(self, kind: str = "R", ax=None):
        """A matplotlib Figure of this run (``kind`` in :data:`PLOTS`)."""
        return compare([self], kind, ax=ax)

    def _repr_html_(self) -> str:
        rows = [("folder", str(self.path)), ("job", self.job), ("status", self.status)]
        for k, v in self.summary.items():
            if isinstance(v, (int, float)) and not isinstance(v, bool) and len(rows) < 14:
                rows.append((k, f"{v:.6g}"))
        rows.append(("tables", ", ".join(self.tables()) or "-"))
        rows.append(("fields", ", ".join(self.fields()) or "-"))
        body = "".join(f"<tr><th style='text-align:left'>{html.escape(k)}</th>"
                       f"<td style='text-align:left'>{html.escape(v)}</td></tr>"
                       for k, v in rows)
        return f"<table>{body}</table>"


class _Html(str):
    """A string a notebook shows as HTML."""

    def _repr_html_(self) -> str:
        return str(self)


def open_run(path: str | Path) -> RunFolder:
    """``fem_cell.open_run``: a run folder written by any fem-cell command.

    Example::

        import fem_cell
        run = fem_cell.open_run("results/anneal_1d")
        run.history[["time_min", "R_interface_ohm_cm2"]]
        run.plot("R")
    """
    return RunFolder(path)


def compare(runs, kind: str = "R", labels=None, ax=None):
    """Overlay several runs (folders or :class:`RunFolder` s) in one Figure.

    ``kind``: ``"R"`` (R_interface at 25 °C against time), ``"temperature"`` (plate and
    film mean), ``"profiles"`` (the last proton profile), ``"nyquist"``, ``"bode"``
    (|Z|).  ``labels``: one per run (default the folder names).
    """
    if kind not in PLOTS:
        raise ValueError(f"kind {kind!r}: one of {PLOTS}")
    runs = [r if isinstance(r, RunFolder) else open_run(r) for r in runs]
    labels = list(labels) if labels is not None else [r.path.name for r in runs]
    if len(labels) != len(runs):
        raise ValueError(f"{len(labels)} labels for {len(runs)} runs")
    plt = pyplot()
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7, 4.5))
    if kind in ("R", "temperature"):
        span = max(float(r.history["time_s"].max()) for r in runs)
        scale, unit = time_axis([span])
    for k, (r, lab) in enumerate(zip(runs, labels, strict=True)):
        c = f"C{k % 10}"
        if kind == "R":
            h = r.history
            ax.semilogy(h["time_s"] / scale, h["R_interface_ohm_cm2"], color=c, label=lab)
            ax.set_ylabel("R_interface at 25 °C (Ω cm²)")
        elif kind == "temperature":
            h = r.history
            ax.plot(h["time_s"] / scale, h["T_plate_C"], color=c, label=f"{lab}: plate")
            ax.plot(h["time_s"] / scale, h["T_mean_C"], color=c, ls=":", label=f"{lab}: films")
            ax.set_ylabel("temperature (°C)")
        elif kind == "profiles":
            p = r.profiles
            last = p[p["time_s"] == p["time_s"].max()]
            ax.semilogx(last["xH"], last["height_nm"], color=c,
                        label=f"{lab} (t = {last['time_s'].iloc[0] / 60:.4g} min)")
            ax.set_xlabel("mobile proton site fraction x_H (–)")
            ax.set_ylabel("height above LiCoO2|Li3PO4 (nm)")
        else:
            s = r.spectrum
            Z = s["Z_real_ohm_cm2"].to_numpy() + 1j * s["Z_imag_ohm_cm2"].to_numpy()
            if kind == "nyquist":
                ax.plot(Z.real, -Z.imag, "o-", ms=3, color=c, label=lab)
                ax.set_xlabel("Z′ (Ω cm²)")
                ax.set_ylabel("−Z″ (Ω cm²)")
                ax.set_aspect("equal", adjustable="datalim")
            else:
                ax.loglog(s["frequency_Hz"], np.abs(Z), "o-", ms=3, color=c, label=lab)
                ax.set_xlabel("frequency (Hz)")
                ax.set_ylabel("|Z| (Ω cm²)")
    if kind in ("R", "temperature"):
        ax.set_xlabel(f"time ({unit})")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


__all__ = ["PLOTS", "RunFolder", "RunFolderError", "add_time_units", "compare", "open_run"]
