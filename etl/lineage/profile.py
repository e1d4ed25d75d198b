"""`corpus-etl profile`: a run's retention curves (what each quality rule alone keeps as its threshold moves),
and what another quality config would keep and remove, per reason, replayed on the run's signals. Text for
people, JSON for scripts; the numbers come from etl/report/signals.py and etl/report/predict.py.
"""

from __future__ import annotations

import math

from etl.lineage.lookup import OpenRun, open_run
from etl.report.predict import Prediction
from etl.report.signals import RuleCurve, RunSignals, read_signals

NO_SIGNALS = "{run} has no signals/; run with --set quality.signals=true or quality.mode=annotate"
SAMPLE_POINTS = 5  # curve points a rule's line shows (every point with --signal)


def open_signals(run: str) -> tuple[OpenRun, RunSignals]:
    """The committed run and its signals; a run without them is a ValueError saying how to get them."""
    opened = open_run(run)
    signals = read_signals(opened.fs, opened.root, opened.manifest, run)
    if signals is None:
        raise ValueError(NO_SIGNALS.format(run=run))
    return opened, signals


def pick(curves: list[RuleCurve], name: str | None) -> list[RuleCurve]:
    """The curves whose reason, metric (with or without q_) or config key (whole, without quality., or its
    last part) is `name`; all of them when `name` is None."""
    if name is None:
        return curves
    wanted = {name, f"q_{name}", f"quality.{name}"}
    found = [
        c for c in curves if wanted & {c.rule.reason, c.rule.metric, c.key, (c.key or "").split(".")[-1]}
    ]
    if not found:
        known = ", ".join(dict.fromkeys(c.rule.reason for c in curves))
        raise ValueError(
            f"--signal {name}: no rule of the run by that reason, metric or key (rules: {known})"
        )
    return found


def _pct(share: float | None) -> str:
    return "-" if share is None else f"{share * 100:.1f}%"


def _samples(curve: RuleCurve) -> str:
    points = curve.points
    if len(points) > SAMPLE_POINTS:
        points = [points[round(i * (len(points) - 1) / (SAMPLE_POINTS - 1))] for i in range(SAMPLE_POINTS)]
    return "  ".join(f"{p.threshold:.4g}:{_pct(p.docs)}/{_pct(p.tokens)}" for p in points)


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """Fixed-width columns, the last one left ragged."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head) - 1)]
    return [
        ("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]).rstrip()
        for row in [head, *rows]
    ]


def _whole_curve(curve: RuleCurve) -> list[str]:
    """Every point of a curve, the configured threshold marked."""
    rows = [
        (f"{p.threshold:.6g}", _pct(p.docs), _pct(p.tokens), "<- configured" if p == curve.configured else "")
        for p in curve.points
    ]
    head = ("threshold", "docs kept", "tokens kept", "")
    return ["", f"{curve.rule.reason}: rejects {curve.condition}", *_table(head, rows)]


def _token_note(signals: RunSignals) -> str:
    n, estimated = signals.table.height, signals.estimated
    if not estimated:
        return f"tokens: exact for all {n} documents (the stats)"
    if signals.tokens_per_byte is None:
        return "tokens: unknown (no document's count is in the stats): token shares are not shown"
    return (
        f"tokens: exact for {n - estimated} documents (the stats), estimated for {estimated} "
        f"(num_bytes x {signals.tokens_per_byte:.4g} tokens/byte of those): token figures are estimated"
    )


def curves_text(run: str, signals: RunSignals, curves: list[RuleCurve], every: bool = False) -> str:
    """One line per rule: what it rejects, what it alone keeps there, and points of its curve (`every`:
    then each rule's whole curve)."""
    t = signals.table
    kept = int(t["reason"].is_null().sum())
    lines = [
        f"{run}: {t.height} documents reached the quality stage ({signals.mode} mode); "
        f"its quality rules keep {kept}",
        _token_note(signals),
        "docs/tokens kept: by that rule alone, of the documents whose metric was computed",
        "",
    ]
    head = (
        "rule",
        "rejects",
        "docs",
        "docs kept",
        "tokens kept",
        "" if every else "curve (threshold:docs/tokens)",
    )
    rows = [
        (
            c.rule.reason,
            c.condition,
            str(c.documents),
            _pct(c.configured.docs if c.configured else None),
            _pct(c.configured.tokens if c.configured else None),
            "" if every else _samples(c),
        )
        for c in curves
    ]
    lines += _table(head, rows)
    if every:
        lines += [line for c in curves for line in _whole_curve(c)]
    return "\n".join(lines) + "\n"


def _finite(x: float | None) -> float | str | None:
    return x if x is None or math.isfinite(x) else str(x)


def curves_json(run: str, signals: RunSignals, curves: list[RuleCurve]) -> dict:
    return {
        "run": run,
        "mode": signals.mode,
        "documents": signals.table.height,
        "tokens_estimated_documents": signals.estimated,
        "tokens_per_byte": signals.tokens_per_byte,
        "rules": [
            {
                "reason": c.rule.reason,
                "metric": c.rule.metric,
                "op": c.rule.op,
                "threshold": list(c.rule.threshold) if c.rule.op == "not in" else c.rule.threshold,
                "key": c.key,
                "documents": c.documents,
                "docs_kept": c.configured.docs if c.configured else None,
                "tokens_kept": c.configured.tokens if c.configured else None,
                "curve": [[_finite(p.threshold), p.docs, p.tokens] for p in c.points],
            }
            for c in curves
        ],
    }


def _delta(a: float, b: float) -> str:
    return f"{a:,.0f} -> {b:,.0f} ({b - a:+,.0f})"


def prediction_text(run: str, signals: RunSignals, p: Prediction) -> str:
    """The changed keys, kept documents and tokens, and removals per reason: the run's config -> the new one."""
    changes = "; ".join(f"{k} {a!r} -> {b!r}" for k, (a, b) in p.changed.items()) or "none"
    lines = [f"{run}: {signals.table.height} documents reached the quality stage; changed: {changes}"]
    if signals.mode != "filter":
        lines.append(
            f"(the run kept all of them: {signals.mode} mode; both sides are what filter mode keeps)"
        )
    lines.append(f"kept {_delta(p.kept('before'), p.kept())}")
    estimated = " (estimated)" if signals.estimated else ""
    lines.append(f"tokens {_delta(p.tokens('before'), p.tokens())}{estimated}")
    for reason, (a, b) in p.removed().items():
        lines.append(f"  {reason} {a} -> {b}" + (f" ({b - a:+})" if a != b else ""))
    if p.undecidable:
        lines.append(f"undecidable: {p.undecidable} (signals not computed; run with quality.mode=annotate)")
    return "\n".join(lines) + "\n"


def prediction_json(run: str, signals: RunSignals, p: Prediction) -> dict:
    return {
        "run": run,
        "mode": signals.mode,
        "documents": signals.table.height,
        "changed": {k: {"run": a, "new": b} for k, (a, b) in p.changed.items()},
        "kept": {"run": p.kept("before"), "predicted": p.kept()},
        "tokens": {
            "run": round(p.tokens("before")),
            "predicted": round(p.tokens()),
            "estimated": signals.estimated > 0,
        },
        "removed": {r: {"run": a, "predicted": b} for r, (a, b) in p.removed().items()},
        "undecidable": p.undecidable,
        "kept_doc_ids": p.kept_ids(),
        "undecidable_doc_ids": p.undecidable_ids(),
    }
