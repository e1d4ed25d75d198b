"""The reader's layout arithmetic: which stream window each global position is, how a leg deals positions to
ranks, and how a unit fills a batch."""

from __future__ import annotations

import numpy as np
import pytest

from etl.reader.layout import (
    EpochPlan,
    SplitSpec,
    copy_unit,
    plan_epoch,
    position_runs,
    stream_windows,
    units_of_windows,
)
from etl.reader.resume import Leg, Progress


@pytest.mark.parametrize(("per_lane", "batch", "lanes"), [(31, 3, 4), (8, 4, 4), (5, 7, 3), (10, 1, 1)])
def test_global_positions_are_a_permutation_of_the_stream_windows(per_lane, batch, lanes):
    spec = SplitSpec(seq_len=4, batch_size=batch, lanes=lanes)
    windows = stream_windows(np.arange(per_lane * lanes), per_lane, spec)
    assert sorted(windows.tolist()) == list(range(per_lane * lanes))


def test_the_sequence_takes_a_batch_of_consecutive_windows_from_each_lane_in_turn():
    spec = SplitSpec(seq_len=4, batch_size=4, lanes=2)
    # lanes of 10 windows: 0..9 and 10..19; rounds of 4 windows, then the last 10 % 4 = 2 of each lane
    assert stream_windows(np.arange(20), 10, spec).tolist() == [
        0, 1, 2, 3, 10, 11, 12, 13, 4, 5, 6, 7, 14, 15, 16, 17, 8, 9, 18, 19
    ]  # fmt: skip
    # positions 8..13 are windows 4..7 and 14, 15: two runs of 5-token windows
    assert position_runs(8, 14, 10, spec) == [(20, 20), (70, 10)]


@pytest.mark.parametrize(("windows", "batch", "world"), [(124, 3, 2), (100, 4, 3), (7, 2, 4), (50, 5, 1)])
def test_a_leg_gives_every_rank_the_same_count_and_drops_fewer_than_world_size(windows, batch, world):
    leg = Leg(Progress(), windows, world, batch)
    got = [leg.positions(r, 0, leg.samples_per_rank).tolist() for r in range(world)]
    flat = sorted(p for g in got for p in g)
    assert len(set(flat)) == len(flat) == world * leg.samples_per_rank
    assert flat == list(range(len(flat)))  # what is dropped is the end of the sequence
    assert windows - len(flat) == leg.dropped < world


def test_a_step_gives_each_rank_a_batch_of_consecutive_positions():
    leg = Leg(Progress(), 40, 2, 4)
    assert [leg.positions(1, k * 4, k * 4 + 4).tolist() for k in range(2)] == [[4, 5, 6, 7], [12, 13, 14, 15]]


@pytest.mark.parametrize(("per_lane", "batch", "lanes"), [(31, 3, 4), (5, 7, 3), (9, 2, 1)])
def test_position_runs_are_the_stream_windows_of_a_range(per_lane, batch, lanes):
    spec = SplitSpec(seq_len=4, batch_size=batch, lanes=lanes)
    for first, stop in [(0, per_lane * lanes), (1, 7), (per_lane * lanes - 5, per_lane * lanes)]:
        runs = position_runs(first, stop, per_lane, spec)
        windows = [(start // 5) + i for start, length in runs for i in range(length // 5)]
        assert windows == stream_windows(np.arange(first, stop), per_lane, spec).tolist()


@pytest.mark.parametrize("start", [Progress(), Progress(6, ((8, 10), (13, 14))), Progress(0, ((0, 0),))])
@pytest.mark.parametrize("world", [1, 3])
def test_leg_ranges_are_its_positions(start, world):
    leg = Leg(start, 47, world, 4)
    for rank in range(world):
        for first in range(0, leg.samples_per_rank, 4):
            stop = min(first + 4, leg.samples_per_rank)
            ranges = [p for a, z in leg.ranges(rank, first, stop) for p in range(a, z)]
            assert ranges == leg.positions(rank, first, stop).tolist()


def test_a_leg_skips_what_was_served_before_it():
    start = Progress(6, ((8, 10), (13, 14)))
    leg = Leg(start, 20, 1, 4)
    assert leg.remaining == 20 - 6 - 3
    assert leg.positions(0, 0, leg.samples_per_rank).tolist() == [6, 7, 10, 11, 12, 14, 15, 16, 17, 18, 19]


def test_progress_of_uneven_ranks_keeps_what_each_served_beyond_the_common_prefix():
    leg = Leg(Progress(), 40, 2, 4)  # steps of 8: rank 0 takes 0..3, 8..11, ...; rank 1 takes 4..7, 12..15
    assert leg.progress([8, 8]) == Progress(16)
    # rank 0 took 0..3, 8..11, 16..19; rank 1 only 4..7
    assert leg.progress([12, 4]) == Progress(12, ((16, 20),))
    assert leg.progress([leg.samples_per_rank] * 2) == Progress(40)
    resumed = Leg(leg.progress([12, 4]), 40, 3, 4)
    assert resumed.positions(0, 0, 4).tolist() == [12, 13, 14, 15]
    assert resumed.positions(1, 0, 4).tolist() == [20, 21, 22, 23]  # around what rank 0 served beyond 12


def test_windows_and_units_agree_with_the_plan():
    plan = EpochPlan(order=np.array([2, 0, 1]), ends=np.array([10, 25, 40]), windows_per_lane=4)
    # windows of 5 tokens: window 1 is tokens 5..9 (unit 2), window 2 is 10..14 (unit 0), 4..5 is 20..29
    assert units_of_windows(plan, np.array([1]), 5).tolist() == [2]
    assert units_of_windows(plan, np.array([2, 4, 5]), 5).tolist() == [0, 1]
    assert units_of_windows(plan, np.array([], dtype=np.int64), 5).tolist() == []


def test_plan_is_a_pure_function_of_seed_epoch_and_manifest():
    tokens = np.arange(1, 50) * 10
    spec = SplitSpec(seq_len=9, batch_size=2)
    a, b = (plan_epoch(tokens, spec, 3, 1, "ab" * 32, True) for _ in range(2))
    assert np.array_equal(a.order, b.order)
    assert not np.array_equal(a.order, plan_epoch(tokens, spec, 3, 2, "ab" * 32, True).order)
    assert not np.array_equal(a.order, plan_epoch(tokens, spec, 3, 1, "cd" * 32, True).order)
    with pytest.raises(ValueError, match="fewer than one window"):
        plan_epoch(np.array([5]), spec, 0, 0, "ab" * 32, True)


def test_copy_unit_copies_documents_in_epoch_order_and_restarts_positions_inside_windows():
    # documents of 3, 4, 5 tokens stored in order (values 10.., 20.., 30..), read in epoch order [2, 0, 1]
    values = np.array([10, 11, 12, 20, 21, 22, 23, 30, 31, 32, 33, 34])
    src, dst = [7, 0, 3], [0, 5, 8]
    tokens, positions = np.zeros(12, np.int64), np.tile(np.arange(4), 3)
    copy_unit(values, src, dst, lo=2, n=10, tokens=tokens, positions=positions, out_at=1, ramp=np.arange(4))
    # out 1..3: doc 2 from its 3rd token; 4..6 doc 0; 7..10 doc 1 (window starts at 4 and 8)
    assert tokens.tolist() == [0, 32, 33, 34, 10, 11, 12, 20, 21, 22, 23, 0]
    assert positions.tolist() == [0, 0, 1, 2, 0, 1, 2, 0, 0, 1, 2, 3]


def test_copy_unit_restarts_twice_inside_one_window():
    values = np.arange(100, 110)
    tokens, positions = np.zeros(10, np.int64), np.arange(10)
    copy_unit(
        values,
        [0, 2, 5],
        [0, 2, 5],
        lo=0,
        n=10,
        tokens=tokens,
        positions=positions,
        out_at=0,
        ramp=np.arange(10),
    )
    assert positions.tolist() == [0, 1, 0, 1, 2, 0, 1, 2, 3, 4]
