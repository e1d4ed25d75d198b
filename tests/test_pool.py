"""The pool of the local runner's heavy steps (etl/local_runner/pool.py) and the files near dedup's shuffles wait in
(etl/local_runner/spilled.py): results in submission order from real worker processes, errors that reach the
caller, and spilled batches that come back as they went. The end-to-end byte identity of a run with and
without the pool is in tests/test_work_units.py."""

from __future__ import annotations

import os

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from etl.local_runner import pool, spilled
from etl.local_runner.spilled import gathered, spill, spill_keyed, unspilled


def _slow_square(i: int) -> tuple[int, int, int]:
    """(i, i*i, pid): later items finish first, so order comes from the pool, not from timing."""
    import time

    time.sleep(0.02 * (5 - i % 5))
    return i, i * i, os.getpid()


def _fails(i: int) -> int:
    if i == 3:
        raise ValueError(f"item {i} is bad")
    return i


@pytest.fixture(autouse=True)
def _stop_pools():
    yield
    pool.shutdown()


def test_results_come_back_in_submission_order_from_several_processes():
    ordered = pool.OrderedPool(2)
    got = []
    for i in range(12):
        got.extend(ordered.submit(_slow_square, i))
        assert len(got) >= i - 2  # at most processes + 1 in flight
    got.extend(ordered.drain())
    assert [(i, sq) for i, sq, _ in got] == [(i, i * i) for i in range(12)]
    pids = {pid for _, _, pid in got}
    assert os.getpid() not in pids and len(pids) == 2


def test_inline_runs_in_this_process_at_submission():
    ordered = pool.OrderedPool(0)
    assert [r[:2] for r in ordered.submit(_slow_square, 4)] == [(4, 16)]
    assert list(ordered.drain()) == []
    assert next(ordered.submit(_slow_square, 1))[2] == os.getpid()


def test_an_error_in_a_worker_reaches_the_caller():
    ordered = pool.OrderedPool(2)
    with pytest.raises(ValueError, match="item 3 is bad"):
        for i in range(8):
            list(ordered.submit(_fails, i))
        list(ordered.drain())
    ordered.close()


def test_the_pool_size_follows_the_runner_and_the_input(monkeypatch):
    from etl.local_runner.processes import ENV, POOL_MIN_BYTES, pool_processes

    monkeypatch.delenv(ENV, raising=False)
    assert pool_processes(False, 100, 10 * POOL_MIN_BYTES) == 0  # another runner: its workers are processes
    assert pool_processes(True, 1, 10 * POOL_MIN_BYTES) == 0  # one unit
    assert pool_processes(True, 100, POOL_MIN_BYTES - 1) == 0  # too small to pay for the start
    assert 1 <= pool_processes(True, 100, 10 * POOL_MIN_BYTES) <= len(os.sched_getaffinity(0))
    monkeypatch.setenv(ENV, "3")
    assert pool_processes(True, 1, 1) == 3
    monkeypatch.setenv(ENV, "0")
    assert pool_processes(True, 100, 10 * POOL_MIN_BYTES) == 0
    for bad in ("two", "-1", "1.5"):
        monkeypatch.setenv(ENV, bad)
        with pytest.raises(ValueError, match=f"{ENV}='{bad}'"):
            pool_processes(True, 100, 10 * POOL_MIN_BYTES)


def test_spilled_batches_come_back_as_they_went(tmp_path):
    a = pa.record_batch(
        {"key": pa.array([3, 1], pa.uint64()), "payload": pa.array([b"x" * 8, b"y"], pa.large_binary())}
    )
    b = pa.record_batch({"key": pa.array([7], pa.uint64()), "payload": pa.array([b"z"], pa.large_binary())})
    url = spill(str(tmp_path), [a, b])
    assert url.startswith(str(tmp_path)) and url.endswith(".arrow")
    back = list(unspilled([("node", url), ("want", a)]))
    assert [tag for tag, _ in back] == ["node", "node", "want"]
    assert pa.Table.from_batches([x for _, x in back[:2]]).equals(pa.Table.from_batches([a, b]))
    assert back[2][1] is a


def test_spill_keyed_writes_one_file_per_call_and_schema(tmp_path):
    a = pa.record_batch({"v": pa.array([1, 2])})
    b = pa.record_batch({"v": pa.array([3])})
    c = pa.record_batch({"w": pa.array(["x"])})
    items = [(5, ("want", a)), (2, ("want", b)), (5, ("want", b)), (5, ("node", a)), (2, ("node", c))]
    out = spill_keyed(str(tmp_path), items)
    assert [(k, t) for k, (t, _) in out] == [(5, "want"), (2, "want"), (5, "node"), (2, "node")]
    assert len(list(tmp_path.iterdir())) == 2  # a key's batches are a run of one file, not a file each
    rows = {
        (k, t): [v for _, batch in unspilled([(t, url)]) for r in batch.to_pylist() for v in r.values()]
        for k, (t, url) in out
    }
    assert rows == {(5, "want"): [1, 2, 3], (2, "want"): [3], (5, "node"): [1, 2], (2, "node"): ["x"]}


def test_a_bad_process_count_is_exit_2_before_the_output_is_touched(tmp_path, run_cli):
    data = tmp_path / "in.jsonl"
    data.write_text('{"text": "a document"}\n')
    out = tmp_path / "out"
    proc = run_cli("run", "--input", str(data), "--output", str(out), env={"CORPUS_ETL_PROCESSES": "many"})
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "CORPUS_ETL_PROCESSES='many'" in proc.stderr
    assert not out.exists()


def _has_module(name: str) -> bool:
    import sys

    return name in sys.modules


def test_a_warmed_pool_has_imported_its_modules_before_the_first_call():
    try:
        pool.warm(1, ("colorsys",))
        runner = pool.OrderedPool(1)
        for name in ("colorsys", "wave"):  # the second one: what a worker has not imported stays out
            list(runner.submit(_has_module, name))
        assert list(runner.drain()) == [True, False]
    finally:
        pool.shutdown()


def test_gathered_items_are_one_batch_per_key_and_tag_in_first_seen_order():
    a = pa.record_batch({"v": pa.array([1, 2])})
    b = pa.record_batch({"v": pa.array([3])})
    out = gathered([(5, ("want", a)), (2, ("want", b)), (5, ("want", b)), (5, ("node", a))])
    assert [(k, t, batch.column(0).to_pylist()) for k, (t, batch) in out] == [
        (5, "want", [1, 2, 3]),
        (2, "want", [3]),
        (5, "node", [1, 2]),
    ]


def _by_parity(batch: pa.RecordBatch):
    odd = pc.bit_wise_and(batch.column(0), 1).to_numpy().astype(bool)
    for key, rows in ((0, ~odd), (1, odd)):
        if rows.any():
            yield key, ("v", batch.filter(pa.array(rows)))


@pytest.mark.parametrize("limit", [1, 1 << 30])  # a file per batch, or one at the bundle's end
def test_a_buffered_spill_keys_the_same_rows_as_keying_each_batch(tmp_path, monkeypatch, limit):
    monkeypatch.setattr(spilled, "BUFFER_BYTES", limit)
    batches = [pa.record_batch({"v": pa.array(range(i, i + 5))}) for i in range(0, 50, 5)]

    def keyed_rows(root):
        step, items = spilled.BufferedSpill(_by_parity, root), []
        step.start_bundle()
        for batch in batches:
            items.extend(step.process(batch))
        items.extend(wv.value for wv in step.finish_bundle())
        rows: dict[int, list[int]] = {}
        for key, tagged in items:
            for _, b in unspilled([tagged]):
                rows.setdefault(key, []).extend(b.column(0).to_pylist())
        return {k: sorted(v) for k, v in rows.items()}, items

    plain, plain_items = keyed_rows(None)
    spilt, spilt_items = keyed_rows(str(tmp_path))
    assert plain == spilt == {0: list(range(0, 50, 2)), 1: list(range(1, 50, 2))}
    assert all(isinstance(value, str) for _, (_, value) in spilt_items)
    assert len(list(tmp_path.iterdir())) == (len(batches) if limit == 1 else 1)


def test_a_buffered_spill_keys_batches_of_two_schemas_apart(tmp_path):
    ints = pa.record_batch({"v": pa.array([1, 2, 3])})
    other = pa.record_batch({"v": pa.array([4, 5], pa.int32())})
    step = spilled.BufferedSpill(_by_parity, str(tmp_path))
    step.start_bundle()
    assert list(step.process(ints)) == [] and list(step.process(other)) == []
    items = [wv.value for wv in step.finish_bundle()]
    rows = sorted(v for _, tagged in items for _, b in unspilled([tagged]) for v in b.column(0).to_pylist())
    assert rows == [1, 2, 3, 4, 5]
