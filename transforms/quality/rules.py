"""Rules as data: a metric column, a comparison that rejects, a threshold; and the judge that applies them.

A family is an ordered list of steps; a step computes some metric columns for the documents still in play
and names the rules on them. Documents failing a step leave before the next one computes anything, as in
datatrove, where a filter returns at its first failing test; the reason is the first failing rule in order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from transforms.quality.text_tables import DocText


@dataclass(frozen=True)
class Rule:
    """Reject a document when `metric op threshold` holds (`<`, `>`, or `not in` a set of labels)."""

    reason: str
    metric: str
    op: Literal["<", ">", "not in"]
    threshold: float | tuple[str, ...]
    # A metric of exactly 0 passes (FineWeb's line_punct_exclude_zero).
    zero_passes: bool = False

    def fails(self) -> pl.Expr:
        col = pl.col(self.metric)
        if self.zero_passes:
            return (col != 0) & Rule(self.reason, self.metric, self.op, self.threshold).fails()
        if self.op == "<":
            return col < self.threshold
        if self.op == ">":
            return col > self.threshold
        return ~col.is_in(list(self.threshold))

    def detail(self, is_float: bool) -> pl.Expr:
        """`<metric>=<value> <op> <threshold>`, the metric without its q_ prefix, floats to 4 decimals."""
        name = self.metric.removeprefix("q_")
        col = pl.col(self.metric)
        if self.op == "not in":
            return pl.format(f"{name}={{}} not in {sorted(self.threshold)}", col)
        shown = col.round(4) if is_float else col
        return pl.format(f"{name}={{}} {self.op} {self.threshold:g}", shown)

    def value(self) -> pl.Expr:
        if self.op == "not in":
            return pl.lit(None, pl.Float64)
        return pl.col(self.metric).cast(pl.Float64)


def rule(
    reason: str, metric: str, op: Literal["<", ">"], threshold: float | None, zero_passes: bool = False
) -> list[Rule]:
    """A rule when its threshold is set; a null threshold switches the one rule off."""
    return [] if threshold is None else [Rule(reason, metric, op, threshold, zero_passes)]


@dataclass
class StepOutput:
    metrics: pl.DataFrame
    # Set by a step that edits text (C4 line removal): every document's new text. The step's metrics say
    # how much it changed (q_c4_removed_lines), and the stage counts the edits.
    text: pl.Series | None = None


@dataclass(frozen=True)
class Step:
    compute: Callable[[DocText], StepOutput]
    rules: tuple[Rule, ...] = field(default=())


def judge(metrics: pl.DataFrame, rules: Sequence[Rule]) -> pl.DataFrame:
    """Columns reason, detail, value per document: the first failing rule, null where all pass."""
    if not rules or metrics.height == 0:
        return pl.DataFrame(
            {"reason": [None] * metrics.height, "detail": [None] * metrics.height},
            schema={"reason": pl.String, "detail": pl.String},
        ).with_columns(value=pl.lit(None, pl.Float64))
    reason = detail = value = None
    for r in rules:
        is_float = metrics.schema[r.metric].is_float()
        cond = r.fails().fill_null(False)
        if reason is None:
            reason = pl.when(cond).then(pl.lit(r.reason))
            detail = pl.when(cond).then(r.detail(is_float))
            value = pl.when(cond).then(r.value())
        else:
            reason = reason.when(cond).then(pl.lit(r.reason))
            detail = detail.when(cond).then(r.detail(is_float))
            value = value.when(cond).then(r.value())
    return metrics.select(
        reason=reason.otherwise(pl.lit(None, pl.String)),
        detail=detail.otherwise(pl.lit(None, pl.String)),
        value=value.otherwise(pl.lit(None, pl.Float64)),
    )


def all_metrics(docs: DocText, steps: Sequence[Step]) -> pl.DataFrame:
    """Every step's metrics for every document, without leaving early (for tests, reports, analysis)."""
    frames = [step.compute(docs).metrics for step in steps]
    return pl.concat(frames, how="horizontal") if frames else pl.DataFrame()
