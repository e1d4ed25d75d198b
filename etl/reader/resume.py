"""How far a job got into an epoch, independent of its world size: pure arithmetic on the epoch's global sequence.

The epoch is one global sequence of windows, positions 0 .. epoch_windows - 1 (`layout.stream_windows` says which
stream window each position is). It depends on (seed, epoch, manifest, seq_len, batch_size, lanes) only, never on
world_size or the worker count. Progress is the set of positions already served: a prefix [0, position) and,
when ranks stopped unevenly, a few ranges beyond it (`served`).

A *leg* is the stretch of one epoch that one job (one world size) reads, from a Progress on. It deals the
positions not yet served (the "remaining" ones, in order) out in steps: step s gives rank r the `batch_size`
remaining positions s*W*b + r*b ...; when fewer than W*b remain, each rank gets (remaining % (W*b)) // W and the
last (remaining % (W*b)) % W < W positions are dropped, so that every rank takes the same number of steps.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

Interval = tuple[int, int]  # [start, stop) of global positions


@dataclass(frozen=True)
class Progress:
    """Positions served in an epoch: all of [0, position), and the sorted, disjoint ranges `served` beyond it."""

    position: int = 0
    served: tuple[Interval, ...] = ()

    @classmethod
    def union(cls, intervals: Iterable[Interval]) -> Progress:
        merged: list[list[int]] = []
        for a, z in sorted((int(a), int(z)) for a, z in intervals if z > a):
            if merged and a <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], z)
            else:
                merged.append([a, z])
        if merged and merged[0][0] == 0:
            return cls(merged[0][1], tuple((a, z) for a, z in merged[1:]))
        return cls(0, tuple((a, z) for a, z in merged))

    def intervals(self) -> list[Interval]:
        return [(0, self.position), *self.served]

    def served_count(self) -> int:
        return self.position + sum(z - a for a, z in self.served)


@dataclass(frozen=True)
class Leg:
    """One job's share-out of the positions `start` has not served, over `world_size` ranks."""

    start: Progress
    epoch_windows: int
    world_size: int
    batch_size: int

    @property
    def remaining(self) -> int:
        return max(0, self.epoch_windows - self.start.served_count())

    @property
    def full_steps(self) -> int:
        return self.remaining // (self.world_size * self.batch_size)

    @property
    def last_step(self) -> int:
        """Windows each rank gets in the leg's last, short step (0 when there is none)."""
        return self.remaining % (self.world_size * self.batch_size) // self.world_size

    @property
    def samples_per_rank(self) -> int:
        return self.full_steps * self.batch_size + self.last_step

    @property
    def dropped(self) -> int:
        """Remaining positions no rank gets (the leg's last ones), fewer than world_size."""
        return self.remaining - self.world_size * self.samples_per_rank

    def remaining_index(self, rank: int, samples: np.ndarray) -> np.ndarray:
        """Index among the remaining positions of a rank's samples (its 0, 1, ... in this leg)."""
        w, b, full = self.world_size, self.batch_size, self.full_steps
        step, within = np.divmod(samples, b)
        in_full = step * w * b + rank * b + within
        in_last = full * w * b + rank * self.last_step + (samples - full * b)
        return np.where(step < full, in_full, in_last)

    def global_positions(self, remaining_index: np.ndarray) -> np.ndarray:
        """Global positions of remaining positions: skip the prefix and every served range beyond it."""
        start = self.start
        g = np.asarray(remaining_index, dtype=np.int64) + start.position
        if start.served:
            a = np.array([s[0] for s in start.served], dtype=np.int64)
            lengths = np.array([z - s for s, z in start.served], dtype=np.int64)
            free_before = a - start.position - np.concatenate(([0], np.cumsum(lengths)[:-1]))
            skipped = np.concatenate(([0], np.cumsum(lengths)))
            g = g + skipped[np.searchsorted(free_before, remaining_index, side="right")]
        return g

    def positions(self, rank: int, first: int, stop: int) -> np.ndarray:
        """Global positions of a rank's samples [first, stop) of this leg, in order."""
        return self.global_positions(self.remaining_index(rank, np.arange(first, stop, dtype=np.int64)))

    def ranges(self, rank: int, first: int, stop: int) -> list[Interval]:
        """`positions(rank, first, stop)` as [start, stop) runs: plain integer arithmetic, for a batch."""
        w, b, full, last = self.world_size, self.batch_size, self.full_steps, self.last_step
        out: list[Interval] = []
        i = first
        while (
            i < stop
        ):  # one step at a time: a rank's samples of one step are consecutive remaining positions
            step = i // b
            if step < full:
                n, rho = min(stop, (step + 1) * b) - i, step * w * b + rank * b + i % b
            else:
                n, rho = stop - i, full * w * b + rank * last + (i - full * b)
            out += self._skip_served(rho, rho + n)
            i += n
        return out

    def _skip_served(self, lo: int, hi: int) -> list[Interval]:
        """Global runs of the remaining positions [lo, hi)."""
        out: list[Interval] = []
        at, g = self.start.position, 0  # `at`: global position of remaining index `g`
        for a, z in (*self.start.served, (self.epoch_windows, self.epoch_windows)):
            free = a - at  # remaining positions before this served range
            if lo < g + free and hi > g:
                s, e = max(lo, g), min(hi, g + free)
                out.append((at + s - g, at + e - g))
            g, at = g + free, z
            if g >= hi:
                break
        return out

    def progress(self, consumed: list[int]) -> Progress:
        """What is served once rank r has taken its first consumed[r] samples of this leg."""
        if len(consumed) != self.world_size:
            raise ValueError(f"need one count per rank ({self.world_size}), got {len(consumed)}")
        b, n = self.batch_size, self.samples_per_rank
        if any(not 0 <= c <= n for c in consumed):
            raise ValueError(f"consumed samples {consumed} outside [0, {n}] for this leg")
        if min(consumed) == n:
            return Progress(self.epoch_windows)  # the dropped tail is over too: the epoch is done
        common = min(min(consumed) // b, self.full_steps)  # steps every rank finished
        intervals = list(self.start.intervals())
        if common:
            last = int(self.global_positions(np.array([common * self.world_size * b - 1]))[0])
            intervals.append((0, last + 1))  # every position up to there is remaining-and-taken or served
        for rank, c in enumerate(consumed):
            g = self.positions(rank, common * b, c)
            intervals += _runs(g)
        return Progress.union(intervals)


def _runs(positions: np.ndarray) -> list[Interval]:
    """Positions as maximal [start, stop) runs of consecutive values."""
    if not len(positions):
        return []
    g = np.sort(positions)
    breaks = np.flatnonzero(np.diff(g) != 1) + 1
    return [(int(run[0]), int(run[-1]) + 1) for run in np.split(g, breaks)]


# -- the saved form ------------------------------------------------------------------------------------------
STATE_FORMAT = "etl.reader/2"
# Settings that fix the global sequence: a state saved under other values describes another sequence.
ORDER_KEYS = ("manifest_key", "seed", "shuffle", "seq_len", "batch_size", "lanes", "epoch_windows")


def make_state(order: dict, epoch: int, leg: Leg, rank: int, consumed: int) -> dict:
    """A rank's state: the global progress if every rank of its job has consumed as much (a checkpoint at a
    step all ranks reached, as data-parallel training takes it), and this rank's own leg for `merge_states`."""
    progress = leg.progress([consumed] * leg.world_size)
    return {
        "format": STATE_FORMAT,
        **order,
        **_progress_fields(epoch, progress, leg.epoch_windows),
        "leg": {
            "position": leg.start.position,
            "served": [list(i) for i in leg.start.served],
            "world_size": leg.world_size,
            "rank": rank,
            "consumed_samples": consumed,
        },
    }


def _progress_fields(epoch: int, progress: Progress, epoch_windows: int) -> dict:
    if progress.position >= epoch_windows:
        epoch, progress = epoch + 1, Progress()
    return {"epoch": epoch, "position": progress.position, "served": [list(i) for i in progress.served]}


def check_order(state: dict, order: dict) -> None:
    """Refuse a state that is not ours or was saved under settings that change the global sequence."""
    if state.get("format") != STATE_FORMAT:
        raise ValueError(
            f"not a reader state of this version ({STATE_FORMAT}): format={state.get('format')!r}"
            + ("; states of etl.reader/1 cannot be resumed by this reader" if state.get("format") else "")
        )
    changed = [
        f"{k}: saved {state.get(k)!r}, now {order[k]!r}" for k in ORDER_KEYS if state.get(k) != order[k]
    ]
    if changed:
        raise ValueError(
            "cannot resume exactly: these settings fix the epoch's global order of windows and differ from the "
            f"saved state ({'; '.join(changed)}). world_size and the number of dataloader workers may change; "
            "these may not."
        )


def saved_progress(state: dict) -> tuple[int, Progress]:
    """(epoch, Progress) of a checked state, its ranges validated against the epoch."""
    windows, position = int(state["epoch_windows"]), int(state["position"])
    served = [(int(a), int(z)) for a, z in state.get("served") or []]
    if not 0 <= position <= windows or any(not position <= a < z <= windows for a, z in served):
        raise ValueError(f"state out of range: position {position}, served {served}, epoch_windows {windows}")
    progress = Progress.union([(0, position), *served])
    if progress.served_count() != position + sum(z - a for a, z in served):
        raise ValueError(f"state's served ranges overlap: {served}")
    return int(state["epoch"]), progress


def merge_states(states: list[dict]) -> dict:
    """One global state from the states every rank of a job saved (each rank its own, e.g. with torch DCP).

    Exact even when ranks stopped after different numbers of batches: what each served beyond the common
    prefix is kept in `served`, and a resumed job of any world size skips it. A state of a rank that finished
    the epoch (saved at the start of the next one) counts as having served its whole leg.
    """
    if not states:
        raise ValueError("merge_states needs the state of every rank, got none")
    order = {k: states[0].get(k) for k in ORDER_KEYS}
    for state in states:
        check_order(state, order)
        if not state.get("leg"):
            raise ValueError("a merged state is already global: load it, do not merge it again")
    epoch = min(int(s["epoch"]) for s in states)
    leg = _common_leg([s for s in states if int(s["epoch"]) == epoch], order, epoch)
    consumed = _consumed_by_rank(states, leg, epoch)
    progress = leg.progress([consumed[r] for r in range(leg.world_size)])
    return {
        "format": STATE_FORMAT,
        **order,
        **_progress_fields(epoch, progress, leg.epoch_windows),
        "leg": None,
    }


def _common_leg(current: list[dict], order: dict, epoch: int) -> Leg:
    """The leg all these states (of `epoch`) were read in; refuse states of different jobs."""
    legs = {(s["leg"]["position"], str(s["leg"]["served"]), s["leg"]["world_size"]) for s in current}
    if len(legs) != 1:
        raise ValueError(f"states of different jobs or legs of epoch {epoch}: {sorted(legs)}; pass one job's")
    first = current[0]["leg"]
    start = Progress(int(first["position"]), tuple((int(a), int(z)) for a, z in first["served"]))
    return Leg(start, int(order["epoch_windows"]), int(first["world_size"]), int(order["batch_size"]))


def _consumed_by_rank(states: list[dict], leg: Leg, epoch: int) -> dict[int, int]:
    consumed: dict[int, int] = {}
    for state in states:
        mine = state["leg"]
        finished = (
            int(state["epoch"]) == epoch + 1 and mine["consumed_samples"] == 0 and mine["position"] == 0
        )
        if int(state["epoch"]) != epoch and not (finished and mine["world_size"] == leg.world_size):
            raise ValueError(
                f"states from epochs {epoch} and {state['epoch']}: pass states of one checkpoint"
            )
        if mine["rank"] in consumed:
            raise ValueError(f"two states of rank {mine['rank']}")
        consumed[mine["rank"]] = leg.samples_per_rank if finished else int(mine["consumed_samples"])
    missing = sorted(set(range(leg.world_size)) - set(consumed))
    if missing or len(consumed) != leg.world_size:
        raise ValueError(f"the job had {leg.world_size} ranks; states of ranks {missing} are missing")
    return consumed
