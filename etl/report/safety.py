"""The report's safety section: benchmark contamination found (hits per benchmark, with examples) and the
personal data and secrets counted in the kept documents (q_pii_* of the stats), so that both questions a
pre-training team asks first are answered on the page."""

from __future__ import annotations

from collections import Counter, defaultdict

import pyarrow as pa
import pyarrow.compute as pc

from etl.report.overview import esc

EXAMPLES = 3  # contaminated documents shown per benchmark


def contamination_hits(rejects: pa.Table | None) -> dict[str, list[tuple[str, str]]]:
    """{benchmark: [(doc_id, detail)]} of the `contaminated` rejects; the detail starts "benchmark/item: "."""
    hits: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if rejects is None or rejects.num_rows == 0:
        return hits
    rows = rejects.filter(pc.equal(rejects.column("reason"), "contaminated"))
    for doc_id, detail in zip(
        rows.column("doc_id").to_pylist(), rows.column("detail").to_pylist(), strict=True
    ):
        hits[str(detail or "").split("/", 1)[0]].append((doc_id, detail or ""))
    return hits


def pii_totals(stats: pa.Table | None) -> dict[str, tuple[int, int]]:
    """{kind: (documents with at least one, matches)} over the kept documents' q_pii_* columns."""
    if stats is None:
        return {}
    out = {}
    for name in stats.column_names:
        if name.startswith("q_pii_"):
            col = stats.column(name)
            out[name.removeprefix("q_pii_")] = (
                int(pc.sum(pc.greater(col, 0)).as_py() or 0),
                int(pc.sum(col).as_py() or 0),
            )
    return out


def safety_section(stats: pa.Table | None, rejects: pa.Table | None, manifest: dict) -> str:
    hits = contamination_hits(rejects)
    benchmarks = [
        b.get("name")
        for b in ((manifest.get("config") or {}).get("decontamination") or {}).get("benchmarks") or []
    ]
    if benchmarks:
        counts = Counter({name: len(hits.get(name, [])) for name in benchmarks})
        rows = "".join(
            f'<tr data-benchmark="{esc(name)}"><td><b>{esc(name)}</b></td><td class="num">{n:,}</td><td>'
            + "<br>".join(f"{esc(doc)}: {esc(detail)}" for doc, detail in hits.get(name, [])[:EXAMPLES])
            + "</td></tr>"
            for name, n in counts.most_common()
        )
        decon = f"<table><thead><tr><th>Benchmark</th><th class='num'>Docs removed</th><th>Examples</th></tr></thead><tbody>{rows}</tbody></table>"
    else:
        decon = '<div class="empty">No benchmark configured (decontamination.benchmarks).</div>'
    totals = pii_totals(stats)
    if totals:
        rows = "".join(
            f'<tr data-pii="{esc(kind)}"><td>{esc(kind)}</td><td class="num">{docs:,}</td><td class="num">{n:,}</td></tr>'
            for kind, (docs, n) in sorted(totals.items())
        )
        pii = f"<table><thead><tr><th>Kind</th><th class='num'>Kept docs with any</th><th class='num'>Matches</th></tr></thead><tbody>{rows}</tbody></table>"
    else:
        pii = '<div class="empty">No personal-data counts in the statistics.</div>'
    body = f"<h4 style='margin:0 0 4px'>Benchmark contamination</h4>{decon}<h4 style='margin:12px 0 4px'>Personal data and secrets in kept documents</h4>{pii}"
    return f'<section id="safety" class="card" style="margin-top:18px"><h2>Contamination &amp; personal data</h2>{body}</section>'
