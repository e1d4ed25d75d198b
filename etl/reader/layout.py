"""Where every window of an epoch comes from: pure functions of (seed, epoch, manifest) and the split settings.

The epoch stream is the corpus' units ((shard, row group) pairs) in a shuffled order, each unit's documents in a
shuffled order, concatenated. It is cut into `lanes` equal pieces of whole windows of `seq_len + 1` tokens; what
is left over (fewer than `lanes` windows) is dropped. The epoch's global sequence takes `batch_size` consecutive
windows of lane 0, then of lane 1, ... lane by lane in turn; the last windows of every lane
(`windows_per_lane % batch_size` each) follow lane by lane. `lanes` is a setting of the global order, not of a
rank: `resume` deals the sequence out to ranks in steps of `world_size * batch_size`, so with
`world_size * workers` dividing `lanes` every dataloader worker reads a few lanes, contiguous regions of the
stream, and the sequence itself never depends on the world size or the worker count.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass

import numpy as np

# Purposes mixed into the seed so that the unit order and each unit's document order are independent streams.
_UNIT_ORDER, _DOC_ORDER = 0, 1


@dataclass(frozen=True)
class SplitSpec:
    """The reading settings: (seq_len, batch_size, lanes) fix the global sequence, (rank, world_size) a share."""

    seq_len: int
    batch_size: int
    rank: int = 0
    world_size: int = 1
    lanes: int = 8

    def __post_init__(self) -> None:
        for name in ("seq_len", "batch_size", "world_size", "lanes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f"rank must be in [0, world_size={self.world_size}), got {self.rank}")

    @property
    def window(self) -> int:
        return self.seq_len + 1


@dataclass(frozen=True)
class EpochPlan:
    """One epoch's stream: unit ids in order, where each ends in the stream, and the windows per lane."""

    order: np.ndarray  # unit ids in stream order
    ends: np.ndarray  # int64 end offset (exclusive) of each unit of `order` in the stream
    windows_per_lane: int

    def unit_at(self, offset: int) -> int:
        """Index into `order` of the unit holding stream offset `offset`."""
        return int(np.searchsorted(self.ends, offset, side="right"))


def rng_for(seed: int, epoch: int, manifest_key: str, purpose: int, unit: int = 0) -> np.random.Generator:
    key = int(manifest_key[:16], 16)
    entropy = [seed, epoch, key >> 32, key & 0xFFFFFFFF, purpose, unit]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def plan_epoch(
    unit_tokens: np.ndarray, spec: SplitSpec, seed: int, epoch: int, manifest_key: str, shuffle: bool
) -> EpochPlan:
    n_units = len(unit_tokens)
    order = (
        rng_for(seed, epoch, manifest_key, _UNIT_ORDER).permutation(n_units)
        if shuffle
        else np.arange(n_units)
    )
    ends = np.cumsum(np.asarray(unit_tokens, dtype=np.int64)[order])
    total = int(ends[-1]) if n_units else 0
    per_lane = total // (spec.lanes * spec.window)
    if per_lane == 0:
        raise ValueError(
            f"the corpus has {total} tokens, fewer than one window of {spec.window} tokens for each of "
            f"{spec.lanes} lanes; lower seq_len or lanes"
        )
    return EpochPlan(order=order, ends=ends, windows_per_lane=per_lane)


def units_of_windows(plan: EpochPlan, windows: np.ndarray, window: int) -> np.ndarray:
    """Unit ids (in stream order) that hold any token of the given stream windows: what reading them reads."""
    if not len(windows):
        return plan.order[:0]
    w = np.unique(windows)
    breaks = np.flatnonzero(np.diff(w) != 1) + 1
    first = np.concatenate(([w[0]], w[breaks])) * window
    last = np.concatenate((w[breaks - 1], [w[-1]])) * window + window - 1
    lo = np.searchsorted(plan.ends, first, side="right")
    hi = np.searchsorted(plan.ends, last, side="right") + 1
    marks = np.zeros(len(plan.order) + 1, dtype=np.int64)
    np.add.at(marks, lo, 1)
    np.add.at(marks, hi, -1)
    return plan.order[np.cumsum(marks[:-1]) > 0]


def doc_permutation(seed: int, epoch: int, manifest_key: str, unit: int, rows: int) -> np.ndarray:
    return rng_for(seed, epoch, manifest_key, _DOC_ORDER, unit).permutation(rows)


def stream_windows(positions: np.ndarray, windows_per_lane: int, spec: SplitSpec) -> np.ndarray:
    """Stream window index (lane * windows_per_lane + offset) of each global position: a bijection on
    [0, lanes * windows_per_lane). Vectorised integer arithmetic: it runs per batch."""
    b, k, n = spec.batch_size, spec.lanes, windows_per_lane
    g = np.asarray(positions, dtype=np.int64)
    in_rounds, rem = (n // b) * b * k, n % b
    block, within = np.divmod(g, b)
    lane, offset = block % k, (block // k) * b + within
    if rem:
        tail_lane, tail_within = np.divmod(g - in_rounds, rem)
        tail = g >= in_rounds
        lane = np.where(tail, tail_lane, lane)
        offset = np.where(tail, (n // b) * b + tail_within, offset)
    return lane * n + offset


def position_runs(first: int, stop: int, windows_per_lane: int, spec: SplitSpec) -> list[tuple[int, int]]:
    """(stream offset, tokens) of the runs of consecutive stream windows holding global positions [first, stop),
    in order: `stream_windows` in plain integer arithmetic, for a batch."""
    b, k, n, w = spec.batch_size, spec.lanes, windows_per_lane, spec.window
    in_rounds, rem = (n // b) * b * k, n % b
    runs: list[tuple[int, int]] = []
    g = first
    while g < stop:
        if g < in_rounds:
            block, within = divmod(g, b)
            lane, offset, count = block % k, (block // k) * b + within, min(stop, (block + 1) * b) - g
        else:
            lane, within = divmod(g - in_rounds, rem)
            offset, count = (n // b) * b + within, min(stop, in_rounds + (lane + 1) * rem) - g
        start = (lane * n + offset) * w
        if runs and sum(runs[-1]) == start:
            runs[-1] = (runs[-1][0], runs[-1][1] + count * w)
        else:
            runs.append((start, count * w))
        g += count
    return runs


def copy_unit(
    values: np.ndarray, src: list[int], dst: list[int], lo: int, n: int,
    tokens: np.ndarray, positions: np.ndarray, out_at: int, ramp: np.ndarray,
) -> None:  # fmt: skip
    """Copy a unit's tokens [lo, lo + n), in epoch order, to `tokens[out_at:]`, and restart their positions.

    The unit's documents start at `dst` in epoch order and at `src` in `values` (its stored tokens). A window
    starts at every multiple of `len(ramp)` of the output; `ramp` is arange(window). `positions` must already
    count 0, 1, ... over every window; documents starting inside a window restart the count. A zero marks a boundary: position-id based
    packed attention (flash-attention varlen through Hugging Face) reads exactly that. A loop over documents,
    not tokens: per-call numpy overhead would cost more than the copies.
    """
    end, docs, window = lo + n, len(dst), len(ramp)
    doc = bisect_right(dst, lo) - 1
    at = lo
    while at < end:
        doc_end = min(dst[doc + 1] if doc + 1 < docs else end, end)
        out, length = at - lo + out_at, doc_end - at
        source = src[doc] + at - dst[doc]
        tokens[out : out + length] = values[source : source + length]
        if out % window:  # a document start inside a window (a piece never starts mid-document elsewhere)
            stop = min(out + length, (out // window + 1) * window)
            positions[out:stop] = ramp[: stop - out]
        at, doc = doc_end, doc + 1


def cu_seqlens(position_ids_row: np.ndarray) -> np.ndarray:
    """Cumulative sequence lengths (flash-attention varlen) of one packed row, from its position ids."""
    starts = np.flatnonzero(np.asarray(position_ids_row) == 0)
    return np.append(starts, len(position_ids_row)).astype(np.int32)
