"""Exact deduplication on a 128-bit hash of the normalised text; the smallest doc_id of each group survives.

Only (hash, doc_id) pairs cross the shuffle, partitioned by hash bits into key ranges, so the text never does:
the result is a removal map (doc_id -> survivor) that the write pass applies (see etl/run/pipeline.py).
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from etl.local_runner.spilled import BufferedSpill, unspilled
from transforms.near_dedup.hashing import doc_keys

STAGE = "exact_dedup"
REASON = "exact_duplicate"
EARLIER_REASON = "exact_duplicate_of_earlier"
# What the shuffle carries per document; parent: -1 for this run's, else the earlier run (--against) it was kept in.
HASH_ROWS = pa.schema(
    [
        ("h0", pa.uint64()),
        ("h1", pa.uint64()),
        ("doc_id", pa.string()),
        ("key", pa.uint64()),
        ("unit", pa.int32()),
        ("parent", pa.int16()),
    ]
)
REMOVAL_SCHEMA = pa.schema(
    [
        # The row's identity (doc_id, source, line) as 64 bits: doc_ids alone repeat across merged corpora.
        ("key", pa.uint64()),
        ("doc_id", pa.string()),
        ("stage", pa.string()),
        ("reason", pa.string()),
        ("detail", pa.string()),
        ("value", pa.float64()),
        # The work unit the row was read in (-1 outside the pipeline): each unit gets only its own removals.
        ("unit", pa.int32()),
    ]
)


def text_hashes(texts: pa.Array) -> np.ndarray:
    """blake2b-128 of each text's UTF-8 bytes, read straight off the Arrow buffers, as (n, 2) uint64."""
    texts = texts.cast(pa.large_string())
    _, offsets_buf, data_buf = texts.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int64)[texts.offset : texts.offset + len(texts) + 1]
    data = memoryview(data_buf) if data_buf is not None else memoryview(b"")
    digests = b"".join(
        hashlib.blake2b(data[offsets[i] : offsets[i + 1]], digest_size=16).digest() for i in range(len(texts))
    )
    return np.frombuffer(digests, dtype=np.uint64).reshape(-1, 2)


def hash_keys(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The light record of each document that the exact-dedup shuffle carries."""
    h = text_hashes(batch.column(batch.schema.get_field_index("text")))
    names = batch.schema.names
    unit = batch.column(names.index("unit")) if "unit" in names else pa.array(np.full(batch.num_rows, -1))
    return pa.RecordBatch.from_arrays(
        [
            pa.array(h[:, 0]),
            pa.array(h[:, 1]),
            batch.column(names.index("doc_id")).cast(pa.string()),
            pa.array(doc_keys(batch), pa.uint64()),
            unit.cast(pa.int32()),
            pa.array(np.full(batch.num_rows, -1, np.int16)),
        ],
        schema=HASH_ROWS,
    )


def duplicate_removals(keys: pa.Table, earlier: list[str] = ()) -> pa.RecordBatch:
    """Removal rows for every document of this run whose text hash repeats, keeping the smallest doc_id per
    hash, or, when an earlier run (`earlier`: their URLs by parent index) kept that text, none of them.

    Equal doc_ids (from different files) are ordered by their row identity, so the survivor never depends on
    the order in which batches reached the shuffle. Earlier runs' rows are never removed.
    """
    keys = keys.append_column("new", pc.less(keys.column("parent"), 0).cast(pa.int8()))  # earlier first
    order = [("h0", "ascending"), ("h1", "ascending"), ("new", "ascending"), ("doc_id", "ascending")]
    table = keys.sort_by([*order, ("key", "ascending")])
    h0 = table.column("h0").to_numpy()
    h1 = table.column("h1").to_numpy()
    same_as_prev = np.zeros(len(h0), dtype=bool)
    same_as_prev[1:] = (h0[1:] == h0[:-1]) & (h1[1:] == h1[:-1])
    group_start = np.maximum.accumulate(np.where(~same_as_prev, np.arange(len(h0)), 0))
    ids = table.column("doc_id").to_numpy(zero_copy_only=False)
    parent = table.column("parent").to_numpy()
    removed = np.flatnonzero(same_as_prev & (parent < 0))
    survivors, of = ids[group_start[removed]], parent[group_start[removed]]
    n = len(removed)
    reasons = [REASON if p < 0 else EARLIER_REASON for p in of.tolist()]
    details = [
        f"duplicate of {s}" if p < 0 else f"duplicate of {s} in {earlier[p]}"
        for s, p in zip(survivors.tolist(), of.tolist(), strict=True)
    ]
    return pa.RecordBatch.from_arrays(
        [
            pa.array(table.column("key").to_numpy()[removed], pa.uint64()),
            pa.array(ids[removed], pa.string()),
            pa.array([STAGE] * n, pa.string()),
            pa.array(reasons, pa.string()),
            pa.array(details, pa.string()),
            pa.array(np.ones(n), pa.float64()),
            table.column("unit").take(pa.array(removed)).combine_chunks().cast(pa.int32()),
        ],
        schema=REMOVAL_SCHEMA,
    )


def _partition(keys: pa.RecordBatch, partitions: int):
    """(range, ("hash", rows)) for each hash range that the batch's rows fall in."""
    part = keys.column(0).to_numpy() % np.uint64(partitions)
    for p in np.unique(part):
        yield int(p), ("hash", keys.filter(pa.array(part == p)))


def _removals(parts, earlier_urls: list[str]) -> pa.RecordBatch:
    return duplicate_removals(
        pa.Table.from_batches([b for _, b in unspilled(parts)], HASH_ROWS), earlier_urls
    )


class ExactDuplicateIds(beam.PTransform):
    """PCollection of document batches (or their `hash_keys` rows, `hashed`) -> removal batches (REMOVAL_SCHEMA).

    `earlier`: an optional PCollection of HASH_ROWS batches of earlier runs' kept documents (their index), and
    `earlier_urls` those runs' manifest URLs by parent index, for the detail of a removal.
    """

    def __init__(
        self,
        partitions: int = 64,
        earlier=None,
        earlier_urls: list[str] = (),
        hashed: bool = False,
        spill: str | None = None,
    ):
        super().__init__()
        self.partitions, self.earlier, self.earlier_urls = partitions, earlier, list(earlier_urls)
        self.hashed = hashed  # the input is already `hash_keys` rows (the pipeline's key pass makes them)
        self.spill = (
            spill  # a URL: the rows reach the shuffle through files there (etl/local_runner/spilled.py)
        )

    def expand(self, batches):
        rows = batches if self.hashed else batches | "HashKeys" >> beam.Map(hash_keys)
        if self.earlier is not None:
            rows = (rows, self.earlier) | "WithEarlier" >> beam.Flatten()
        urls = self.earlier_urls
        return (
            rows
            | "ByKeyRange" >> beam.ParDo(BufferedSpill(_partition, self.spill, self.partitions))
            | "Group" >> beam.GroupByKey()
            | "Removals" >> beam.MapTuple(lambda _, parts: _removals(parts, urls))
            | "NonEmpty" >> beam.Filter(lambda b: b.num_rows > 0)
        )
