"""An inline SVG line chart over versions (one point per version, evenly spaced), in the report's chart style.

The axis, grid and label helpers are the report's own (``etl.report.charts``), so both pages read alike. Each
point carries ``data-series``/``data-version``/``data-value`` so tests and scripts can read the chart back.
"""

from __future__ import annotations

from html import escape

from etl.report.charts import INK, _text, _y_axis, _y_grid, fmt_num

MAX_X_LABELS = 12


def _short(label: str, room: int = 14) -> str:
    return label if len(label) <= room else label[: room - 1] + "…"


def _legend(series: list[tuple[str, list[float], str]], left: float) -> list[str]:
    parts, x = [], left
    for name, _, color in series:
        parts.append(f'<rect x="{x:.0f}" y="6" width="10" height="10" rx="2" fill="{color}"/>')
        parts.append(_text(x + 14, 15, name, "start"))
        x += 14 + 6.5 * len(name) + 16
    return parts


def line_chart_svg(
    labels: list[str],
    series: list[tuple[str, list[float], str]],
    *,
    percent: bool = False,
    width: int = 560,
    height: int = 220,
    name: str = "chart",
) -> str:
    """Lines of ``series`` (name, one value per label, colour); ``percent`` takes values as fractions."""
    scale = 100.0 if percent else 1.0
    left, right, top, bottom = 46, 16, 28, 34
    pw, ph = width - left - right, height - top - bottom
    values = [v * scale for _, vs, _ in series for v in vs]
    ymax, yticks = _y_axis(max(values + [0.0]))
    n = max(len(labels), 1)

    def sx(i: int) -> float:
        return left + pw * (i + 0.5) / n

    def sy(v: float) -> float:
        return top + ph - v * scale / ymax * ph

    parts = [
        f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" data-chart="{escape(name)}" '
        f'aria-label="{escape(name)} by version">'
    ]
    parts += _y_grid(yticks, ymax, left, top, pw, ph)
    if percent:
        parts.append(_text(left - 6, top - 8, "%", "end"))
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}"/>')
    every = max(1, -(-len(labels) // MAX_X_LABELS))
    for i, label in enumerate(labels):
        if i % every == 0:
            parts.append(_text(sx(i), top + ph + 16, _short(label)))
    for sname, vs, color in series:
        points = " ".join(f"{sx(i):.1f},{sy(v):.1f}" for i, v in enumerate(vs))
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2" '
            f'stroke-linejoin="round" data-line="{escape(sname)}"/>'
        )
        for i, v in enumerate(vs):
            shown = f"{v * scale:.3g}%" if percent else f"{v:,.0f}" if float(v).is_integer() else fmt_num(v)
            parts.append(
                f"<g><title>{escape(f'{labels[i]} · {sname}: {shown}')}</title>"
                f'<circle cx="{sx(i):.1f}" cy="{sy(v):.1f}" r="3.5" fill="#fff" stroke="{color}" '
                f'stroke-width="2" data-series="{escape(sname)}" data-version="{i}" data-value="{v!r}"/></g>'
            )
    parts += _legend(series, left)
    parts.append("</svg>")
    return "".join(parts)
