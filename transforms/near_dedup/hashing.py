"""64-bit hashes of byte spans and of document identities, vectorised over whole batches.

Word and shingle hashes must not depend on batch boundaries, the Python version or the machine, so they are
our own fixed functions (splitmix64's finalizer over little-endian 8-byte chunks) and not Python's `hash`.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

U64 = np.uint64
GOLDEN = U64(0x9E3779B97F4A7C15)
_MIX1 = U64(0xBF58476D1CE4E5B9)
_MIX2 = U64(0x94D049BB133111EB)
# Byte masks that keep the first r bytes of a little-endian 8-byte load (r = 0..8).
_TAIL_MASKS = np.array([0] + [(1 << (8 * r)) - 1 for r in range(1, 8)] + [(1 << 64) - 1], dtype=np.uint64)


def fmix64(h: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer, in place: every input bit flips about half the output bits."""
    h ^= h >> U64(30)
    h *= _MIX1
    h ^= h >> U64(27)
    h *= _MIX2
    h ^= h >> U64(31)
    return h


def _unaligned_u64(data: np.ndarray) -> np.ndarray:
    """A uint64 at every byte offset of `data` (which must carry 8 bytes of padding at its end)."""
    return np.ndarray(shape=(max(len(data) - 7, 0),), dtype="<u8", buffer=data, offset=0, strides=(1,))


def span_hashes(data: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Hash of each byte span data[starts[i]:starts[i]+lengths[i]] (no NUL bytes); `data` has 8 padding bytes.

    Equal bytes give equal hashes wherever they sit, so a word hashes the same in any batch or buffer.
    """
    words = _unaligned_u64(data)
    lengths = lengths.astype(np.int64, copy=False)
    # Words hold no NUL byte, so zero padding cannot make two different words equal: no length term needed.
    h = fmix64(words[starts] & _TAIL_MASKS[np.minimum(lengths, 8)])
    todo = np.flatnonzero(lengths > 8)
    chunk = 1
    while len(todo):  # words longer than 8 bytes: one more round per 8 bytes, on the few that need it
        rest = lengths[todo] - 8 * chunk
        h[todo] = fmix64(h[todo] ^ (words[starts[todo] + 8 * chunk] & _TAIL_MASKS[np.minimum(rest, 8)]))
        chunk += 1
        todo = todo[rest > 8]
    return h


def hash_strings(values: list[bytes]) -> np.ndarray:
    """span_hashes of a list of byte strings (the slow-path words), in order."""
    if not values:
        return np.zeros(0, np.uint64)
    lengths = np.fromiter(map(len, values), np.int64, count=len(values))
    starts = np.zeros(len(values), np.int64)
    np.cumsum(lengths[:-1], out=starts[1:])
    data = np.frombuffer(b"".join(values) + bytes(8), np.uint8)
    return span_hashes(data, starts, lengths)


def binary_spans(arr: pa.Array) -> tuple[memoryview, np.ndarray, np.ndarray]:
    """(bytes, starts, lengths) of a (large_)string/binary array, a view of its buffer (no copy, no padding)."""
    arr = arr.cast(pa.large_binary()) if arr.type != pa.large_binary() else arr
    if arr.null_count:
        arr = pc.fill_null(arr, b"")
    offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
    body = arr.buffers()[2]
    data = memoryview(body) if body is not None and len(arr) else memoryview(b"")
    return data, offsets[:-1].copy(), np.diff(offsets)


def padded(data: bytes | memoryview) -> np.ndarray:
    """uint8 copy of `data` with the 8 zero bytes that span_hashes' unaligned loads need."""
    return np.frombuffer(bytes(data) + bytes(8), np.uint8)


def doc_keys(batch: pa.RecordBatch) -> np.ndarray:
    """64-bit identity of each row: a hash of (doc_id, source, line), the join key between the stage's steps."""
    names = batch.schema.names
    n = batch.num_rows
    line = batch.column(names.index("line")) if "line" in names else pa.nulls(n, pa.int64())
    parts = [
        batch.column(names.index("doc_id")).cast(pa.large_string()),
        batch.column(names.index("source")).cast(pa.large_string()),
        pc.fill_null(line.cast(pa.int64()).cast(pa.large_string()), ""),
    ]
    parts = [pc.fill_null(p, "") for p in parts]
    joined = pc.binary_join_element_wise(*parts, pa.scalar("\x1f", pa.large_string()))
    data, starts, lengths = binary_spans(joined)
    return span_hashes(padded(data), starts, lengths)
