"""Self-contained HTML pages: one inline stylesheet, inline SVG charts, no scripts, no fonts or images from
the network, so a report opens from a file, a mail attachment or a machine without internet.

    body = section("Columns", table(["Column", "Verdict"], [["temperature", badge("drift", "bad")]]))
    body += section("temperature", histogram_pair(edges, reference_counts, current_counts))
    body += section("Drift over time", line_chart(times_ms, {"drift share": shares}, band=(None, 0.3),
                                                  x_format=utc_label))
    Path("report.html").write_text(page("Monitor report", body, subtitle="sensors, last 7 days"))

Every function returns ``Markup`` (HTML text). Plain strings and numbers handed to them are escaped; a
``Markup`` is inserted as it is, so pieces compose without double escaping. The reference is drawn in
blue-grey and the current data in orange on every page; ``badge`` tones say good, bad, warn or neutral.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

REFERENCE_COLOR = "#6b8cae"
CURRENT_COLOR = "#e8873a"
SERIES_COLORS = ("#3b6ea5", "#e8873a", "#4f9d69", "#b5495b", "#8a6bbe", "#c9a227")
BAND_COLOR = "#4f9d69"

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:0;color:#1f2933;
background:#f7f8fa}
main{max-width:1100px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:0 0 12px}h3{font-size:15px;margin:16px 0 8px}
.subtitle{color:#616e7c;margin:0 0 20px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:6px;padding:16px 20px;margin:0 0 16px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #e4e7eb;vertical-align:top}
th{color:#52606d;font-weight:600;background:#f5f7fa}
td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.good{background:#e3f4e8;color:#1e6b3a}.bad{background:#fbe4e6;color:#a3212f}
.warn{background:#fdf3d7;color:#8a6100}.neutral{background:#e4e7eb;color:#3e4c59}
.legend{font-size:12px;color:#52606d;margin:4px 0}.legend span{margin-right:14px}
.swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px;vertical-align:middle}
.muted{color:#7b8794;font-size:13px}.facts{margin:4px 0 8px;font-size:14px}.facts b{font-weight:600}
svg text{font-family:inherit;font-size:11px;fill:#52606d}
footer{color:#9aa5b1;font-size:12px;text-align:center;padding:8px 0 24px}
"""


class Markup(str):
    """Text that is already HTML: inserted as it is where plain strings are escaped."""


def escape(value: Any) -> Markup:
    """``value`` as HTML text: a ``Markup`` as it is, anything else converted and escaped."""
    if isinstance(value, Markup):
        return value
    return Markup(html.escape("" if value is None else str(value), quote=True))


def page(title: str, body: str | Iterable[str], *, subtitle: str = "", footer: str = "") -> Markup:
    """A whole HTML document: the stylesheet, a heading, ``body`` (markup), and a footer line."""
    content = body if isinstance(body, str) else "".join(body)
    head = f"<h1>{escape(title)}</h1>" + (f'<p class="subtitle">{escape(subtitle)}</p>' if subtitle else "")
    foot = f"<footer>{escape(footer)}</footer>" if footer else ""
    return Markup(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{head}{content}</main>{foot}</body></html>\n"
    )


def section(title: str, body: str | Iterable[str], *, anchor: str | None = None) -> Markup:
    """A white card with a heading; ``anchor`` gives it an id to link to (``link``)."""
    content = body if isinstance(body, str) else "".join(body)
    ident = f' id="{escape(anchor_id(anchor))}"' if anchor else ""
    return Markup(f"<section{ident}><h2>{escape(title)}</h2>{content}</section>")


def anchor_id(name: str) -> str:
    """An id usable in a link for any name (spaces and symbols become '-')."""
    return "c-" + "".join(ch if ch.isalnum() or ch in "_-" else "-" for ch in name)


def link(text: Any, anchor: str) -> Markup:
    return Markup(f'<a href="#{escape(anchor_id(anchor))}">{escape(text)}</a>')


def badge(text: str, tone: str = "neutral") -> Markup:
    """A small coloured label; tone is good, bad, warn or neutral."""
    return Markup(f'<span class="badge {escape(tone)}">{escape(text)}</span>')


def paragraph(text: Any, css: str = "") -> Markup:
    cls = f' class="{escape(css)}"' if css else ""
    return Markup(f"<p{cls}>{escape(text)}</p>")


def facts(items: Sequence[tuple[str, Any]]) -> Markup:
    """One line of ``label: value`` pairs."""
    return Markup(
        '<p class="facts">' + " · ".join(f"{escape(k)} <b>{escape(fmt(v))}</b>" for k, v in items) + "</p>"
    )


def fmt(value: Any, digits: int = 4) -> Any:
    """Numbers to short text (4 significant digits, thousands separated); anything else as it is."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else value
    if isinstance(value, int):
        return f"{value:,}"
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e6):
        return f"{value:.{digits - 1}e}"
    return f"{value:.{digits}g}"


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = ()) -> Markup:
    """A table; cells are escaped unless they are ``Markup``, numbers are formatted with ``fmt``, and the
    columns at the ``numeric`` positions are right-aligned."""
    right = set(numeric)

    def cls(i: int) -> str:
        return ' class="num"' if i in right else ""

    head = "".join(f"<th{cls(i)}>{escape(h)}</th>" for i, h in enumerate(headers))
    body = "".join(
        "<tr>" + "".join(f"<td{cls(i)}>{escape(fmt(cell))}</td>" for i, cell in enumerate(row)) + "</tr>"
        for row in rows
    )
    return Markup(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def legend(items: Sequence[tuple[str, str]]) -> Markup:
    """Colour swatches with their labels: ``[("reference", REFERENCE_COLOR), ...]``."""
    spans = "".join(
        f'<span><i class="swatch" style="background:{escape(color)}"></i>{escape(label)}</span>'
        for label, color in items
    )
    return Markup(f'<div class="legend">{spans}</div>')


def _shares(counts: Sequence[float]) -> list[float]:
    total = float(sum(counts))
    return [float(c) / total if total > 0 else 0.0 for c in counts]


def _svg(width: int, height: int, content: str, label: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" '
        f'style="max-width:{width}px" role="img" aria-label="{escape(label)}">{content}</svg>'
    )


def histogram_pair(
    edges: Sequence[float],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    labels: tuple[str, str] = ("reference", "current"),
    width: int = 640,
    height: int = 200,
) -> Markup:
    """Two histograms over the same bins (``len(edges) == len(counts) + 1``), each as shares of its own
    rows, side by side in every bin, with the range on the x axis and the largest share on the y axis."""
    if len(edges) != len(reference) + 1 or len(reference) != len(current) or not reference:
        return paragraph("no distribution to show", "muted")
    p, q = _shares(reference), _shares(current)
    left, right, top, bottom = 44, 8, 8, 22
    plot_w, plot_h = width - left - right, height - top - bottom
    peak = max(max(p), max(q)) or 1.0
    slot = plot_w / len(p)
    bar = max(slot / 2 - 1, 0.5)
    parts = [_axes(left, top, plot_w, plot_h)]
    for i, (a, b) in enumerate(zip(p, q, strict=True)):
        x = left + i * slot
        for offset, share, color, name in (
            (0.0, a, REFERENCE_COLOR, labels[0]),
            (bar, b, CURRENT_COLOR, labels[1]),
        ):
            h = plot_h * share / peak
            tip = f"{name}: {share:.1%} in [{fmt(edges[i])}, {fmt(edges[i + 1])}]"
            parts.append(
                f'<rect x="{x + offset + 0.5:.1f}" y="{top + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{color}"><title>{escape(tip)}</title></rect>'
            )
    parts.append(_text(left, height - 6, fmt(edges[0]), "start"))
    parts.append(_text(left + plot_w, height - 6, fmt(edges[-1]), "end"))
    parts.append(_text(left - 4, top + 9, f"{peak:.0%}", "end"))
    parts.append(_text(left - 4, top + plot_h, "0", "end"))
    chart = _svg(width, height, "".join(parts), "histograms of reference and current values")
    return Markup(chart + legend([(labels[0], REFERENCE_COLOR), (labels[1], CURRENT_COLOR)]))


def bar_pair(
    categories: Sequence[Any],
    reference: Sequence[float],
    current: Sequence[float],
    *,
    labels: tuple[str, str] = ("reference", "current"),
    width: int = 640,
    row_height: int = 22,
    totals: tuple[float, float] | None = None,
) -> Markup:
    """Horizontal bars per category: each side's share of its rows (of ``totals`` when given, so categories
    left out of the chart still count), reference above current."""
    if not categories or len(categories) != len(reference) or len(reference) != len(current):
        return paragraph("no values to show", "muted")
    if totals is None:
        p, q = _shares(reference), _shares(current)
    else:
        p = [float(c) / totals[0] if totals[0] else 0.0 for c in reference]
        q = [float(c) / totals[1] if totals[1] else 0.0 for c in current]
    label_w, value_w = 150, 100
    plot_w = width - label_w - value_w
    peak = max(max(p), max(q)) or 1.0
    height = row_height * len(categories) + 4
    parts = []
    for i, (name, a, b) in enumerate(zip(categories, p, q, strict=True)):
        y = 2 + i * row_height
        text = str(name)
        shown = text if len(text) <= 22 else text[:21] + "…"
        parts.append(
            f"<text x='{label_w - 6}' y='{y + row_height / 2 + 4:.1f}' text-anchor='end'>"
            f"{escape(shown)}<title>{escape(text)}</title></text>"
        )
        bar_h = (row_height - 6) / 2
        for j, (share, color, side) in enumerate(
            ((a, REFERENCE_COLOR, labels[0]), (b, CURRENT_COLOR, labels[1]))
        ):
            w = plot_w * share / peak
            parts.append(
                f'<rect x="{label_w}" y="{y + 2 + j * bar_h:.1f}" width="{max(w, 0.5):.1f}" '
                f'height="{bar_h:.1f}" fill="{color}"><title>{escape(f"{side}: {share:.1%}")}</title></rect>'
            )
        parts.append(_text(width - 2, y + row_height / 2 + 4, f"{a:.0%} → {b:.0%}", "end"))
    chart = _svg(width, height, "".join(parts), "shares of each value in reference and current")
    return Markup(chart + legend([(labels[0], REFERENCE_COLOR), (labels[1], CURRENT_COLOR)]))


def utc_label(ms: float) -> str:
    """A time in milliseconds since the epoch as ``YYYY-MM-DD HH:MM`` (UTC), for chart axes."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def line_chart(
    x: Sequence[float],
    series: Mapping[str, Sequence[float | None]],
    *,
    band: tuple[float | None, float | None] | None = None,
    marks: Sequence[bool] | None = None,
    x_format: Callable[[float], str] = lambda v: str(fmt(v)),
    y_label: str = "",
    width: int = 720,
    height: int = 220,
) -> Markup:
    """Lines over ``x`` (times, window numbers), one per series; a missing value (None, NaN) breaks the line.

    ``band`` shades the range from its lower to its upper bound (None: open on that side), for a threshold
    or the normal range learned from a reference; ``marks`` circles the points of the first series where it
    is true (windows that alerted, for instance).
    """
    values = [float(v) for ys in series.values() for v in ys if v is not None and _real(v)]
    bounds = [float(b) for b in (band or ()) if b is not None]
    if not x or not values:
        return paragraph("no values to show", "muted")
    left, right, top, bottom = 52, 12, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    lo, hi = min(values + bounds), max(values + bounds)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.05
    lo, hi = lo - pad, hi + pad
    x0, x1 = min(x), max(x)
    span = (x1 - x0) or 1.0

    def px(v: float) -> float:
        return left + (v - x0) / span * plot_w if x1 > x0 else left + plot_w / 2

    def py(v: float) -> float:
        return top + (hi - v) / (hi - lo) * plot_h

    parts = [_axes(left, top, plot_w, plot_h)]
    if band is not None:
        upper = hi if band[1] is None else band[1]
        lower = lo if band[0] is None else band[0]
        parts.append(
            f'<rect x="{left}" y="{py(upper):.1f}" width="{plot_w}" '
            f'height="{max(py(lower) - py(upper), 0):.1f}" fill="{BAND_COLOR}" fill-opacity="0.12"/>'
        )
        for bound in (band[0], band[1]):
            if bound is not None:
                parts.append(
                    f'<line x1="{left}" x2="{left + plot_w}" y1="{py(bound):.1f}" y2="{py(bound):.1f}" '
                    f'stroke="{BAND_COLOR}" stroke-dasharray="4 3"/>'
                )
    for k, (name, ys) in enumerate(series.items()):
        color = SERIES_COLORS[k % len(SERIES_COLORS)]
        for run in _unbroken(x, ys):
            points = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in run)
            if len(run) > 1:
                parts.append(f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2"/>')
            for a, b in run:
                parts.append(
                    f'<circle cx="{px(a):.1f}" cy="{py(b):.1f}" r="2.5" fill="{color}">'
                    f"<title>{escape(f'{name} {x_format(a)}: {fmt(b)}')}</title></circle>"
                )
        if k == 0 and marks is not None:
            for a, value, marked in zip(x, ys, marks, strict=False):
                if marked and value is not None and _real(value):
                    parts.append(
                        f'<circle cx="{px(a):.1f}" cy="{py(value):.1f}" r="6" fill="none" stroke="#a3212f" '
                        'stroke-width="2"/>'
                    )
    parts.append(_text(left, height - 6, x_format(x0), "start"))
    if x1 > x0:
        parts.append(_text(left + plot_w, height - 6, x_format(x1), "end"))
    parts.append(_text(left - 4, top + 9, fmt(hi), "end"))
    parts.append(_text(left - 4, top + plot_h, fmt(lo), "end"))
    if y_label:
        parts.append(_text(left + 4, top + 10, y_label, "start"))
    chart = _svg(width, height, "".join(parts), y_label or "values over time")
    keys = [(name, SERIES_COLORS[k % len(SERIES_COLORS)]) for k, name in enumerate(series)]
    return Markup(chart + (legend(keys) if len(keys) > 1 else ""))


def _real(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _unbroken(x: Sequence[float], ys: Sequence[float | None]) -> list[list[tuple[float, float]]]:
    """The runs of consecutive points that have a value."""
    runs: list[list[tuple[float, float]]] = [[]]
    for a, b in zip(x, ys, strict=False):
        if b is not None and _real(b):
            runs[-1].append((float(a), float(b)))
        elif runs[-1]:
            runs.append([])
    return [r for r in runs if r]


def _axes(left: float, top: float, w: float, h: float) -> str:
    return (
        f'<line x1="{left}" y1="{top + h}" x2="{left + w}" y2="{top + h}" stroke="#9aa5b1"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + h}" stroke="#9aa5b1"/>'
    )


def _text(x: float, y: float, text: Any, anchor: str) -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


__all__ = [
    "CURRENT_COLOR",
    "REFERENCE_COLOR",
    "Markup",
    "anchor_id",
    "badge",
    "bar_pair",
    "escape",
    "facts",
    "fmt",
    "histogram_pair",
    "legend",
    "line_chart",
    "link",
    "page",
    "paragraph",
    "section",
    "table",
    "utc_label",
]
