"""The reader under damaged outputs: a changed byte is caught by the rank that reads it, a missing shard is the
reader's own error naming it, and a manifest whose counts disagree with its shard list is refused at load.

Corpora are the small fixtures of test_reader (world_size 2, two lanes), so which rank reads which shard in
which epoch can be read off `TokenShardDataset.shards_read`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from etl.reader import ManifestError, ShardMissingError, TokenShardLoader
from tests.test_reader import LANES, WINDOW, WORLD, batches, dataset, write_corpus

TOKENS = WORLD * LANES * WINDOW * 4


def flip_a_data_byte(shard: Path) -> None:
    """Change one byte inside the first data page: same size, same footer, other content."""
    data = bytearray(shard.read_bytes())
    data[10] ^= 0xFF
    shard.write_bytes(bytes(data))


def shard_read_only_in_epoch_one(tmp_path: Path) -> tuple[Path, int, str]:
    """A corpus, a rank and a shard that rank reads in epoch 1 but not in epoch 0 (searched over seeds)."""
    for seed in range(40):
        manifest = write_corpus(tmp_path / f"seed{seed}", total_tokens=TOKENS, shards=4, seed=seed)
        for rank in range(WORLD):
            ds = dataset(manifest, rank=rank, verify="none")
            later = sorted(set(ds.shards_read(1)) - set(ds.shards_read(0)))
            if later:
                return manifest, rank, later[0]
    raise AssertionError("no fixture seed gives a shard first read in epoch 1")


def test_a_rank_hashes_a_shard_outside_its_old_share_before_reading_it(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=TOKENS)
    # A shard that rank r reads although r's old 1/world_size hashing share (shards[r::world]) left it out.
    found = [
        (rank, path)
        for rank in range(WORLD)
        for path in dataset(manifest, rank=rank, verify="none").shards_read(0)
        if int(path.split("-")[-1].split(".")[0]) % WORLD != rank
    ]
    assert found, "the fixture must have a rank that reads outside its old hashing share"
    rank, path = found[0]
    flip_a_data_byte(tmp_path / path)
    with pytest.raises(ManifestError, match=f"sha256.*{path}"):
        dataset(manifest, rank=rank, verify="rank")
    with pytest.raises(ManifestError, match=path):
        dataset(manifest, rank=rank, verify="all")
    # By definition of "none": only sizes, rows and tokens are checked, and they still agree.
    assert dataset(manifest, rank=rank, verify="none").shards_read(0)


def test_a_shard_first_read_in_a_later_epoch_is_hashed_before_that_epoch(tmp_path):
    manifest, rank, path = shard_read_only_in_epoch_one(tmp_path)
    flip_a_data_byte(manifest.parent / path)
    ds = dataset(manifest, rank=rank, verify="rank")  # epoch 0 does not touch it: construction passes
    ds.set_epoch(0)
    assert len(batches(ds)) == len(dataset(manifest, rank=rank, verify="none"))  # and epoch 0 reads whole
    ds.set_epoch(1)
    with pytest.raises(ManifestError, match=f"sha256.*{path}"):
        next(iter(ds))
    loader = TokenShardLoader(dataset(manifest, rank=rank, verify="rank"), num_workers=2)
    loader.set_epoch(1)
    with pytest.raises(ManifestError, match=f"sha256.*{path}"):
        next(iter(loader))


def test_an_intact_corpus_verified_per_rank_serves_every_epoch(tmp_path):
    manifest, rank, _ = shard_read_only_in_epoch_one(tmp_path)
    ds = dataset(manifest, rank=rank, verify="rank")
    for epoch in range(3):
        ds.set_epoch(epoch)
        assert len(batches(ds)) > 0
    assert {ds.corpus.shards[i].path for i in ds._verified} == {
        p for e in range(3) for p in ds.shards_read(e)
    }


@pytest.mark.parametrize("verify", ["rank", "all", "none"])
def test_a_deleted_shard_is_a_shard_missing_error_naming_it(tmp_path, verify):
    manifest = write_corpus(tmp_path, total_tokens=TOKENS)
    (tmp_path / "shards/part-00002.parquet").unlink()
    with pytest.raises(ShardMissingError, match="shards/part-00002.parquet"):
        dataset(manifest, verify=verify)


def test_a_shard_deleted_after_construction_fails_the_read_naming_it(tmp_path):
    manifest = write_corpus(tmp_path, total_tokens=TOKENS)
    ds = dataset(manifest, rank=0, verify="none")
    path = ds.shards_read(0)[0]
    (tmp_path / path).unlink()
    with pytest.raises(ShardMissingError, match=path) as caught:
        batches(ds)
    assert isinstance(caught.value, ManifestError)


def rewrite(manifest: Path, change) -> Path:
    doc = json.loads(manifest.read_text())
    change(doc)
    manifest.write_text(json.dumps(doc))
    return manifest


def consistent_counts(doc: dict) -> None:
    rows = sum(s["rows"] for s in doc["shards"])
    doc["counts"] = {"read": rows + 3, "kept": rows,
                     "stages": {"read": {"in": rows + 3, "out": rows}, "tokenize": {"in": rows, "out": rows}}}  # fmt: skip


def test_counts_that_match_the_shards_load(tmp_path):
    manifest = rewrite(write_corpus(tmp_path, total_tokens=TOKENS), consistent_counts)
    assert dataset(manifest).samples_per_epoch == LANES * 4


def test_kept_that_is_not_the_rows_of_the_shards_is_refused(tmp_path):
    def off_by_one(doc):
        consistent_counts(doc)
        doc["counts"]["kept"] += 1

    manifest = rewrite(write_corpus(tmp_path, total_tokens=TOKENS), off_by_one)
    with pytest.raises(ManifestError, match="counts.kept"):
        dataset(manifest, verify="none")


def test_a_last_stage_out_that_is_not_the_rows_of_the_shards_is_refused(tmp_path):
    def stage_off(doc):
        consistent_counts(doc)
        doc["counts"]["stages"]["tokenize"]["out"] -= 1

    manifest = rewrite(write_corpus(tmp_path, total_tokens=TOKENS), stage_off)
    with pytest.raises(ManifestError, match="counts.stages.tokenize.out"):
        dataset(manifest, verify="none")


def test_quarantined_rows_count_towards_kept(tmp_path):
    def quarantine_last(doc):
        consistent_counts(doc)
        moved = doc["shards"].pop()
        doc["quarantine"] = [dict(moved, path=moved["path"].replace("shards/", "quarantine/"))]

    manifest = rewrite(write_corpus(tmp_path, total_tokens=TOKENS), quarantine_last)
    assert dataset(manifest, world_size=1).samples_per_epoch > 0


def test_a_shard_listed_twice_is_refused(tmp_path):
    def twice(doc):
        doc["shards"].append(dict(doc["shards"][0]))

    manifest = rewrite(write_corpus(tmp_path, total_tokens=TOKENS), twice)
    with pytest.raises(ManifestError, match="part-00000.parquet is listed twice"):
        dataset(manifest, verify="none")


def test_shards_are_found_by_the_manifest_paths_not_by_name_patterns(tmp_path):
    """Versioned names (part-00000-<ver>.parquet) read like any other: the reader only follows the manifest."""
    manifest = write_corpus(tmp_path, total_tokens=TOKENS)
    doc = json.loads(manifest.read_text())
    for i, shard in enumerate(doc["shards"]):
        renamed = f"shards/part-{i:05d}-v7e3a.parquet"
        (tmp_path / shard["path"]).rename(tmp_path / renamed)
        shard["path"] = renamed
    manifest.write_text(json.dumps(doc))
    ds = dataset(manifest, verify="all")
    assert all(p.endswith("-v7e3a.parquet") for p in ds.shards_read(0))
    assert sum(b["tokens"].size for r in range(WORLD) for b in batches(dataset(manifest, rank=r))) == TOKENS
