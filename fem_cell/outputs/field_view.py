"""An interactive view of a 2-D run's film fields: one self-contained HTML fragment.

The film fields of a 2-D anneal (``fields/films.pvd``: x_H, x_Li, Φ, T over the LiCoO2 /
degraded layer / Li3PO4 cross-section) are µm thin under a mm-wide pad, so a picture
either shows the films as a line or stretches them.  This view draws them in the browser
from the run's own numbers, with no network and no library:

* a time slider over the stored outputs (``before`` = the exposed state at t = 0,
  ``after`` = the end of the anneal) and a field menu (log10 x_H, x_Li, Φ, T);
* two vertical scales: every layer the same height (the 10 nm degraded layer visible),
  or true thickness (uniformly stretched); layer outlines and names with thickness, the
  Li pad's extent marked above the top layer;
* axes in µm, a colour bar with the unit, values interpolated linearly on the mesh's
  triangles (each quadrilateral split in two), a readout of x, height, layer and value
  under the pointer, wheel zoom and drag pan along x (double-click resets).

:func:`film_view_data` reads a run folder (``run.json`` for the layer names, thicknesses
and the pad; the ``.pvd`` series through pyvista, parallel pieces merged, ghost cells
dropped); :func:`film_view_html` returns the ``<div>`` + inline script (several views may
share a page); :func:`write_film_view` writes a standalone page (the anneal job's
``protons_2d.html``).  The report embeds the same fragment.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from fem_cell.outputs.section import LOG_FLOOR, SectionError, SectionSeries, stack_of

#: the fields offered: point-data name → (menu label, unit, transform)
FIELDS = {"xH": ("log10 x_H (total protons, site fraction)", "-", "log10"),
          "xLi": ("x_Li (Li site fraction)", "-", None),
          "phi_V": ("potential Φ", "V", None),
          "T_C": ("temperature T", "°C", None)}
#: most stored outputs put in a view (first and last always kept)
MAX_TIMES = 25
#: most numbers (points × times × fields) a view carries (≈ 10 bytes each in the page)
MAX_VALUES = 2_000_000


class FieldViewError(SectionError):
    """A run folder without the 2-D film fields a view needs."""


def _significant(a: np.ndarray, digits: int = 5) -> list[float]:
    """The values rounded to ``digits`` significant digits, exactly as
    ``float(f"{v:.5g}")`` (so the page carries short numbers), vectorised: with p the
    decimal exponent of the last kept digit, the integer m = rint(v / 10^p) and then
    m / 10^-p or m · 10^p, one correctly rounded operation on two exact numbers
    (10^|p| is exact up to 10^22).  Values outside that range, near a rounding tie or
    with a misjudged exponent are formatted one by one.  The per-value formatting took
    4.5 s of a default 2-D anneal's 17 s of post-processing."""
    a = np.asarray(a, dtype=float).ravel()
    out = a.copy()
    ok = np.flatnonzero(np.isfinite(a) & (a != 0))
    v = a[ok]
    p = np.floor(np.log10(np.abs(v))).astype(np.int64) - (digits - 1)
    scale = 10.0 ** np.minimum(np.abs(p), 22)
    small = p < 0
    q = np.where(small, v * scale, v / scale)
    m = np.rint(q)
    out[ok] = np.where(small, m / scale, m * scale)
    am = np.abs(m)
    odd = ((np.abs(p) > 22) | (np.abs(np.abs(q - m) - 0.5) < 1e-6)
           | (am < 10.0 ** (digits - 1)) | (am > 10.0 ** digits))
    for i in ok[odd]:
        out[i] = float(f"{a[i]:.{digits}g}")
    return out.tolist()


def _select_times(n: int, most: int) -> list[int]:
    if n <= most:
        return list(range(n))
    return sorted(set(np.round(np.linspace(0, n - 1, most)).astype(int).tolist()))


def film_view_data(run_dir: str | Path, *, max_times: int = MAX_TIMES) -> dict:
    """The numbers of a view of ``run_dir``'s film fields (a JSON-able dict; rank 0).

    Raises:
        FieldViewError: no ``fields/films.pvd`` or no stack in ``run.json``, not a 2-D
            run, or the fields too large for a page even with two times.
    """
    run_dir = Path(run_dir)
    pvd = run_dir / "fields" / "films.pvd"
    if not pvd.is_file():
        raise FieldViewError(f"{run_dir}: no fields/films.pvd (a 2-D anneal with chemistry "
                             "and field output writes it)")
    try:
        stack_of(run_dir)
        series = SectionSeries(pvd, run_dir)
        first = series.read(series.times[0])
        fields = [f for f in FIELDS if f in first.point_data]
        per_time = first.x.size * max(1, len(fields))
        if 2 * per_time > MAX_VALUES:
            raise FieldViewError(f"{pvd}: {first.x.size} points × {len(fields)} fields is "
                                 "too large for an interactive page; open the .pvd in "
                                 "ParaView")
        most = max(2, min(max_times, MAX_VALUES // per_time))
        idx = _select_times(len(series.times), most)
        sections = [first if i == 0 else series.read(series.times[i]) for i in idx]
    except FieldViewError:
        raise
    except SectionError as e:
        raise FieldViewError(str(e)) from None
    if any(sec.x.size != first.x.size for sec in sections):
        raise FieldViewError(f"{pvd}: the mesh changes between outputs")
    values = {}
    for f in fields:
        label, unit, transform = FIELDS[f]
        series_f = []
        for sec in sections:
            v = np.asarray(sec.point_data[f], dtype=float)
            if transform == "log10":
                v = np.log10(np.maximum(v, LOG_FLOOR))
            series_f.append(_significant(v))
        allv = np.concatenate([np.asarray(v) for v in series_f])
        values[f] = {"label": label, "unit": unit, "min": float(allv.min()),
                     "max": float(allv.max()), "series": series_f}
    layers = [{"tag": L.tag, "name": L.name, "y0": L.y0, "y1": L.y1,
               "thickness_um": L.y1 - L.y0} for L in first.layers]
    return {"x": _significant(first.x, 7), "y": _significant(first.y, 9),
            "triangles": first.triangles.ravel().tolist(), "layers": layers,
            "pad": first.pad, "times_s": [series.times[i] for i in idx], "fields": values,
            "source": pvd.name}


def film_view_html(data: dict, *, view_id: str = "film-view", title: str = "") -> str:
    """A self-contained ``<div>`` with the view of :func:`film_view_data` (inline JSON and
    script; ``view_id`` must be unique on the page)."""
    if not view_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"view_id {view_id!r}: letters, digits, - and _")
    payload = json.dumps(data, separators=(",", ":")).replace("</", "<\\/")
    opts = "".join(f'<option value="{html.escape(k)}">{html.escape(v["label"])}</option>'
                   for k, v in data["fields"].items())
    return f"""<div class="fem-cell-view" id="{view_id}" style="font:13px sans-serif">
{f"<p><b>{html.escape(title)}</b></p>" if title else ""}
<div style="display:flex;gap:12px;align-items:center;flex-wrap:wrap">
<button type="button" data-role="before">before (t = 0)</button>
<input type="range" data-role="time" min="0" max="{len(data["times_s"]) - 1}" value="0"
 aria-label="output time" style="width:220px">
<button type="button" data-role="after">after (end)</button>
<span data-role="tlabel"></span>
<label>field <select data-role="field">{opts}</select></label>
<label><input type="radio" name="{view_id}-mode" value="layers" checked> layers equal
height</label>
<label><input type="radio" name="{view_id}-mode" value="true"> true thickness</label>
</div>
<canvas data-role="canvas" width="1100" height="440" role="img"
 aria-label="interactive map of the film fields over the cross-section"
 style="border:1px solid #ccc;cursor:crosshair;max-width:100%"></canvas>
<div data-role="readout" style="min-height:1.3em;color:#333">move the pointer over the
films for values; wheel: zoom along x, drag: pan, double-click: reset</div>
<script type="application/json" data-role="data">{payload}</script>
<script>{_script().replace("__ID__", view_id)}</script>
</div>"""


def write_film_view(run_dir: str | Path, path: str | Path, *, title: str = "") -> Path:
    """A standalone HTML page with the view of ``run_dir``'s film fields (rank 0)."""
    data = film_view_data(run_dir)
    page = (f'<!DOCTYPE html><html><head><meta charset="utf-8"><title>'
            f'{html.escape(title or "film fields")}</title></head><body>'
            f'{film_view_html(data, title=title)}</body></html>')
    p = Path(path)
    p.write_text(page, encoding="utf-8")
    return p


def _script() -> str:
    """The viewer (``field_view.js`` beside this module)."""
    return (Path(__file__).with_name("field_view.js")).read_text(encoding="utf-8")


__all__ = ["FIELDS", "LOG_FLOOR", "FieldViewError", "film_view_data", "film_view_html",
           "write_film_view"]
