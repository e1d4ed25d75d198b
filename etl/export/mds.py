"""MosaicML streaming MDS: `shard.NNNNN.mds` files and the `index.json` that mosaicml-streaming's
`StreamingDataset(local=DIR)` reads (streaming/base/format/mds in mosaicml/streaming, index version 2).

One sample per document, with columns (sorted by name, as MDS stores them) `doc_id`, `meta`, `source` (`str`,
UTF-8) and `tokens` (`ndarray:<dtype>`: the dtype fixed in the column, the shape stored per sample as one byte
`ndim << 2 | shape-dtype code` and the shape, then the ids). A shard file is: uint32 sample count N, uint32[N+1]
byte offsets of the samples from the file start, the shard's config as sorted JSON, then the samples; each
sample is uint32 sizes of its variable-size columns followed by the columns' bytes. Shards are uncompressed and
carry a sha256 in the index (`StreamingDataset(validate_hash="sha256")` checks it). MDS cannot hold an empty
array: a document without tokens is left out and counted in the receipt.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np

from etl.export.source import DocumentBatch
from etl.export.target import Target, cast_tokens, token_dtype

SIZE_LIMIT = 1 << 26  # bytes per shard file, mosaicml-streaming's own default
COLUMNS = ("doc_id", "meta", "source", "tokens")
_SHAPE_CODES = ((1 << 8, 0, np.uint8), (1 << 16, 1, np.uint16), (1 << 32, 2, np.uint32))


def shard_config(dtype: np.dtype, size_limit: int) -> dict:
    """The writer settings every shard carries, in its file and in its index entry."""
    return {
        "version": 2,
        "format": "mds",
        "compression": None,
        "hashes": ["sha256"],
        "size_limit": size_limit,
        "column_names": list(COLUMNS),
        "column_encodings": ["str", "str", "str", f"ndarray:{dtype.name}"],
        "column_sizes": [None, None, None, None],
    }


def _shape_header(length: int) -> bytes:
    for bound, code, shape_dtype in _SHAPE_CODES:
        if length < bound:
            return (
                bytes([(1 << 2) | code])
                + np.array([length], dtype=shape_dtype)
                .astype(np.dtype(shape_dtype).newbyteorder("<"))
                .tobytes()
            )
    return bytes([(1 << 2) | 3]) + np.array([length], dtype="<u8").tobytes()


def encode_sample(doc_id: str, meta: str, source: str, tokens: np.ndarray) -> bytes:
    """One document as an MDS sample: the four column sizes, then the columns in `COLUMNS` order."""
    parts = [doc_id.encode(), meta.encode(), source.encode(), _shape_header(len(tokens)) + tokens.tobytes()]
    return np.array([len(p) for p in parts], dtype="<u4").tobytes() + b"".join(parts)


def encode_shard(samples: list[bytes], config_data: bytes) -> bytes:
    sizes = np.array([len(s) for s in samples], dtype=np.int64)
    offsets = np.zeros(len(samples) + 1, dtype=np.int64)
    np.cumsum(sizes, out=offsets[1:])
    offsets += 4 + 4 * (len(samples) + 1) + len(config_data)
    return b"".join(
        (np.array([len(samples)], "<u4").tobytes(), offsets.astype("<u4").tobytes(), config_data, *samples)
    )


class MDSWriter:
    """Buffers samples up to `SIZE_LIMIT` bytes a shard, writes each shard, and the index at the end."""

    format = "mds"
    keeps = ("tokens (EOS as in the shards)", "one sample per document", "doc_id", "source", "meta")
    drops = ("documents without tokens (MDS has no empty arrays)",)

    def __init__(self, target: Target, vocab_size: int | None, part_bytes: int | None = None) -> None:
        self.target = target
        self.dtype = token_dtype(vocab_size)
        self.size_limit = part_bytes or SIZE_LIMIT
        self.config = shard_config(self.dtype, self.size_limit)
        self._config_data = json.dumps(self.config, sort_keys=True).encode()
        self._samples: list[bytes] = []
        self._size = self._overhead = 4 + 4 + len(self._config_data)  # count, first offset, config
        self._shards: list[dict] = []
        self.skipped_empty = 0

    def add(self, batch: DocumentBatch) -> None:
        tokens = cast_tokens(batch.tokens, self.dtype).astype(self.dtype.newbyteorder("<"))
        for i, (start, end) in enumerate(zip(batch.offsets[:-1], batch.offsets[1:], strict=True)):
            if start == end:
                self.skipped_empty += 1
                continue
            sample = encode_sample(batch.doc_id[i], batch.meta[i], batch.source[i], tokens[start:end])
            if self._samples and self._size + len(sample) + 4 > self.size_limit:
                self._flush()
            self._samples.append(sample)
            self._size += len(sample) + 4

    def _flush(self) -> None:
        data = encode_shard(self._samples, self._config_data)
        name = f"shard.{len(self._shards):05}.mds"
        with self.target.open(name) as fh:
            fh.write(data)
        raw = {"basename": name, "bytes": len(data), "hashes": {"sha256": hashlib.sha256(data).hexdigest()}}
        self._shards.append({"samples": len(self._samples), "raw_data": raw, "zip_data": None, **self.config})
        self._samples, self._size = [], self._overhead

    def finish(self) -> list[str]:
        if self._samples:
            self._flush()
        self.target.write_json("index.json", {"version": 2, "shards": self._shards})
        return [s["raw_data"]["basename"] for s in self._shards] + ["index.json"]

    def abort(self) -> None:
        pass
