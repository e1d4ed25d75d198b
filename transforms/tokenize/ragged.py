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
    """Put `bos_id` before and `eos_id` after every document (either may be None: not added)."""
    bos, eos = int(bos_id is not None), int(eos_id is not None)
    if not bos and not eos:
        return ragged
    n = len(ragged)
    offsets = ragged.offsets + np.arange(n + 1, dtype=np.int64) * (bos + eos)
    flat = np.empty(int(offsets[-1]), np.uint32)
    doc_of_token = np.repeat(np.arange(n, dtype=np.int64), ragged.lengths())
    flat[np.arange(len(ragged.flat), dtype=np.int64) + doc_of_token * (bos + eos) + bos] = ragged.flat
    if bos:
        flat[offsets[:-1]] = bos_id
    if eos:
        flat[offsets[1:] - 1] = eos_id
    return Ragged(flat, offsets)


def take_segments(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """flat[starts[i] : starts[i] + lengths[i]] for every i, concatenated, without a loop over segments."""
    lengths = np.asarray(lengths, np.int64)
    shift = np.repeat(np.asarray(starts, np.int64) - (np.cumsum(lengths) - lengths), lengths)
    return flat[np.arange(int(lengths.sum()), dtype=np.int64) + shift]
