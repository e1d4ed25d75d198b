"""The documents of a committed run, in manifest order, from bytes whose sha256 the manifest vouches for.

Every exporter reads through here: the manifest is loaded and checked as the reader checks it
(`etl.reader.shards.load_corpus`: listed shards only, counts that add up, validation passed unless allowed),
then each shard is read whole into memory once, hashed, and parsed from those same bytes, so what is exported
is exactly what the manifest committed (no window between checking a file and reading it). Documents keep
their tokens as the shards hold them, EOS included: an export adds and removes no token.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from etl.lineage.versions import MANIFEST, run_root
from etl.reader.shards import (
    Corpus,
    ManifestError,
    Shard,
    load_corpus,
    missing_as_manifest_error,
    open_filesystem,
)

TEXT_COLUMNS = ("doc_id", "source", "meta")


@dataclass(frozen=True)
class DocumentBatch:
    """One row group's documents: their tokens end to end, and where each document starts and ends."""

    tokens: np.ndarray  # uint32, every document's tokens concatenated (EOS as the shard has it)
    offsets: np.ndarray  # int64 [rows + 1]: document i is tokens[offsets[i]:offsets[i + 1]]
    doc_id: list[str]
    source: list[str]
    meta: list[str]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1


@dataclass(frozen=True)
class Run:
    """A committed run opened for export: where its manifest is, what it lists, and its tokenizer facts."""

    manifest_url: str
    manifest_sha256: str
    corpus: Corpus
    fs: object

    @property
    def vocab_size(self) -> int | None:
        size = self.corpus.tokenizer.get("vocab_size")
        return int(size) if size is not None else None

    @property
    def eos_id(self) -> int | None:
        eos = self.corpus.tokenizer.get("eos_id")
        return int(eos) if eos is not None else None


def open_run(run: str, storage_options: dict | None = None, allow_unvalidated: bool = False) -> Run:
    """RUN (an output folder or its manifest.json, local or an fsspec URL), checked as the reader checks it."""
    url = posixpath.join(run_root(run) or ".", MANIFEST)
    fs, path = open_filesystem(url, storage_options)
    corpus = load_corpus(url, fs, path, allow_unvalidated)
    with fs.open(path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    return Run(manifest_url=url, manifest_sha256=digest, corpus=corpus, fs=fs)


def read_verified(run: Run, shard: Shard) -> bytes:
    """The shard's bytes, once, after their size and sha256 matched the manifest."""
    with missing_as_manifest_error(shard), run.fs.open(shard.location, "rb") as fh:
        data = fh.read()
    if len(data) != shard.bytes:
        raise ManifestError(f"{shard.path}: {len(data)} bytes on storage, the manifest says {shard.bytes}")
    digest = hashlib.sha256(data).hexdigest()
    if digest != shard.sha256:
        raise ManifestError(
            f"{shard.path}: sha256 {digest[:12]}... differs from the manifest's {shard.sha256[:12]}...; the "
            "file changed after the run committed: rerun the pipeline into this output, or restore the file"
        )
    return data


def shard_batches(shard: Shard, data: bytes) -> Iterator[DocumentBatch]:
    """The documents of one verified shard, a row group at a time, in the order the file holds them."""
    pf = pq.ParquetFile(pa.BufferReader(data))
    missing = [c for c in ("tokens", *TEXT_COLUMNS) if c not in pf.schema_arrow.names]
    if missing:
        raise ManifestError(f"{shard.path}: lacks column(s) {missing}; is it a corpus-etl shard?")
    rows = 0
    for g in range(pf.metadata.num_row_groups):
        table = pf.read_row_group(g, columns=["tokens", *TEXT_COLUMNS])
        rows += table.num_rows
        yield _batch(table)
    if rows != shard.rows:
        raise ManifestError(f"{shard.path}: {rows} rows read, the manifest says {shard.rows}")


def _batch(table: pa.Table) -> DocumentBatch:
    tokens = table.column("tokens").combine_chunks()
    if tokens.null_count:
        raise ManifestError("a shard row has null tokens; rerun the pipeline")
    # The list's own offsets, rebased: a sliced array's first offset need not be 0.
    offsets = np.asarray(tokens.offsets, dtype=np.int64)
    flat = np.asarray(tokens.values, dtype=np.uint32)[offsets[0] : offsets[-1]]

    def strings(name: str) -> list[str]:
        return [v if v is not None else "" for v in table.column(name).to_pylist()]

    return DocumentBatch(flat, offsets - offsets[0], *(strings(c) for c in TEXT_COLUMNS))


def run_batches(run: Run) -> Iterator[DocumentBatch]:
    """Every document of the run: shards in manifest order, each verified before any of its rows is used."""
    for shard in run.corpus.shards:
        yield from shard_batches(shard, read_verified(run, shard))
