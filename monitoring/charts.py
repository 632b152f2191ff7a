"""Charts drawn as SVG on the server: no JavaScript library, no CDN, readable without scripts.

Every label is escaped; every bar has a <title> (a tooltip, and text for screen readers).
The charts scale with their box; on a narrow screen (static/css/dashboard.css) the axis labels
are drawn larger so that they stay about 12 px high: a bar chart then shows every other one of
its x labels (class tick-minor: the others) and hides the y labels (tick-y), and a grouped chart moves
every other group label one line down (tick-odd; the space is kept below the plot).
"""

from collections.abc import Sequence
from html import escape

from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c", "#319795", "#b7791f", "#4a5568")

_PAD_LEFT, _PAD_RIGHT, _PAD_TOP, _PAD_BOTTOM = 56, 10, 14, 30
_STAGGER = 26  # room under a grouped chart for its odd group labels, moved down on narrow screens


def _number(value: float) -> str:
    if value == int(value):
        return f"{int(value):,}"
    return f"{value:.3g}" if abs(value) < 10 else f"{value:,.0f}"


def bar_chart(
    bars: Sequence, *, title: str, width: int = 640, height: int = 180, max_labels: int = 8, color: str = PALETTE[0]
) -> SafeString:
    """Vertical bars for a list of objects with .label and .value (a time series or a histogram)."""
    plot_w = width - _PAD_LEFT - _PAD_RIGHT
    plot_h = height - _PAD_TOP - _PAD_BOTTOM
    top = max((bar.value for bar in bars), default=0) or 1
    slot = plot_w / max(len(bars), 1)
    gap = min(2.0, slot * 0.2)
    label_every = max(1, -(-len(bars) // max_labels))
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_PAD_LEFT}" y1="{_PAD_TOP + plot_h}" x2="{width - _PAD_RIGHT}" y2="{_PAD_TOP + plot_h}" class="axis"/>',
        f'<text x="{_PAD_LEFT - 4}" y="{_PAD_TOP + 4}" text-anchor="end" class="tick tick-y">{_number(top)}</text>',
        f'<text x="{_PAD_LEFT - 4}" y="{_PAD_TOP + plot_h}" text-anchor="end" class="tick tick-y">0</text>',
    ]
    for index, bar in enumerate(bars):
        bar_h = plot_h * (bar.value / top)
        x = _PAD_LEFT + index * slot + gap / 2
        y = _PAD_TOP + plot_h - bar_h
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(slot - gap, 0.5):.1f}" height="{bar_h:.1f}" fill="{color}">'
            f"<title>{escape(str(bar.label))}: {_number(bar.value)}</title></rect>"
        )
        if index % label_every == 0:
            minor = " tick-minor" if (index // label_every) % 2 else ""
            parts.append(
                f'<text x="{x + (slot - gap) / 2:.1f}" y="{height - 10}" text-anchor="middle" class="tick tick-x{minor}">'
                f"{escape(str(bar.label))}</text>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))


def grouped_bar_chart(
    groups: Sequence[str], series: Sequence[tuple[str, Sequence[float | None]]], *, title: str,
    width: int = 640, height: int = 220,
) -> SafeString:
    """One group of bars per metric, one bar per series (an evaluation run), with a legend.

    Scores of different metrics have different scales (CIDEr ~1, BLEU ~0.3), so each group is
    scaled to its own best value, and the bar's tooltip gives the real number. The legend is an
    HTML list after the chart (it wraps and keeps its size on a narrow screen).
    """
    pad_bottom = _PAD_BOTTOM + _STAGGER
    plot_w = width - _PAD_LEFT - _PAD_RIGHT
    plot_h = height - _PAD_TOP - pad_bottom
    total_h = height
    group_w = plot_w / max(len(groups), 1)
    bar_w = (group_w * 0.8) / max(len(series), 1)
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {total_h}" '
        f'width="100%" preserveAspectRatio="xMidYMid meet" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{_PAD_LEFT}" y1="{_PAD_TOP + plot_h}" x2="{width - _PAD_RIGHT}" y2="{_PAD_TOP + plot_h}" class="axis"/>',
    ]
    for g, group in enumerate(groups):
        values = [values[g] for _, values in series]
        best = max((v for v in values if v is not None), default=0) or 1
        x0 = _PAD_LEFT + g * group_w + group_w * 0.1
        for s, (name, _) in enumerate(series):
            value = values[s]
            if value is None:
                continue
            bar_h = plot_h * (value / best) if value > 0 else 0
            parts.append(
                f'<rect x="{x0 + s * bar_w:.1f}" y="{_PAD_TOP + plot_h - bar_h:.1f}" width="{max(bar_w - 1, 0.5):.1f}" '
                f'height="{bar_h:.1f}" fill="{PALETTE[s % len(PALETTE)]}">'
                f"<title>{escape(name)}: {escape(group)} = {value:.4f}</title></rect>"
            )
        odd = " tick-odd" if g % 2 else ""
        parts.append(
            f'<text x="{x0 + group_w * 0.4:.1f}" y="{height - 10 - _STAGGER}" text-anchor="middle" '
            f'class="tick tick-x{odd}">{escape(group)}</text>'
        )
    parts.append("</svg>")
    parts.append('<ul class="chart-legend">')
    for s, (name, _) in enumerate(series):
        parts.append(
            f'<li><svg width="12" height="12" aria-hidden="true" focusable="false"><rect width="12" height="12" '
            f'fill="{PALETTE[s % len(PALETTE)]}"/></svg> {escape(name)}</li>'
        )
    parts.append("</ul>")
    return mark_safe("".join(parts))
