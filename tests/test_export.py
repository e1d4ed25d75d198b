"""`corpus-etl export`: a real committed run to Megatron's indexed dataset, read back with megatron-core's own
`IndexedDataset` token for token; the receipt; and the refusals (changed shard, busy output, failed validation).
MDS and litdata are read back by their own readers in tests/test_export_streaming.py.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from etl.cli import main
from etl.export.megatron import MegatronWriter
from etl.export.source import DocumentBatch
from etl.export.target import RECEIPT, open_target
from tests.export_support import committed_run, shard_documents

with warnings.catch_warnings():
    warnings.simplefilter("ignore")  # "Transformer Engine and Apex are not installed": not needed to read
    from megatron.core.datasets.indexed_dataset import IndexedDataset


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    return committed_run(tmp_path_factory)


@pytest.fixture(scope="module")
def megatron(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("megatron") / "export"
    assert main(["export", str(run), "--format", "megatron", "--output", str(out)]) == 0
    return out


def test_megatron_export_reads_back_token_for_token_through_indexed_dataset(run, megatron):
    docs = shard_documents(run)
    ds = IndexedDataset(str(megatron / "corpus"))
    assert len(ds) == len(docs)
    for i, doc in enumerate(docs):
        assert np.array_equal(ds[i].astype(np.int64), doc["tokens"]), doc["doc_id"]
    assert ds[0].dtype == np.uint16  # the default tokenizer has 16,384 ids
    assert ds.document_indices.tolist() == list(range(len(docs) + 1))  # one sequence per document
    assert ds.sequence_lengths.tolist() == [len(d["tokens"]) for d in docs]
    # A slice of one sequence, as Megatron's GPTDataset reads windows across documents.
    assert np.array_equal(ds.get(3, offset=2, length=5).astype(np.int64), docs[3]["tokens"][2:7])


def test_every_exported_document_ends_with_the_eos_the_shards_have(run, megatron):
    eos = json.loads((run / "manifest.json").read_text())["tokenizer"]["eos_id"]
    ds = IndexedDataset(str(megatron / "corpus"))
    assert {int(ds[i][-1]) for i in range(len(ds))} == {eos}
    assert all(int(d["tokens"][-1]) == eos for d in shard_documents(run))


def test_the_receipt_names_the_run_by_its_manifest_hash_and_counts_what_was_written(run, megatron):
    receipt = json.loads((megatron / RECEIPT).read_text())
    manifest = run / "manifest.json"
    docs = shard_documents(run)
    assert receipt["source"]["sha256"] == hashlib.sha256(manifest.read_bytes()).hexdigest()
    assert receipt["documents"] == len(docs)
    assert receipt["tokens"] == sum(len(d["tokens"]) for d in docs)
    assert receipt["format"] == "megatron" and receipt["dtype"] == "uint16"
    assert sorted(receipt["files"]) == sorted(p.name for p in megatron.iterdir() if p.name != RECEIPT)


def test_a_vocabulary_over_65536_ids_is_int32_for_megatron(tmp_path):
    rng = np.random.default_rng(0)
    lengths = [5, 1, 9, 3]
    tokens = rng.integers(60_000, 200_000, size=sum(lengths)).astype(np.uint32)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    batch = DocumentBatch(tokens, offsets, ["a", "b", "c", "d"], ["s"] * 4, ["{}"] * 4)
    writer = MegatronWriter(open_target(str(tmp_path / "big")), vocab_size=200_000)
    writer.add(batch)
    writer.finish()
    ds = IndexedDataset(str(tmp_path / "big" / "corpus"))
    assert ds[0].dtype == np.int32
    for i in range(len(lengths)):
        assert np.array_equal(ds[i], tokens[offsets[i] : offsets[i + 1]].astype(np.int32))


def test_an_id_that_does_not_fit_the_vocabulary_is_refused(tmp_path):
    batch = DocumentBatch(np.array([70_000], np.uint32), np.array([0, 1]), ["a"], ["s"], ["{}"])
    writer = MegatronWriter(open_target(str(tmp_path / "x")), vocab_size=16_384)
    with pytest.raises(ValueError, match="70000 does not fit uint16"):
        writer.add(batch)


def copy_run(run: Path, dest: Path) -> Path:
    shutil.copytree(run, dest)
    return dest


def test_a_changed_shard_is_refused_by_name_and_the_export_leaves_nothing(run, tmp_path, capsys):
    bad = copy_run(run, tmp_path / "run")
    manifest = json.loads((bad / "manifest.json").read_text())
    shard = bad / manifest["shards"][-1]["path"]  # the last: the shards before it are written by then
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other bytes
    shard.write_bytes(bytes(data))
    out = tmp_path / "export"
    assert main(["export", str(bad / "manifest.json"), "--format", "megatron", "--output", str(out)]) == 2
    assert manifest["shards"][-1]["path"] in capsys.readouterr().err
    assert list(out.iterdir()) == []


def test_an_output_that_holds_files_is_refused(run, tmp_path, capsys):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("someone else's")
    assert main(["export", str(run), "--format", "mds", "--output", str(out)]) == 2
    assert "already holds files" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_a_run_whose_validation_failed_is_refused_unless_allowed(run, tmp_path, capsys):
    bad = copy_run(run, tmp_path / "run")
    manifest = json.loads((bad / "manifest.json").read_text())
    manifest["validation"]["success"] = False
    (bad / "manifest.json").write_text(json.dumps(manifest))
    args = ["export", str(bad), "--format", "litdata", "--output"]
    assert main([*args, str(tmp_path / "a")]) == 2
    assert "validation did not pass" in capsys.readouterr().err
    assert main([*args, str(tmp_path / "b"), "--allow-unvalidated"]) == 0


def test_an_unknown_format_is_a_usage_error(run, tmp_path):
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(run), "--format", "webdataset", "--output", str(tmp_path / "x")])
    assert exit_.value.code == 2


def test_export_reads_a_run_on_s3_and_writes_to_s3(run, s3_client, tmp_path):
    s3_client.create_bucket(Bucket="runs")
    for path in run.rglob("*"):
        if path.is_file():
            s3_client.upload_file(str(path), "runs", f"out/{path.relative_to(run).as_posix()}")
    assert main(["export", "s3://runs/out", "--format", "megatron", "--output", "s3://runs/megatron"]) == 0
    local = tmp_path / "megatron"
    local.mkdir()
    for name in ("corpus.bin", "corpus.idx", RECEIPT):
        s3_client.download_file("runs", f"megatron/{name}", str(local / name))
    ds = IndexedDataset(str(local / "corpus"))
    assert [d["tokens"].tolist() for d in shard_documents(run)] == [ds[i].tolist() for i in range(len(ds))]
    assert json.loads((local / RECEIPT).read_text())["source"]["manifest"] == "s3://runs/out/manifest.json"
