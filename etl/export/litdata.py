"""Lightning litdata token chunks: `chunk-0-N.bin` files and the `index.json` that litdata's
`StreamingDataset(DIR, item_loader=TokensLoader(block_size))` reads (litdata/streaming in Lightning-AI/litdata),
the layout that `litdata.optimize(..., item_loader=TokensLoader())` writes for LLM pre-training.

A chunk is: uint32 item count N, uint32[N+1] byte offsets of the items from the chunk start, then the items;
an item is one document's token ids with no header (`no_header_numpy:<code>`, code 5 uint16 or 6 uint32 in
litdata's numpy dtype table). The index lists each chunk's bytes, items and `dim` (its tokens) and the config
(`item_loader: "TokensLoader"`, data format, no compression). TokensLoader serves `block_size` tokens at a time
from each chunk's token stream and drops each chunk's last `dim % block_size` tokens: documents stay whole
inside one chunk, and a chunk holds about `CHUNK_BYTES`, so the loss is under one block per chunk.
"""

from __future__ import annotations

import numpy as np

from etl.export.source import DocumentBatch
from etl.export.target import Target, cast_tokens, token_dtype

CHUNK_BYTES = 1 << 26
_NUMPY_CODES = {np.dtype(np.uint16): 5, np.dtype(np.uint32): 6}  # litdata.constants._NUMPY_SCTYPES positions
_LEAF_SPEC = '[1, {"type": null, "context": null, "children_spec": []}]'  # a pytree of one array


def encode_chunk(items: list[bytes]) -> bytes:
    header = 4 + 4 * (len(items) + 1)
    offsets = np.zeros(len(items) + 1, dtype=np.int64)
    np.cumsum([len(i) for i in items], out=offsets[1:])
    return b"".join(
        (np.array([len(items)], "<u4").tobytes(), (offsets + header).astype("<u4").tobytes(), *items)
    )


def index_config(dtype: np.dtype, chunk_bytes: int) -> dict:
    return {
        "chunk_bytes": chunk_bytes,
        "chunk_size": None,
        "compression": None,
        "compression_level": None,
        "compression_batch_size": None,
        "ipc_compression": None,
        "data_format": [f"no_header_numpy:{_NUMPY_CODES[dtype]}"],
        "data_spec": _LEAF_SPEC,
        "encryption": None,
        "item_loader": "TokensLoader",
        "types": None,
    }


class LitDataWriter:
    """Buffers whole documents up to `CHUNK_BYTES` a chunk, writes each chunk, and the index at the end."""

    format = "litdata"
    keeps = ("tokens (EOS as in the shards)", "document boundaries (the item offsets in each chunk)")
    drops = ("doc_id", "source", "meta")
    skipped_empty = 0  # an empty document is kept, as a sequence or item of no tokens

    def __init__(self, target: Target, vocab_size: int | None, part_bytes: int | None = None) -> None:
        self.target = target
        self.dtype = token_dtype(vocab_size)
        self.chunk_bytes = part_bytes or CHUNK_BYTES
        self._items: list[bytes] = []
        self._size = 0
        self._tokens = 0
        self._chunks: list[dict] = []

    def add(self, batch: DocumentBatch) -> None:
        tokens = cast_tokens(batch.tokens, self.dtype).astype(self.dtype.newbyteorder("<"))
        for start, end in zip(batch.offsets[:-1], batch.offsets[1:], strict=True):
            item = tokens[start:end].tobytes()
            if self._items and self._size + len(item) + 4 > self.chunk_bytes:
                self._flush()
            self._items.append(item)
            self._size += len(item) + 4
            self._tokens += int(end - start)

    def _flush(self) -> None:
        data = encode_chunk(self._items)
        name = f"chunk-0-{len(self._chunks)}.bin"
        with self.target.open(name) as fh:
            fh.write(data)
        self._chunks.append(
            {"chunk_bytes": len(data), "chunk_size": len(self._items), "dim": self._tokens, "filename": name}
        )
        self._items, self._size, self._tokens = [], 0, 0

    def finish(self) -> list[str]:
        if self._items:
            self._flush()
        self.target.write_json(
            "index.json", {"chunks": self._chunks, "config": index_config(self.dtype, self.chunk_bytes)}
        )
        return [c["filename"] for c in self._chunks] + ["index.json"]

    def abort(self) -> None:
        pass
