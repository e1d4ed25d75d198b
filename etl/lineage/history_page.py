"""The history page: one offline HTML document (inline CSS and SVG, no script) with the trends across versions.

``render_history`` is pure (rows in, HTML out) and uses the report's stylesheet and helpers, so the history and
the run reports read alike; ``write_history`` loads the runs, links each version to its report and writes
``DIR/index.html``. Rows carry ``data-version``, cells ``data-field``, for tests and scripts.
"""

from __future__ import annotations

import os
from typing import Any

import fsspec

from etl import __version__
from etl.ingest.input_files import local_path
from etl.lineage.history import history_rows, language_shares, series_names
from etl.lineage.line_chart import line_chart_svg
from etl.lineage.versions import load_run
from etl.report.charts import KEPT, REJECTED, fmt_num
from etl.report.details import LANG_COLORS
from etl.report.files import REPORT_PATH
from etl.report.overview import BADGES, STAGE_COLORS, esc
from etl.report.style import CSS

EARLIER_COLORS = {"exact": STAGE_COLORS["exact_dedup"], "near": STAGE_COLORS["near_dedup"]}
PILLS = {
    "pass": ("pass", "PASS"),
    "warn": ("fail", "WARN"),
    "fail": ("fail", "FAIL"),
    "skipped": ("na", "N/A"),
}
EXTRA_CSS = (
    ".vlabel{font-weight:600}.vlabel a{color:var(--kept)}"
    ".vlabel .muted{font-weight:400;font-size:.76rem;white-space:nowrap}td.nowrap{white-space:nowrap}"
    ".rates td.num{font-size:.86rem}.keys{font-size:.76rem;color:var(--muted);max-width:220px}"
)
SHOWN_KEYS = 3


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _card(section_id: str, title: str, body: str, note: str = "") -> str:
    small = f" <small>{note}</small>" if note else ""
    return f'<section id="{section_id}" class="card"><h2>{title}{small}</h2>{body}</section>'


def _cell(field: str, value: Any, shown: str, cls: str = "num") -> str:
    return f'<td class="{cls}" data-field="{field}" data-value="{esc(value)}">{shown}</td>'


def _version_cell(row: dict) -> str:
    href = row.get("report_href")
    name = esc(row["label"])
    link = f'<a href="{esc(href)}" data-report-link>{name}</a>' if href else name
    title = esc(row["run"])
    return f'<td class="vlabel" title="{title}">{link}<div class="muted mono">{esc(row["created_at"])}</div></td>'


def _validation_cell(row: dict) -> str:
    v = row["validation"]
    cls, label = PILLS.get(v["status"], ("na", "N/A"))
    met = f" <span class='muted'>{v['met']} / {v['total']}</span>" if v["total"] else ""
    return f'<td class="nowrap" data-field="validation" data-value="{esc(v["status"])}"><span class="pill {cls}">{label}</span>{met}</td>'


def _version_row(r: dict) -> str:
    changes = r.get("config_changes") or []
    more = f" +{len(changes) - SHOWN_KEYS}" if len(changes) > SHOWN_KEYS else ""
    changed = f"<div class='keys mono'>{esc(', '.join(changes[:SHOWN_KEYS]))}{more}</div>" if changes else "–"
    earlier = r["earlier"]["exact"] + r["earlier"]["near"]
    skipped = r["inputs_skipped"]
    inputs = f"{r['inputs']:,}" + (f" <span class='muted'>+{skipped:,} skipped</span>" if skipped else "")
    parents = ", ".join(r["parents_shown"]) or (str(r["parents"]) if r["parents"] else "–")
    if r.get("parents_replaced"):
        parents += f" ({len(r['parents_replaced'])} replaced since)"
    earlier_shown = f"{earlier:,} ({_pct(earlier / r['read'] if r['read'] else 0.0)})"
    return (
        f'<tr data-version="{r["index"]}">{_cell("index", r["index"], str(r["index"] + 1))}{_version_cell(r)}'
        f'<td class="mono muted">{esc(r["config_hash"][:12])}</td><td data-field="config_changes" data-value="{esc(",".join(changes))}">{changed}</td>'
        f'<td data-field="parents">{esc(parents)}</td>{_cell("inputs", r["inputs"], inputs)}'
        f"{_cell('read', r['read'], format(r['read'], ','))}{_cell('kept', r['kept'], format(r['kept'], ','))}"
        f"{_cell('tokens', r['tokens'], fmt_num(r['tokens']))}"
        f"{_cell('removed_rate', r['removed_rate'], _pct(r['removed_rate']))}"
        f"{_cell('earlier', earlier, earlier_shown)}{_validation_cell(r)}</tr>"
    )


def versions_section(rows: list[dict]) -> str:
    head = ("<th class='num'>#</th><th>Version</th><th>Config</th><th>Changed</th><th>Parents</th>"
            "<th class='num'>Inputs</th><th class='num'>Read</th><th class='num'>Kept</th><th class='num'>Tokens</th>"
            "<th class='num'>Removed</th><th class='num'>Dups of earlier</th><th>Validation</th>")  # fmt: skip
    body = "".join(_version_row(r) for r in rows)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return _card("versions", "Versions", table, "oldest first; a version's name links to its report")


def _chart_card(title: str, note: str, svg: str) -> str:
    return f'<div class="card hist"><h3>{esc(title)}</h3><div class="meta">{esc(note)}</div>{svg}</div>'


def _column(rows: list[dict], *path: str) -> list[float]:
    """One figure of every version: ``_column(rows, "validation", "met")``."""
    values = []
    for r in rows:
        for key in path:
            r = r.get(key, 0) if isinstance(r, dict) else 0
        values.append(r)
    return values


def trends_section(rows: list[dict]) -> str:
    labels = [r["label"] for r in rows]
    # Only stages that removed something in some version: the others would be flat lines at zero.
    stages = [s for s in series_names(rows, "stage_rates") if any(_column(rows, "stage_rates", s))]
    failed = [r["validation"]["total"] - r["validation"]["met"] for r in rows]
    earlier_note = (
        "removed by --against, % of read"
        if any(_column(rows, "earlier", "exact")) or any(_column(rows, "earlier", "near"))
        else "none: no version was deduplicated against an earlier one"
    )
    langs = language_shares(rows)
    lang_series = [(lang, v, LANG_COLORS[i % len(LANG_COLORS)]) for i, (lang, v) in enumerate(langs.items())]
    charts = [
        ("Documents", "read and kept per version", "documents", False,
         [("read", _column(rows, "read"), "#667085"), ("kept", _column(rows, "kept"), KEPT)]),
        ("Tokens kept", "tokens in the shards", "tokens", False,
         [("tokens", _column(rows, "tokens"), STAGE_COLORS["tokenize"])]),
        ("Removal rate by stage", "documents removed, % of read", "removal", True,
         [(s, _column(rows, "stage_rates", s), STAGE_COLORS.get(s, REJECTED)) for s in stages]),
        ("Duplicates of earlier runs", earlier_note, "earlier", True,
         [(k, _column(rows, "earlier_rates", k), c) for k, c in EARLIER_COLORS.items()]),
        ("Language mix", "share of kept documents" if langs else "no language in the statistics",
         "languages", True, lang_series),
        ("Expectations", "met and failed per version", "expectations", False,
         [("met", _column(rows, "validation", "met"), "#12805c"), ("failed", failed, "#b42318")]),
    ]  # fmt: skip
    cards = "".join(
        _chart_card(title, note, line_chart_svg(labels, series, percent=percent, name=name))
        for title, note, name, percent, series in charts
    )
    return f'<section id="trends"><h2>Trends</h2><div class="grid2">{cards}</div></section>'


def reasons_section(rows: list[dict]) -> str:
    names = series_names(rows, "reasons")
    if not names:
        return _card("reasons", "Removal by reason", '<div class="empty">No version rejected anything.</div>')
    head = "".join(f"<th class='num'>{esc(r['label'])}</th>" for r in rows)
    body = []
    for key in names:
        stage, reason = key.split("/", 1)
        cells = "".join(
            f'<td class="num" data-version="{r["index"]}" data-value="{r["reasons"].get(key, 0)}">'
            f"{r['reasons'].get(key, 0):,} <span class='muted'>({_pct(r['reason_rates'].get(key, 0.0))})</span></td>"
            for r in rows
        )
        body.append(
            f'<tr data-reason="{esc(key)}"><td><span class="chip" style="color:{STAGE_COLORS.get(stage, "#344054")}">'
            f'{esc(stage)}</span></td><td class="mono">{esc(reason)}</td>{cells}</tr>'
        )
    table = f"<table class='rates'><thead><tr><th>Stage</th><th>Reason</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    return _card("reasons", "Removal by reason", table, "documents (% of read) per version")


def _header(rows: list[dict], title: str) -> str:
    last = rows[-1] if rows else None
    status = last["validation"]["status"] if last else "skipped"
    span = f"{esc(rows[0]['created_at'])} → {esc(last['created_at'])}" if last else ""
    return (
        f'<header class="top"><div class="wrap"><div><h1>{esc(title)}</h1><div class="sub"><span>{len(rows)} '
        f"version{'s' if len(rows) != 1 else ''}</span><span>{span}</span></div></div>"
        f'<div class="status"><span class="badge {status}" id="latest-status" data-status="{status}">'
        f"LATEST {esc(BADGES[status])}</span></div></div></header>"
    )


def render_history(rows: list[dict], *, title: str = "corpus-etl · dataset history") -> str:
    links = [("versions", "Versions"), ("trends", "Trends"), ("reasons", "Removal by reason")]
    toc = "".join(f'<a href="#{a}">{t}</a>' for a, t in links)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{esc(title)}</title><style>{CSS}{EXTRA_CSS}</style></head><body>{_header(rows, title)}"
        f'<nav class="toc"><div class="wrap">{toc}</div></nav><main><div class="wrap">'
        f"{versions_section(rows)}{trends_section(rows)}{reasons_section(rows)}"
        f"</div></main><footer>corpus-etl {__version__} · {len(rows)} versions · "
        "self-contained page: no scripts, fonts or images are fetched</footer></body></html>"
    )


def report_href(root: str, out_dir: str) -> str | None:
    """A link to the run's report that works from the history page: relative on local disk, the URL itself
    over http(s); None when the run has no report or a browser could not open it (s3://)."""
    local = local_path(root)
    if local is not None:
        report = os.path.join(os.path.abspath(local), REPORT_PATH)
        if not os.path.isfile(report):
            return None
        return os.path.relpath(report, os.path.abspath(out_dir)).replace(os.sep, "/")
    if root.startswith(("http://", "https://")):
        return f"{root}/{REPORT_PATH}"
    return None


def write_history(runs: list[str], output: str) -> str:
    """Load ``runs``, render the page and write ``output/index.html`` (local or a URL); returns its path."""
    versions = [load_run(r, documents=False, languages=True) for r in runs]
    rows = history_rows(versions)
    out_dir = local_path(output)
    for row in rows:
        row["report_href"] = report_href(row["root"], out_dir) if out_dir is not None else None
    fs, root = fsspec.core.url_to_fs(output)
    root = root.rstrip("/")
    fs.makedirs(root, exist_ok=True)
    with fs.open(f"{root}/index.html", "w", encoding="utf-8") as fh:
        fh.write(render_history(rows))
    return f"{output.rstrip('/')}/index.html"
