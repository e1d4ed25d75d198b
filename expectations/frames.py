"""The frames Great Expectations checks: numbers about the corpus, never its raw text (DESIGN.md "Validation").

``shard_frame``: one row per kept document of one output shard (lengths, token counts, ``q_*`` metrics).
``run_aggregate_frame``: one row for the whole run (drop rate per stage and reason, duplicate rates, language
mix, token totals), built from the draft manifest's counts and the per-shard statistics.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# The stages in flow order (DESIGN.md "The flow"); a disabled stage is simply absent from the counts.
STAGE_ORDER = (
    "read",
    "normalize",
    "url_filter",
    "exact_dedup",
    "quality",
    "decontamination",
    "near_dedup",
    "tokenize",
)


def _is_number(dtype: pa.DataType) -> bool:
    return pa.types.is_integer(dtype) or pa.types.is_floating(dtype) or pa.types.is_boolean(dtype)


def shard_frame(stats: pa.Table) -> pd.DataFrame:
    """The numeric columns of a shard's statistics, plus ``chars_per_token`` (a tokenizer sanity figure).

    Text-like columns (``lang``) are left out: GE fingerprints every value, and strings make that slow.
    """
    numeric = [f.name for f in stats.schema if _is_number(f.type)]
    frame = stats.select(numeric).to_pandas()
    if "num_chars" in frame and "num_tokens" in frame:
        tokens = frame["num_tokens"].astype("float64")
        frame["chars_per_token"] = frame["num_chars"].astype("float64") / tokens.where(tokens > 0)
    return frame


def ordered_stages(manifest: Mapping[str, Any]) -> list[str]:
    """Stage names of the manifest's counts, known stages in flow order first, unknown ones after."""
    stages = (manifest.get("counts") or {}).get("stages") or {}
    known = [s for s in STAGE_ORDER if s in stages]
    return known + [s for s in stages if s not in STAGE_ORDER]


def stage_counts(manifest: Mapping[str, Any], stage: str) -> dict[str, int]:
    """``in``, ``out``, ``rejected`` (and chars where given) of one stage; rejected falls back to the reasons."""
    counts = manifest.get("counts") or {}
    row = dict((counts.get("stages") or {}).get(stage) or {})
    if "rejected" not in row:
        row["rejected"] = sum((counts.get("rejected") or {}).get(stage, {}).values())
    return {k: int(v) for k, v in row.items() if isinstance(v, int | float) and not isinstance(v, bool)}


def language_counts(stats_tables: Iterable[pa.Table]) -> Counter:
    """Documents per detected language over all shards; null languages count as ``unknown``."""
    counts: Counter = Counter()
    for table in stats_tables:
        if "lang" not in table.column_names or table.num_rows == 0:
            continue
        column = pc.fill_null(table.column("lang").cast(pa.string()), "unknown")
        for item in pc.value_counts(column).to_pylist():
            counts[item["values"]] += item["counts"]
    return counts


def _rate(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole else 0.0


def run_aggregates(
    manifest: Mapping[str, Any], stats_by_shard: Mapping[str, pa.Table] | None = None
) -> dict[str, float | int]:
    """Run-level figures as a flat dict (column name -> number); the report shows the same numbers."""
    stats_by_shard = stats_by_shard or {}
    counts = manifest.get("counts") or {}
    read, kept = int(counts.get("read", 0)), int(counts.get("kept", 0))
    row: dict[str, float | int] = {
        "docs_read": read,
        "docs_kept": kept,
        "drop_rate_total": 1.0 - _rate(kept, read) if read else 0.0,
    }
    balance_errors = 0
    for stage in ordered_stages(manifest):
        c = stage_counts(manifest, stage)
        row[f"drop_rate_{stage}"] = _rate(c.get("rejected", 0), c.get("in", 0))
        if {"in", "out"} <= c.keys() and c["in"] != c["out"] + c["rejected"]:
            balance_errors += 1
    row["stage_balance_errors"] = balance_errors
    for stage, reasons in (counts.get("rejected") or {}).items():
        for reason, n in reasons.items():
            row[f"reject_rate__{stage}__{reason}"] = _rate(n, read)
    for stage, name in (("exact_dedup", "exact_dup_rate"), ("near_dedup", "near_dup_rate")):
        if stage in ordered_stages(manifest) or stage in (counts.get("rejected") or {}):
            c = stage_counts(manifest, stage)
            row[name] = _rate(c.get("rejected", 0), c.get("in", 0))

    shards = manifest.get("shards") or []
    row["num_shards"] = len(shards)
    row["empty_shards"] = sum(1 for s in shards if int(s.get("rows", 0)) == 0)
    if shards:
        row["kept_rows_mismatch"] = abs(sum(int(s.get("rows", 0)) for s in shards) - kept)
        row["total_tokens"] = sum(int(s.get("tokens", 0)) for s in shards)
    elif stats_by_shard:
        row["total_tokens"] = sum(_column_sum(t, "num_tokens") for t in stats_by_shard.values())
    if "total_tokens" in row:
        row["mean_tokens_per_doc"] = _rate(row["total_tokens"], kept)
    if stats_by_shard:
        row["total_chars_kept"] = sum(_column_sum(t, "num_chars") for t in stats_by_shard.values())

    langs = language_counts(stats_by_shard.values())
    total = sum(langs.values())
    if total:
        for lang, n in langs.items():
            row[f"lang_share_{lang}"] = n / total
        row["lang_share_top"] = max(langs.values()) / total
        wanted = ((manifest.get("config") or {}).get("quality") or {}).get("languages") or []
        if wanted:
            row["lang_share_configured"] = sum(langs[w] for w in wanted) / total
    return row


def _column_sum(table: pa.Table, column: str) -> int:
    if column not in table.column_names or table.num_rows == 0:
        return 0
    return int(pc.sum(table.column(column)).as_py() or 0)


def run_aggregate_frame(
    manifest: Mapping[str, Any], stats_by_shard: Mapping[str, pa.Table] | None = None
) -> pd.DataFrame:
    """One row: ``run_aggregates`` as a frame for the ``run`` suites."""
    return pd.DataFrame([run_aggregates(manifest, stats_by_shard)])
