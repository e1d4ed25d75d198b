"""Assemble the one Beam pipeline of a run: a key pass (for exact and near dedup) and the write pass.

Text never crosses a shuffle or a stage barrier: the key pass reads each unit once and shuffles only hashes and
signatures, producing removal rows that name the unit they were read in; the write pass groups each unit with
its own removal rows (one GroupByKey on the unit), streams it through the whole chain and writes its files
directly. A worker's memory is one unit's batches and that unit's removals, never a table of the corpus, on
the local runner as on a distributed one (DESIGN.md "Scale").
"""

from __future__ import annotations

import logging
import math
import time

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from etl.ingest.units import WorkUnit
from etl.local_runner.pool import PooledDoFn
from etl.local_runner.spilled import BufferedSpill
from etl.run.progress import ProgressMeter
from etl.run.unit_work import KeyJob, WriteJob, key_unit, write_unit
from etl.store.index import earlier_hash_rows, earlier_signature_rows
from transforms.exact_dedup import REMOVAL_SCHEMA, ExactDuplicateIds

log = logging.getLogger("corpus_etl")


def _unit_and_removals(grouped) -> tuple[WorkUnit, list]:
    """A unit's GroupByKey result -> the unit and its removal rows, (dedup stage, batch or spilled file)
    items, which the unit's worker reads (etl/unit_work.removal_tables)."""
    _, tagged = grouped
    unit, removals = None, []
    for tag, value in tagged:
        if tag == "unit":
            unit = value
        else:
            removals.append((tag, value))
    if unit is None:
        raise RuntimeError("removal rows name a work unit that the plan does not have")
    return unit, removals


def _by_unit(batch: pa.RecordBatch, tag: str):
    """(unit, (tag, rows)) for each unit that a removal batch names."""
    units = batch.column(batch.schema.get_field_index("unit")).to_numpy()
    for unit in np.unique(units).tolist():
        yield unit, (tag, batch.filter(pa.array(units == unit)))


def shuffle_bits(total_bytes: int) -> int:
    """Shards per dedup shuffle, as a power of two: about one per 64 MB of input and at least 16, so that a
    worker's share of signatures and edges (one shard's group) stays about the same as the corpus grows
    (at most 4096)."""
    return min(12, max(4, math.ceil(math.log2(max(total_bytes, 1) / (64 << 20)))))


class _KeyPass(PooledDoFn):
    """The one key pass: each unit read and normalized once, and only what the dedup shuffles need leaves it.

    Main output: exact dedup's hash rows. "payloads", "nodes", "buckets": near dedup's sketches of the
    documents that pass quality (near dedup leaves out exact duplicates itself, before it draws any edge).
    The unit's quality verdicts and signatures are left in staging for the write pass (etl/run/unit_work.py).
    """

    def __init__(self, job: KeyJob, processes: int, total_bytes: int | None = None):
        super().__init__(processes)
        self.job, self.total_bytes = job, total_bytes

    def setup(self):
        super().setup()
        self._sketched = Metrics.counter("near_dedup", "docs_in")
        self._bytes_done = 0
        self._meter = ProgressMeter("read", total_bytes=self.total_bytes)  # a line every 30 s, or the bar

    def call(self, unit: WorkUnit) -> tuple:
        return key_unit, self.job, unit

    def emit(self, done):
        self._sketched.inc(done["docs_in"])
        for tag, value in done["outputs"]:
            yield value if tag == "exact" else beam.pvalue.TaggedOutput(tag, value)
        self._bytes_done += done["input_bytes"]
        self._meter.add(done["docs_read"], done["text_bytes"], done_bytes=self._bytes_done)
        log.debug(
            "progress: key pass, unit %d read (%.1f MB) in %.1f s",
            done["unit"], done["input_bytes"] / 1e6, done["seconds"],
            extra={"fields": {"unit": done["unit"], "pass": "keys", "input_bytes": done["input_bytes"]}},
        )  # fmt: skip


class _WriteUnit(PooledDoFn):
    """The write pass: a unit with its own removal rows through the whole chain into shards, stats and
    rejects under staging (etl/run/unit_work.py); the driver's share is the counters and the progress line."""

    def __init__(self, job: WriteJob, processes: int, total_bytes: int | None = None):
        super().__init__(processes)
        self.job, self.total_bytes = job, total_bytes

    def setup(self):
        super().setup()
        self._started = time.time()
        self._bytes_done = 0
        self._units: dict[int, WorkUnit] = {}  # the units in the pool, by index, until their result is back
        # ETA against the whole plan, from the units finished so far.
        self._meter = ProgressMeter("write", total_bytes=self.total_bytes)

    def call(self, grouped) -> tuple:
        unit, removals = _unit_and_removals(grouped)
        self._units[unit.index] = unit
        return write_unit, self.job, unit, removals

    def emit(self, done):
        result = done["result"]
        unit = self._units.pop(result["unit"])
        self._bytes_done += unit.bytes
        self._meter.add(done["kept_docs"], done["kept_bytes"], done_bytes=self._bytes_done)
        self._report_progress(unit, result["counts"])
        yield unit.index

    def _report_progress(self, unit: WorkUnit, counts: dict) -> None:
        """Beam counters per stage and reason, and one progress line per finished unit."""
        for stage, c in counts.items():
            Metrics.counter(f"stage.{stage}", "in").inc(c["in"])
            Metrics.counter(f"stage.{stage}", "out").inc(c["out"])
            for reason, n in c["reasons"].items():
                Metrics.counter(f"stage.{stage}", f"rejected.{reason}").inc(n)
        read = counts.get("read", {}).get("in", 0)
        rate = self._bytes_done / 1e6 / max(time.time() - self._started, 1e-9)
        log.debug(  # one per unit: the meter's line every 30 s (or the bar) is what a run shows
            "progress: unit %d done (%d files, %d docs read, %.1f MB input); %.2f MB/s",
            unit.index, len(unit.files), read, unit.bytes / 1e6, rate,
            extra={"fields": {"unit": unit.index, "docs": read, "input_bytes": unit.bytes}},
        )  # fmt: skip


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


def _near_duplicate_ids(
    docs, config, exclude, bits: int, earlier=None, urls: list[str] = (), spill=None, processes: int = 0
):
    from transforms.near_dedup import NearDuplicateIds

    return (
        docs
        | "NearDuplicateIds"
        >> NearDuplicateIds(
            config.near_dedup, exclude=exclude, bits=bits, earlier=earlier, spill=spill, processes=processes
        )
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


def build_pipeline(
    p: beam.Pipeline,
    units: list[WorkUnit],
    config,
    staging: str,
    parents=(),
    processes: int = 0,
    spill: bool = False,
) -> None:
    """`processes`: worker processes of each pass's pool (0: the passes do their units' work inline).
    `spill`: the bulk of near dedup's joins waits in staging files, not in the runner (the local runner)."""
    total = sum(u.bytes for u in units)
    bits = shuffle_bits(total)
    tagged = [_units(p, units, "ForWrite") | "KeyUnits" >> beam.Map(lambda u: (u.index, ("unit", u)))]
    want_exact, want_near = config.exact_dedup.enabled, config.near_dedup.enabled
    if want_exact or want_near:
        exact_after = want_exact and want_near  # exact duplicates leave near dedup's buckets first
        spilled = f"{staging}/shuffle" if spill else None
        job = KeyJob(config, staging, want_exact, want_near, bits, by_owner=exact_after, spill=spilled)
        keys = _units(p, units, "ForKeys") | "ReadForKeys" >> beam.ParDo(
            _KeyPass(job, processes, total)
        ).with_outputs("payloads", "nodes", "buckets", main="exact")
        exact, urls = None, [parent.url for parent in parents]
        if want_exact:
            earlier = _earlier(p, parents, "exact", earlier_hash_rows)
            exact = keys.exact | "ExactDuplicateIds" >> ExactDuplicateIds(
                1 << (bits + 2), earlier, urls, hashed=True, spill=spilled
            )
            tagged.append(
                exact | "ExactByUnit" >> beam.ParDo(BufferedSpill(_by_unit, spilled, "exact_dedup"))
            )
        if want_near:
            earlier = _earlier(p, parents, "minhash", earlier_signature_rows)
            sketches = {"payloads": keys.payloads, "nodes": keys.nodes, "buckets": keys.buckets}
            near = _near_duplicate_ids(sketches, config, exact, bits, earlier, urls, spilled, processes)
            tagged.append(near | "NearByUnit" >> beam.ParDo(BufferedSpill(_by_unit, spilled, "near_dedup")))
    _ = (
        tagged
        | "UnitsWithRemovals" >> beam.Flatten()
        | "GroupByUnit" >> beam.GroupByKey()
        | "WriteUnits" >> beam.ParDo(_WriteUnit(WriteJob(config, staging), processes, total))
    )
