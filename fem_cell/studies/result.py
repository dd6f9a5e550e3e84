"""A study's results: the table (one row per case), its summary, and its plot.

:class:`StudyResult` is what :func:`fem_cell.studies.runner.run_study` returns;
:func:`table_rows` turns the case records into the rows of ``results.csv``
(:func:`write_csv`, :func:`read_results`); :func:`study_summary` makes ``summary.json``
(counts, :func:`headline` numbers, failed cases, the ``[summary] reach`` analysis of
:func:`reach_analysis`); :func:`plot_study` draws ``heatmap.png`` or ``line.png``.

This module does not import dolfinx.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fem_cell.outputs.rundir import atomic_open
from fem_cell.studies.spec import StudySpec, display_value


@dataclass
class StudyResult:
    """What :func:`~fem_cell.studies.runner.run_study` returns (every rank; rows are
    complete on rank 0 and broadcast).

    Attributes:
        rows: one dict per case, in case order: ``case``, each parameter as given and
            ``<key>_si``, the recorded values, ``status`` (completed / failed /
            pending), ``error``, ``wall_time_s``.
        status: ``completed`` (every case ran, some may have failed) or ``interrupted``.
        out: the study folder (or None).
        summary: the headline numbers (as in ``summary.json``).
        calibration: the :class:`fem_cell.studies.calibration.CalibrationResult` of a
            calibration study.
    """

    spec: StudySpec
    rows: list[dict] = field(default_factory=list)
    status: str = "completed"
    out: Path | None = None
    summary: dict = field(default_factory=dict)
    wall_time: float = 0.0
    calibration: Any = None
    #: a posterior sweep's per-sample results (one StudyResult per posterior sample)
    samples: list = field(default_factory=list)

    @property
    def failed(self) -> list[dict]:
        """The rows of the cases that failed."""
        return [r for r in self.rows if r.get("status") == "failed"]

    @property
    def completed(self) -> list[dict]:
        return [r for r in self.rows if r.get("status") == "completed"]

    def to_pandas(self):
        """The table as a :class:`pandas.DataFrame` (one row per case)."""
        import pandas as pd

        return pd.DataFrame(self.rows)

    def column(self, name: str) -> np.ndarray:
        return np.array([r.get(name, np.nan) for r in self.rows], dtype=float)

    def report(self) -> str:
        """One line for the CLI: counts, wall time, where the table is."""
        if self.summary.get("kind") == "posterior_sweep":
            s = self.summary
            where = f"; bands in {self.out / 'bands.csv'}" if self.out else ""
            conv = "" if s.get("posterior_converged") else " (posterior NOT converged)"
            return (f"study {self.spec.name} over {s['samples']} posterior samples{conv}: "
                    f"{s['cases']} cases, {s['failed_runs']} failed runs, in "
                    f"{self.wall_time:.1f} s{where}")
        if self.spec.kind == "calibration" and self.spec.fit.method == "posterior":
            c = self.summary.get("calibration", {})
            d = c.get("diagnostics", {})
            where = f"; table in {self.out / 'identifiability.csv'}" if self.out else ""
            conv = ("converged" if d.get("converged") else
                    "NOT converged (" + "; ".join(d.get("warnings", [])) + ")")
            return (f"posterior {self.spec.name}: {self.status} in {self.wall_time:.1f} s, "
                    f"{c.get('evaluations')} model evaluations, {conv}{where}")
        if self.spec.kind == "calibration":
            where = f"; table in {self.out / 'calibration.csv'}" if self.out else ""
            return f"calibration {self.spec.name}: {self.status} in {self.wall_time:.1f} s{where}"
        s = self.summary
        where = f"; table in {self.out / 'results.csv'}" if self.out else ""
        reused = (f", {s.get('reused_from_earlier_run')} from an earlier run"
                  if s.get("reused_from_earlier_run") else "")
        pending = f", {s.get('pending')} not run" if s.get("pending") else ""
        return (f"study {self.spec.name}: {s.get('cases')} cases ({s.get('completed')} "
                f"completed, {s.get('failed')} failed{pending}{reused}) in "
                f"{self.wall_time:.1f} s{where}")


# ------------------------------------------------------------------ table ---------
def table_rows(spec: StudySpec, records: dict[int, dict]) -> list[dict]:
    """One row per case (pending ones too), in case order."""
    cols = spec.value_columns()
    rows = []
    for case in spec.cases:
        rec = records.get(case.index)
        row: dict[str, Any] = {"case": case.id}
        for p in spec.parameters:
            row[p.key] = case.values[p.key]
            row[f"{p.key}_si"] = case.si.get(p.key)
        vals = rec.get("recorded", {}) if rec else {}
        for c in cols:
            row[c] = vals.get(c, math.nan)
        row["status"] = rec["status"] if rec else "pending"
        row["error"] = (rec.get("error") or "") if rec else ""
        row["wall_time_s"] = rec.get("wall_time_s", math.nan) if rec else math.nan
        rows.append(row)
    return rows


def write_csv(rows: list[dict], path: Path) -> None:
    if not rows:
        return
    with atomic_open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        for r in rows:
            w.writerow({k: (repr(v) if isinstance(v, float) and math.isfinite(v) else
                            "" if isinstance(v, float) or v is None else v)
                        for k, v in r.items()})


def read_results(path: str | Path):
    """``results.csv`` of a study folder (or the file) as a pandas DataFrame."""
    import pandas as pd

    p = Path(path)
    return pd.read_csv(p / "results.csv" if p.is_dir() else p)


# ------------------------------------------------------------------ analysis ------
def _grid(spec: StudySpec, rows: list[dict], value: str) -> np.ndarray:
    shape = spec.grid_shape()
    return np.array([r.get(value, np.nan) for r in rows], dtype=float).reshape(shape)


def _axis(spec: StudySpec, i: int) -> np.ndarray:
    """Parameter i's levels in its display unit (grid studies)."""
    p = spec.parameters[i]
    n = int(np.prod(spec.grid_shape()[i + 1:]))
    out = []
    for j in range(len(p.values)):
        case = spec.cases[j * n]
        v = display_value(p, case.si.get(p.key))
        out.append(np.nan if v is None else v)
    return np.array(out, dtype=float)


def reach_analysis(spec: StudySpec, rows: list[dict], reach: dict) -> dict:
    """For each level of the other parameter: the smallest ``along`` value at which
    ``value`` falls to ``target``, interpolating log(value) against log(along) (or
    linearly with ``log = false``); ``"not reached"`` if no level gets there."""
    keys = [p.key for p in spec.parameters]
    along = keys.index(reach["along"])
    vals = _grid(spec, rows, reach["value"])
    axis = _axis(spec, along)
    p_along = spec.parameters[along]
    other = [i for i in range(len(keys)) if i != along]
    log = reach.get("log", True)
    target = float(reach["target"])
    results = []
    vals = np.moveaxis(vals, along, -1)
    for idx in np.ndindex(*vals.shape[:-1]):
        line = vals[idx]
        entry = {}
        for k, i in zip(other, idx, strict=True):
            entry[keys[k]] = spec.parameters[k].shown[i]
        order = np.argsort(axis)
        x, y = axis[order], line[order]
        ok = np.isfinite(x) & np.isfinite(y)
        x, y = x[ok], y[ok]
        hit = np.nonzero(y <= target)[0]
        if len(hit) == 0:
            entry["reached"] = "not reached"
        elif hit[0] == 0:
            entry["reached"] = f"<= {x[0]:.4g} {p_along.unit}".strip()
            entry["value"] = float(x[0])
        else:
            j = hit[0]
            x0, x1, y0, y1 = x[j - 1], x[j], y[j - 1], y[j]
            if log and min(x0, x1, y0, y1, target) > 0:
                f = (math.log(target) - math.log(y0)) / (math.log(y1) - math.log(y0))
                xr = math.exp(math.log(x0) + f * (math.log(x1) - math.log(x0)))
            else:
                xr = x0 + (target - y0) * (x1 - x0) / (y1 - y0)
            entry["reached"] = f"{xr:.4g} {p_along.unit}".strip()
            entry["value"] = float(xr)
        results.append(entry)
    return {"value": reach["value"], "target": target, "along": reach["along"],
            "unit": p_along.unit, "interpolation": "log-log" if log else "linear",
            "results": results}


def headline(spec: StudySpec, rows: list[dict]) -> dict:
    out: dict[str, Any] = {}
    for c in spec.value_columns():
        v = np.array([r.get(c, np.nan) for r in rows], dtype=float)
        v = v[np.isfinite(v)]
        if len(v):
            i_min = int(np.nanargmin([r.get(c, np.nan) if np.isfinite(r.get(c, np.nan))
                                      else np.inf for r in rows]))
            i_max = int(np.nanargmax([r.get(c, np.nan) if np.isfinite(r.get(c, np.nan))
                                      else -np.inf for r in rows]))
            out[c] = {"min": float(v.min()), "min_case": rows[i_min]["case"],
                      "max": float(v.max()), "max_case": rows[i_max]["case"]}
    return out


def study_summary(spec: StudySpec, rows: list[dict], reused: int, wall: float) -> dict:
    """The headline numbers of a study (``summary.json``): counts, cases reused from an
    earlier run, wall times, :func:`headline`, the failed cases and the reach analysis."""
    n = {s: sum(r["status"] == s for r in rows) for s in ("completed", "failed", "pending")}
    out: dict[str, Any] = {
        "study": spec.name, "job": spec.job, "spec_hash": spec.hash,
        "cases": len(rows), **n, "reused_from_earlier_run": reused,
        "computed_now": n["completed"] + n["failed"] - reused,
        "wall_time_s": wall,
        "case_wall_time_mean_s": float(np.nanmean([r["wall_time_s"] for r in rows]))
        if any(np.isfinite(r["wall_time_s"]) for r in rows) else None,
        "headline": headline(spec, rows),
        "failed_cases": [{"case": r["case"], "error": r["error"]} for r in rows
                         if r["status"] == "failed"],
    }
    if spec.reach is not None:
        out["reach"] = reach_analysis(spec, rows, spec.reach)
    return out


# ------------------------------------------------------------------ plots ---------
def guarded_plot(summary: dict, plot, *args):
    """``plot(*args)``; a failure is recorded as ``summary["plot_error"]`` instead of
    raised (a plot never loses the results it draws).  Returns what ``plot`` returns."""
    try:
        return plot(*args)
    except Exception as e:  # noqa: BLE001 - any plotting failure
        summary["plot_error"] = f"{type(e).__name__}: {e}"
        return None



def _is_log(x: np.ndarray) -> bool:
    return len(x) > 2 and np.all(x > 0) and np.allclose(np.diff(np.log(x)),
                                                       np.log(x[1] / x[0]), rtol=1e-6)


def plot_study(spec: StudySpec, rows: list[dict], folder: Path) -> str | None:
    """Heat map (2 grid parameters) or line plot (1 parameter) of ``[plot] value``;
    returns the file name written (or None)."""
    value = spec.plot.value
    if value is None or spec.combine != "grid" or len(spec.parameters) not in (1, 2):
        return None
    from matplotlib.colors import LogNorm

    from fem_cell.outputs.plots import pyplot, save_figure

    plt = pyplot()

    z = _grid(spec, rows, value)
    ps = spec.parameters

    def label(p):
        return f"{p.key} ({p.unit})" if p.unit else p.key

    if len(ps) == 1:
        x = _axis(spec, 0)
        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot(x, z, "o-")
        if _is_log(x):
            ax.set_xscale("log")
        if spec.plot.log:
            ax.set_yscale("log")
        ax.set_xlabel(label(ps[0]))
        ax.set_ylabel(value)
        ax.grid(True, which="both", alpha=0.3)
        name = "line.png"
    else:
        y, x = _axis(spec, 0), _axis(spec, 1)
        fig, ax = plt.subplots(figsize=(1.2 * len(x) + 3, 0.7 * len(y) + 2.5))
        finite = z[np.isfinite(z)]
        norm = None
        if spec.plot.log and len(finite) and finite.min() > 0:
            norm = LogNorm(vmin=finite.min(), vmax=finite.max())
        im = ax.imshow(np.ma.masked_invalid(z), origin="lower", aspect="auto", norm=norm,
                       cmap="viridis")
        fig.colorbar(im, ax=ax, label=value)
        ax.set_xticks(range(len(x)), [f"{v:.3g}" for v in x])
        ax.set_yticks(range(len(y)), [f"{v:.3g}" for v in y])
        for (i, j), v in np.ndenumerate(z):
            light = np.isfinite(v) and im.norm(v) > 0.6
            ax.text(j, i, "n/a" if not np.isfinite(v) else f"{v:.3g}", ha="center",
                    va="center", fontsize=7, color="k" if light else "w")
        ax.set_xlabel(label(ps[1]))
        ax.set_ylabel(label(ps[0]))
        name = "heatmap.png"
    ax.set_title(f"{spec.name}: {value}")
    save_figure(fig, folder / name, dpi=110)
    return name


__all__ = ["StudyResult", "headline", "plot_study", "reach_analysis", "read_results",
           "study_summary", "table_rows", "write_csv"]
