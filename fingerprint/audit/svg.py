"""Small, dependency-free SVG charts for the self-contained audit report.

Each function returns one ``<svg>`` element as a string: no JavaScript, no external resources, so
the HTML page renders the same offline and in any browser. Values are escaped; non-finite values
are left out of a chart and counted in its caption by the caller.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

PALETTE = ("#c0392b", "#2c7fb8", "#41ab5d", "#8e6c8a", "#e6a117", "#636363", "#1b9e77", "#d95f02")
W, H = 640, 300
ML, MR, MT, MB = 62, 16, 18, 46  # margins: left, right, top, bottom


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e6 or a < 1e-2:
        return f"{v:.0e}"
    if a >= 1000 and float(v).is_integer():
        return f"{int(v):,}"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    step = 10 ** math.floor(math.log10((hi - lo) / n))
    for m in (1, 2, 5, 10):
        if (hi - lo) / (step * m) <= n:
            step *= m
            break
    start = math.ceil(lo / step) * step
    return [start + i * step for i in range(int((hi - start) / step + 1e-9) + 1)]


class _Frame:
    """Linear mapping of a data box onto the plot area, with axes and labels."""

    def __init__(self, x_range, y_range, xlabel: str, ylabel: str, title: str):
        self.x0, self.x1 = x_range
        self.y0, self.y1 = y_range
        if self.x1 <= self.x0:
            self.x1 = self.x0 + 1.0
        if self.y1 <= self.y0:
            self.y1 = self.y0 + 1.0
        self.parts = [
            f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'role="img" aria-label="{escape(title)}">',
            f'<rect x="0" y="0" width="{W}" height="{H}" fill="#fff"/>',
        ]
        self.xlabel, self.ylabel = xlabel, ylabel

    def px(self, x: float) -> float:
        return ML + (x - self.x0) / (self.x1 - self.x0) * (W - ML - MR)

    def py(self, y: float) -> float:
        return H - MB - (y - self.y0) / (self.y1 - self.y0) * (H - MT - MB)

    def axes(self, xticks=None, yticks=None, xtick_labels=None, ytick_fmt=_fmt) -> None:
        p = self.parts
        bx, by = ML, H - MB
        p.append(f'<line x1="{bx}" y1="{by}" x2="{W - MR}" y2="{by}" stroke="#333"/>')
        p.append(f'<line x1="{bx}" y1="{MT}" x2="{bx}" y2="{by}" stroke="#333"/>')
        for t in (yticks if yticks is not None else _ticks(self.y0, self.y1)):
            y = self.py(t)
            p.append(f'<line x1="{bx - 4}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#e5e5e5"/>')
            p.append(f'<text x="{bx - 6}" y="{y + 4:.1f}" font-size="11" text-anchor="end">'
                     f"{escape(ytick_fmt(t))}</text>")
        if xtick_labels is None:
            for t in (xticks if xticks is not None else _ticks(self.x0, self.x1)):
                x = self.px(t)
                p.append(f'<line x1="{x:.1f}" y1="{by}" x2="{x:.1f}" y2="{by + 4}" stroke="#333"/>')
                p.append(f'<text x="{x:.1f}" y="{by + 16}" font-size="11" text-anchor="middle">'
                         f"{escape(_fmt(t))}</text>")
        else:
            for t, lab in xtick_labels:
                x = self.px(t)
                p.append(f'<text x="{x:.1f}" y="{by + 14}" font-size="10" text-anchor="middle">'
                         f"{escape(lab)}</text>")
        p.append(f'<text x="{(ML + W - MR) / 2}" y="{H - 8}" font-size="12" text-anchor="middle">'
                 f"{escape(self.xlabel)}</text>")
        p.append(f'<text x="14" y="{(MT + H - MB) / 2}" font-size="12" text-anchor="middle" '
                 f'transform="rotate(-90 14 {(MT + H - MB) / 2})">{escape(self.ylabel)}</text>')

    def legend(self, names: list[str]) -> None:
        for i, name in enumerate(names):
            y = MT + 6 + 15 * i
            c = PALETTE[i % len(PALETTE)]
            self.parts.append(f'<rect x="{W - MR - 190}" y="{y - 8}" width="10" height="10" fill="{c}"/>')
            self.parts.append(f'<text x="{W - MR - 175}" y="{y + 1}" font-size="11">{escape(name[:30])}</text>')

    def done(self) -> str:
        self.parts.append("</svg>")
        return "".join(self.parts)


def line_chart(series: dict[str, tuple[np.ndarray, np.ndarray]], *, xlabel: str, ylabel: str,
               title: str, hline: float | None = None, hline_label: str = "") -> str:
    """One polyline per named series of (x, y); non-finite points are skipped."""
    clean = {}
    for name, (x, y) in series.items():
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        ok = np.isfinite(x) & np.isfinite(y)
        clean[name] = (x[ok], y[ok])
    xs = [v for x, _ in clean.values() for v in x] or [0.0, 1.0]
    ys = [v for _, y in clean.values() for v in y] or [0.0, 1.0]
    if hline is not None:
        ys.append(hline)
    f = _Frame((0.0, max(xs)), (min(0.0, min(ys)), max(ys) * 1.05 if max(ys) > 0 else 1.0),
               xlabel, ylabel, title)
    f.axes()
    if hline is not None:
        y = f.py(hline)
        f.parts.append(f'<line x1="{ML}" y1="{y:.1f}" x2="{W - MR}" y2="{y:.1f}" stroke="#999" '
                       f'stroke-dasharray="5 4"/>')
        f.parts.append(f'<text x="{ML + 4}" y="{y - 4:.1f}" font-size="10" fill="#666">{escape(hline_label)}</text>')
    for i, (name, (x, y)) in enumerate(clean.items()):
        if len(x) == 0:
            continue
        pts = " ".join(f"{f.px(a):.1f},{f.py(b):.1f}" for a, b in zip(x, y))
        f.parts.append(f'<polyline points="{pts}" fill="none" stroke="{PALETTE[i % len(PALETTE)]}" '
                       f'stroke-width="2"/>')
    f.legend(list(clean))
    return f.done()


def histogram_chart(samples: dict[str, np.ndarray], *, xlabel: str, title: str, bins: int = 40) -> str:
    """Overlaid density histograms (step lines) of the named samples, over a shared bin grid."""
    clean = {k: np.asarray(v, dtype=np.float64)[np.isfinite(np.asarray(v, dtype=np.float64))]
             for k, v in samples.items()}
    allv = np.concatenate([v for v in clean.values()] + [np.zeros(0)])
    lo, hi = (float(allv.min()), float(allv.max())) if allv.size else (0.0, 1.0)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)
    dens = {k: (np.histogram(v, bins=edges, density=True)[0] if v.size else np.zeros(bins))
            for k, v in clean.items()}
    top = max([float(d.max()) for d in dens.values()] + [1e-12])
    f = _Frame((lo, hi), (0.0, top * 1.05), xlabel, "density", title)
    f.axes()
    for i, (name, d) in enumerate(dens.items()):
        pts = []
        for j in range(bins):
            pts.append(f"{f.px(edges[j]):.1f},{f.py(d[j]):.1f}")
            pts.append(f"{f.px(edges[j + 1]):.1f},{f.py(d[j]):.1f}")
        f.parts.append(f'<polyline points="{" ".join(pts)}" fill="none" '
                       f'stroke="{PALETTE[i % len(PALETTE)]}" stroke-width="1.8"/>')
    f.legend(list(dens))
    return f.done()


def bar_chart(labels: list[str], values: list[float], *, ylabel: str, title: str,
              highlight: set[int] | None = None) -> str:
    """Vertical bars, one per label; highlighted bars in the first palette colour."""
    vals = [v if math.isfinite(v) else 0.0 for v in values]
    lo = min([0.0] + vals)
    hi = max([0.0] + vals)
    n = max(len(vals), 1)
    f = _Frame((0.0, float(n)), (lo, hi * 1.08 if hi > 0 else 1.0), "", ylabel, title)
    f.axes(xtick_labels=[(i + 0.5, lab[:14]) for i, lab in enumerate(labels)])
    highlight = highlight or set()
    for i, v in enumerate(vals):
        x = f.px(i + 0.15)
        w = f.px(i + 0.85) - x
        y0, y1 = f.py(max(v, 0.0)), f.py(min(v, 0.0))
        c = PALETTE[0] if i in highlight else PALETTE[1]
        f.parts.append(f'<rect x="{x:.1f}" y="{y0:.1f}" width="{w:.1f}" height="{max(y1 - y0, 0.5):.1f}" '
                       f'fill="{c}"><title>{escape(labels[i])}: {escape(_fmt(values[i]))}</title></rect>')
    return f.done()
