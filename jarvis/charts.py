"""Small charts drawn on the server as inline SVG: axes, labels, one bar or point per value. No script, no CDN.

`svg_chart` takes the values already computed (jarvis.selectors.desk_week_series) and returns markup safe to put in a
template. Bars grow from the zero line, so a loss is a bar below it (red); a line chart marks every value with a point.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 400, 210
LEFT, RIGHT, TOP, BOTTOM = 70, 10, 14, 30  # room for the value labels (left) and the day labels (below)
GAIN, LOSS, INK, GRID, MUTED = "#2c7a2c", "#ba2121", "#417690", "#dddddd", "#666666"


def _f(value: float) -> str:
    return f"{value:.1f}"


def svg_chart(*, chart_id: str, title: str, labels: Sequence[str], values: Sequence[float],
              fmt: Callable[[float], str], kind: str = "bar") -> SafeString:
    """An <svg> of `values` (one per label) as bars ("bar", coloured by sign) or a line with points ("line")."""
    if kind not in ("bar", "line") or len(labels) != len(values) or not values:
        raise ValueError("one value per label, kind bar or line")
    low, high = min(0, *values), max(0, *values)
    if low == high:
        high = 1  # all zero: the zero line at the bottom, an empty chart
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    slot = plot_w / len(values)
    parts = [f'<svg id="{escape(chart_id)}" class="desk-chart" data-kind="{kind}" xmlns="http://www.w3.org/2000/svg" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{escape(title)}">',
             f"<title>{escape(title)}</title>"]
    for tick in sorted({low, 0, high}):  # the range's ends and zero, labelled
        parts.append(f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(tick))}" y2="{_f(y(tick))}" '
                     f'stroke="{GRID}"/>')
        parts.append(f'<text class="y-label" x="{LEFT - 6}" y="{_f(y(tick) + 4)}" text-anchor="end" font-size="11" '
                     f'fill="{MUTED}">{escape(fmt(tick))}</text>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" y2="{TOP + plot_h}" stroke="{MUTED}"/>')
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{_f(y(0))}" y2="{_f(y(0))}" '
                 f'stroke="{MUTED}"/>')
    points = []
    for index, (label, value) in enumerate(zip(labels, values)):
        middle = LEFT + slot * (index + 0.5)
        tip = f"{label}: {fmt(value)}"
        if kind == "bar":
            top, bottom = sorted((y(value), y(0)))
            parts.append(f'<rect class="bar" data-value="{value}" x="{_f(middle - slot * 0.35)}" y="{_f(top)}" '
                         f'width="{_f(slot * 0.7)}" height="{_f(max(bottom - top, 0))}" '
                         f'fill="{LOSS if value < 0 else GAIN}"><title>{escape(tip)}</title></rect>')
        else:
            points.append(f"{_f(middle)},{_f(y(value))}")
            parts.append(f'<circle class="point" data-value="{value}" cx="{_f(middle)}" cy="{_f(y(value))}" r="3.5" '
                         f'fill="{INK}"><title>{escape(tip)}</title></circle>')
        parts.append(f'<text class="x-label" x="{_f(middle)}" y="{HEIGHT - 10}" text-anchor="middle" font-size="10" '
                     f'fill="{MUTED}">{escape(label)}</text>')
    if points:
        parts.insert(-2 * len(points), f'<polyline class="line" points="{" ".join(points)}" fill="none" '
                                       f'stroke="{INK}" stroke-width="2"/>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every text in it went through escape()
