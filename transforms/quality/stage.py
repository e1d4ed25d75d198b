"""The quality stage: rule families in a fixed order over a record batch, and its thin Beam wrapper.

Order: language, gopher_repetition, gopher_quality, c4, fineweb (params.FAMILY_ORDER), and within a family the
order of its rules. A document leaves at the first rule it fails, into rejects with that rule's name as
reason, `<metric>=<value> <op> <threshold>` as detail and the metric as value; later rules never look at it.
Kept documents carry every metric as a `q_*` column and `lang`. Text is changed only by c4.remove_lines and
pii (both off by default), and both are counted: per document in q_c4_removed_lines / q_pii_*, per run in
the `quality` Beam counters (kept, rejected.<reason>, edited.<what>).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import apache_beam as beam
import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from transforms.quality.c4 import c4_steps
from transforms.quality.classifiers import classifier_steps
from transforms.quality.fineweb import fineweb_steps
from transforms.quality.gopher_quality import gopher_quality_steps
from transforms.quality.gopher_repetition import gopher_repetition_steps
from transforms.quality.language import language_steps
from transforms.quality.params import FAMILY_ORDER, QualityConfig
from transforms.quality.pii import PII_TYPES, pii_counts, redact, redact_pii
from transforms.quality.rules import Step, judge
from transforms.quality.text_tables import DocText
from transforms.rejects import rejects_from_docs
from transforms.schema import REJECT_SCHEMA, byte_slices

STAGE = "quality"


def quality_steps(config: QualityConfig) -> list[Step]:
    """Every enabled family's steps, in FAMILY_ORDER, then the classifiers'."""
    if not config.enabled:
        return []
    builders = {
        "language": lambda: language_steps(config.language, config.languages),
        "gopher_repetition": lambda: gopher_repetition_steps(config.gopher_repetition),
        "gopher_quality": lambda: gopher_quality_steps(config.gopher_quality),
        "c4": lambda: c4_steps(config.c4),
        "fineweb": lambda: fineweb_steps(config.fineweb),
    }
    steps = [s for family in FAMILY_ORDER if getattr(config, family).enabled for s in builders[family]()]
    return steps + classifier_steps(config.classifiers)  # the costliest last: they see only what is left


# A batch is judged in slices of about this much text. The rules' tables (lines, word tokens, n-gram hashes)
# take 35 to 40 times the text they are built from, so one 4,096-document batch of long pages took GBs; a 4 MB
# slice peaks near 150 MB, and slices of 2 to 8 MB run as fast as whole batches or faster (docs/benchmarks.md).
# Every metric is a function of its document alone, so slicing changes no output.
SLICE_BYTES = 4 << 20

# The columns a signals row starts with; the stage's metric columns follow in the order kept documents get them.
SIGNAL_KEYS = ("doc_id", "source", "line", "reason", "num_bytes")


@dataclass
class FilterResult:
    kept: pa.RecordBatch
    rejects: pa.RecordBatch
    # Rejected documents per reason.
    rejected: dict[str, int] = field(default_factory=dict)
    # Text edits: c4_edited_docs, c4_removed_lines (with c4.remove_lines), pii_emails, pii_ips (with pii).
    edits: dict[str, int] = field(default_factory=dict)
    # With signals on: one row per input document, kept or rejected (SIGNAL_KEYS, then every metric).
    signals: pa.RecordBatch | None = None

    @staticmethod
    def concat(parts: list[FilterResult]) -> FilterResult:
        """The results of consecutive slices of one batch as the result of the whole batch."""
        if len(parts) == 1:
            return parts[0]
        rejected: Counter = Counter()
        edits: Counter = Counter()
        for part in parts:
            rejected.update(part.rejected)
            edits.update(part.edits)
        signals = [p.signals for p in parts if p.signals is not None]
        return FilterResult(
            pa.concat_batches([p.kept for p in parts]),
            pa.concat_batches([p.rejects for p in parts]),
            dict(rejected),
            dict(edits),
            pa.concat_batches(signals) if signals else None,
        )


class BatchQualityFilter:
    """The whole stage on one batch, as a pure function of (config, batch); build once, call per batch."""

    def __init__(self, config: QualityConfig, slice_bytes: int = SLICE_BYTES):
        self.config = config
        self.steps = quality_steps(config)
        self.annotate = config.mode == "annotate"
        self.signals = config.writes_signals()
        self.slice_bytes = slice_bytes

    def __call__(self, batch: pa.RecordBatch) -> FilterResult:
        return FilterResult.concat([self._judge(part) for part in byte_slices(batch, self.slice_bytes)])

    def _judge(self, batch: pa.RecordBatch) -> FilterResult:
        rows = np.arange(batch.num_rows)  # the batch row of each document in `docs`
        alive = np.ones(batch.num_rows, dtype=bool)  # documents in `docs` not rejected yet
        # Annotate mode: the documents whose first failing rule is already known.
        decided = np.zeros(batch.num_rows, dtype=bool)
        docs = DocText.of(batch)
        # Per step: the rows it computed, which of them were still in play (signals only), its metrics.
        metrics: list[tuple[np.ndarray, np.ndarray | None, pl.DataFrame]] = []
        failed: list[tuple[np.ndarray, pl.DataFrame]] = []
        edited = False
        for step in self.steps:
            if not alive.any():  # still run, on nothing: kept batches keep one schema
                docs, rows, alive = DocText.of([]), rows[:0], alive[:0]
            out = step.compute(docs)
            verdict = judge(out.metrics, step.rules)
            fail = verdict["reason"].is_not_null().to_numpy() & alive
            metrics.append((rows, alive.copy() if self.signals else None, out.metrics))
            if self.annotate:  # every document stays; only its first failing rule is remembered
                fail &= ~decided[rows]
                decided[rows[fail]] = True
            if fail.any():
                failed.append((rows[fail], verdict.filter(pl.Series(fail))))
                if not self.annotate:
                    alive &= ~fail
            if out.text is not None:
                docs, edited = DocText(out.text), True
            # Rejected documents ride along until they are a quarter of the tables: dropping them costs a
            # pass over every token, more than the cheaper steps spend on them.
            if len(alive) and alive.mean() < 0.75:
                docs, rows, alive = docs.subset(alive), rows[alive], np.ones(int(alive.sum()), dtype=bool)
        final = docs.subset(alive) if edited else None
        return self._result(batch, rows[alive], final, metrics, failed)

    def _result(self, batch, rows, edited: DocText | None, metrics, failed) -> FilterResult:
        kept_metrics = [frame[np.searchsorted(step_rows, rows)] for step_rows, _, frame in metrics]
        columns = (
            pl.concat(kept_metrics, how="horizontal") if kept_metrics else pl.DataFrame(height=len(rows))
        )
        if "lang" not in columns.columns:
            columns = columns.with_columns(lang=pl.repeat(None, len(rows), dtype=pl.String))
        text = edited.text if edited is not None else None
        edits: dict[str, int] = {}
        if edited is not None:
            removed = columns["q_c4_removed_lines"]
            edits["c4_edited_docs"] = int((removed > 0).sum())
            edits["c4_removed_lines"] = int(removed.sum())
        found_pii = []
        if self.config.enabled and self.config.pii.enabled:
            source = text if text is not None else pl.Series("text", batch.column("text").take(rows))
            text, found = redact_pii(source.cast(pl.String), self.config.pii)
            found_pii.append(found)
            edits["pii_emails"] = int(found["q_pii_emails"].sum())
            edits["pii_ips"] = int(found["q_pii_ips"].sum())
        if self.config.enabled:
            text, found, redacted = _other_pii(text, batch, rows, self.config.pii)
            if found is not None:
                found_pii.append(found)
                edits.update(redacted)
        if found_pii:
            columns = pl.concat([columns, *found_pii], how="horizontal")
        kept = _with_columns(batch.take(pa.array(rows, pa.int64())), columns, text)
        rejects = _rejects(batch, [] if self.annotate else failed)
        by_reason = pl.Series(rejects.column("reason")).value_counts().iter_rows()
        signals = _signals(batch, rows, metrics, failed, found_pii) if self.signals else None
        return FilterResult(kept, rejects, {reason: int(n) for reason, n in by_reason}, edits, signals)


def _arrow_columns(frame: pl.DataFrame) -> list[tuple[str, pa.Array]]:
    """A metric frame as the Arrow columns kept documents carry (strings as `string`, one chunk each)."""
    table = frame.to_arrow()
    out = []
    for name in frame.columns:
        column = table.column(name).combine_chunks()
        is_text = pa.types.is_large_string(column.type) or pa.types.is_string_view(column.type)
        out.append((name, column.cast(pa.string()) if is_text else column))
    return out


def _placed(values: pa.Array, at: np.ndarray, n: int) -> pa.Array:
    """An n-row column with values[i] at row at[i] and null everywhere else."""
    position = np.full(n, -1, dtype=np.int64)
    position[at] = np.arange(len(at))
    return values.take(pa.array(position, mask=position < 0))


def _signals(batch, kept_rows, metrics, failed, found_pii) -> pa.RecordBatch:
    """One row per document of `batch`: its key columns, the reason its first failing rule gives (null: it
    passes), its text bytes, and every metric computed while it was still in play (null after it failed)."""
    n = batch.num_rows
    names = list(SIGNAL_KEYS)
    arrays = [batch.column(batch.schema.get_field_index(c)) for c in ("doc_id", "source", "line")]
    if failed:
        reasons = pa.concat_arrays([v["reason"].to_arrow().cast(pa.string()) for _, v in failed])
        arrays.append(_placed(reasons, np.concatenate([r for r, _ in failed]), n))
    else:
        arrays.append(pa.nulls(n, pa.string()))
    arrays.append(pc.binary_length(batch.column(batch.schema.get_field_index("text"))).cast(pa.int64()))
    for step_rows, in_play, frame in metrics:
        for name, column in _arrow_columns(frame.filter(pl.Series(in_play))):
            names.append(name)
            arrays.append(_placed(column, step_rows[in_play], n))
    if "lang" not in names:
        names.append("lang")
        arrays.append(pa.nulls(n, pa.string()))
    for frame in found_pii:  # counted in the documents that passed every rule
        for name, column in _arrow_columns(frame):
            names.append(name)
            arrays.append(_placed(column, kept_rows, n))
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _other_pii(text: pl.Series | None, batch: pa.RecordBatch, rows: np.ndarray, params) -> tuple:
    """(text, q_pii_<kind> count columns, replacements per kind) for the kinds beyond e-mail and IPv4: the
    redacted kinds counted by their replacements, the others found in the text that is left."""
    redacting, detecting = params.redact.on(), params.detect.on()
    if not redacting and not detecting:
        return text, None, {}
    source = text if text is not None else pl.Series("text", batch.column("text").take(rows))
    counts: dict[str, np.ndarray] = {}
    if redacting:
        new, counts = redact(source.cast(pl.String), redacting)
        source = text = pl.Series("text", new, dtype=pl.String)
    others = [kind for kind in detecting if kind not in counts]
    if others:
        counts.update(pii_counts(source.cast(pl.String), others))
    order = [kind for kind in PII_TYPES if kind in counts]
    found = pl.DataFrame({f"q_pii_{kind}": counts[kind].astype(np.int32) for kind in order}, height=len(rows))
    return text, found, {f"pii_{kind}": int(counts[kind].sum()) for kind in redacting}


def _with_columns(docs: pa.RecordBatch, columns: pl.DataFrame, text: pl.Series | None) -> pa.RecordBatch:
    """docs with the metric columns appended (replacing any of the same name) and, if given, a new text."""
    names = [n for n in docs.schema.names if n not in columns.columns]
    arrays = [docs.column(docs.schema.get_field_index(n)) for n in names]
    if text is not None:
        arrays[names.index("text")] = text.to_arrow().cast(pa.large_string())
    for name, column in _arrow_columns(columns):
        names.append(name)
        arrays.append(column)
    return pa.RecordBatch.from_arrays(arrays, names=names)


def _rejects(batch: pa.RecordBatch, rejected: list[tuple[np.ndarray, pl.DataFrame]]) -> pa.RecordBatch:
    if not rejected:
        return pa.RecordBatch.from_pylist([], REJECT_SCHEMA)
    rows = np.concatenate([r for r, _ in rejected])
    verdict = pl.concat([v for _, v in rejected])
    order = np.argsort(rows, kind="stable")
    verdict = verdict[order]
    return rejects_from_docs(
        batch.take(pa.array(rows[order], pa.int64())),
        STAGE,
        reason=verdict["reason"].to_arrow().cast(pa.string()),
        detail=verdict["detail"].to_arrow().cast(pa.string()),
        value=verdict["value"].to_arrow(),
    )


def filter_batch(batch: pa.RecordBatch, config: QualityConfig) -> FilterResult:
    """One-off convenience; a pipeline builds BatchQualityFilter once per worker instead."""
    return BatchQualityFilter(config)(batch)


class _FilterBatches(beam.DoFn):
    def __init__(self, config: QualityConfig):
        self.config = config

    def setup(self):
        self.filter = BatchQualityFilter(self.config)  # loads the language model and bad-words list once

    def process(self, batch: pa.RecordBatch):
        result = self.filter(batch)
        beam.metrics.Metrics.counter(STAGE, "kept").inc(result.kept.num_rows)
        for reason, n in result.rejected.items():
            beam.metrics.Metrics.counter(STAGE, f"rejected.{reason}").inc(n)
        for name, n in result.edits.items():
            beam.metrics.Metrics.counter(STAGE, f"edited.{name}").inc(n)
        if result.kept.num_rows:
            yield result.kept
        if result.rejects.num_rows:
            yield beam.pvalue.TaggedOutput("rejects", result.rejects)


class QualityFilter(beam.PTransform):
    """Batches of documents -> {"kept": batches with q_* metrics and lang, "rejects": REJECT_SCHEMA batches}."""

    def __init__(self, config: QualityConfig):
        super().__init__()
        self.config = config

    def expand(self, batches):
        out = batches | "Judge" >> beam.ParDo(_FilterBatches(self.config)).with_outputs(
            "rejects", main="kept"
        )
        return {"kept": out.kept, "rejects": out.rejects}
