"""Charts drawn on the server as SVG: bars, a week heat map. Every text is escaped.

Colours and sizes are SVG presentation attributes, not style attributes, so the console's
Content-Security-Policy (no inline styles) lets them through. Each chart carries a <title>
and an aria-label, and each bar a <title> with its exact figure for a hover or a reader.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

WIDTH = 640
HEIGHT = 220
PAD_LEFT, PAD_RIGHT, PAD_TOP, PAD_BOTTOM = 44, 12, 28, 36
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
) -> Markup:
    """Return a grouped bar chart; a dashed line marks the target when given.

    every: print every n-th label under the axis (many bars, little room).
    """
    values = [v for s in series for v in s.values if v is not None]
    top = _nice_max(max([*values, target or 0, 0]))
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    slot = plot_w / max(1, len(labels))
    bar_w = max(1.0, slot * 0.8 / max(1, len(series)))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" aria-label="{_e(title)}"><title>{_e(title)}</title>',
        f'<text x="{PAD_LEFT}" y="16" font-size="13" font-weight="600" fill="#111827">{_e(title)}</text>',
    ]
    for i in range(5):
        y = PAD_TOP + plot_h - plot_h * i / 4
        parts.append(f'<line x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
                     f'stroke="#e5e7eb"/><text x="{PAD_LEFT - 6}" y="{y + 4:.1f}" font-size="10" '
                     f'text-anchor="end" fill="#6b7280">{_e(_fmt(top * i / 4))}</text>')
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
                f'{_e(_fmt(value))}</title></rect>'
            )
    for i, label in enumerate(labels):
        if i % every == 0:
            x = PAD_LEFT + slot * i + slot / 2
            parts.append(f'<text x="{x:.1f}" y="{HEIGHT - PAD_BOTTOM + 14}" font-size="10" '
                         f'text-anchor="middle" fill="#374151">{_e(label)}</text>')
    if target is not None:
        y = PAD_TOP + plot_h - plot_h * target / top
        parts.append(f'<line class="target" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" '
                     f'y2="{y:.1f}" stroke="{TARGET_COLOUR}" stroke-dasharray="5 4"/>'
                     f'<text x="{WIDTH - PAD_RIGHT}" y="{y - 4:.1f}" font-size="10" text-anchor="end" '
                     f'fill="{TARGET_COLOUR}">{_e(target_label)} {_e(_fmt(target))}</text>')
    x = PAD_LEFT
    for j, s in enumerate(series):
        parts.append(f'<rect x="{x}" y="{HEIGHT - 14}" width="10" height="10" '
                     f'fill="{PALETTE[j % len(PALETTE)]}"/><text x="{x + 14}" y="{HEIGHT - 5}" '
                     f'font-size="11" fill="#374151">{_e(s.name)}</text>')
        x += 24 + 7 * len(s.name)
    parts.append("</svg>")
    return Markup("".join(parts))


def week_heatmap(chart_id: str, title: str, days: Sequence[str],
                 counts: dict[tuple[int, int], float]) -> Markup:
    """Return a 7 x 24 grid, darker for busier hours of the week."""
    top = max([*counts.values(), 0]) or 1
    cell_w, cell_h, left, head = 23, 18, 44, 34
    height = head + 7 * cell_h + 6
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{_e(chart_id)}" role="img" '
        f'viewBox="0 0 {left + 24 * cell_w + 4} {height}" aria-label="{_e(title)}">'
        f'<title>{_e(title)}</title>'
        f'<text x="{left}" y="14" font-size="13" font-weight="600" fill="#111827">{_e(title)}</text>'
    ]
    for hour in range(0, 24, 3):
        parts.append(f'<text x="{left + hour * cell_w + cell_w / 2}" y="{head - 4}" font-size="10" '
                     f'text-anchor="middle" fill="#6b7280">{hour:02d}</text>')
    for d, day in enumerate(days):
        y = head + d * cell_h
        parts.append(f'<text x="{left - 6}" y="{y + 13}" font-size="10" text-anchor="end" '
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
