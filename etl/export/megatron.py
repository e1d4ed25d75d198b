"""Megatron-LM / Megatron-core indexed dataset: `corpus.bin` (tokens) and `corpus.idx` (where each sequence is).

The layout that megatron-core's `IndexedDataset(path_prefix)` reads (megatron/core/datasets/indexed_dataset.py):
`.bin` is every sequence's token ids end to end in one dtype, no header. `.idx`, little-endian:
  b"MMIDIDX\\x00\\x00", uint64 version 1, uint8 dtype code (1 uint8, 2 int8, 3 int16, 4 int32, 5 int64,
  6 float64, 7 float32, 8 uint16), uint64 sequence count S, uint64 document-index count D,
  int32[S] sequence lengths, int64[S] byte offsets of each sequence in `.bin`,
  int64[D] document indices (0, then the sequence count after each document).
One document is one sequence, so the document indices are 0..S. Megatron has no uint32 code: a vocabulary
over 65,536 ids is written as int32, as Megatron's own tools do.
"""

from __future__ import annotations

import struct

import numpy as np

from etl.export.source import DocumentBatch
from etl.export.target import Target, cast_tokens, token_dtype

PREFIX = "corpus"
_HEADER = b"MMIDIDX\x00\x00"
_VERSION = 1
_CODES = {np.dtype(np.uint16): 8, np.dtype(np.int32): 4}


def megatron_dtype(vocab_size: int | None) -> np.dtype:
    dtype = token_dtype(vocab_size)
    return dtype if dtype == np.uint16 else np.dtype(np.int32)


def index_bytes(lengths: np.ndarray, dtype: np.dtype) -> bytes:
    """The whole `.idx` file for sequences of these lengths (one document each)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.size and int(lengths.max()) > np.iinfo(np.int32).max:
        raise ValueError("a document over 2**31 tokens does not fit Megatron's int32 sequence lengths")
    pointers = np.zeros(len(lengths), dtype=np.int64)
    np.cumsum(lengths[:-1] * dtype.itemsize, out=pointers[1:])
    documents = np.arange(len(lengths) + 1, dtype=np.int64)
    head = _HEADER + struct.pack("<QBQQ", _VERSION, _CODES[dtype], len(lengths), len(documents))
    return b"".join(
        (
            head,
            lengths.astype("<i4").tobytes(),
            pointers.astype("<i8").tobytes(),
            documents.astype("<i8").tobytes(),
        )
    )


class MegatronWriter:
    """Streams tokens into `corpus.bin`; keeps only the lengths (4 bytes a document) for `corpus.idx`."""

    format = "megatron"
    keeps = ("tokens (EOS as in the shards)", "document boundaries (one sequence per document)")
    drops = ("doc_id", "source", "meta")
    skipped_empty = 0  # an empty document is kept, as a sequence or item of no tokens

    def __init__(self, target: Target, vocab_size: int | None, part_bytes: int | None = None) -> None:
        del part_bytes  # one .bin and one .idx: Megatron reads a prefix, not parts
        self.target = target
        self.dtype = megatron_dtype(vocab_size)
        self._bin = target.open(f"{PREFIX}.bin")
        self._lengths: list[np.ndarray] = []

    def add(self, batch: DocumentBatch) -> None:
        self._bin.write(cast_tokens(batch.tokens, self.dtype).astype(self.dtype.newbyteorder("<")).tobytes())
        self._lengths.append(batch.lengths)

    def finish(self) -> list[str]:
        self._bin.close()
        lengths = np.concatenate(self._lengths) if self._lengths else np.zeros(0, np.int64)
        with self.target.open(f"{PREFIX}.idx") as fh:
            fh.write(index_bytes(lengths, self.dtype))
        return [f"{PREFIX}.bin", f"{PREFIX}.idx"]

    def abort(self) -> None:
        self._bin.close()
