"""The numbers the report draws, derived from the manifest, the rejects and the statistics (no HTML here)."""

from __future__ import annotations

import functools
import json
import math
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from expectations.frames import language_counts, ordered_stages, stage_counts

_DUPLICATE_OF = re.compile(r"duplicate of\s+(.+)$")


@dataclass
class Threshold:
    key: str  # "gopher_quality.min_doc_words"
    value: float
    side: str  # "min" or "max"


@dataclass
class Histogram:
    metric: str
    edges: np.ndarray
    kept: np.ndarray
    rejected: np.ndarray
    log: bool
    thresholds: list[Threshold] = field(default_factory=list)
    count: int = 0
    median: float | None = None


def thresholds_for(metric: str, quality_config: Mapping[str, Any] | None) -> list[Threshold]:
    """The thresholds the quality rules apply to a ``q_`` metric, read from the rules themselves.

    The rules (``transforms.quality``) are the one place that ties a metric to its config key, so the report
    draws exactly what the filter applied; a config this version cannot read draws no threshold.
    """
    return _rule_thresholds(json.dumps(quality_config or {}, sort_keys=True)).get(metric, [])


@functools.lru_cache(maxsize=8)
def _rule_thresholds(quality_config_json: str) -> dict[str, list[Threshold]]:
    from pydantic import ValidationError

    from transforms.quality import QualityConfig, quality_steps

    try:
        config = QualityConfig.model_validate(json.loads(quality_config_json))
    except ValidationError:
        return {}
    found: dict[str, list[Threshold]] = {}
    for step in quality_steps(config):
        for r in step.rules:
            if r.op in ("<", ">"):
                side = "min" if r.op == "<" else "max"
                found.setdefault(r.metric, []).append(Threshold(r.reason, float(r.threshold), side))
    return found


def _values(table: pa.Table | None, column: str) -> np.ndarray:
    if table is None or column not in table.column_names:
        return np.empty(0)
    arr = table.column(column).to_numpy(zero_copy_only=False).astype("float64")
    return arr[np.isfinite(arr)]


def rejected_values(rejects: pa.Table | None, metric: str, thresholds: list[Threshold]) -> np.ndarray:
    """Metric values of quality rejects whose reason names this metric or one of its threshold keys."""
    if rejects is None or rejects.num_rows == 0 or "value" not in rejects.column_names:
        return np.empty(0)
    name = metric.removeprefix("q_")
    keys = [t.key.split(".")[-1] for t in thresholds] + [name]
    reasons = [r for r in set(rejects.column("reason").to_pylist()) if r and any(k in r for k in keys)]
    if not reasons:
        return np.empty(0)
    mask = pc.is_in(rejects.column("reason"), pa.array(reasons))
    return _values(rejects.filter(mask), "value")


def histogram(
    metric: str, kept: np.ndarray, rejected: np.ndarray, thresholds: list[Threshold], bins: int = 30
) -> Histogram | None:
    """Bins over the bulk of the data (to the 99.5th percentile, thresholds included); the tail goes in the last bin."""
    both = np.concatenate([kept, rejected])
    if both.size == 0:
        return None
    lo, hi = float(both.min()), float(np.quantile(both, 0.995))
    for t in thresholds:
        if lo - (hi - lo) <= t.value <= hi + (hi - lo):
            lo, hi = min(lo, t.value), max(hi, t.value)
    log = lo >= 1 and hi / lo > 50
    if not log and 0 < lo < 0.25 * hi:
        lo = 0.0  # ratios and counts read better from zero
    if log:
        lo, hi = math.log10(lo), math.log10(hi)
    if hi <= lo:
        hi = lo + 1.0
    edges = np.linspace(lo, hi, bins + 1)

    def count(values: np.ndarray) -> np.ndarray:
        v = np.log10(np.maximum(values, 1e-12)) if log else values
        return np.histogram(np.clip(v, lo, hi), bins=edges)[0]

    scale = (lambda x: math.log10(x)) if log else (lambda x: x)
    shown = [Threshold(t.key, scale(t.value), t.side) for t in thresholds if t.value > 0 or not log]
    median = float(np.median(kept)) if kept.size else None
    return Histogram(metric, edges, count(kept), count(rejected), log, shown, int(kept.size), median)


def metric_histograms(
    stats: pa.Table | None, rejects: pa.Table | None, quality_config: Mapping | None
) -> list[Histogram]:
    """One histogram per ``q_`` metric, then document length in tokens and characters."""
    if stats is None:
        return []
    names = [c for c in stats.column_names if c.startswith("q_")] + ["num_tokens", "num_chars"]
    out = []
    for name in names:
        ts = thresholds_for(name, quality_config) if name.startswith("q_") else []
        rej = rejected_values(rejects, name, ts) if name.startswith("q_") else np.empty(0)
        h = histogram(name, _values(stats, name), rej, ts)
        if h is not None:
            out.append(h)
    return out


def funnel(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per stage in flow order: in, out, rejected and chars where the counts give them."""
    return [{"stage": s, **stage_counts(manifest, s)} for s in ordered_stages(manifest)]


def rejects_by_reason(manifest: Mapping[str, Any]) -> list[tuple[str, str, int]]:
    """(stage, reason, count), largest first, from the manifest's counts."""
    rows = [
        (stage, reason, int(n))
        for stage, reasons in ((manifest.get("counts") or {}).get("rejected") or {}).items()
        for reason, n in reasons.items()
    ]
    return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))


def duplicate_clusters(rejects: pa.Table | None, stage: str) -> Counter:
    """Cluster size -> number of clusters; a cluster is a survivor plus the rejects that name it."""
    if rejects is None or rejects.num_rows == 0 or "detail" not in rejects.column_names:
        return Counter()
    details = rejects.filter(pc.equal(rejects.column("stage"), stage)).column("detail").to_pylist()
    survivors = Counter(m.group(1).strip() for d in details if d and (m := _DUPLICATE_OF.search(d)))
    return Counter(1 + n for n in survivors.values())


def languages(stats: pa.Table | None) -> list[tuple[str, int]]:
    return language_counts([stats] if stats is not None else []).most_common()


def sample_rows(rejects: pa.Table, per_reason: int = 3) -> pa.Array:
    """Row numbers of the first few rejects of each (stage, reason), ascending."""
    index = pl.from_arrow(rejects.select(["stage", "reason"])).with_row_index("row")
    picked = index.group_by(["stage", "reason"], maintain_order=True).head(per_reason)["row"].sort()
    return picked.cast(pl.Int64).to_arrow()


def reject_samples(rejects: pa.Table | None, per_reason: int = 3) -> dict[tuple[str, str], list[dict]]:
    """The first few rejects of each (stage, reason), in file order."""
    if rejects is None or rejects.num_rows == 0:
        return {}
    samples: dict[tuple[str, str], list[dict]] = {}
    for row in rejects.take(sample_rows(rejects, per_reason)).to_pylist():
        samples.setdefault((row["stage"], row["reason"]), []).append(row)
    return samples
