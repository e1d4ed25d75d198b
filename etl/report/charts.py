"""Hand-written inline SVG charts: a histogram with thresholds and a grouped bar chart. No JS, no fonts fetched."""

from __future__ import annotations

import math
from html import escape

from etl.report.figures import Histogram

KEPT, REJECTED, THRESHOLD, GRID, INK = "#3b6fd8", "#e26d5a", "#b42318", "#e6e8ec", "#5b6472"


def fmt_num(x: float) -> str:
    """Short axis label: 1.2k, 3.4M, 0.125, 12."""
    ax = abs(x)
    for div, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if ax >= div:
            return f"{x / div:.3g}{suffix}"
    if ax == 0 or ax >= 100:
        return f"{x:.0f}"
    return f"{x:.3g}"


def fmt_bytes(n: float) -> str:
    for div, unit in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n:.0f} B"


def _text(x: float, y: float, s: str, anchor: str = "middle", cls: str = "ax") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" class="{cls}">{escape(s)}</text>'


def _nice_step(span: float, target: int) -> float:
    raw = span / max(target - 1, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round-number ticks (1, 2, 2.5 or 5 times a power of ten) inside [lo, hi]."""
    step = _nice_step(hi - lo, target)
    first = math.ceil(lo / step - 1e-9) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten inside [lo, hi] (log10 units), with the 2x and 5x ticks when there are few decades."""
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    mults = (1, 2, 5) if hi - lo < 2.5 else (1,)
    ticks = [d + math.log10(m) for d in decades for m in mults]
    return [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]


def _y_axis(count_max: float) -> tuple[float, list[float]]:
    """The top of a count axis, rounded up to a nice step, and its grid values."""
    step = _nice_step(max(count_max, 1), 5)
    top = math.ceil(max(count_max, 1) / step - 1e-9) * step
    return top, [step * i for i in range(1, round(top / step) + 1)]


def _y_grid(ticks: list[float], ymax: float, left: float, top: float, pw: float, ph: float) -> list[str]:
    parts = []
    for v in ticks:
        y = top + ph - v / ymax * ph
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, fmt_num(v), "end"))
    return parts


def histogram_svg(h: Histogram, width: int = 420, height: int = 200) -> str:
    left, right, top, bottom = 42, 14, 14 + 13 * max(len(h.thresholds), 2), 30
    pw, ph = width - left - right, height - top - bottom
    lo, hi = float(h.edges[0]), float(h.edges[-1])
    total = h.kept + h.rejected
    ymax, yticks = _y_axis(float(total.max()))

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * pw

    def label(v: float) -> str:
        return fmt_num(10**v if h.log else v)

    parts = [
        f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" '
        f'aria-label="histogram of {escape(h.metric)}">'
    ]
    for t in h.thresholds:  # shade the side the threshold rejects
        x = min(max(sx(t.value), left), left + pw)
        x0, x1 = (left, x) if t.side == "min" else (x, left + pw)
        parts.append(
            f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0):.1f}" height="{ph}" class="cut"/>'
        )
    parts += _y_grid(yticks, ymax, left, top, pw, ph)
    bw = pw / len(h.kept)
    for i, (k, r) in enumerate(zip(h.kept, h.rejected, strict=True)):
        x = left + i * bw
        kh, rh = k / ymax * ph, r / ymax * ph
        tip = f"{label(h.edges[i])} – {label(h.edges[i + 1])}: {int(k):,} kept" + (
            f", {int(r):,} rejected" if r else ""
        )
        parts.append(f"<g><title>{escape(tip)}</title>")
        if k:
            y = top + ph - kh
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" height="{kh:.1f}" fill="{KEPT}"/>'
            )
        if r:
            y = top + ph - kh - rh
            parts.append(
                f'<rect x="{x + 0.5:.1f}" y="{y:.1f}" width="{max(bw - 1, 1):.1f}" height="{rh:.1f}" fill="{REJECTED}"/>'
            )
        parts.append("</g>")
    parts.append(
        f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}" stroke-width="1"/>'
    )
    for v in log_ticks(lo, hi) if h.log else nice_ticks(lo, hi):
        x = sx(v)
        anchor = "end" if x > left + pw - 12 else ("start" if x < left + 12 else "middle")
        parts.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top + ph}" y2="{top + ph + 4}" stroke="{INK}"/>')
        parts.append(_text(x, top + ph + 16, label(v), anchor))
    shown = [t for t in h.thresholds if left - 1 <= sx(t.value) <= left + pw + 1]
    for row, t in enumerate(shown):  # one label row per threshold, so two never overlap
        x, y = sx(t.value), top - 8 - 13 * (len(shown) - 1 - row)
        text = f"{t.key.split('.')[-1]} = {label(t.value)}"
        room_right = left + pw - x > 6.2 * len(text)
        anchor, dx = ("start", 4) if room_right else ("end", -4)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y + 3}" y2="{top + ph}" stroke="{THRESHOLD}" '
            f'stroke-width="1.5" stroke-dasharray="4 3"/>'
        )
        parts.append(_text(x + dx, y, text, anchor, "thr"))
    parts.append("</svg>")
    return "".join(parts)


def grouped_bars_svg(
    categories: list[str], series: list[tuple[str, list[int], str]], width: int = 420, height: int = 200
) -> str:
    """Bars per category, one per series (name, values, colour), with count labels and a legend."""
    left, right, top, bottom = 42, 12, 26, 30
    pw, ph = width - left - right, height - top - bottom
    ymax, yticks = _y_axis(max([max(v) for _, v, _ in series if v] + [1]))
    slot = pw / max(len(categories), 1)
    bw = slot * 0.8 / max(len(series), 1)
    parts = [f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" aria-label="bar chart">']
    parts += _y_grid(yticks, ymax, left, top, pw, ph)
    for ci, cat in enumerate(categories):
        x0 = left + ci * slot + slot * 0.1
        for si, (name, values, color) in enumerate(series):
            v = values[ci]
            bh = v / ymax * ph
            x = x0 + si * bw
            parts.append(
                f"<g><title>{escape(f'{name}, size {cat}: {v:,} clusters')}</title>"
                f'<rect x="{x:.1f}" y="{top + ph - bh:.1f}" width="{max(bw - 1, 1):.1f}" height="{bh:.1f}" '
                f'fill="{color}"/></g>'
            )
        parts.append(_text(left + ci * slot + slot / 2, top + ph + 16, cat))
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}"/>')
    lx = left
    for name, _, color in series:
        parts.append(f'<rect x="{lx}" y="6" width="10" height="10" rx="2" fill="{color}"/>')
        parts.append(_text(lx + 14, 15, name, "start"))
        lx += 14 + 8 * len(name) + 16
    parts.append("</svg>")
    return "".join(parts)
