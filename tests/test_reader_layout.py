"""The reader's layout arithmetic: which stream windows a rank's samples are, and how a unit fills a batch."""

from __future__ import annotations

import numpy as np
import pytest

from etl.reader.layout import EpochPlan, SplitSpec, copy_unit, plan_epoch, sample_runs


def window_starts(runs: list[tuple[int, int]], window: int) -> list[int]:
    return [start + i * window for start, length in runs for i in range(length // window)]


@pytest.mark.parametrize(("per_lane", "batch", "lanes", "world"), [(31, 3, 2, 2), (8, 4, 4, 1), (5, 7, 3, 3)])
def test_each_window_of_the_stream_is_one_sample_of_one_rank(per_lane, batch, lanes, world):
    window = 5
    plan = EpochPlan(order=np.arange(1), ends=np.array([10**9]), windows_per_lane=per_lane)
    starts = []
    for rank in range(world):
        spec = SplitSpec(window - 1, batch, rank, world, lanes)
        samples = per_lane * lanes
        # batch by batch (as workers read) gives the same windows as all at once
        by_batch = [w for s in range(0, samples, batch) for w in window_starts(sample_runs(s, min(s + batch, samples), plan, spec), window)]  # fmt: skip
        assert by_batch == window_starts(sample_runs(0, samples, plan, spec), window)
        starts += by_batch
    assert sorted(starts) == list(range(0, per_lane * lanes * world * window, window))


def test_a_full_batch_reads_consecutive_windows_of_one_lane():
    spec = SplitSpec(seq_len=4, batch_size=4, rank=1, world_size=2, lanes=2)
    plan = EpochPlan(order=np.arange(1), ends=np.array([10**9]), windows_per_lane=10)
    # rank 1 owns lanes 2 and 3 (windows 20..29 and 30..39); batches alternate between them.
    assert [sample_runs(k * 4, k * 4 + 4, plan, spec) for k in range(4)] == [
        [(100, 20)], [(150, 20)], [(120, 20)], [(170, 20)]
    ]  # fmt: skip
    # the last 10 % 4 = 2 windows of each lane follow lane by lane
    assert sample_runs(16, 20, plan, spec) == [(140, 10), (190, 10)]


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
