"""The reader's promises: each token once per epoch across ranks and workers, boundaries, shuffling, exact resume.

Fixtures are small corpora in the pipeline's output format. Every token value is unique and a document's tokens
count up by one, with a gap between documents, so coverage and document boundaries can be read off the values.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.reader import ManifestError, TokenShardDataset, TokenShardLoader, cu_seqlens

SEQ_LEN, BATCH, LANES, WORLD = 16, 3, 2, 2  # LANES: lanes per rank (the dataset's lanes are global)
WINDOW = SEQ_LEN + 1


def write_shard(path: Path, docs: list[np.ndarray], row_group_rows: int) -> dict:
    table = pa.table(
        {
            "doc_id": [f"d{int(d[0])}" for d in docs],
            "tokens": pa.array([d.tolist() for d in docs], pa.list_(pa.uint32())),
            "num_tokens": pa.array([len(d) for d in docs], pa.int64()),
            "source": ["fixture"] * len(docs),
            "meta": ["{}"] * len(docs),
        }
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, row_group_size=row_group_rows, compression="zstd")
    data = path.read_bytes()
    return {"rows": len(docs), "tokens": int(sum(len(d) for d in docs)), "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip


def make_docs(rng: np.random.Generator, total: int, first_value: int) -> list[np.ndarray]:
    """Documents of 1..60 tokens adding up to exactly `total`; values count up, one value skipped between docs."""
    docs, value, left = [], first_value, total
    while left:
        n = min(int(rng.integers(1, 61)), left)
        docs.append(np.arange(value, value + n, dtype=np.uint32))
        value, left = value + n + 1, left - n
    return docs


def write_corpus(root: Path, total_tokens: int, shards: int = 3, seed: int = 0, **manifest_extra) -> Path:
    rng = np.random.default_rng(seed)
    docs = make_docs(rng, total_tokens, first_value=1)
    entries = []
    for i, part in enumerate(np.array_split(np.arange(len(docs)), shards)):
        rel = f"shards/part-{i:05d}.parquet"
        meta = write_shard(root / rel, [docs[j] for j in part], row_group_rows=int(rng.integers(5, 15)))
        entries.append({"path": rel, **meta})
    manifest = {
        "schema_version": 1, "created_at": "2026-01-01T00:00:00+00:00", "config": {}, "config_hash": "x",
        "tokenizer": {"path": "tok.json", "sha256": "0", "vocab_size": 1 << 20, "eos_id": 0, "bos_id": None,
                      "special_ids": [0]},
        "counts": {}, "shards": entries, "validation": {"success": True},
    }  # fmt: skip
    manifest.update(manifest_extra)
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root / "manifest.json"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    # A whole number of windows per lane: nothing is dropped, so every token must come out exactly once.
    return write_corpus(tmp_path_factory.mktemp("corpus"), total_tokens=WORLD * LANES * WINDOW * 31)


def dataset(manifest: Path, rank: int = 0, **kw) -> TokenShardDataset:
    args = {
        "seq_len": SEQ_LEN,
        "batch_size": BATCH,
        "rank": rank,
        "world_size": WORLD,
        "lanes": WORLD * LANES,
    }
    args.update(kw)
    return TokenShardDataset(str(manifest), **args)


def batches(loader, limit: int | None = None) -> list[dict[str, np.ndarray]]:
    out = []
    for batch in loader:
        out.append({k: v.numpy().copy() for k, v in batch.items()})
        if limit is not None and len(out) == limit:
            break
    return out


def all_tokens(manifest: Path) -> np.ndarray:
    root = manifest.parent
    shards = json.loads(manifest.read_text())["shards"]
    return np.sort(
        np.concatenate([pq.read_table(root / s["path"])["tokens"].combine_chunks().flatten() for s in shards])
    )


def same(a: list[dict], b: list[dict]) -> bool:
    return len(a) == len(b) and all(
        x.keys() == y.keys() and all(np.array_equal(x[k], y[k]) for k in x) for x, y in zip(a, b, strict=True)
    )


def test_two_ranks_by_two_workers_serve_every_token_exactly_once(corpus):
    served, counts = [], []
    for rank in range(WORLD):
        got = batches(TokenShardLoader(dataset(corpus, rank=rank), num_workers=2))
        counts.append(len(got))
        served.extend(b["tokens"].ravel() for b in got)
    assert counts[0] == counts[1], "ranks must take the same number of steps"
    assert np.array_equal(np.sort(np.concatenate(served)), all_tokens(corpus))


def test_the_tail_dropped_is_less_than_a_window_per_lane(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 20 + 61)
    served = np.concatenate(
        [b["tokens"].ravel() for r in range(WORLD) for b in batches(dataset(manifest, r))]
    )
    everything = all_tokens(manifest)
    assert len(np.unique(served)) == len(served) and np.isin(served, everything).all()
    assert len(everything) - len(served) == 61 < WORLD * LANES * WINDOW


def test_position_ids_restart_at_document_and_window_starts(corpus):
    for b in batches(dataset(corpus, shuffle=True)):
        tokens, pos = b["tokens"].astype(np.int64), b["position_ids"]
        starts = np.ones_like(tokens, dtype=bool)
        starts[:, 1:] = tokens[:, 1:] != tokens[:, :-1] + 1
        assert np.array_equal(pos == 0, starts)
        assert (pos[:, 1:][~starts[:, 1:]] == pos[:, :-1][~starts[:, 1:]] + 1).all()
    row = np.array([0, 1, 2, 0, 1, 0])
    assert cu_seqlens(row).tolist() == [0, 3, 5, 6]


def test_epochs_differ_and_seed_and_epoch_repeat_the_order(corpus):
    ds = dataset(corpus)
    epoch0, epoch1 = batches(ds), batches(ds)  # in-process iteration moves on to the next epoch by itself
    again = dataset(corpus)
    again.set_epoch(1)
    other_seed = dataset(corpus, seed=7)
    assert ds.epoch == 2 and not same(epoch0, epoch1)
    assert same(batches(again), epoch1)
    assert not same(batches(other_seed), epoch0)
    for epoch in (0, 1):  # each epoch still covers the corpus once across ranks
        served = []
        for rank in range(WORLD):
            ds = dataset(corpus, rank)
            ds.set_epoch(epoch)
            served += [b["tokens"].ravel() for b in batches(ds)]
        assert np.array_equal(np.sort(np.concatenate(served)), all_tokens(corpus))


def test_without_shuffle_the_stream_is_manifest_order_and_with_it_documents_move_within_units(corpus):
    def stream(shuffle: bool) -> np.ndarray:
        ds = dataset(corpus, world_size=1, lanes=1, shuffle=shuffle)
        return np.concatenate([b["tokens"].ravel() for b in batches(ds)])

    assert (np.diff(stream(False)) > 0).all()
    units = sum(pq.ParquetFile(p).num_row_groups for p in (corpus.parent / "shards").iterdir())
    assert (np.diff(stream(True)) < 0).sum() > 3 * units  # far more descents than unit boundaries


def test_batches_do_not_depend_on_the_worker_count(corpus):
    reference = batches(TokenShardLoader(dataset(corpus, rank=1), num_workers=0))
    for workers in (1, 2, 3):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # 3 workers do not divide 2 lanes: more IO, same batches
            assert same(batches(TokenShardLoader(dataset(corpus, rank=1), num_workers=workers)), reference)


def run_epochs(loader: TokenShardLoader, epochs: int, stop_after: int | None = None) -> list[dict]:
    out = []
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)
        for batch in loader:
            out.append({k: v.numpy().copy() for k, v in batch.items()})
            if len(out) == stop_after:
                return out
    return out


@pytest.mark.filterwarnings("ignore:This DataLoader will create")  # 3 workers on a 2-core machine
@pytest.mark.parametrize(
    ("stop_after", "workers_before", "workers_after"), [(7, 2, 3), (21, 2, 1), (25, 1, 2)]
)
def test_resume_gives_the_batches_of_an_uninterrupted_run(corpus, stop_after, workers_before, workers_after):
    # 21 batches is exactly one epoch (2 lanes x 31 windows, 3 per batch): resuming at the epoch boundary.
    uninterrupted = run_epochs(TokenShardLoader(dataset(corpus), num_workers=2), epochs=2)
    assert len(uninterrupted) == 2 * 21
    first = TokenShardLoader(dataset(corpus), num_workers=workers_before)
    head = run_epochs(first, epochs=2, stop_after=stop_after)
    state = json.loads(json.dumps(first.state_dict()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        resumed = TokenShardLoader(dataset(corpus), num_workers=workers_after)
    resumed.load_state_dict(state)
    assert same(head + run_epochs(resumed, epochs=2), uninterrupted)


def test_in_process_state_dict_resumes_exactly(corpus):
    ds = dataset(corpus, rank=1)
    full = batches(dataset(corpus, rank=1))
    head = batches(ds, limit=5)
    resumed = dataset(corpus, rank=1)
    resumed.load_state_dict(ds.state_dict())
    assert same(head + batches(resumed), full)


def test_a_state_from_other_order_settings_is_refused(corpus):
    state = dataset(corpus).state_dict()
    with pytest.raises(ValueError, match="batch_size"):
        dataset(corpus, batch_size=BATCH + 1).load_state_dict(state)
    with pytest.raises(ValueError, match="lanes: saved 4, now 2"):
        dataset(corpus, lanes=LANES).load_state_dict(state)
    with pytest.raises(ValueError, match="seq_len"):
        dataset(corpus, seq_len=SEQ_LEN - 1).load_state_dict(state)
    with pytest.raises(ValueError, match="format"):
        dataset(corpus).load_state_dict({**state, "format": "etl.reader/1"})
    dataset(corpus, world_size=1).load_state_dict(state)  # the world size is not an order setting


def test_quarantined_and_unlisted_shards_are_never_read(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 4)
    bad = np.arange(10_000_000, 10_000_500, dtype=np.uint32)
    quarantined = write_shard(tmp_path / "quarantine/part-00000.parquet", [bad[:250]], 5)
    write_shard(tmp_path / "shards/part-09999.parquet", [bad[250:]], 5)  # on disk, not in the manifest
    doc = json.loads(manifest.read_text())
    doc["quarantine"] = [{"path": "quarantine/part-00000.parquet", **quarantined}]
    manifest.write_text(json.dumps(doc))
    served = np.concatenate(
        [b["tokens"].ravel() for r in range(WORLD) for b in batches(dataset(manifest, r))]
    )
    assert served.max() < 10_000_000 and len(served) == WORLD * LANES * WINDOW * 4


def test_a_changed_shard_fails_its_checksum(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 4)
    shard = tmp_path / "shards/part-00001.parquet"
    data = bytearray(shard.read_bytes())
    data[10] ^= 0xFF  # same size, different bytes
    shard.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="part-00001"):
        dataset(manifest, rank=0, verify="all")
    with pytest.raises(ManifestError, match="part-00001"):
        dataset(manifest, rank=1, verify="rank")  # shard 1 is rank 1's share with world_size 2
    dataset(manifest, rank=0, verify="rank")


def test_manifest_counts_must_match_the_files(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 4)
    doc = json.loads(manifest.read_text())
    doc["shards"][0]["tokens"] += 1
    manifest.write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="tokens"):
        dataset(manifest, verify="none")


def test_a_failed_validation_is_refused_unless_allowed(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 4, validation={"success": False})
    with pytest.raises(ManifestError, match="validation"):
        dataset(manifest)
    assert dataset(manifest, allow_unvalidated=True).samples_per_epoch == LANES * 4
