"""Elastic resume: a job restarted on another number of ranks (and of dataloader workers) continues the epoch.

An epoch is read in legs: a job of `world` ranks reads part of it, every rank saves its state, and the next job,
of another size, loads them and goes on. Across the legs every window of the epoch must be served exactly once,
apart from the tail that the last leg drops to keep its ranks even (fewer than its world size; computed here
from the counts alone). A window is identified by its position in the epoch's global sequence and its tokens,
checked against an uninterrupted single-rank read, so a window served twice or moved is caught; the fixture's
token values are unique (tests/test_reader.py), so a token served twice is caught too.
"""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest

from etl.reader import TokenShardLoader, merge_states
from tests.test_reader import BATCH, WINDOW, all_tokens, dataset, write_corpus

LANES = 20  # a multiple of 1, 2, 4 and 2 x 2 ranks x workers; 3 ranks share lanes (more IO, same windows)
PER_LANE = 23  # 460 windows: not a multiple of 3, so a 3-rank last leg drops a tail

pytestmark = pytest.mark.filterwarnings("ignore:world_size \\* workers")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return write_corpus(tmp_path_factory.mktemp("resume"), total_tokens=LANES * PER_LANE * WINDOW, seed=3)


def identified(batch) -> list[tuple[int, bytes]]:
    """(position in the epoch's global sequence, tokens) of each window of a batch."""
    rows = batch["tokens"].numpy()
    return [(int(p), row.tobytes()) for p, row in zip(batch["sample_index"], rows, strict=True)]


@pytest.fixture(scope="module")
def epoch_windows(corpus) -> dict[int, bytes]:
    """Position -> tokens of every window of epoch 0, from one rank reading the whole epoch uninterrupted."""
    ds = dataset(corpus, world_size=1, lanes=LANES)
    windows = dict(w for b in ds for w in identified(b))
    assert sorted(windows) == list(range(LANES * PER_LANE)) and ds.epoch == 1
    return windows


def read_leg(corpus, world: int, workers: int, state, stops: list[int | None]):
    """One job: each rank loads `state` and reads epoch 0 until it has taken stops[rank] batches (None: to the
    epoch's end). Returns the windows served [(position, tokens)] and every rank's state, JSON round-tripped."""
    served, states = [], []
    for rank in range(world):
        loader = TokenShardLoader(dataset(corpus, rank, world_size=world, lanes=LANES), num_workers=workers)
        if state is not None:
            loader.load_state_dict(state)
        assert loader.epoch == 0
        for i, batch in enumerate(loader):
            served += identified(batch)
            if i + 1 == stops[rank]:
                break
        states.append(json.loads(json.dumps(loader.state_dict())))
    return served, states


def expected_tail(served_before: set[int], total: int, world: int) -> list[int]:
    """The positions a last leg of `world` ranks drops: the last (left % (world * BATCH)) % world left."""
    left = [p for p in range(total) if p not in served_before]
    drop = len(left) % (world * BATCH) % world
    return left[len(left) - drop :]


def check_exactly_once(served: list[tuple[int, bytes]], windows: dict[int, bytes], tail: list[int]) -> None:
    positions = [p for p, _ in served]
    assert len(positions) == len(set(positions)), "a window was served twice"
    assert all(windows[p] == tokens for p, tokens in served), "a position was served with other tokens"
    assert sorted(positions) == sorted(set(windows) - set(tail)), "a window was lost"
    tokens = np.concatenate([np.frombuffer(t, dtype=np.int64) for _, t in served])
    assert len(np.unique(tokens)) == len(tokens)


def resume_in_legs(corpus, legs, pass_states: str):
    """Read epoch 0 in legs of (world, workers, batches per rank or None); the last leg reads to the end."""
    served: list[tuple[int, bytes]] = []
    state = None
    for world, workers, stop in legs:
        before = {p for p, _ in served}
        got, states = read_leg(corpus, world, workers, state, [stop] * world)
        served += got
        state = states[0] if pass_states == "rank 0" else states
    assert states[0]["epoch"] == 1 and states[0]["position"] == 0, "the last leg finished the epoch"
    return served, before, legs[-1][0]


@pytest.mark.parametrize("pass_states", ["rank 0", "every rank"])
@pytest.mark.parametrize(
    "legs",
    [
        [(2, 2, 7), (1, 0, None)],  # 2 -> 1 ranks, 2 -> 0 workers
        [(1, 2, 11), (3, 0, None)],  # 1 -> 3 ranks, 2 -> 0 workers
        [(4, 0, 5), (2, 2, None)],  # 4 -> 2 ranks, 0 -> 2 workers
        [(2, 0, 4), (1, 2, 9), (3, 2, 6), (2, 0, None)],  # a chain through every size change
    ],
    ids=["2-1", "1-3", "4-2", "2-1-3-2"],
)
def test_every_window_of_the_epoch_is_served_once_across_world_size_changes(
    corpus, epoch_windows, legs, pass_states
):
    served, before_last, last_world = resume_in_legs(corpus, legs, pass_states)
    tail = expected_tail(before_last, len(epoch_windows), last_world)
    check_exactly_once(served, epoch_windows, tail)
    assert len(tail) < last_world


def test_a_three_rank_last_leg_drops_its_computed_tail(corpus, epoch_windows):
    served, before_last, _ = resume_in_legs(corpus, [(1, 2, 11), (3, 0, None)], "rank 0")
    tail = expected_tail(before_last, len(epoch_windows), 3)
    assert tail == [len(epoch_windows) - 1]  # 460 - 33 = 427 left, 427 % 9 % 3 = 1: the last window
    check_exactly_once(served, epoch_windows, tail)


def test_ranks_that_stopped_unevenly_are_merged_exactly(corpus, epoch_windows):
    # Each rank saved its own state after a different number of batches (an asynchronous checkpoint).
    first, states = read_leg(corpus, 2, 2, None, [5, 2])
    merged = merge_states(states)
    assert merged["served"], "what rank 0 served beyond rank 1's progress is kept"
    before = {p for p, _ in first}
    second, _ = read_leg(corpus, 3, 0, merged, [None] * 3)
    check_exactly_once(first + second, epoch_windows, expected_tail(before, len(epoch_windows), 3))
    # The list of states loads the same as their merge.
    again, _ = read_leg(corpus, 3, 0, states, [None] * 3)
    assert again == second


def test_a_rank_that_finished_the_epoch_merges_with_one_that_did_not(corpus, epoch_windows):
    # 460 windows over 2 ranks in steps of 6: 77 batches each (the last of 2 windows); rank 1 stops 2 early.
    first, states = read_leg(corpus, 2, 0, None, [None, 75])
    assert [s["epoch"] for s in states] == [1, 0]
    second, _ = read_leg(corpus, 1, 2, states, [None])
    assert len(second) == BATCH + 2  # rank 1's last two batches (3 and 2 windows), nothing else
    check_exactly_once(first + second, epoch_windows, [])
    with pytest.raises(ValueError, match="already global"):
        merge_states([merge_states(states)])


def test_an_unchanged_world_size_resumes_with_the_batches_of_an_uninterrupted_run(corpus):
    def run(workers, stops, state=None):
        return [read_leg(corpus, 2, workers, state, stops)[i] for i in (0, 1)]

    uninterrupted, _ = run(0, [None, None])
    head, states = run(2, [8, 8])
    tail, _ = run(0, [None, None], states[1])  # any rank's state: they agree
    per_rank = len(uninterrupted) // 2
    # read_leg lists rank 0's windows, then rank 1's
    assert head[:24] + tail[: per_rank - 24] == uninterrupted[:per_rank]
    assert head[24:] + tail[per_rank - 24 :] == uninterrupted[per_rank:]


def test_states_of_another_job_or_a_missing_rank_are_refused(corpus):
    _, two = read_leg(corpus, 2, 0, None, [3, 3])
    _, one = read_leg(corpus, 1, 0, None, [2])
    with pytest.raises(ValueError, match="ranks \\[1\\] are missing"):
        merge_states(two[:1])
    with pytest.raises(ValueError, match="different jobs"):
        merge_states([*two, *one])
    with pytest.raises(ValueError, match="lanes"):
        dataset(corpus, world_size=3, lanes=LANES // 2).load_state_dict(two)


def test_the_epoch_after_a_resumed_one_is_whole_at_the_new_world_size(corpus):
    _, states = read_leg(corpus, 2, 0, None, [4, 4])
    served = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for rank in range(3):
            ds = dataset(corpus, rank, world_size=3, lanes=LANES)
            ds.load_state_dict(states)
            list(ds)  # the rest of epoch 0
            assert ds.epoch == 1
            served += [b["tokens"].numpy().ravel() for b in ds]  # epoch 1, whole
    served = np.concatenate(served)
    everything = all_tokens(corpus)
    assert len(np.unique(served)) == len(served) and np.isin(served, everything).all()
    assert len(everything) - len(served) == LANES * PER_LANE % (3 * BATCH) % 3 * WINDOW


def test_sample_index_is_the_same_window_whatever_the_world_size(corpus, epoch_windows):
    served, _ = read_leg(corpus, 4, 2, None, [None] * 4)
    assert sorted(p for p, _ in served) == sorted(epoch_windows)  # 460 = 4 x 115: nothing dropped
    assert all(epoch_windows[p] == tokens for p, tokens in served)
