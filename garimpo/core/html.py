"""Self-contained HTML pages with inline SVG charts, for the reports a person opens in a browser.

Both report writers (a corpus version's, in ``pipelines/reports``; a training run's, in
``train/report.py``) build their pages from these pieces, so they look alike and neither needs a
plotting package. A page embeds its styles and charts: it opens from disk with no network, and it
lives at ``report_path`` (``<root>/reports/...``), outside the immutable version folders.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from garimpo.core.fs import write_text_atomic

REPORTS_DIR = "reports"
COLORS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222;padding:0 1em}
h1{font-size:1.5em} h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.5em 0} td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}
td.n{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#777}
mark.reason{background:#ffd54f;padding:0 .3em;border-radius:3px;font-weight:600}
.doc{border:1px solid #ddd;border-radius:4px;padding:.5em;margin:.5em 0;white-space:pre-wrap}
.charts{display:flex;flex-wrap:wrap;gap:1em} svg{background:#fff;border:1px solid #eee}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def report_path(root: str | Path, ref: str) -> Path:
    """Where the report of ``kind/name/version`` (or ``checkpoints/<run>``) lives in a store."""
    return Path(root) / REPORTS_DIR / (ref.strip("/") + ".html")


def page(title: str, sections: Iterable[str]) -> str:
    body = "\n".join(sections)
    return (
        f'<!doctype html>\n<html lang="pt"><head><meta charset="utf-8"><title>{esc(title)}</title>'
        f"<style>{STYLE}</style></head>\n<body>\n<h1>{esc(title)}</h1>\n{body}\n</body></html>\n"
    )


def write_page(path: Path, title: str, sections: Iterable[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, page(title, sections))
    return path


def section(title: str, *parts: str, id: str = "") -> str:
    anchor = f' id="{esc(id)}"' if id else ""
    return f"<section{anchor}><h2>{esc(title)}</h2>\n" + "\n".join(parts) + "\n</section>"


def table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str] | None = None, cls: str = "") -> str:
    if not rows:
        return '<p class="muted">(none)</p>'
    columns = list(columns or rows[0].keys())
    head = "".join(f"<th>{esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(_cell(r.get(c, "")) for c in columns) + "</tr>\n" for r in rows)
    klass = f' class="{esc(cls)}"' if cls else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>\n{body}</tbody></table>"


def _cell(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, int | float):
        return f"<td>{esc(v)}</td>"
    text = f"{v:,}" if isinstance(v, int) else (f"{v:.4g}" if math.isfinite(v) else str(v))
    return f'<td class="n">{text}</td>'


def line_chart(
    title: str, series: Mapping[str, Sequence[tuple[float, float]]], x_label: str = "step", size=(520, 260)
) -> str:
    """Lines (one per series, points joined in x order) on shared axes; a series of one point is a dot."""
    points = [(x, y) for pts in series.values() for x, y in pts if math.isfinite(x) and math.isfinite(y)]
    if not points:
        return _empty(title, size)
    w, h = size
    box = _Box(w, h, [x for x, _ in points], [y for _, y in points])
    parts = [box.axes(title, x_label)]
    for i, (name, pts) in enumerate(series.items()):
        color = COLORS[i % len(COLORS)]
        xy = [box.xy(x, y) for x, y in sorted(pts) if math.isfinite(x) and math.isfinite(y)]
        if len(xy) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in xy)
            parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="1.5" points="{path}"/>')
        if len(xy) <= 60:  # few points (evaluations): each one visible
            parts += [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{color}"/>' for x, y in xy]
        parts.append(
            f'<text x="{w - 8}" y="{18 + 14 * i}" text-anchor="end" font-size="11" fill="{color}">{esc(name)}</text>'
        )
    return _svg(title, size, parts)


def bar_chart(title: str, bars: Sequence[tuple[str, float]], size=(520, 0), unit: str = "") -> str:
    """Horizontal bars with their labels and values: a funnel when the bars are stages in order."""
    if not bars:
        return _empty(title, (size[0], 80))
    w = size[0]
    row, label_w, top = 22, 150, 28
    h = size[1] or top + row * len(bars) + 10
    peak = max((v for _, v in bars), default=0) or 1
    parts = [f'<text x="8" y="18" font-size="13" font-weight="600">{esc(title)}</text>']
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        bw = max((w - label_w - 90) * value / peak, 0)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="11">{esc(label)}</text>'
        )
        parts.append(
            f'<rect x="{label_w}" y="{y + 3}" width="{bw:.1f}" height="{row - 6}" fill="{COLORS[0]}"/>'
        )
        parts.append(
            f'<text x="{label_w + bw + 4:.1f}" y="{y + 14}" font-size="11">{_num(value)}{esc(unit)}</text>'
        )
    return _svg(title, (w, h), parts)


def histogram(
    title: str,
    values: Sequence[float],
    bins: int = 20,
    x_label: str = "",
    log_x: bool = False,
    size=(520, 240),
) -> str:
    """Counts of ``values`` in equal-width bins (of log10 of the values with ``log_x``)."""
    data = [math.log10(v) if log_x else v for v in values if math.isfinite(v) and (v > 0 or not log_x)]
    if not data:
        return _empty(title, size)
    lo, hi = min(data), max(data)
    hi = hi if hi > lo else lo + 1
    counts = [0] * bins
    for v in data:
        counts[min(int((v - lo) / (hi - lo) * bins), bins - 1)] += 1
    w, h = size
    box = _Box(w, h, [lo, hi], [0, max(counts)])
    parts = [box.axes(title, x_label + (" (log10)" if log_x else ""))]
    step = (hi - lo) / bins
    for i, c in enumerate(counts):
        x0, y0 = box.xy(lo + i * step, c)
        x1, y1 = box.xy(lo + (i + 1) * step, 0)
        parts.append(
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{max(x1 - x0 - 1, 1):.1f}" height="{y1 - y0:.1f}" '
            f'fill="{COLORS[0]}"><title>{_num(c)}</title></rect>'
        )
    return _svg(title, size, parts)


class _Box:
    """Maps data coordinates into the plotting area of an SVG, with a little room for the axes."""

    left, right, top, bottom = 56, 16, 28, 32

    def __init__(self, w: int, h: int, xs: Sequence[float], ys: Sequence[float]) -> None:
        self.w, self.h = w, h
        self.x0, self.x1 = min(xs), max(xs)
        self.y0, self.y1 = min(ys), max(ys)
        if self.x1 == self.x0:
            self.x1 = self.x0 + 1
        if self.y1 == self.y0:
            self.y0, self.y1 = self.y0 - 0.5, self.y1 + 0.5

    def xy(self, x: float, y: float) -> tuple[float, float]:
        pw, ph = self.w - self.left - self.right, self.h - self.top - self.bottom
        return (
            self.left + pw * (x - self.x0) / (self.x1 - self.x0),
            self.top + ph * (1 - (y - self.y0) / (self.y1 - self.y0)),
        )

    def axes(self, title: str, x_label: str) -> str:
        (x0, b), (r, t) = self.xy(self.x0, self.y0), self.xy(self.x1, self.y1)
        return (
            f'<text x="8" y="18" font-size="13" font-weight="600">{esc(title)}</text>'
            f'<line x1="{x0}" y1="{b}" x2="{r}" y2="{b}" stroke="#000"/>'
            f'<line x1="{x0}" y1="{b}" x2="{x0}" y2="{t}" stroke="#000"/>'
            f'<text x="{x0 - 4}" y="{b}" text-anchor="end" font-size="10">{_num(self.y0)}</text>'
            f'<text x="{x0 - 4}" y="{t + 8}" text-anchor="end" font-size="10">{_num(self.y1)}</text>'
            f'<text x="{x0}" y="{b + 14}" font-size="10">{_num(self.x0)}</text>'
            f'<text x="{r}" y="{b + 14}" text-anchor="end" font-size="10">{_num(self.x1)}</text>'
            f'<text x="{(x0 + r) / 2}" y="{b + 26}" text-anchor="middle" font-size="10">{esc(x_label)}</text>'
        )


def _num(v: float) -> str:
    if float(v).is_integer() and abs(v) < 1e15:
        return f"{int(v):,}"
    return f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}"


def _svg(title: str, size: tuple[int, int], parts: list[str]) -> str:
    w, h = size
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" aria-label="{esc(title)}">' + "".join(parts) + "</svg>"
    )


def _empty(title: str, size: tuple[int, int]) -> str:
    w, h = size
    return _svg(
        title,
        size,
        [
            f'<text x="8" y="18" font-size="13" font-weight="600">{esc(title)}</text>',
            f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle" fill="#777">no data</text>',
        ],
    )
