"""A run's quality signals and the retention curves drawn from them (`corpus-etl profile`, the report).

Signals (`OUT/signals/*.parquet`, listed in the manifest) hold one row per document that reached the quality
stage, kept or rejected, with every `q_*` metric. A rule's retention curve is the share of documents, and of
tokens, that the rule alone keeps as its threshold moves over the metric's observed values. Token counts are
exact for the documents in the stats (kept) and estimated for the others from their bytes, at the kept
documents' tokens per byte: every figure built on them says "estimated".
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.dataset as pads

from etl.config import Config, ConfigError, config_from
from transforms.quality.params import FAMILY_ORDER, QualityConfig
from transforms.quality.rules import Rule
from transforms.quality.stage import quality_steps

CURVE_POINTS = 50  # thresholds per curve, at quantiles of the observed values (plus the configured one)


@dataclass(frozen=True)
class RunSignals:
    """The signals of one run: its rows plus `tokens` (Float64) and `tokens_estimated`, and its config."""

    table: pl.DataFrame
    config: Config
    tokens_per_byte: float | None  # of the documents whose token count the stats hold

    @property
    def mode(self) -> str:
        return self.config.quality.mode

    @property
    def estimated(self) -> int:
        """Documents whose token count is estimated from their bytes."""
        return int(self.table["tokens_estimated"].sum())


def run_config(manifest: dict, where: str = "manifest.json") -> Config:
    """The run's resolved config, as the manifest records it."""
    try:
        return config_from(manifest.get("config") or {}, where=f"{where} config")
    except ConfigError as err:
        raise ValueError(f"{err}; this version cannot read the run's config") from None


def _read(fs, paths: list[str], columns: list[str] | None = None) -> pl.DataFrame | None:
    if not paths:
        return None
    ds = pads.dataset(paths, filesystem=fs, format="parquet")
    tables = [f.to_table(columns=columns) for f in ds.get_fragments()]
    return pl.from_arrow(pa.concat_tables(tables, promote_options="default"))


def read_signal_files(fs, paths: list[str], stats: pl.DataFrame | None, config: Config) -> RunSignals:
    """Signal files (paths on `fs`) with token counts joined from `stats` (doc_id, num_tokens)."""
    table, per_byte = with_tokens(_read(fs, paths), stats)
    return RunSignals(table, config, per_byte)


def read_signals(fs, root: str, manifest: dict, where: str = "manifest.json") -> RunSignals | None:
    """The signals the manifest lists (None when it lists none), with token counts joined from its stats."""
    entries = manifest.get("signals") or []
    if not entries:
        return None
    stats = _read(fs, [f"{root}/{e['path']}" for e in manifest.get("stats") or []], ["doc_id", "num_tokens"])
    paths = [f"{root}/{e['path']}" for e in entries]
    return read_signal_files(fs, paths, stats, run_config(manifest, where))


def with_tokens(signals: pl.DataFrame, stats: pl.DataFrame | None) -> tuple[pl.DataFrame, float | None]:
    """The signals with `tokens`: the stats' num_tokens where a doc_id names one row on both sides, else
    num_bytes × the tokens per byte of those documents (`tokens_estimated`); and that ratio."""
    known = pl.DataFrame(schema={"doc_id": pl.String, "num_tokens": pl.Int64})
    if stats is not None and stats.height:
        known = (
            stats.select("doc_id", pl.col("num_tokens").cast(pl.Int64))
            .filter(pl.col("doc_id").is_unique())
            .join(signals.filter(pl.col("doc_id").is_unique()).select("doc_id"), on="doc_id")
        )
    table = signals.join(known, on="doc_id", how="left", maintain_order="left")
    exact = table.filter(pl.col("num_tokens").is_not_null())
    n_bytes = int(exact["num_bytes"].sum() or 0)
    per_byte = int(exact["num_tokens"].sum() or 0) / n_bytes if n_bytes else None
    estimate = pl.col("num_bytes").cast(pl.Float64) * per_byte if per_byte is not None else pl.lit(None)
    table = table.with_columns(
        tokens=pl.coalesce(pl.col("num_tokens").cast(pl.Float64), estimate).cast(pl.Float64),
        tokens_estimated=pl.col("num_tokens").is_null(),
    ).drop("num_tokens")
    return table, per_byte


def config_rules(quality: QualityConfig) -> list[Rule]:
    """A config's quality rules in the order they decide (building the steps loads no model)."""
    return [r for step in quality_steps(quality) for r in step.rules]


def rule_keys(quality: QualityConfig) -> dict[Rule, str]:
    """The config key behind each rule's threshold, found by switching each key off in turn (a number to
    null, a switch to false) and seeing which rules go: the rules are the one place that ties a key to a
    metric. A rule with a fixed threshold (`*.empty`) has no key; a classifier's is named by its name."""
    rules = set(config_rules(quality))
    keys: dict[Rule, str] = {}
    variants = [("quality.languages", quality.model_copy(update={"languages": []}))]
    for family in FAMILY_ORDER:
        params = getattr(quality, family)
        for name, value in params:
            if name == "enabled" or value is False or not isinstance(value, int | float):
                continue
            changed = params.model_copy(update={name: False if value is True else None})
            variants.append((f"quality.{family}.{name}", quality.model_copy(update={family: changed})))
    for i, params in enumerate(quality.classifiers):
        if params.threshold is not None:
            off = [*quality.classifiers]
            off[i] = params.model_copy(update={"threshold": None})
            variants.append(
                (
                    f"quality.classifiers.{params.name}.threshold",
                    quality.model_copy(update={"classifiers": off}),
                )
            )
    for key, variant in variants:
        for r in rules - set(config_rules(variant)):
            keys.setdefault(r, key)
    return keys


@dataclass(frozen=True)
class CurvePoint:
    threshold: float
    docs: float  # share of the documents (with the metric computed) the rule alone keeps
    tokens: float | None  # share of their tokens (estimated where the stats hold no count)


@dataclass(frozen=True)
class RuleCurve:
    rule: Rule
    key: str | None  # the config key of its threshold
    documents: int  # documents whose metric was computed
    points: tuple[CurvePoint, ...]  # ascending thresholds, the configured one among them; () for labels
    configured: CurvePoint | None  # at the configured threshold; None when no document has the metric

    @property
    def name(self) -> str:
        """The rule as people read it: reason, comparison, metric."""
        return f"{self.rule.reason} ({self.rule.metric.removeprefix('q_')} {self.rule.op})"

    @property
    def condition(self) -> str:
        """What the rule rejects: `word_count < 50`, `lang not in [en]`."""
        r = self.rule
        threshold = f"[{', '.join(r.threshold)}]" if r.op == "not in" else f"{r.threshold:g}"
        return f"{r.metric.removeprefix('q_')} {r.op} {threshold}"


def _kept_shares(table: pl.DataFrame, rules: list[Rule]) -> list[CurvePoint]:
    """For each rule (one metric, several thresholds): the shares of documents and tokens it keeps."""
    total_tokens = table["tokens"].sum() if table["tokens"].null_count() < table.height else None
    exprs = []
    for i, r in enumerate(rules):
        keep = ~r.fails().fill_null(False)
        exprs += [keep.sum().alias(f"d{i}"), pl.col("tokens").filter(keep).sum().alias(f"t{i}")]
    row = table.select(exprs).row(0)
    n = max(table.height, 1)
    return [
        CurvePoint(
            float(r.threshold) if r.op != "not in" else float("nan"),
            row[2 * i] / n,
            row[2 * i + 1] / total_tokens if total_tokens else None,
        )
        for i, r in enumerate(rules)
    ]


def retention_curve(signals: pl.DataFrame, rule: Rule, key: str | None = None, points: int = CURVE_POINTS):
    """The rule alone, its threshold moved over `points` quantiles of the metric's observed (finite) values
    and the configured threshold, among the documents whose metric is not null. A rule on labels (`not in`)
    has no threshold to move: only its configured share."""
    table = signals.filter(pl.col(rule.metric).is_not_null())
    if table.height == 0:
        return RuleCurve(rule, key, 0, (), None)
    if rule.op == "not in":
        return RuleCurve(rule, key, table.height, (), _kept_shares(table, [rule])[0])
    values = table[rule.metric].cast(pl.Float64)
    finite = values.filter(values.is_finite()).to_numpy()
    observed = np.quantile(finite, np.linspace(0, 1, points), method="lower") if len(finite) else []
    thresholds = sorted({float(t) for t in observed} | {float(rule.threshold)})
    moved = [dataclasses.replace(rule, threshold=t) for t in thresholds]
    curve = _kept_shares(table, moved)
    configured = curve[thresholds.index(float(rule.threshold))]
    return RuleCurve(rule, key, table.height, tuple(curve), configured)


def curves(signals: RunSignals, quality: QualityConfig | None = None) -> list[RuleCurve]:
    """Every rule of the config (the run's by default) with its retention curve, in the order rules decide."""
    quality = quality or signals.config.quality
    keys = rule_keys(quality)
    present = [r for r in config_rules(quality) if r.metric in signals.table.columns]
    return [retention_curve(signals.table, r, keys.get(r)) for r in present]


def nearest(signals: pl.DataFrame, rule: Rule, per_side: int = 2) -> pl.DataFrame:
    """The documents nearest the configured threshold on each side: `per_side` the rule alone rejects and
    `per_side` it keeps (columns doc_id, value, rejected), rejected first, nearest first."""
    empty = pl.DataFrame(schema={"doc_id": pl.String, "value": pl.Float64, "rejected": pl.Boolean})
    if rule.op == "not in":
        return empty
    value = pl.col(rule.metric).cast(pl.Float64)
    table = signals.filter(value.is_not_null() & value.is_finite())
    if table.height == 0:
        return empty
    table = table.select(
        "doc_id", value.alias("value"), rule.fails().fill_null(False).alias("rejected"),
        distance=(value - float(rule.threshold)).abs(),
    )  # fmt: skip
    sides = [
        table.filter(pl.col("rejected") == side).sort("distance", "doc_id").head(per_side)
        for side in (True, False)
    ]
    return pl.concat(sides).drop("distance")
