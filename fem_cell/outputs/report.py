"""The reproduction's self-contained ``report.html``: what each number can show.

Sections: the headline by role, what the roles mean, the table of compared numbers (value
± uncertainty, the state's diagnostic, the paper, the criterion), the predictions, every
cell parameter with its value and origin (fitted / literature / assumed / derived / user),
what the model cannot yet claim, and the figures (embedded PNGs, no external files), with
an interactive view of the small 2-D run's film fields before, during and after the anneal
(:mod:`fem_cell.outputs.field_view`: inline data and script, no network).
"""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from fem_cell import __version__
from fem_cell.outputs.field_view import FieldViewError, film_view_data, film_view_html

#: source tags of the cell file → origin shown (docs/configuration.md "Source tags")
ORIGINS = {"A": "literature (read in a source)", "A/B": "literature",
           "B": "literature (not re-checked)", "A/C": "literature / assumed",
           "C": "assumed (estimate)"}


def _fmt(v, digits: int = 5) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _img(path: Path, alt: str) -> str:
    if not path.is_file():
        return "<p><em>(not produced)</em></p>"
    data = base64.b64encode(path.read_bytes()).decode()
    return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt, quote=True)}" '
            'style="max-width:100%">')


def _interactive(run_dir: Path) -> str:
    """The interactive view of the small 2-D run (or why there is none)."""
    head = "<h3>Film fields of the small 2-D run, interactive</h3>"
    try:
        return head + film_view_html(film_view_data(run_dir), view_id="films-2d")
    except FieldViewError as e:
        return head + f"<p><em>(no interactive view: {html.escape(str(e))})</em></p>"


def _pretty(text: str) -> str:
    """Plain-ASCII notation of the cell file's notes in print form (≤, ≥, →)."""
    return str(text).replace("<=", "≤").replace(">=", "≥").replace("->", "→")


def _cell(key: str, v) -> str:
    """A table cell's text: sensible digits, relative differences in percent."""
    if v is None or v == "":
        return "–" if key in ("relative_difference", "uncertainty") else ""
    if key == "relative_difference":
        return f"{100 * v:+.1f} %"
    if key == "uncertainty":
        return _fmt(v, 2)
    if isinstance(v, str):
        return _pretty(v)
    return _fmt(v, 4 if key in ("value", "R_interface_state_ohm_cm2") else 5)


def parameter_origin(key: str, setting, fitted: tuple[str, ...]) -> str:
    """Where a parameter's value comes from: fitted (calibration record), literature,
    assumed, derived, default or a user file."""
    if key in fitted:
        return "fitted (scripts/calibrate.py)"
    if setting.origin == "derived":
        return "derived"
    if setting.origin == "default":
        return "default (run setting)"
    if not setting.origin.startswith("<built-in cell"):
        return f"user ({setting.origin})"
    tag = str(setting.source).split(":", 1)[0].strip()
    return ORIGINS.get(tag, "see source")


CELL_SECTIONS = ("materials.", "layers.", "geometry.", "thermal.", "transport.",
                 "degraded_layer.", "exposure_model.", "exposure.", "electrochemistry.",
                 "anneal.")


def _parameters(config, fitted: tuple[str, ...]) -> str:
    rows = []
    for key, s in config.settings.items():
        if not key.startswith(CELL_SECTIONS):
            continue
        unit = s.unit or ""
        rows.append("<tr>" + "".join(f"<td>{html.escape(x)}</td>" for x in (
            key, _fmt(s.value) if not isinstance(s.value, (list, dict)) else str(s.value),
            unit, parameter_origin(key, s, fitted), _pretty(s.source or ""))) + "</tr>")
    return ("<table><tr><th>parameter</th><th>value</th><th>unit</th><th>origin</th>"
            "<th>source note</th></tr>" + "\n".join(rows) + "</table>")


def _results(rows) -> str:
    cols = ("case", "role", "quantity", "value", "uncertainty", "R_interface_state_ohm_cm2",
            "paper", "relative_difference", "criterion")
    head = ("<tr><th>case</th><th>role</th><th>quantity</th><th>value</th><th>± (1σ)</th>"
            "<th>diagnostic R [Ω cm²]</th><th>paper</th><th>difference from the paper</th>"
            "<th>criterion</th><th>meets</th></tr>")
    colour = {"yes": "green", "no": "red", "-": "#666"}
    trs = "\n".join(
        "<tr>" + "".join(f"<td>{html.escape(_cell(k, r[k]))}</td>" for k in cols)
        + f'<td style="color:{colour[r["meets"]]}"><b>{r["meets"]}</b></td></tr>'
        for r in rows)
    return f"<table>{head}\n{trs}</table>"


def _headline(rows, partial: bool, total: int) -> str:
    parts = []
    for role in ("input", "by_construction", "fitted", "predicted"):
        rr = [r for r in rows if r["role"] == role]
        if not rr:
            continue
        ok = sum(r["meets"] == "yes" for r in rr)
        crit = sum(r["meets"] in ("yes", "no") for r in rr)
        parts.append(f"{role.replace('_', ' ')}: {ok} of {crit} meet their criterion"
                     + (f" ({len(rr) - crit} without one)" if len(rr) > crit else ""))
    head = "; ".join(parts)
    if partial:
        return (f"<p><b>The run stopped early: {len(rows)} of {total} rows were computed."
                f"</b> {html.escape(head)}</p>")
    return (f"<p><b>{html.escape(head)}.</b> Only the <em>predicted</em> rows test the "
            "model; the fitted ones show that it can be calibrated to them.</p>")


def _predictions(rows) -> str:
    pr = [r for r in rows if r["role"] == "predicted"]
    if not pr:
        return "<p>(none computed)</p>"
    items = "".join(
        f"<li><b>{html.escape(r['case'])}</b> ({html.escape(r['what'])}): "
        f"{_fmt(r['value'], 4)}"
        + (f" ± {_fmt(r['uncertainty'], 2)}" if r["uncertainty"] is not None else
           " (no linearised uncertainty: no calibration record applies)")
        + (f"; posterior 90 % band {_fmt(r['p05'], 3)} – {_fmt(r['p95'], 3)} (median "
           f"{_fmt(r['p50'], 3)})" if r.get("p50") is not None else "")
        + f" Ω cm²; {html.escape(_pretty(r['criterion']))}</li>" for r in pr)
    band = ("<p>The 90 % band is the 5–95 % range of the prediction over samples of a "
            "posterior calibration (<code>fem-cell reproduce --posterior</code>): the "
            "spread the calibration targets leave in the fitted parameters; it does not "
            "include the assumed parameters or the model form either.</p>"
            if any(r.get("p50") is not None for r in pr) else "")
    return (f"<ul>{items}</ul><p>± is one standard deviation from the calibration's "
            "covariance of the fitted parameters, propagated linearly (forward differences); "
            "it does not include the assumed parameters or the model form.</p>" + band)


def write_report(path: Path, rows, config, record, small_2d: dict | None, partial: bool, *,
                 total: int, roles: dict[str, str], limits: tuple[str, ...]) -> None:
    """Write ``report.html`` (rank 0)."""
    out = path.parent
    fitted = record.keys if record is not None else ()
    role_rows = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>"
                        for k, v in roles.items())
    cal = (f"<p>Calibration record: {html.escape(record.source)} (mechanism "
           f"{html.escape(record.mechanism)}, {html.escape(record.date)}); fitted: "
           + ", ".join(html.escape(k) for k in fitted) + ".</p>") if record else (
        "<p>No calibration record applies to these parameter values.</p>")
    two_d = ""
    if small_2d:
        two_d = (f"<p>2-D (small run): exposed R film average "
                 f"{_fmt(small_2d['R_exposed_film_ohm_cm2'], 4)}, under the Li pad "
                 f"{_fmt(small_2d.get('R_exposed_pad_ohm_cm2'), 4)}; after the "
                 f"anneal {_fmt(small_2d['R_annealed_film_ohm_cm2'], 4)} (film), "
                 f"{_fmt(small_2d.get('R_annealed_pad_ohm_cm2'), 4)} (pad) Ω cm². "
                 f"{html.escape(small_2d['note'])}.</p>")
    figs = [("Nyquist plots of all cases (25 °C)", out / "nyquist.png"),
            ("R_interface(t) through the anneal, with the plate program",
             out / "anneal_H2O" / "R_interface.png"),
            ("Proton profiles before, during and after the anneal (1-D; total = mobile + "
             "trapped)", out / "anneal_H2O" / "proton_profiles.png"),
            ("Proton field in 2-D before and after the anneal (thickness stretched)",
             out / "anneal_2d_small" / "protons_2d.png")]
    body = "\n".join(f"<h3>{html.escape(t)}</h3>{_img(p, t)}" for t, p in figs)
    if small_2d:
        body += "\n" + _interactive(out / "anneal_2d_small")
    lim = "".join(f"<li>{html.escape(_pretty(x))}</li>" for x in limits)
    page = f"""<!DOCTYPE html><html><head><meta charset="utf-8">
<title>fem_cell reproduction: {html.escape(config.name)}</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}}
table{{border-collapse:collapse;font-size:90%}}td,th{{border:1px solid #999;padding:3px 6px}}
</style></head><body>
<h1>Reproduction of Kobayashi, Hitosugi et al., ACS AMI 14, 2703 (2022)</h1>
<p>Cell: {html.escape(config.title)} ({html.escape(config.name)}), {config.mesh.dim}-D.
Interface resistance = the fitted interface arc of the simulated impedance spectrum at 25 °C
(impedance.py equivalent circuit); the diagnostic integral of the state is shown beside it.</p>
{_headline(rows, partial, total)}
<h2>What each role can show</h2>
<table><tr><th>role</th><th>meaning</th></tr>{role_rows}</table>
<h2>Compared numbers</h2>
{_results(rows)}
<h2>Predictions</h2>
{_predictions(rows)}
<h2>Parameters and their origin</h2>
{cal}
{_parameters(config, fitted)}
<h2>What the model cannot yet claim</h2>
<ul>{lim}</ul>
<h2>Figures</h2>
{two_d}
{body}
<p style="color:#666">fem_cell {html.escape(__version__)};
generated {time.strftime("%Y-%m-%d %H:%M")}</p>
</body></html>"""
    path.write_text(page, encoding="utf-8")


__all__ = ["ORIGINS", "parameter_origin", "write_report"]
