"""Assemble the one Beam pipeline of a run: a key pass (for exact and near dedup) and the write pass.

Text never crosses a shuffle or a stage barrier: the key pass reads each unit once and shuffles only hashes and
signatures, producing removal rows that name the unit they were read in; the write pass groups each unit with
its own removal rows (one GroupByKey on the unit), streams it through the whole chain and writes its files
directly. A worker's memory is one unit's batches and that unit's removals, never a table of the corpus, on
the local runner as on a distributed one (DESIGN.md "Scale").
"""

from __future__ import annotations

import json
import logging
import math
import time

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from etl.flow import Tally, stream_unit
from etl.index import IndexWriter, earlier_hash_rows, earlier_signature_rows
from etl.plan import WorkUnit
from etl.progress import ProgressMeter
from etl.shard_writer import UnitWriter
from etl.sources import InputSpec
from etl.stages import RecordedQuality, build_chain, quality_stage, verdicts_path
from transforms.exact_dedup import REMOVAL_SCHEMA, ExactDuplicateIds
from transforms.quality.verdicts import record, recordable
from transforms.schema import text_bytes
from transforms.stage import RemovalFilter

log = logging.getLogger("corpus_etl")


def _unit_and_removals(grouped) -> tuple[WorkUnit, dict[str, pa.Table]]:
    """A unit's GroupByKey result -> the unit and its own removal rows per dedup stage."""
    _, tagged = grouped
    unit, parts = None, {"exact_dedup": [], "near_dedup": []}
    for tag, value in tagged:
        if tag == "unit":
            unit = value
        else:
            parts[tag].append(value)
    if unit is None:
        raise RuntimeError("removal rows name a work unit that the plan does not have")
    tables = {name: pa.Table.from_batches(b, REMOVAL_SCHEMA) for name, b in parts.items() if b}
    return unit, tables


def _by_unit(batch: pa.RecordBatch, tag: str):
    """(unit, (tag, rows)) for each unit that a removal batch names."""
    units = batch.column(batch.schema.get_field_index("unit")).to_numpy()
    for unit in np.unique(units).tolist():
        yield unit, (tag, batch.filter(pa.array(units == unit)))


def shuffle_bits(total_bytes: int) -> int:
    """Shards per dedup shuffle, as a power of two: 16 up to 4 GB of input, then one more per 256 MB, so a
    worker's share of signatures and edges stays about the same as the corpus grows (at most 4096)."""
    return min(12, max(4, math.ceil(math.log2(max(total_bytes, 1) / (256 << 20)))))


def input_spec(config) -> InputSpec:
    c = config.input
    return InputSpec(text_field=c.text_field, id_field=c.id_field, format=c.format, batch_rows=c.batch_rows)


class _KeyPass(beam.DoFn):
    """The one key pass: each unit read and normalized once, its documents handed to both dedup shuffles.

    Main output: normalized documents, for exact dedup. "near": the documents that pass quality, for the
    near-dedup sketches (near dedup leaves out exact duplicates itself, before it draws any edge). The quality
    verdicts of the unit are recorded in staging, so that the write pass replays them instead of judging
    every document again.
    """

    def __init__(self, config, staging: str, exact: bool, near: bool):
        self.config, self.staging, self.exact, self.near = config, staging, exact, near
        self._normalize = self._quality = None
        self._record = records_verdicts(config)

    def setup(self):
        self._normalize = build_chain(self.config, "normalize")
        if self.near and self.config.quality.enabled:
            self._quality = quality_stage(self.config.quality)
            self._quality.setup()

    def process(self, unit: WorkUnit):
        started = time.time()
        verdicts = []
        for kind, batch in stream_unit(unit, input_spec(self.config), self._normalize):
            if kind != "docs":
                continue
            batch = with_unit(batch, unit.index)
            if self.exact:
                yield batch
            if not self.near:
                continue
            if self._quality is not None:
                kept, rejects = self._quality.process(batch)
                if self._record:
                    verdicts.append(record(batch, kept, rejects))
                batch = kept
            if batch.num_rows:
                yield beam.pvalue.TaggedOutput("near", batch)
        if self._record and verdicts:  # a unit with no documents: the write pass asks for no verdicts
            _write_verdicts(verdicts_path(self.staging, unit.index), verdicts)
        log.info(
            "progress: key pass, unit %d read (%.1f MB) in %.1f s",
            unit.index, unit.bytes / 1e6, time.time() - started,
            extra={"fields": {"unit": unit.index, "pass": "keys", "input_bytes": unit.bytes}},
        )  # fmt: skip


def with_unit(batch: pa.RecordBatch, unit: int) -> pa.RecordBatch:
    """The batch with the unit it was read in, which every removal row carries back to its unit."""
    return batch.append_column("unit", pa.array(np.full(batch.num_rows, unit, np.int32)))


def records_verdicts(config) -> bool:
    """Whether the key pass judges quality (for near dedup) and the write pass may replay its verdicts."""
    return config.near_dedup.enabled and recordable(config.quality)


def _write_verdicts(path: str, batches: list[pa.RecordBatch]) -> None:
    import pyarrow.parquet as pq

    with fsspec.open(path, "wb") as fh:
        pq.write_table(pa.Table.from_batches(batches), fh, compression="zstd")


class _WriteUnit(beam.DoFn):
    """The write pass: a unit through the whole chain into shards, stats and rejects under staging."""

    def __init__(self, config, staging: str, total_bytes: int | None = None):
        self.config, self.staging, self.total_bytes = config, staging, total_bytes
        self._chain = None

    def setup(self):
        self._started = time.time()
        self._bytes_done = 0
        # ETA against the whole plan: exact with one worker, an upper bound with several.
        self._meter = ProgressMeter("write", total_bytes=self.total_bytes)

    def process(self, grouped):
        unit, removals = _unit_and_removals(grouped)
        if self._chain is None:
            recorded = self.staging if records_verdicts(self.config) else None
            self._chain = build_chain(self.config, "tokenize", recorded_quality=recorded)
            for stage in self._chain:
                stage.setup()
        for stage in self._chain:
            if isinstance(stage, RecordedQuality):
                stage.for_unit(unit.index)
            elif isinstance(stage, RemovalFilter):
                stage.use(removals.get(stage.name))
        tally = Tally()
        writer = UnitWriter(self.staging, unit.index, self.config.output)
        index = IndexWriter(self.staging, unit.index, self.config)
        for kind, batch in stream_unit(unit, input_spec(self.config), self._chain, tally):
            if kind == "docs":
                writer.add_docs(batch)
                index.add(batch)
                read = tally.stages["read"].chars_in
                self._meter.add(batch.num_rows, text_bytes(batch), done_bytes=self._bytes_done + read)
            else:
                writer.add_rejects(batch)
        outputs = writer.close()
        self._report_progress(unit, tally)
        result = {
            "unit": unit.index,
            "files": list(unit.files),
            "counts": tally.to_dict(),
            "shards": [vars(f) for f in outputs.shards],
            "stats": [vars(f) for f in outputs.stats],
            "rejects": [vars(f) for f in outputs.rejects],
            "index": index.close(),
        }
        with fsspec.open(unit_result_path(self.staging, unit.index), "w") as fh:
            json.dump(result, fh, sort_keys=True)
        yield unit.index

    def _report_progress(self, unit: WorkUnit, tally: Tally) -> None:
        """Beam counters per stage and reason, and one progress line per finished unit."""
        for stage, counts in tally.stages.items():
            Metrics.counter(f"stage.{stage}", "in").inc(counts.docs_in)
            Metrics.counter(f"stage.{stage}", "out").inc(counts.docs_out)
            for reason, n in counts.reasons.items():
                Metrics.counter(f"stage.{stage}", f"rejected.{reason}").inc(n)
        read = tally.stages.get("read")
        self._bytes_done += unit.bytes
        rate = self._bytes_done / 1e6 / max(time.time() - self._started, 1e-9)
        log.info(
            "progress: unit %d done (%d files, %d docs read, %.1f MB input); this worker %.2f MB/s",
            unit.index, len(unit.files), read.docs_in if read else 0, unit.bytes / 1e6, rate,
            extra={"fields": {"unit": unit.index, "docs": read.docs_in if read else 0, "input_bytes": unit.bytes}},
        )  # fmt: skip


def unit_result_path(staging: str, unit: int) -> str:
    return f"{staging}/units/u{unit:05d}.json"


def near_removals(table: pa.RecordBatch, earlier: list[str] = ()) -> pa.RecordBatch:
    """The near-dedup stage's removal rows (key, doc_id, survivor, similarity, unit, parent) in the pipeline's
    shape; a survivor kept by an earlier run (parent >= 0, `earlier`: their URLs) names that run."""
    n = table.num_rows
    parent = table.column(table.schema.get_field_index("parent")).to_numpy()
    survivor = table.column(table.schema.get_field_index("survivor")).to_pylist()
    reasons = ["near_duplicate" if p < 0 else "near_duplicate_of_earlier" for p in parent.tolist()]
    details = [
        f"duplicate of {s}" if p < 0 else f"duplicate of {s} in {earlier[p]}"
        for s, p in zip(survivor, parent.tolist(), strict=True)
    ]
    return pa.RecordBatch.from_arrays(
        [
            table.column(table.schema.get_field_index("key")).cast(pa.uint64()),
            table.column(table.schema.get_field_index("doc_id")).cast(pa.string()),
            pa.array(["near_dedup"] * n, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(details, pa.string()),
            table.column(table.schema.get_field_index("similarity")).cast(pa.float64()),
            table.column(table.schema.get_field_index("unit")).cast(pa.int32()),
        ],
        schema=REMOVAL_SCHEMA,
    )


def _near_duplicate_ids(docs, config, exclude, bits: int, earlier=None, urls: list[str] = ()):
    from transforms.near_dedup import NearDuplicateIds

    return (
        docs
        | "NearDuplicateIds"
        >> NearDuplicateIds(config.near_dedup, exclude=exclude, bits=bits, earlier=earlier)
        | "AsRemovals" >> beam.Map(near_removals, list(urls))
        | "NonEmptyNear" >> beam.Filter(lambda b: b.num_rows > 0)
    )


def _units(p: beam.Pipeline, units: list[WorkUnit], label: str):
    """Each pass reads its own copy of the unit list: the local runner left bundles unscheduled when one
    reshuffled unit PCollection fed several passes that also waited on each other's side inputs."""
    return p | f"Units{label}" >> beam.Create(units, reshuffle=True)


def _earlier(p: beam.Pipeline, parents, kind: str, read):
    """The earlier runs' index rows of one kind, each file read by one worker; None without parents."""
    files = [(parent.index, url) for parent in parents for url in parent.index_files(kind)]
    if not files:
        return None
    return (
        p
        | f"EarlierIndex_{kind}" >> beam.Create(files, reshuffle=True)
        | f"Read_{kind}" >> beam.FlatMap(read)
    )


def build_pipeline(p: beam.Pipeline, units: list[WorkUnit], config, staging: str, parents=()) -> None:
    total = sum(u.bytes for u in units)
    bits = shuffle_bits(total)
    tagged = [_units(p, units, "ForWrite") | "KeyUnits" >> beam.Map(lambda u: (u.index, ("unit", u)))]
    want_exact, want_near = config.exact_dedup.enabled, config.near_dedup.enabled
    if want_exact or want_near:
        docs = _units(p, units, "ForKeys") | "ReadForKeys" >> beam.ParDo(
            _KeyPass(config, staging, want_exact, want_near)
        ).with_outputs("near", main="exact")
        exact, urls = None, [parent.url for parent in parents]
        if want_exact:
            earlier = _earlier(p, parents, "exact", earlier_hash_rows)
            exact = docs.exact | "ExactDuplicateIds" >> ExactDuplicateIds(1 << (bits + 2), earlier, urls)
            tagged.append(exact | "ExactByUnit" >> beam.FlatMap(_by_unit, "exact_dedup"))
        if want_near:
            earlier = _earlier(p, parents, "minhash", earlier_signature_rows)
            near = _near_duplicate_ids(docs.near, config, exact, bits, earlier, urls)
            tagged.append(near | "NearByUnit" >> beam.FlatMap(_by_unit, "near_dedup"))
    _ = (
        tagged
        | "UnitsWithRemovals" >> beam.Flatten()
        | "GroupByUnit" >> beam.GroupByKey()
        | "WriteUnits" >> beam.ParDo(_WriteUnit(config, staging, total))
    )
