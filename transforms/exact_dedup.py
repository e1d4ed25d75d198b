"""Exact deduplication on a 128-bit hash of the normalised text; the smallest doc_id of each group survives.

Only (hash, doc_id) pairs cross the shuffle, partitioned by hash bits into key ranges, so the text never does:
the result is a removal map (doc_id -> survivor) that the write pass applies (see etl/pipeline.py).
"""

from __future__ import annotations

import hashlib

import apache_beam as beam
import numpy as np
import pyarrow as pa

from transforms.near_dedup.hashing import doc_keys

STAGE = "exact_dedup"
REASON = "exact_duplicate"
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
            batch.column(names.index("doc_id")),
            pa.array(doc_keys(batch), pa.uint64()),
            unit.cast(pa.int32()),
        ],
        names=["h0", "h1", "doc_id", "key", "unit"],
    )


def duplicate_removals(keys: pa.Table) -> pa.RecordBatch:
    """Removal rows for every document whose text hash repeats, keeping the smallest doc_id per hash.

    Equal doc_ids (from different files) are ordered by their row identity, so the survivor never depends on
    the order in which batches reached the shuffle.
    """
    order = [("h0", "ascending"), ("h1", "ascending"), ("doc_id", "ascending"), ("key", "ascending")]
    table = keys.sort_by(order)
    h0 = table.column("h0").to_numpy()
    h1 = table.column("h1").to_numpy()
    same_as_prev = np.zeros(len(h0), dtype=bool)
    same_as_prev[1:] = (h0[1:] == h0[:-1]) & (h1[1:] == h1[:-1])
    group_start = np.maximum.accumulate(np.where(~same_as_prev, np.arange(len(h0)), 0))
    ids = table.column("doc_id").to_numpy(zero_copy_only=False)
    removed = np.flatnonzero(same_as_prev)
    survivors = ids[group_start[removed]]
    n = len(removed)
    return pa.RecordBatch.from_arrays(
        [
            pa.array(table.column("key").to_numpy()[removed], pa.uint64()),
            pa.array(ids[removed], pa.string()),
            pa.array([STAGE] * n, pa.string()),
            pa.array([REASON] * n, pa.string()),
            pa.array([f"duplicate of {s}" for s in survivors], pa.string()),
            pa.array(np.ones(n), pa.float64()),
            table.column("unit").take(pa.array(removed)).combine_chunks().cast(pa.int32()),
        ],
        schema=REMOVAL_SCHEMA,
    )


def _partition(keys: pa.RecordBatch, partitions: int):
    part = keys.column(0).to_numpy() % np.uint64(partitions)
    for p in np.unique(part):
        yield int(p), keys.filter(pa.array(part == p))


class ExactDuplicateIds(beam.PTransform):
    """PCollection of document batches -> PCollection of removal batches (REMOVAL_SCHEMA)."""

    def __init__(self, partitions: int = 64):
        super().__init__()
        self.partitions = partitions

    def expand(self, batches):
        return (
            batches
            | "HashKeys" >> beam.Map(hash_keys)
            | "ByKeyRange" >> beam.FlatMap(_partition, self.partitions)
            | "Group" >> beam.GroupByKey()
            | "Removals"
            >> beam.MapTuple(lambda _, parts: duplicate_removals(pa.Table.from_batches(list(parts))))
            | "NonEmpty" >> beam.Filter(lambda b: b.num_rows > 0)
        )
