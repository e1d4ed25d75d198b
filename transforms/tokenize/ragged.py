"""Token ids of a batch of documents as one flat uint32 array plus offsets (Arrow's list layout).

Every backend returns this shape, so adding BOS / EOS and building the Arrow column are one vectorised step
each instead of a loop over documents.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Ragged:
    flat: np.ndarray  # uint32 token ids of all documents, back to back
    offsets: np.ndarray  # int64, len = documents + 1; document i is flat[offsets[i]:offsets[i + 1]]

    @classmethod
    def from_lists(cls, lists: Sequence[Sequence[int]]) -> Ragged:
        lengths = np.fromiter(map(len, lists), np.int64, len(lists))
        offsets = np.zeros(len(lists) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        flat = np.fromiter((i for ids in lists for i in ids), np.uint32, int(offsets[-1]))
        return cls(flat, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def split(self) -> list[np.ndarray]:
        """One array per document (views into `flat`)."""
        return np.split(self.flat, self.offsets[1:-1])

    def to_arrow(self) -> pa.ListArray:
        """pa.list_(pa.uint32()) without copying the ids."""
        return pa.ListArray.from_arrays(pa.array(self.offsets.astype(np.int32)), pa.array(self.flat))


def add_special_ids(ragged: Ragged, bos_id: int | None, eos_id: int | None) -> Ragged:
    """Put `bos_id` before and `eos_id` after every document (either may be None: not added).

    One `np.insert` at every document boundary: a copy of the ids with the specials in place, about 10x
    faster than scattering every id to its shifted position. Positions are given in order (bos of document
    i, then its eos), and numpy keeps that order where positions are equal (empty documents)."""
    bos, eos = bos_id is not None, eos_id is not None
    if not bos and not eos:
        return ragged
    n = len(ragged)
    if bos and eos:
        positions = np.empty(2 * n, np.int64)
        positions[0::2], positions[1::2] = ragged.offsets[:-1], ragged.offsets[1:]
        values = np.empty(2 * n, np.uint32)
        values[0::2], values[1::2] = bos_id, eos_id
    elif bos:
        positions, values = ragged.offsets[:-1], np.uint32(bos_id)
    else:
        positions, values = ragged.offsets[1:], np.uint32(eos_id)
    flat = np.insert(ragged.flat, positions, values).astype(np.uint32, copy=False)
    offsets = ragged.offsets + np.arange(n + 1, dtype=np.int64) * (int(bos) + int(eos))
    return Ragged(flat, offsets)


def take_segments(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """flat[starts[i] : starts[i] + lengths[i]] for every i, concatenated, without a loop over segments."""
    lengths = np.asarray(lengths, np.int64)
    shift = np.repeat(np.asarray(starts, np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return flat[np.arange(int(lengths.sum()), dtype=np.int64) + shift]
