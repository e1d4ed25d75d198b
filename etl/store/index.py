"""The run's dedup index (DESIGN.md "Incremental runs and lineage"): what a later run matches against.

Written by each work unit for the documents it kept, committed with the dataset:
  OUT/index/exact/part-NNNNN-<version>.parquet    h0, h1 (blake2b-128 of the normalized text), doc_id
  OUT/index/minhash/part-NNNNN-<version>.parquet  key, doc_id, signature (num_perm uint32, the near-dedup config's)
Rows are sorted by their hash (h0; key) and written in row groups of INDEX_GROUP_ROWS, so Parquet's min/max
statistics let a reader after one hash range read only its row groups. The signature, not only the band keys,
is kept so that a later run verifies a match as it verifies one within a run (docs/benchmarks.md: bytes per
document against datatrove's hashes-only index).

A later run (`--against`) reads every index file of its parents once, spread over the workers, as the rows
of its own dedup shuffles (`earlier_*`).
"""

from __future__ import annotations

import hashlib
import io

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from transforms.exact_dedup import HASH_ROWS, text_hashes
from transforms.near_dedup.components import earlier_keys
from transforms.near_dedup.hashing import doc_keys

INDEX_KINDS = ("exact", "minhash")
INDEX_GROUP_ROWS = 65536
EXACT = pa.schema([("h0", pa.uint64()), ("h1", pa.uint64()), ("doc_id", pa.string())])
MINHASH = pa.schema([("key", pa.uint64()), ("doc_id", pa.string()), ("signature", pa.large_binary())])


def signatures_path(staging: str, unit: int) -> str:
    """Where the key pass leaves a unit's MinHash signatures (key, signature) for the write pass's index."""
    return f"{staging}/signatures/u{unit:05d}.parquet"


def write_signatures(path: str, batches: list[pa.RecordBatch]) -> None:
    with fsspec.open(path, "wb") as fh:
        pq.write_table(pa.Table.from_batches(batches), fh, compression="none")


def _read_signatures(path: str) -> tuple[np.ndarray, pa.Array]:
    """(sorted keys, their signatures) of a unit, or empty ones when the key pass sketched none of it."""
    fs, local = fsspec.core.url_to_fs(path)
    if not fs.exists(local):
        return np.zeros(0, np.uint64), pa.array([], pa.large_binary())
    with fs.open(local, "rb") as fh:
        table = pq.read_table(fh)
    keys = table.column("key").to_numpy()
    order = np.argsort(keys, kind="stable")
    return keys[order], table.column("payload").take(pa.array(order)).combine_chunks()


class IndexWriter:
    """One work unit's index rows for the documents it keeps, written when it closes.

    The MinHash signatures are the ones the key pass computed for the unit (`signatures_path`), looked up by
    document key, not computed again; a kept document the key pass did not sketch is a pipeline bug.
    """

    def __init__(self, staging: str, unit: int, config):
        self.staging, self.unit = staging, unit
        self.exact = config.exact_dedup.enabled
        self.near = config.near_dedup.enabled
        self._signatures = None
        self._rows: dict[str, list[pa.RecordBatch]] = {kind: [] for kind in INDEX_KINDS}

    def add(self, docs: pa.RecordBatch) -> None:
        ids = docs.column(docs.schema.get_field_index("doc_id")).cast(pa.string())
        if self.exact:
            h = text_hashes(docs.column(docs.schema.get_field_index("text")))
            self._rows["exact"].append(
                pa.RecordBatch.from_arrays([pa.array(h[:, 0]), pa.array(h[:, 1]), ids], schema=EXACT)
            )
        if self.near:
            if self._signatures is None:
                self._signatures = _read_signatures(signatures_path(self.staging, self.unit))
            known, signatures = self._signatures
            keys = doc_keys(docs)
            at = np.minimum(np.searchsorted(known, keys), max(len(known) - 1, 0))
            if len(keys) and (len(known) == 0 or (known[at] != keys).any()):
                raise RuntimeError(f"work unit {self.unit}: a kept document has no MinHash signature")
            self._rows["minhash"].append(
                pa.RecordBatch.from_arrays(
                    [pa.array(keys, pa.uint64()), ids, signatures.take(pa.array(at))], schema=MINHASH
                )
            )

    def close(self) -> list[dict]:
        """The unit's index files: [{kind, path, rows, bytes, sha256}] (a kind with no rows writes no file)."""
        written = []
        for kind, schema, by in (("exact", EXACT, "h0"), ("minhash", MINHASH, "key")):
            if not self._rows[kind]:
                continue
            table = pa.Table.from_batches(self._rows[kind], schema).sort_by(
                [(by, "ascending"), ("doc_id", "ascending")]
            )
            buf = io.BytesIO()
            pq.write_table(table, buf, row_group_size=INDEX_GROUP_ROWS, compression="zstd")
            data = buf.getvalue()
            path = f"{self.staging}/index/{kind}/u{self.unit:05d}.parquet"
            with fsspec.open(path, "wb") as fh:
                fh.write(data)
            written.append(
                {"kind": kind, "path": path, "rows": table.num_rows, "bytes": len(data),
                 "sha256": hashlib.sha256(data).hexdigest()}
            )  # fmt: skip
        return written


def _parent_rows(item: tuple[int, str], schema: pa.Schema, columns):
    """Batches of one parent's index file, as `columns(table, parent)` makes them for this run's shuffles."""
    parent, url = item
    with fsspec.open(url, "rb") as fh:
        table = pq.read_table(fh)
    if table.num_rows == 0:
        return
    rows = pa.table(columns(table, parent), schema=schema)
    yield from rows.combine_chunks().to_batches(max_chunksize=INDEX_GROUP_ROWS)


def _hash_columns(table: pa.Table, parent: int) -> dict:
    n = table.num_rows
    return {
        "h0": table.column("h0"),
        "h1": table.column("h1"),
        "doc_id": table.column("doc_id").cast(pa.string()),
        "key": pa.array(np.zeros(n, np.uint64)),
        "unit": pa.array(np.full(n, -1, np.int32)),
        "parent": pa.array(np.full(n, parent, np.int16)),
    }


def _signature_columns(table: pa.Table, parent: int) -> dict:
    return {
        "key": pa.array(earlier_keys(table.column("key").to_numpy(), parent), pa.uint64()),
        "doc_id": table.column("doc_id").cast(pa.string()),
        "parent": pa.array(np.full(table.num_rows, parent, np.int16)),
        "signature": table.column("signature"),
    }


def earlier_hash_rows(item: tuple[int, str]):
    """(parent index, exact index file URL) -> HASH_ROWS batches for the exact-dedup shuffle."""
    yield from _parent_rows(item, HASH_ROWS, _hash_columns)


def earlier_signature_rows(item: tuple[int, str]):
    """(parent index, minhash index file URL) -> rows for near dedup (transforms.near_dedup.stage.EARLIER)."""
    from transforms.near_dedup.stage import EARLIER

    yield from _parent_rows(item, EARLIER, _signature_columns)


def near_params(config) -> dict:
    """The near-dedup settings that make two runs' signatures comparable."""
    c = config if isinstance(config, dict) else config.model_dump(mode="json")
    return {k: c.get(k) for k in ("num_perm", "seed", "ngram", "shingle")}
