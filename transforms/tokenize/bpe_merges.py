"""BPE merges of many words at once, as tensor operations (CUDA when present, CPU torch otherwise).

Each step merges, in every word still mergeable, the lowest-ranked pair present at every non-overlapping
occurrence from the left. That equals tokenizers' one-merge-at-a-time heap ordered by (rank, position) as long
as no merge uses a token that a later-ranked merge creates; `MergeTable.from_vocab` checks this (true of every
trained BPE) so that the torch backend is only used where it is exact.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from transforms.tokenize.ragged import take_segments

# A pair's merge is one int64, rank << 32 | merged id: the row minimum is then the lowest rank, and one
# tensor (not two) follows the symbols through each compaction.
NO_MERGE = torch.iinfo(torch.int64).max
ID_BITS = 32
PAD = -1


@dataclass(frozen=True)
class MergeTable:
    """The merges as sorted pair keys (left * width + right) with their packed (rank, merged id), on a device."""

    keys: torch.Tensor
    packed: torch.Tensor
    width: int

    @classmethod
    def from_vocab(cls, vocab: dict[str, int], merges: list, device: torch.device) -> MergeTable:
        """Raises ValueError when a merge is unusable or the merges are not in creation order."""
        pairs = [m.split(" ", 1) if isinstance(m, str) else m for m in merges]
        try:
            left = np.array([vocab[a] for a, _ in pairs], np.int64)
            right = np.array([vocab[b] for _, b in pairs], np.int64)
            merged = np.array([vocab[a + b] for a, b in pairs], np.int64)
        except KeyError as err:
            raise ValueError(f"merge uses a token not in the vocabulary: {err}") from None
        _check_creation_order(left, right, merged)
        width = int(max(vocab.values(), default=0)) + 1
        if width >= 1 << 31:
            raise ValueError(f"vocabulary ids up to {width - 1} do not fit in 31 bits")
        keys = left * width + right
        # tokenizers keeps the last rank of a pair listed twice (a map filled in order).
        packed = (np.arange(len(keys), dtype=np.int64) << ID_BITS) | merged
        last = len(keys) - 1 - np.unique(keys[::-1], return_index=True)[1]
        order = last[np.argsort(keys[last], kind="stable")]
        as_tensor = lambda a: torch.from_numpy(np.ascontiguousarray(a)).to(device)  # noqa: E731
        return cls(as_tensor(keys[order]), as_tensor(packed[order]), width)

    def lookup(self, left: torch.Tensor, right: torch.Tensor) -> torch.Tensor:
        """Packed (rank, merged id) of each adjacent pair; NO_MERGE where it has no merge or is padding."""
        key = torch.where((left >= 0) & (right >= 0), left.long() * self.width + right, -1)
        if len(self.keys) == 0:
            return torch.full_like(key, NO_MERGE)
        at = torch.searchsorted(self.keys, key).clamp_(max=len(self.keys) - 1)
        return torch.where(self.keys[at] == key, self.packed[at], NO_MERGE)


def _check_creation_order(left: np.ndarray, right: np.ndarray, merged: np.ndarray) -> None:
    """Every merge that uses token T must rank after every merge that creates T."""
    if len(merged) == 0:
        return
    size = int(max(left.max(), right.max(), merged.max())) + 1
    rank = np.arange(len(merged), dtype=np.int64)
    last_created = np.full(size, -1, np.int64)
    np.maximum.at(last_created, merged, rank)
    if np.any(last_created[left] >= rank) or np.any(last_created[right] >= rank):
        raise ValueError("a merge uses a token that a later merge creates (merges not in training order)")


@dataclass
class _Words:
    """A padded batch of words mid-merge: symbols [W, L] (int32), and the packed merge of each adjacent pair."""

    rows: torch.Tensor  # each row's index in the bucket
    symbols: torch.Tensor
    pairs: torch.Tensor  # [W, L - 1] int64, NO_MERGE where the pair has no merge

    def select(self, keep: torch.Tensor) -> _Words:
        return _Words(self.rows[keep], self.symbols[keep], self.pairs[keep])


def _leftmost(hit: torch.Tensor) -> torch.Tensor:
    """In a run of hits (only a pair (x, x) makes one), tokenizers merges the 1st, 3rd, ... occurrence."""
    if not bool((hit[:, 1:] & hit[:, :-1]).any()):
        return hit
    pos = torch.arange(hit.shape[1], device=hit.device).expand_as(hit)
    last_miss = torch.cummax(torch.where(hit, -1, pos), dim=1).values
    return hit & ((pos - last_miss) % 2 == 1)


def _merge_step(words: _Words, best: torch.Tensor, table: MergeTable) -> _Words:
    """Apply each row's lowest-ranked merge (packed `best`) at its leftmost non-overlapping occurrences.

    Only the pairs next to a new token are looked up again; every other pair keeps its merge and moves left.
    """
    take = _leftmost((words.pairs == best) & (best != NO_MERGE))
    rows, cols = take.nonzero(as_tuple=True)
    symbols = words.symbols.clone()
    symbols[rows, cols] = (words.pairs[rows, cols] & ((1 << ID_BITS) - 1)).to(symbols.dtype)
    symbols[rows, cols + 1] = PAD
    keep = symbols >= 0
    width = int(keep.sum(dim=1).max())
    target = torch.where(keep, keep.cumsum(dim=1) - 1, width)

    def compact(values: torch.Tensor, fill: int | bool) -> torch.Tensor:
        out = torch.full((values.shape[0], width + 1), fill, dtype=values.dtype, device=values.device)
        return out.scatter_(1, target, values)[:, :width]

    # Dropped symbols go to the spare last column, so `values` needs no masking.
    symbols = compact(symbols, PAD)
    pairs = compact(torch.cat([words.pairs, torch.full_like(words.pairs[:, :1], NO_MERGE)], dim=1), NO_MERGE)
    new_cols = target[rows, cols]  # where each new token now sits
    for r, c in ((rows, new_cols - 1), (rows, new_cols)):  # the pair on its left, the pair on its right
        ok = (c >= 0) & (c < width - 1)
        r, c = r[ok], c[ok]
        pairs[r, c] = table.lookup(symbols[r, c], symbols[r, c + 1])
    return _Words(words.rows, symbols, pairs[:, :-1])


def merge_padded(symbols: torch.Tensor, table: MergeTable) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge every row of a padded [words, length] tensor to the end; (row order, lengths, flat ids)."""
    rows = torch.arange(symbols.shape[0], device=symbols.device)
    words = _Words(rows, symbols, table.lookup(symbols[:, :-1], symbols[:, 1:]))
    done: list[_Words] = []
    while words.symbols.shape[1] > 1:
        best = words.pairs.min(dim=1, keepdim=True).values
        live = best[:, 0] != NO_MERGE
        live_count = int(live.sum())
        if live_count == 0:
            break
        if live_count < len(live) // 2:  # finished rows ride along until they are half the batch
            done.append(words.select(~live))
            words, best = words.select(live), best[live]
        words = _merge_step(words, best, table)
    done.append(words)
    order = torch.cat([w.rows for w in done]).cpu().numpy()
    lengths = torch.cat([(w.symbols >= 0).sum(dim=1) for w in done]).cpu().numpy()
    flat = torch.cat([w.symbols[w.symbols >= 0] for w in done]).cpu().numpy()
    return order, lengths, flat


def _buckets(lengths: np.ndarray, max_cells: int) -> list[np.ndarray]:
    """Word indices grouped by similar length (little padding), each group at most max_cells symbols wide."""
    order = np.argsort(lengths, kind="stable")
    groups, start = [], 0
    while start < len(order):
        first = int(lengths[order[start]])
        end = start + 1
        while end < len(order):
            length = int(lengths[order[end]])
            if length > 2 * first + 8 or (end - start + 1) * length > max_cells:
                break
            end += 1
        groups.append(order[start:end])
        start = end
    return groups


@contextmanager
def _cpu_threads(device: torch.device, threads: int):
    """Run CPU torch ops on `threads` threads: the tensors here are small, and OpenMP fan-out cost more than
    it saved (20x slower on 2 threads than on 1, measured on a loaded 2-core machine)."""
    if device.type != "cpu" or threads <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def merge_words(
    flat: np.ndarray, offsets: np.ndarray, table: MergeTable, max_cells: int = 1 << 22, cpu_threads: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """BPE of many words given as initial symbol ids (flat + offsets); (flat ids, offsets) in word order."""
    with _cpu_threads(table.keys.device, cpu_threads):
        return _merge_words(flat, offsets, table, max_cells)


def _merge_words(
    flat: np.ndarray, offsets: np.ndarray, table: MergeTable, max_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.diff(offsets)
    device = table.keys.device
    out_lengths = np.zeros(len(lengths), np.int64)
    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for group in _buckets(lengths, max_cells):
        glen = lengths[group]
        padded = np.full((len(group), int(glen.max())), PAD, np.int32)
        row = np.repeat(np.arange(len(group)), glen)
        col = np.arange(int(glen.sum())) - np.repeat(np.cumsum(glen) - glen, glen)
        padded[row, col] = take_segments(flat, offsets[group], glen)
        order, group_lengths, ids = merge_padded(torch.from_numpy(padded).to(device), table)
        out_lengths[group[order]] = group_lengths
        pieces.append((group[order], group_lengths, ids))
    # Results come bucket by bucket; put them back in word order.
    words = np.concatenate([w for w, _, _ in pieces]) if pieces else np.zeros(0, np.int64)
    ids = np.concatenate([i for _, _, i in pieces]) if pieces else np.zeros(0, np.int64)
    starts = np.zeros(len(lengths), np.int64)
    starts[words] = np.cumsum(out_lengths[words]) - out_lengths[words]
    out_offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(out_lengths, out=out_offsets[1:])
    return take_segments(ids, starts, out_lengths), out_offsets
