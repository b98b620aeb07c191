"""Small server-side SVG plots: no JavaScript, no network, colours from the page's CSS.

Every plot is ``role="img"`` with a title; the page puts a table of the same numbers next to it
(screen readers read the table). Colours are CSS classes (``s0``..``s5``) the stylesheet sets
for light and dark. Each bar carries ``data-value`` so a test can check what was drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

__all__ = ["bar_chart"]

WIDTH = 640
HEIGHT = 240
LEFT = 44
BOTTOM = 40
TOP = 14
RIGHT = 10


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1.0
    step = float(10 ** len(str(int(value)))) / 10
    for factor in (1, 2, 2.5, 5, 10):
        if value <= step * factor:
            return step * factor
    return value


def bar_chart(
    title: str,
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    *,
    stacked: bool = False,
    slug: str = "plot",
    colours: Sequence[int] | None = None,
) -> str:
    """Grouped (or stacked) bars: one group per label, one bar per series; ``colours`` picks
    the palette entry of each series (on time green, missing red...)."""
    palette = (
        [*(colours or ()), *range(len(series))][: len(series)]
        if colours
        else list(range(len(series)))
    )
    n = max(len(labels), 1)
    if stacked:
        top = max((sum(s[1][i] for s in series) for i in range(len(labels))), default=0)
    else:
        top = max((v for _, values in series for v in values), default=0)
    ymax = _nice_max(float(top))
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    group_w = plot_w / n
    bars = max(len(series), 1)
    bar_w = group_w * 0.8 / (1 if stacked else bars)
    out = [
        f'<svg class="plot" id="{escape(slug)}" viewBox="0 0 {WIDTH} {HEIGHT + 22}" '
        f'role="img" aria-labelledby="{escape(slug)}-title" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{escape(slug)}-title">{escape(title)}</title>',
    ]
    for k in range(5):
        value = ymax * k / 4
        y = TOP + plot_h - plot_h * k / 4
        out.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:g}</text>'
        )
    drawn = 0
    for i, label in enumerate(labels):
        x0 = LEFT + group_w * i + group_w * 0.1
        base = 0.0
        for j, (name, values) in enumerate(series):
            value = float(values[i]) if i < len(values) else 0.0
            h = plot_h * value / ymax
            x = x0 if stacked else x0 + bar_w * j
            y = TOP + plot_h - h - (plot_h * base / ymax if stacked else 0)
            if value > 0:
                drawn += 1
                out.append(
                    f'<rect class="bar s{palette[j] % 6}" x="{x:.1f}" y="{y:.1f}" '
                    f'width="{bar_w:.1f}" '
                    f'height="{h:.1f}" data-value="{value:g}">'
                    f"<title>{escape(label)}, {escape(name)}: {value:g}</title></rect>"
                )
            if stacked:
                base += value
        out.append(
            f'<text class="axis" x="{LEFT + group_w * (i + 0.5):.1f}" y="{TOP + plot_h + 16}" '
            f'text-anchor="middle">{escape(_short(label, max(4, int(group_w / 6.5))))}</text>'
        )
    x = LEFT
    for j, (name, _) in enumerate(series):
        out.append(
            f'<rect class="s{palette[j] % 6}" x="{x}" y="{HEIGHT + 6}" '
            'width="10" height="10"/>'
            f'<text class="axis" x="{x + 14}" y="{HEIGHT + 15}">{escape(name)}</text>'
        )
        x += 24 + 7 * len(name)
    out.append("</svg>")
    svg = "".join(out)
    return svg.replace('class="plot"', f'class="plot" data-bars="{drawn}"', 1)


def _short(label: str, limit: int = 14) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"
