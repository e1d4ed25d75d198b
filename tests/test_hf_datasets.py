"""Hugging Face `datasets` reads a real committed run: `load_dataset("parquet", data_files=data_files(RUN))`
gives the manifest's documents in manifest order, tokens included, and never a file the manifest does not list.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from etl.export.hf import data_files
from etl.reader import ManifestError
from tests.export_support import committed_run, shard_documents


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return committed_run(tmp_path_factory)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """The Parquet builder is packaged with `datasets`: nothing here may reach the Hub."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")


def test_load_dataset_reads_the_manifests_documents_in_order(run, tmp_path):
    ds = load_dataset("parquet", data_files=data_files(str(run)), split="train", cache_dir=str(tmp_path))
    docs = shard_documents(run)
    assert ds.num_rows == len(docs)
    assert ds["doc_id"] == [d["doc_id"] for d in docs]
    assert ds["meta"] == [d["meta"] for d in docs]
    for row, doc in zip(ds.with_format("numpy"), docs, strict=True):
        assert np.array_equal(row["tokens"].astype(np.int64), doc["tokens"])
        assert row["num_tokens"] == len(doc["tokens"])


def test_streaming_mode_reads_the_same_tokens(run):
    ds = load_dataset("parquet", data_files=data_files(str(run)), split="train", streaming=True)
    assert [row["tokens"] for row in ds] == [d["tokens"].tolist() for d in shard_documents(run)]


def test_only_listed_shards_are_named_and_a_changed_one_is_refused(run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(run, copy)
    manifest = json.loads((copy / "manifest.json").read_text())
    (copy / "shards" / "part-99999-stale.parquet").write_bytes(
        (copy / manifest["shards"][0]["path"]).read_bytes()
    )
    listed = [str(copy / s["path"]) for s in manifest["shards"]]
    assert data_files(str(copy)) == listed
    shard = copy / manifest["shards"][0]["path"]
    shard.write_bytes(shard.read_bytes()[:-1] + b"\0")
    with pytest.raises(ManifestError, match="sha256"):
        data_files(str(copy))
