"""The report's detail sections: metric histograms, duplicates, languages, expectations, shards, samples, config."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
import yaml

from etl.report.charts import grouped_bars_svg, histogram_svg
from etl.report.figures import duplicate_clusters, languages, metric_histograms, reject_samples
from etl.report.hints import removed_languages
from etl.report.overview import STAGE_COLORS, esc, fmt_observed, pct
from transforms.reasons import explain

LANG_COLORS = ["#3b6fd8", "#12b76a", "#f79009", "#7a5af8", "#ee46bc", "#06aed4", "#875bf7", "#98a2b3"]
SAMPLE_CHARS = 400
MAX_SHARD_ROWS = 200


def _card(section_id: str, title: str, body: str, note: str = "", cls: str = "card") -> str:
    small = f" <small>{note}</small>" if note else ""
    return f'<section id="{section_id}" class="{cls}"><h2>{title}{small}</h2>{body}</section>'


def histograms_section(stats: pa.Table | None, rejects: pa.Table | None, manifest: dict) -> str:
    quality = (manifest.get("config") or {}).get("quality") or {}
    hists = metric_histograms(stats, rejects, quality)
    if not hists:
        return _card("metrics", "Quality metrics", '<div class="empty">No statistics were given.</div>')
    cards = []
    for h in hists:
        median = f"median {fmt_observed(h.median)}" if h.median is not None else "no kept documents"
        rej = f" · {int(h.rejected.sum()):,} rejected" if h.rejected.sum() else ""
        scale = " · log x" if h.log else ""
        thr = "" if h.thresholds or not h.metric.startswith("q_") else " · no threshold in config"
        cards.append(
            f'<div class="card hist" data-metric-hist="{esc(h.metric)}"><h3>{esc(h.metric)}</h3>'
            f'<div class="meta">{h.count:,} kept · {median}{rej}{scale}{thr}</div>{histogram_svg(h)}</div>'
        )
    legend = (
        '<div class="legend"><span><i style="background:var(--kept)"></i>kept documents</span>'
        '<span><i style="background:var(--rej)"></i>rejected for this metric</span>'
        '<span><i style="background:#b42318"></i>configured threshold (shaded side is rejected)</span>'
        "<span>the last bin holds the tail above the 99.5th percentile</span></div>"
    )
    return (
        '<section id="metrics"><h2>Quality metrics <small>distribution of every metric over kept documents'
        f'</small></h2><div class="grid3">{"".join(cards)}</div>{legend}</section>'
    )


def duplicates_card(rejects: pa.Table | None) -> str:
    exact, near = duplicate_clusters(rejects, "exact_dedup"), duplicate_clusters(rejects, "near_dedup")
    if not exact and not near:
        return _card("dedup", "Duplicate clusters", '<div class="empty">No duplicates were removed.</div>')
    cats = [str(s) for s in range(2, 10)] + ["10+"]

    def binned(c) -> list[int]:
        return [c.get(s, 0) for s in range(2, 10)] + [sum(n for s, n in c.items() if s >= 10)]

    svg = grouped_bars_svg(
        cats,
        [
            ("exact", binned(exact), STAGE_COLORS["exact_dedup"]),
            ("near", binned(near), STAGE_COLORS["near_dedup"]),
        ],
    )

    def line(name: str, c) -> str:
        if not c:
            return f"<li>{name}: none</li>"
        docs = sum(s * n for s, n in c.items())
        return f"<li>{name}: {sum(c.values()):,} clusters holding {docs:,} documents, largest {max(c):,}</li>"

    body = f'{svg}<ul class="muted" style="margin:8px 0 0;padding-left:18px">{line("exact", exact)}{line("near", near)}</ul>'
    return _card("dedup", "Duplicate clusters", body, "clusters by size (survivor + removed copies)")


def _removed_languages_table(rejects: pa.Table | None) -> str:
    """The languages that language id removed (language.not_allowed), so a lost language shows here too."""
    removed = removed_languages(rejects).most_common()
    if not removed:
        return ""
    rows = "".join(
        f'<tr data-removed-lang="{esc(lang)}"><td><b>{esc(lang)}</b></td><td class="num">{n:,}</td></tr>'
        for lang, n in removed[:12]
    )
    rest = sum(n for _, n in removed[12:])
    rows += f'<tr><td>other</td><td class="num">{rest:,}</td></tr>' if rest else ""
    return (
        "<h4 style='margin:12px 0 4px'>Removed by language id (not in quality.languages)</h4>"
        f"<table><thead><tr><th>Language</th><th class='num'>Docs removed</th></tr></thead><tbody>{rows}</tbody></table>"
    )


def languages_card(stats: pa.Table | None, manifest: dict, rejects: pa.Table | None = None) -> str:
    langs = languages(stats)
    removed = _removed_languages_table(rejects)
    if not langs:
        empty = '<div class="empty">No language column in the statistics.</div>'
        return _card("languages", "Language mix", empty + removed)
    wanted = set(((manifest.get("config") or {}).get("quality") or {}).get("languages") or [])
    total = sum(n for _, n in langs)
    shown = langs[:7] + ([("other", sum(n for _, n in langs[7:]))] if len(langs) > 7 else [])
    bar = "".join(
        f'<i style="width:{100 * n / total:.2f}%;background:{LANG_COLORS[i]}" title="{esc(lang)} {pct(n, total)}"></i>'
        for i, (lang, n) in enumerate(shown)
    )
    rows = "".join(
        f'<tr data-lang="{esc(lang)}"><td><span class="dot" style="background:{LANG_COLORS[i]}"></span>'
        f"<b>{esc(lang)}</b>{' <span class=chip>configured</span>' if lang in wanted else ''}</td>"
        f'<td class="num">{n:,}</td><td class="num">{pct(n, total)}</td></tr>'
        for i, (lang, n) in enumerate(shown)
    )
    table = f"<table><thead><tr><th>Language</th><th class='num'>Docs</th><th class='num'>Share</th></tr></thead><tbody>{rows}</tbody></table>"
    body = f'<div class="langbar">{bar}</div>{table}{removed}'
    return _card("languages", "Language mix", body, "kept documents" + (", and removed" if removed else ""))


def _human(r: dict, frame: str) -> str:
    kw, kind = r.get("kwargs") or {}, r["expectation_type"]
    col = kw.get("column", "")
    lo, hi = kw.get("min_value"), kw.get("max_value")
    agg = next((a for a in ("min", "max", "mean", "median", "sum", "stdev") if f"_column_{a}_" in kind), None)
    subject = f"{agg}({col})" if agg and frame != "run" else ("rows" if "row_count" in kind else col)
    if "not_be_null" in kind:
        return f"{col} has no nulls"
    if "_to_be_between" in kind:
        if "values_to_be_between" in kind:
            subject = f"every {col}"
        if lo is not None and hi is not None:
            return f"{subject} in [{lo}, {hi}]" if lo != hi else f"{subject} = {lo}"
        if lo is not None:
            return f"{subject} {'>' if kw.get('strict_min') else '≥'} {lo}"
        if hi is not None:
            return f"{subject} {'<' if kw.get('strict_max') else '≤'} {hi}"
    args = ", ".join(f"{k}={v}" for k, v in kw.items())
    return f"{kind}({args})"


def expectations_section(validation: dict | None, n_shards: int) -> str:
    suites = (validation or {}).get("suites") or {}
    if not suites:
        return _card("expectations", "Expectations", '<div class="empty">Validation did not run.</div>')
    rows = []
    for suite, data in suites.items():
        for r in data.get("results", []):
            rows.append((suite, data.get("frame", ""), r))
    order = {False: 0, True: 1, None: 2}
    rows.sort(key=lambda t: order[t[2].get("success")])
    body = []
    for suite, frame, r in rows:
        ok = r.get("success")
        cls, pill = {False: ("failed", "fail"), True: ("", "pass"), None: ("na", "na")}[ok]
        label = {False: "FAIL", True: "PASS", None: "N/A"}[ok]
        if frame == "shard":
            bad = r.get("failed_shards") or []
            where = f"{len(bad)} of {n_shards} shards failed" if bad else f"all {n_shards} shards"
            where = where.replace("all 1 shards", "the 1 shard").replace("of 1 shards", "of 1 shard")
            if bad:
                where += "<br>" + "<br>".join(f"<code>{esc(p)}</code>" for p in bad[:5])
        else:
            where = "run"
        why = f'<div class="type">{esc(r["why"])}</div>' if r.get("why") else ""
        body.append(
            f'<tr class="{cls}" data-expectation="{esc(r["expectation_type"])}" data-success="{esc(ok)}">'
            f'<td><span class="pill {pill}">{label}</span></td><td class="mono">{esc(suite)}</td>'
            f'<td class="exp"><b>{esc(_human(r, frame))}</b><div class="type mono">{esc(r["expectation_type"])}</div>{why}</td>'
            f'<td class="num mono" data-observed>{esc(fmt_observed(r.get("observed_value")))}</td>'
            f'<td class="muted">{where}</td></tr>'
        )
    failed = sum(1 for *_, r in rows if r.get("success") is False)
    note = f"{failed} failed" if failed else "all applicable expectations met"
    docs = (validation or {}).get("data_docs")
    link = f'<p class="muted">Great Expectations Data Docs: <code>{esc(docs)}</code></p>' if docs else ""
    return _card(
        "expectations",
        "Expectations",
        "<table><thead><tr><th>Status</th><th>Suite</th><th>Expectation</th><th class='num'>Observed</th>"
        f"<th>Where</th></tr></thead><tbody>{''.join(body)}</tbody></table>{link}",
        note,
    )


def shards_section(manifest: dict, validation: dict | None) -> str:
    shards = list(manifest.get("shards") or []) + list(manifest.get("quarantine") or [])
    if not shards:
        return _card("shards", "Shards", '<div class="empty">No shards were written.</div>')
    verdicts = (validation or {}).get("shards") or {}
    quarantined = set((validation or {}).get("quarantine") or [])
    rows = []
    for s in shards[:MAX_SHARD_ROWS]:
        path = s.get("path", "")
        v = verdicts.get(path) or verdicts.get(path.removeprefix("quarantine/"))
        if path in quarantined or path.startswith("quarantine/"):
            pill = '<span class="pill fail">QUARANTINED</span>'
        elif v is None:
            pill = '<span class="pill na">–</span>'
        else:
            pill = f'<span class="pill {"pass" if v["success"] else "fail"}">{"PASS" if v["success"] else "FAIL"}</span>'
        rows.append(
            f'<tr><td class="mono">{esc(path)}</td><td class="num">{int(s.get("rows", 0)):,}</td>'
            f'<td class="num">{int(s.get("tokens", 0)):,}</td><td class="num">{int(s.get("bytes", 0)):,}</td>'
            f'<td class="mono muted">{esc(str(s.get("sha256", ""))[:12])}</td><td>{pill}</td></tr>'
        )
    more = (
        f'<p class="muted">… and {len(shards) - MAX_SHARD_ROWS:,} more</p>'
        if len(shards) > MAX_SHARD_ROWS
        else ""
    )
    return _card(
        "shards",
        "Shards",
        "<table><thead><tr><th>Path</th><th class='num'>Rows</th><th class='num'>Tokens</th>"
        f"<th class='num'>Bytes</th><th>sha256</th><th>Validation</th></tr></thead><tbody>{''.join(rows)}</tbody></table>{more}",
        f"{len(shards):,} files",
    )


def _sample(row: dict[str, Any]) -> str:
    text = row.get("text")
    if text is None:
        shown = '<span class="muted">(text not kept: output.rejects_text is off)</span>'
    else:
        cut = text[:SAMPLE_CHARS] + (
            f" … [{len(text) - SAMPLE_CHARS:,} more chars]" if len(text) > SAMPLE_CHARS else ""
        )
        shown = esc(cut) if cut.strip() else '<span class="muted">(empty text)</span>'
    value = row.get("value")
    bits = [f"<code>{esc(row.get('doc_id'))}</code>", esc(f"{row.get('source')}:{row.get('line')}")]
    if value is not None:
        bits.append(f"value {fmt_observed(value)}")
    if row.get("detail"):
        bits.append(esc(row["detail"]))
    return f'<div class="sample"><div class="head">{" · ".join(bits)}</div><pre>{shown}</pre></div>'


def samples_section(rejects: pa.Table | None, manifest: dict) -> str:
    samples = reject_samples(rejects)
    if not samples:
        return _card("samples", "Sample rejects", '<div class="empty">No rejects to show.</div>')
    counts = (manifest.get("counts") or {}).get("rejected") or {}
    blocks = []
    ordered = sorted(samples.items(), key=lambda kv: -counts.get(kv[0][0], {}).get(kv[0][1], 0))
    for i, ((stage, reason), rows) in enumerate(ordered):
        n = counts.get(stage, {}).get(reason)
        total = f" — {n:,} rejected" if n is not None else ""
        blocks.append(
            f'<details data-samples="{esc(stage)}/{esc(reason)}"{" open" if i == 0 else ""}><summary><span class="chip" style="color:'
            f'{STAGE_COLORS.get(stage, "#344054")}">{esc(stage)}</span> <span class="mono" title="{esc(explain(reason))}">'
            f"{esc(reason)}</span>"
            f'<span class="muted" style="font-weight:400">{total}</span></summary>'
            f'<div class="body">{"".join(_sample(r) for r in rows)}</div></details>'
        )
    return _card("samples", "Sample rejects", "".join(blocks), "the first few of each reason; click to open")


def config_section(manifest: dict) -> str:
    config = manifest.get("config")
    text = (
        yaml.safe_dump(config, sort_keys=False, allow_unicode=True)
        if config
        else "# no config in the manifest"
    )
    return _card(
        "config",
        "Resolved config",
        f'<pre class="config">{esc(text)}</pre>',
        esc(manifest.get("config_hash", "")),
    )
