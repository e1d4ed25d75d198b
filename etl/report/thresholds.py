"""The report's "Signals and thresholds" section: per quality rule, the share of documents and of tokens the
rule alone keeps as its threshold moves (an inline SVG line chart, the configured threshold marked), and the
documents nearest that threshold on each side, with the start of their text.

The page stays bounded whatever the corpus: at most MAX_RULES charts of at most CURVE_POINTS + 1 points each,
and SAMPLES_PER_SIDE documents of PREVIEW_CHARS characters on each side of each threshold.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from html import escape

from etl.report.charts import GRID, INK, THRESHOLD, _text, fmt_num, log_ticks, nice_ticks
from etl.report.overview import esc
from etl.report.signals import RuleCurve, RunSignals, curves, nearest

MAX_RULES = 48
SAMPLES_PER_SIDE = 2
PREVIEW_CHARS = 200
DOCS_COLOR, TOKENS_COLOR = "#3b6fd8", "#12b76a"


@dataclass(frozen=True)
class Sample:
    doc_id: str
    value: float
    rejected: bool  # by this rule alone, at its configured threshold
    text: str | None  # the first PREVIEW_CHARS characters, None where the run kept no text


@dataclass(frozen=True)
class SignalsView:
    """What the section shows: the curves (rules in the order they decide) and samples per curve."""

    curves: list[RuleCurve]
    samples: list[list[Sample]]
    documents: int
    estimated: int  # documents whose tokens are estimated from bytes
    mode: str
    omitted: int = 0  # rules past MAX_RULES


def signals_view(signals: RunSignals, texts: Callable[[list[str]], dict[str, str]]) -> SignalsView:
    """The section's numbers from a run's signals; `texts(doc_ids)` gives the texts it can find (one read for
    all the samples)."""
    every = curves(signals)
    shown = every[:MAX_RULES]
    picked = [nearest(signals.table, c.rule, SAMPLES_PER_SIDE) for c in shown]
    ids = sorted({i for frame in picked for i in frame["doc_id"].to_list()})
    found = texts(ids) if ids else {}
    samples = [
        [
            Sample(doc_id, value, rejected, _preview(found.get(doc_id)))
            for doc_id, value, rejected in frame.select("doc_id", "value", "rejected").iter_rows()
        ]
        for frame in picked
    ]
    return SignalsView(
        shown, samples, signals.table.height, signals.estimated, signals.mode, len(every) - len(shown)
    )


def _preview(text: str | None) -> str | None:
    if text is None:
        return None
    return text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"


def _x_range(curve: RuleCurve) -> tuple[float, float, bool]:
    """The chart's x range over the finite thresholds (the configured one included when near), and whether
    it is drawn in log10 (counts spanning decades)."""
    xs = [p.threshold for p in curve.points if math.isfinite(p.threshold)]
    lo, hi = min(xs), max(xs)
    configured = float(curve.rule.threshold)
    span = hi - lo
    if lo - span <= configured <= hi + span:
        lo, hi = min(lo, configured), max(hi, configured)
    log = lo >= 1 and hi / lo > 50
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    return lo, hi, log


def retention_svg(curve: RuleCurve, width: int = 420, height: int = 210) -> str:
    """Docs-kept and tokens-kept shares (0-100 %) against the threshold, the configured one marked (a dashed
    line, circles on both curves, the side it rejects shaded)."""
    left, right, top, bottom = 40, 14, 22, 30
    pw, ph = width - left - right, height - top - bottom
    lo, hi, log = _x_range(curve)

    def sx(v: float) -> float:
        v = math.log10(max(v, 1e-12)) if log else v
        return left + (min(max(v, lo), hi) - lo) / (hi - lo) * pw

    def sy(share: float) -> float:
        return top + ph - share * ph

    rule, at = curve.rule, curve.configured
    parts = [
        f'<svg viewBox="0 0 {width} {height}" class="chart" role="img" data-rule="{escape(rule.reason)}" '
        f'data-op="{escape(rule.op)}" data-threshold="{float(rule.threshold)!r}" '
        f'aria-label="share kept by {escape(rule.reason)} against its threshold">'
    ]
    x = sx(float(rule.threshold))
    x0, x1 = (left, x) if rule.op == "<" else (x, left + pw)
    parts.append(f'<rect x="{x0:.1f}" y="{top}" width="{max(x1 - x0, 0):.1f}" height="{ph}" class="cut"/>')
    for share in (0.25, 0.5, 0.75, 1.0):
        y = sy(share)
        parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(_text(left - 6, y + 4, f"{share:.0%}", "end"))
    parts.append(f'<line x1="{left}" x2="{left + pw}" y1="{top + ph}" y2="{top + ph}" stroke="{INK}"/>')
    for v in log_ticks(lo, hi) if log else nice_ticks(lo, hi):
        label = fmt_num(10**v if log else v)
        parts.append(_text(left + (v - lo) / (hi - lo) * pw, top + ph + 16, label))
    finite = [p for p in curve.points if math.isfinite(p.threshold)]
    for name, color, attr in (("docs", DOCS_COLOR, "docs"), ("tokens", TOKENS_COLOR, "tokens")):
        shares = [(p.threshold, getattr(p, attr)) for p in finite if getattr(p, attr) is not None]
        if not shares:
            continue
        points = " ".join(f"{sx(t):.1f},{sy(s):.1f}" for t, s in shares)
        parts.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="2" '
            f'stroke-linejoin="round" data-line="{name}" data-points="{len(shares)}"/>'
        )
        share = getattr(at, attr)
        if share is not None:
            parts.append(
                f"<g><title>{escape(f'{name} kept at {rule.threshold:g}: {share * 100:.1f}%')}</title>"
                f'<circle cx="{x:.1f}" cy="{sy(share):.1f}" r="4" fill="#fff" stroke="{color}" '
                f'stroke-width="2" data-configured="{name}" data-value="{share!r}"/></g>'
            )
    parts.append(
        f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{top + ph}" stroke="{THRESHOLD}" '
        f'stroke-width="1.5" stroke-dasharray="4 3" data-marker="configured"/>'
    )
    label, room_right = f"{rule.op} {rule.threshold:g}", left + pw - x > 60
    parts.append(
        _text(x + (4 if room_right else -4), top - 8, label, "start" if room_right else "end", "thr")
    )
    parts.append("</svg>")
    return "".join(parts)


def _sample_html(sample: Sample) -> str:
    side = "rejected" if sample.rejected else "kept"
    text = (
        f"<pre>{esc(sample.text)}</pre>"
        if sample.text is not None
        else '<div class="empty">text not kept (output.keep_text / output.rejects_text)</div>'
    )
    return (
        f'<div class="sample" data-sample="{esc(sample.doc_id)}" data-side="{side}">'
        f'<div class="head"><b>{esc(sample.doc_id)}</b> · value {fmt_num(sample.value)} · {side} by this rule'
        f"</div>{text}</div>"
    )


def _card(curve: RuleCurve, samples: list[Sample]) -> str:
    at = curve.configured
    tokens = f", {at.tokens * 100:.1f}% of their tokens" if at and at.tokens is not None else ""
    kept = f"keeps {at.docs * 100:.1f}% of the {curve.documents:,} documents{tokens}" if at else "no document"
    key = f" ({curve.key})" if curve.key else ""
    meta = f"rejects {esc(curve.condition)}{esc(key)} · {kept}"
    chart = retention_svg(curve) if len(curve.points) > 1 else ""
    near = "".join(_sample_html(s) for s in samples)
    near = (
        f"<details><summary>documents nearest the threshold</summary><div class='body'>{near}</div></details>"
        if near
        else ""
    )
    return (
        f'<div class="card sig" data-signal-rule="{esc(curve.rule.reason)}" data-signal-metric="{esc(curve.rule.metric)}">'
        f"<h3>{esc(curve.name)}</h3><div class='meta'>{meta}</div>{chart}{near}</div>"
    )


def signals_section(view: SignalsView | None) -> str:
    """The section, or nothing when the run wrote no signals."""
    if view is None:
        return ""
    estimated = (
        f" Token shares are estimated for {view.estimated:,} documents (from their bytes, at the kept "
        "documents' tokens per byte)."
        if view.estimated
        else ""
    )
    omitted = (
        f" {view.omitted} more rules are left out; `corpus-etl profile RUN` lists all."
        if view.omitted
        else ""
    )
    intro = (
        f"<p class='muted'>{view.documents:,} documents reached the quality stage ({esc(view.mode)} mode). "
        "Each chart: the share of documents and of tokens that the rule alone keeps as its threshold moves over "
        "the metric's observed values, among the documents whose metric was computed; the dashed line is the "
        f"configured threshold (the shaded side is rejected).{estimated}{omitted} "
        "<code>corpus-etl profile RUN --set KEY=VALUE</code> says what another threshold would keep.</p>"
    )
    cards = "".join(_card(c, s) for c, s in zip(view.curves, view.samples, strict=True))
    legend = (
        f'<div class="legend"><span><i style="background:{DOCS_COLOR}"></i>documents kept</span>'
        f'<span><i style="background:{TOKENS_COLOR}"></i>tokens kept</span>'
        f'<span><i style="background:{THRESHOLD}"></i>configured threshold</span></div>'
    )
    return (
        '<section id="signals"><h2>Signals and thresholds <small>what each quality rule alone keeps as its '
        f'threshold moves</small></h2>{intro}<div class="grid3">{cards}</div>{legend}</section>'
    )
