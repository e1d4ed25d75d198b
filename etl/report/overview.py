"""The top of the report, readable in ten seconds: status, failures, KPI tiles, the funnel, rejects by reason.

Every string that comes from data goes through ``esc``; funnel numbers carry ``data-stage``/``data-metric``/
``data-value`` attributes so tests (and scripts) can read them off the rendered page.
"""

from __future__ import annotations

from html import escape
from typing import Any

from etl.report.charts import fmt_bytes, fmt_num
from etl.report.figures import funnel, rejects_by_reason
from transforms.reasons import explain

STAGE_COLORS = {
    "read": "#667085",
    "normalize": "#0e9384",
    "exact_dedup": "#7a5af8",
    "quality": "#dc6803",
    "near_dedup": "#dd2590",
    "tokenize": "#2e90fa",
}
BADGES = {"pass": "PASSED", "warn": "PASSED WITH WARNINGS", "fail": "FAILED", "skipped": "NOT VALIDATED"}


def esc(value: Any) -> str:
    return escape(str(value), quote=True)


def pct(part: float, whole: float, digits: int = 1) -> str:
    return f"{100 * part / whole:.{digits}f}%" if whole else "–"


def status_of(validation: dict | None) -> str:
    if not validation:
        return "skipped"
    status = validation.get("status")
    if status in BADGES:
        return status
    return "pass" if validation.get("success") else "fail"


def expectation_tally(validation: dict | None) -> tuple[int, int]:
    """(met, applicable) over all suites."""
    results = [r for s in ((validation or {}).get("suites") or {}).values() for r in s.get("results", [])]
    applicable = [r for r in results if r.get("success") is not None]
    return sum(1 for r in applicable if r["success"]), len(applicable)


def header(manifest: dict, validation: dict | None, title: str) -> str:
    status = status_of(validation)
    label = BADGES[status]
    quarantined = (validation or {}).get("quarantine") or []
    if quarantined:
        label = f"QUARANTINED {len(quarantined)} SHARD{'S' if len(quarantined) > 1 else ''}"
    met, total = expectation_tally(validation)
    why = f"{met} of {total} expectations met · policy {esc((validation or {}).get('policy', '–'))}"
    if status == "skipped":
        why = "validation did not run"
    tok = manifest.get("tokenizer") or {}
    sub = [
        f"<span>{esc(manifest.get('created_at', ''))}</span>" if manifest.get("created_at") else "",
        f"<span>config {esc(str(manifest.get('config_hash', ''))[:12])}</span>"
        if manifest.get("config_hash")
        else "",
        f"<span>tokenizer {esc(tok.get('name') or str(tok.get('path') or '').rsplit('/', 1)[-1])} · vocab {esc(tok.get('vocab_size', '?'))}</span>"
        if tok
        else "",
    ]
    return (
        '<header class="top"><div class="wrap"><div>'
        f"<h1>{esc(title)}</h1><div class='sub'>{''.join(sub)}</div></div>"
        f'<div class="status"><span class="badge {status}" id="run-status" data-status="{status}">'
        f"{esc(label)}</span><div class='why'>{why}</div></div></div></header>"
    )


def toc(signals: bool = False) -> str:
    links = [
        ("funnel", "Funnel"),
        ("rejects", "Rejects"),
        ("metrics", "Quality metrics"),
        *([("signals", "Signals & thresholds")] if signals else []),
        ("dedup", "Duplicates & languages"),
        ("safety", "Contamination & PII"),
        ("expectations", "Expectations"),
        ("shards", "Shards"),
        ("samples", "Sample rejects"),
        ("config", "Config"),
    ]
    items = "".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    return f'<nav class="toc"><div class="wrap">{items}</div></nav>'


def fmt_observed(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict) and {"min", "max"} <= value.keys():
        return f"{fmt_observed(value['min'])} … {fmt_observed(value['max'])}"
    return str(value)


def alert(validation: dict | None) -> str:
    failures = (validation or {}).get("failures") or []
    if not failures:
        return ""
    status = status_of(validation)
    kind = "fail" if status == "fail" else "warn"
    lead = (
        "The run failed validation"
        if kind == "fail"
        else "Validation found problems (the policy let the run pass)"
    )
    items = []
    for f in failures[:12]:
        col = (f.get("kwargs") or {}).get("column", "table")
        where = f" in <code>{esc(f['shard'])}</code>" if f.get("shard") else " (run aggregate)"
        items.append(
            f"<li><code>{esc(f['expectation_type'])}</code> on <code>{esc(col)}</code>{where}: "
            f"observed <b style='display:inline'>{esc(fmt_observed(f.get('observed_value')))}</b>"
            f" <span class='muted'>({esc(f.get('suite', ''))})</span></li>"
        )
    more = f"<li>… and {len(failures) - 12} more</li>" if len(failures) > 12 else ""
    quarantine = (validation or {}).get("quarantine") or []
    q = f"<li>Set aside: {', '.join(f'<code>{esc(p)}</code>' for p in quarantine)}</li>" if quarantine else ""
    return f'<div class="alert {kind}" id="failures"><b>{lead}</b><ul>{"".join(items)}{more}{q}</ul></div>'


def text_unit(rows: list[dict]) -> str | None:
    """How the counts measure text: ``chars`` (preferred) or ``bytes`` (UTF-8), None when not at all."""
    for unit in ("chars", "bytes"):
        if any(f"out_{unit}" in r for r in rows):
            return unit
    return None


def _kpi(label: str, value: str, note: str, key: str, exact: int | float | None = None) -> str:
    data = f' data-kpi="{key}"' + (f' data-value="{exact}" title="{exact:,}"' if exact is not None else "")
    return (
        f'<div class="kpi"{data}><div class="label">{esc(label)}</div><div class="value">{esc(value)}</div>'
        f'<div class="note">{note}</div></div>'
    )


def kpis(manifest: dict, validation: dict | None) -> str:
    counts = manifest.get("counts") or {}
    read, kept = int(counts.get("read", 0)), int(counts.get("kept", 0))
    stages = {row["stage"]: row for row in funnel(manifest)}
    shards = manifest.get("shards") or []
    tokens = sum(int(s.get("tokens", 0)) for s in shards)
    first = next(iter(stages.values()), {})
    unit = text_unit(list(stages.values()))
    last_text = [row[f"out_{unit}"] for row in stages.values() if f"out_{unit}" in row]
    unreadable = stages.get("read", {}).get("rejected", 0)
    exact = stages.get("exact_dedup", {}).get("rejected", 0)
    near = stages.get("near_dedup", {}).get("rejected", 0)
    met, total = expectation_tally(validation)
    tiles = [
        _kpi("Documents read", f"{read:,}", f"{unreadable:,} unreadable", "read", read),
        _kpi("Documents kept", f"{kept:,}", f"{pct(kept, read)} of read", "kept", kept),
        _kpi(
            "Tokens",
            fmt_num(tokens),
            f"{tokens / kept:,.0f} per document" if kept else "–",
            "tokens",
            tokens,
        ),
        _kpi(
            "Characters kept" if unit == "chars" else "Text kept",
            ((fmt_bytes if unit == "bytes" else fmt_num)(last_text[-1]) if last_text else "–"),
            f"{pct(last_text[-1], first.get(f'in_{unit}', 0))} of input" if last_text else "not counted",
            "text",
            last_text[-1] if last_text else None,
        ),
        _kpi(
            "Duplicates removed",
            f"{exact + near:,}",
            f"{pct(exact, read)} exact · {pct(near, read)} near",
            "duplicates",
            exact + near,
        ),
        _kpi(
            "Expectations met",
            f"{met} / {total}",
            "all met" if met == total else f"<b style='color:var(--fail)'>{total - met} failed</b>",
            "expectations",
        ),
    ]
    return f'<section class="kpis">{"".join(tiles)}</section>'


def _num(stage: str, metric: str, value: int) -> str:
    return f'<span data-stage="{esc(stage)}" data-metric="{metric}" data-value="{value}">{value:,}</span>'


def _bar(kept: int, removed: int, base: int) -> str:
    if not base:
        return '<div class="bar"></div>'
    return (
        f'<div class="bar"><i class="k" style="width:{100 * kept / base:.2f}%"></i>'
        f'<i class="r" style="width:{100 * removed / base:.2f}%"></i></div>'
    )


def funnel_section(manifest: dict) -> str:
    rows = funnel(manifest)
    if not rows:
        return '<section id="funnel" class="card"><h2>Funnel</h2><div class="empty">No stage counts.</div></section>'
    doc_base = max(r.get("in", 0) for r in rows)
    unit = text_unit(rows)
    text_base = max([r.get(f"in_{unit}", 0) for r in rows] + [0])
    tokens = sum(int(s.get("tokens", 0)) for s in manifest.get("shards") or [])
    body = []
    for r in rows:
        stage, n_in, n_out, n_rej = r["stage"], r.get("in", 0), r.get("out", 0), r.get("rejected", 0)
        drop = f'<span class="drop{" zero" if not n_rej else ""}">−{_num(stage, "rejected", n_rej)} ({pct(n_rej, n_in)})</span>'
        text = _text_cell(stage, r, unit, text_base)
        tok = r.get("out_tokens", tokens if stage == "tokenize" else None)
        tok_cell = _num(stage, "out_tokens", int(tok)) if tok is not None else '<span class="muted">–</span>'
        color = STAGE_COLORS.get(stage, "#475467")
        body.append(
            f'<tr data-stage="{esc(stage)}"><td class="stage"><span class="dot" style="background:{color}"></span>'
            f'{esc(stage)}</td><td class="num">{_num(stage, "in", n_in)}</td>'
            f'<td><div class="fcell">{_bar(n_out, n_rej, doc_base)}<div class="fnum">'
            f"{_num(stage, 'out', n_out)}{drop}</div></div></td><td>{text}</td>"
            f'<td class="num">{tok_cell}</td></tr>'
        )
    return (
        '<section id="funnel" class="card"><h2>Funnel <small>documents, characters and tokens through each stage'
        "</small></h2><table class='funnel'><thead><tr><th>Stage</th><th class='num'>Docs in</th>"
        "<th>Documents out <span style='text-transform:none'>(removed, % of stage input)</span></th>"
        f"<th>{'Text bytes' if unit == 'bytes' else 'Characters'} out</th><th class='num'>Tokens</th></tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
        '<div class="legend"><span><i style="background:var(--kept)"></i>kept by the stage</span>'
        '<span><i style="background:var(--rej)"></i>removed by the stage</span>'
        "<span>bars are to scale against the first stage's input</span></div></section>"
    )


def _text_cell(stage: str, r: dict, unit: str | None, base: int) -> str:
    out, n_in = r.get(f"out_{unit}"), r.get(f"in_{unit}")
    if out is None:
        return '<span class="muted">–</span>'
    lost = (n_in if n_in is not None else out) - out
    return (
        f'<div class="fcell">{_bar(out, max(lost, 0), base)}<div class="fnum">{_num(stage, f"out_{unit}", out)}'
        f'<span class="drop{" zero" if lost <= 0 else ""}">{pct(lost, n_in or 0)}</span>'
        f"{_hidden(stage, f'in_{unit}', n_in)}</div></div>"
    )


def _hidden(stage: str, metric: str, value: int | None) -> str:
    if value is None:
        return ""
    return (
        f'<span hidden data-stage="{esc(stage)}" data-metric="{metric}" data-value="{value}">{value:,}</span>'
    )


def rejects_section(manifest: dict) -> str:
    rows = rejects_by_reason(manifest)
    read = int((manifest.get("counts") or {}).get("read", 0))
    if not rows:
        return '<section id="rejects" class="card"><h2>Rejects by reason</h2><div class="empty">Nothing was rejected.</div></section>'
    top = rows[0][2]
    total = sum(n for _, _, n in rows)
    body = "".join(
        f'<tr data-reject-stage="{esc(s)}" data-reason="{esc(r)}"><td><span class="chip" style="color:'
        f'{STAGE_COLORS.get(s, "#344054")}">{esc(s)}</span></td><td><span class="mono" title="{esc(explain(r))}">'
        f'{esc(r)}</span><div class="muted" style="font-size:.8rem">{esc(explain(r))}</div></td>'
        f'<td class="num" data-value="{n}">{n:,}</td><td class="num">{pct(n, read)}</td>'
        f'<td style="width:30%"><div class="minibar"><i style="width:{100 * n / top:.1f}%;background:'
        f'{STAGE_COLORS.get(s, "var(--rej)")}"></i></div></td></tr>'
        for s, r, n in rows
    )
    return (
        f'<section id="rejects" class="card"><h2>Rejects by reason <small>{total:,} documents, '
        f"{pct(total, read)} of read</small></h2><table><thead><tr><th>Stage</th><th>Reason</th>"
        f"<th class='num'>Docs</th><th class='num'>% of read</th><th></th></tr></thead>"
        f"<tbody>{body}</tbody></table></section>"
    )
