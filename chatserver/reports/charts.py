"""Charts drawn on the server as SVG: bars, a week heat map. Every text is escaped.

Colours and sizes are SVG presentation attributes, not style attributes, so the console's
Content-Security-Policy (no inline styles) lets them through. Each chart carries a <title>
and an aria-label, and each bar a <title> with its exact figure for a hover or a reader.
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 640
HEIGHT = 260
# Room for the title, the axis labels and a legend line; the page shows a chart at about its
# own width (no smaller), so FONT px stays at least that on screen.
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 64, 12, 34, 58
FONT = 12
PALETTE = ("#2563eb", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6")
TARGET_COLOUR = "#dc2626"


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


@dataclass(frozen=True)
class Series:
    name: str
    values: Sequence[float | None]


def _nice_max(value: float) -> float:
    """Round an axis maximum up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10 ** (len(str(int(value))) - 1)
    for step in (1, 2, 5, 10):
        if value <= step * power:
            return float(step * power)
    return float(10 * power)


def _fmt(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value:,.0f}"


def bars(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series],
    target: float | None = None, target_label: str = "target", every: int = 1,
    x_label: str = "", y_label: str = "", width: int = WIDTH, fmt: Callable[[float], str] | None = None,
) -> Markup:
    """Return a grouped bar chart with labelled axes; a dashed line marks the target when given.

    every: print every n-th label under the axis (many bars, little room).
    fmt: how the value axis, the target and each bar's figure are written (default: plain).
    """
    fmt = fmt or _fmt
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_max(max([*values, target or 0, 0]))
    plot_w = width - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(labels))
    bar_w = max(1.0, slot * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {width} {HEIGHT}" aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<text x="0" y="18" font-size="{FONT + 2}" font-weight="600" fill="#111827">{_e(title)}</text>',
    ]
    if y_label:
        y = PAD_TOP + plot_h / 2
        parts.append(f'<text x="14" y="{y:.1f}" font-size="{FONT}" text-anchor="middle" fill="#4b5563" '
                     f'transform="rotate(-90 14 {y:.1f})">{_e(y_label)}</text>')
    if x_label:
        parts.append(f'<text x="{PAD_LEFT + plot_w / 2:.1f}" y="{HEIGHT - PAD_BOTTOM + 34}" '
                     f'font-size="{FONT}" text-anchor="middle" fill="#4b5563">{_e(x_label)}</text>')
    for i in range(5):
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e5e7eb"/><text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="{FONT}" '
                     f'text-anchor="end" fill="#6b7280">{_e(fmt(top * i / 4))}</text>')
    for j, s in enumerate(series):
        colour = PALETTE[j % len(PALETTE)]
        for i, value in enumerate(s.values):
            if value is None:
                continue
            h = plot_h * value / top
            x = PAD_LEFT + slot * i + slot * 0.1 + bar_w * j
            parts.append(
                f'<rect class="bar" x="{x:.1f}" y="{PAD_TOP + plot_h - h:.1f}" width="{bar_w:.1f}" '
                f'height="{h:.1f}" fill="{colour}"><title>{_e(labels[i])} · {_e(s.name)}: '
                f'{_e(fmt(value))}</title></rect>'
            )
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_LEFT + slot * i + slot / 2
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 16}" font-size="{FONT}" '
                         f'text-anchor="middle" fill="#374151">{_e(label)}</text>')
    if target is not None:
        y = PAD_TOP + plot_h - plot_h * target / top
        parts.append(f'<line class="target" x1="{PAD_LEFT}" x2="{width - PAD_RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="{TARGET_COLOUR}" stroke-dasharray="5 4"/>'
                     f'<text x="{width - PAD_RIGHT}" y="{y - 4:.1f}" font-size="{FONT}" text-anchor="end" '
                     f'fill="{TARGET_COLOUR}">{_e(target_label)} {_e(fmt(target))}</text>')
    x = PAD_LEFT
    for j, s in enumerate(series if len(series) > 1 else ()):
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="11" height="11" '
                     f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{x + 15}" y="{HEIGHT - 4}" '
                     f'font-size="{FONT}" fill="#374151">{_e(s.name)}</text>')
        x += 28 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def week_heatmap(chart_id: str, title: str, days: Sequence[str],
                 counts: dict[tuple[int, int], float]) -> Markup:
    """Return a 7 x 24 grid, darker for busier hours of the week."""
    top = max([*counts.values(), 0]) or 1
    cell_w, cell_h, left, head = 24, 22, 96, 40
    height = head + 7 * cell_h + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {left + 24 * cell_w + 4} {height}" aria-label="{_e(title)}">'
        f'<title>{_e(title)}</title>'
        f'<text x="0" y="18" font-size="{FONT + 2}" font-weight="600" fill="#111827">{_e(title)}</text>'
    ]
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + hour * cell_w + cell_w / 2}" y="{head - 5}" font-size="{FONT}" '
                     f'text-anchor="middle" fill="#6b7280">{hour:02d}:00</text>')
    for d, day in enumerate(days):
        y = head + d * cell_h
        parts.append(f'<text x="{left - 8}" y="{y + 15}" font-size="{FONT}" text-anchor="end" '
                     f'fill="#374151">{_e(day)}</text>')
        for hour in range(24):
            value = counts.get((d, hour), 0)
            # Empty hours stay light grey; the busiest is full blue.
            shade = 0.08 + 0.92 * value / top if value else 0.0
            fill = "#2563eb" if value else "#f3f4f6"
            parts.append(
                f'<rect class="cell" x="{left + hour * cell_w}" y="{y}" width="{cell_w - 2}" '
                f'height="{cell_h - 2}" fill="{fill}" fill-opacity="{shade if value else 1:.2f}">'
                f'<title>{_e(day)} {hour:02d}:00 · {_e(_fmt(value))}</title></rect>'
            )
    parts.append("</svg>")
    return Markup("".join(parts))
