"""``report.json`` and the self-contained HTML page of an audit.

The page has no script and no external resource: inline CSS and inline SVG charts
(:mod:`fingerprint.audit.svg`), so it can be archived, mailed and opened offline as it is.
"""

from __future__ import annotations

import json
import math
import os
from html import escape
from pathlib import Path

import numpy as np

from ..sources.writers import write_text
from . import svg

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:980px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.8em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6em 0}td,th{border:1px solid #ddd;padding:.3em .6em;text-align:left;
font-size:.92em}th{background:#f5f5f5}.mono{font-family:ui-monospace,Menlo,Consolas,monospace}
.verdict{font-weight:bold;padding:.15em .5em;border-radius:4px}
.v-strong{background:#fbe3e1;color:#8b1a10}.v-moderate{background:#fdf0d5;color:#7a4d00}
.v-weak{background:#eef3fb;color:#1d4f91}.v-none{background:#e8f5e9;color:#1b5e20}
.small{color:#555;font-size:.88em}figure{margin:1em 0}figcaption{color:#555;font-size:.88em}
"""


def _p(p) -> str:
    if p is None:
        return "n/a"
    p = float(p)
    if p == 0.0:
        return "< 1e-300"
    return f"{p:.2e}" if p < 1e-3 else f"{p:.4f}"


def _num(x, digits: int = 4) -> str:
    if x is None:
        return "n/a"
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    x = float(x)
    if not math.isfinite(x):
        return str(x)
    return f"{x:.{digits}g}"


def _verdict_badge(v: dict) -> str:
    level = v.get("level", "none")
    return f'<span class="verdict v-{escape(level)}">{escape(v.get("label", ""))}</span>'


def _evidence_rows(ev: dict) -> str:
    rows = []
    for key, e in ev.items():
        if e.get("skipped"):
            rows.append(f"<tr><td>{escape(e.get('title', key))}</td><td colspan=4 class=small>not run: "
                        f"{escape(e['skipped'])}</td></tr>")
            continue
        rows.append(
            f"<tr><td>{escape(e.get('title', key))}</td><td>{escape(e.get('summary', ''))}</td>"
            f"<td class=mono>{_p(e.get('p_value'))}</td><td class=mono>{_p(e.get('adjusted_p'))}</td>"
            f"<td>{escape(e.get('strength', 'none'))}</td></tr>")
    return ("<table><tr><th>test</th><th>result</th><th>p-value</th><th>Holm-adjusted</th>"
            "<th>strength</th></tr>" + "".join(rows) + "</table>")


def _figures(name: str, ev: dict) -> str:
    out = []
    curves = {}
    for key, label in (("radioactivity", "suspect's outputs"), ("radioactivity_reading", "reading mode")):
        e = ev.get(key, {})
        if e.get("curve") and not e.get("skipped"):
            t = np.asarray(e["curve"]["tokens"], dtype=np.float64)
            lp = -np.log10(np.maximum(np.asarray(e["curve"]["p_value"], dtype=np.float64), 1e-300))
            curves[label] = (t, lp)
    if curves:
        out.append(_figure(svg.line_chart(
            curves, xlabel="scored tokens (de-duplicated)", ylabel="-log10 p",
            title="cumulative radioactivity p-value", hline=5.0, hline_label="p = 1e-5"),
            "Cumulative radioactivity p-value as scored tokens accrue, on the suspect's outputs and in "
            "reading mode (higher is stronger evidence; dashed: p = 1e-5; p is floored at 1e-300)."))
    div = ev.get("divergence", {})
    if div and not div.get("skipped"):
        names = [name] + list(div["panel"].keys())
        vals = [div["suspect"]] + list(div["panel"].values())
        out.append(_figure(svg.bar_chart(names, vals, ylabel=div.get("statistic", "divergence"),
                                         title="suspect vs panel", highlight={0}),
                           f"{escape(div.get('statistic', ''))} from the teacher: the suspect (red) and "
                           "every panel model (blue); lower is closer to the teacher."))
        samples = div.get("per_token") or {}
        if samples:
            out.append(_figure(svg.histogram_chart(
                {k: np.asarray(v) for k, v in samples.items()},
                xlabel="per-token JS divergence from the teacher (nats)",
                title="per-token divergence distributions"),
                "Distribution of per-token Jensen–Shannon divergence from the teacher, over the texts "
                "the divergence test uses (see its method)."))
    att = ev.get("attribution", {})
    if att and not att.get("skipped"):
        rk = att["ranking"]
        out.append(_figure(svg.bar_chart([r["name"] for r in rk], [r["similarity"] for r in rk],
                                         ylabel="similarity", title="attribution ranking",
                                         highlight={i for i, r in enumerate(rk) if r.get("is_teacher")}),
                           "Fingerprint similarity of the suspect to each reference model, best first "
                           "(red: the teacher)."))
    return "".join(out)


def _figure(svg_text: str, caption: str) -> str:
    return f"<figure>{svg_text}<figcaption>{caption}</figcaption></figure>"


def _details(ev: dict) -> str:
    parts = []
    for key, e in ev.items():
        if e.get("skipped"):
            continue
        items = "".join(f"<tr><th>{escape(k)}</th><td class=mono>{escape(_num(v) if isinstance(v, (int, float, np.number)) else str(v))}</td></tr>"
                        for k, v in e.get("details", {}).items())
        parts.append(f"<h4>{escape(e.get('title', key))}</h4><p>{escape(e.get('method', ''))}</p>"
                     f"<p class=small><b>Assumptions.</b> {escape(e.get('assumptions', ''))}</p>"
                     + (f"<table>{items}</table>" if items else ""))
    return "".join(parts)


def render_html(report: dict) -> str:
    """The self-contained HTML page of ``report`` (the dict written to report.json)."""
    t = report["teacher"]
    rows = "".join(
        f"<tr><td>{escape(s['name'])}</td><td>{escape(s.get('kind', ''))}</td>"
        f"<td>{_verdict_badge(s['verdict'])}</td><td class=mono>{_p(s['verdict'].get('min_adjusted_p'))}</td></tr>"
        for s in report["suspects"])
    sections = []
    for s in report["suspects"]:
        sections.append(
            f"<h2>Suspect: {escape(s['name'])}</h2><p>{_verdict_badge(s['verdict'])} "
            f"{escape(s['verdict'].get('summary', ''))}</p>{_evidence_rows(s['evidence'])}"
            f"{_figures(s['name'], s['evidence'])}<details><summary>Methods, assumptions and figures"
            f"</summary>{_details(s['evidence'])}</details>")
    panel = ", ".join(escape(m["name"]) for m in report.get("panel", [])) or "none"
    settings = "".join(f"<tr><th>{escape(str(k))}</th><td class=mono>{escape(json.dumps(v))}</td></tr>"
                       for k, v in report.get("settings", {}).items())
    timings = "".join(f"<tr><th>{escape(str(k))}</th><td class=mono>{float(v):.2f} s</td></tr>"
                      for k, v in report.get("timings", {}).items())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Distillation audit: {escape(t['name'])}</title><style>{CSS}</style></head><body>
<h1>Distillation audit</h1>
<p class=small>fingerprint {escape(report.get('fingerprint_version', ''))} · {escape(report.get('created_utc', ''))}</p>
<p><b>Question.</b> Was each suspect trained on outputs of the teacher <b>{escape(t['name'])}</b>
({escape(t.get('kind', ''))}, vocabulary {_num(t.get('vocab_size'))})? Reference panel: {panel}.</p>
<h2>Verdicts</h2>
<table><tr><th>suspect</th><th>kind</th><th>verdict</th><th>smallest Holm-adjusted p</th></tr>{rows}</table>
<p class=small>{escape(report.get('verdict_rule', ''))}</p>
{''.join(sections)}
<h2>Settings</h2><table>{settings}</table>
<h2>Timings</h2><table>{timings}</table>
</body></html>
"""


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else str(v)
    if isinstance(x, np.bool_):
        return bool(x)
    return x


def write_report(report: dict, out_dir: str | os.PathLike) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir`` (created); returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean = _jsonable(report)
    jp, hp = out / "report.json", out / "report.html"
    write_text(jp, json.dumps(clean, indent=2, allow_nan=False) + "\n")
    write_text(hp, render_html(clean))
    return jp, hp
