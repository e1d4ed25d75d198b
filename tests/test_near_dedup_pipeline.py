"""NearDedup as a Beam stage: nothing lost, extra columns untouched, and the same kept set and reject rows
across runs, batch partitionings and runner modes (in_memory vs multi_processing with 2 workers)."""

from __future__ import annotations

import random

import pyarrow as pa
import pytest

from tests.test_near_dedup import docs_batch, make_corpus, run_stage
from transforms.near_dedup import NearDedupConfig


@pytest.fixture(scope="module")
def small_corpus():
    ids, texts = make_corpus(seed=11, n_base=60)
    return docs_batch(ids, texts)


def reject_rows(rejects: pa.Table) -> list[tuple]:
    cols = ("doc_id", "source", "line", "stage", "reason", "detail", "value", "text")
    return sorted(zip(*(rejects.column(c).to_pylist() for c in cols), strict=True))


def test_near_dedup_result_is_independent_of_batching_and_runs(small_corpus, tmp_path):
    config = NearDedupConfig()
    one = run_stage([small_corpus], config, tmp_path / "one")
    again = run_stage([small_corpus], config, tmp_path / "again")
    order = list(range(small_corpus.num_rows))
    random.Random(5).shuffle(order)
    shuffled = small_corpus.take(pa.array(order))
    cut = [shuffled.slice(i, 37) for i in range(0, shuffled.num_rows, 37)]
    rebatched = run_stage(cut, config, tmp_path / "rebatched")
    kept = sorted(one[0].column("doc_id").to_pylist())
    assert 0 < one[1].num_rows < small_corpus.num_rows
    for other in (again, rebatched):
        assert sorted(other[0].column("doc_id").to_pylist()) == kept
        assert reject_rows(other[1]) == reject_rows(one[1])


def test_near_dedup_same_kept_set_in_memory_and_multi_processing(small_corpus, tmp_path):
    config = NearDedupConfig()
    batches = [small_corpus.slice(i, 64) for i in range(0, small_corpus.num_rows, 64)]
    local = run_stage(batches, config, tmp_path / "local")
    multi = run_stage(batches, config, tmp_path / "multi", mode="multi_processing", workers=2)
    assert sorted(multi[0].column("doc_id").to_pylist()) == sorted(local[0].column("doc_id").to_pylist())
    assert reject_rows(multi[1]) == reject_rows(local[1])


def test_near_dedup_passes_every_row_and_extra_column_through(small_corpus, tmp_path):
    kept, rejects = run_stage([small_corpus], NearDedupConfig(), tmp_path)
    assert kept.num_rows + rejects.num_rows == small_corpus.num_rows
    assert kept.schema == small_corpus.schema
    original = {r["doc_id"]: r for r in small_corpus.to_pylist()}
    for row in kept.to_pylist():
        assert row == original[row["doc_id"]]
    for row in rejects.to_pylist():
        assert (row["source"], row["line"], row["text"]) == tuple(
            original[row["doc_id"]][c] for c in ("source", "line", "text")
        )


def test_near_dedup_disabled_keeps_everything(small_corpus, tmp_path):
    kept, rejects = run_stage([small_corpus], NearDedupConfig(enabled=False), tmp_path)
    assert kept.num_rows == small_corpus.num_rows and rejects.num_rows == 0
