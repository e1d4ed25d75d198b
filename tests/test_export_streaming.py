"""MDS and litdata exports of a real committed run, read back by mosaicml-streaming's and litdata's own
`StreamingDataset`, token for token against the shards. The readers run in their own venv (see
tests/export_support.py for why and how), in one subprocess for every export of this module.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest

from etl.export import export_run
from etl.export.litdata import LitDataWriter
from etl.export.mds import MDSWriter
from etl.export.source import DocumentBatch
from etl.export.target import open_target
from tests.export_support import READ_BACK, committed_run, readers_python, shard_documents

PART_BYTES = 6000  # small parts, so that every export has several files
BLOCK = 50  # litdata TokensLoader block size of the block test


def high_id_batch() -> DocumentBatch:
    """Documents with ids over 65,535, as a vocabulary of 200k ids has (the uint32 path of both formats)."""
    lengths = [7, 1, 12, 4]
    tokens = np.random.default_rng(1).integers(60_000, 200_000, size=sum(lengths)).astype(np.uint32)
    return DocumentBatch(
        tokens, np.concatenate([[0], np.cumsum(lengths)]), list("abcd"), ["s"] * 4, ["{}"] * 4
    )


@pytest.fixture(scope="module")
def exports(tmp_path_factory, request) -> dict:
    run = committed_run(tmp_path_factory)
    root = tmp_path_factory.mktemp("streaming-exports")
    for fmt in ("mds", "litdata"):
        export_run(str(run), fmt, str(root / fmt), part_bytes=PART_BYTES)
    for name, writer in (("mds-high", MDSWriter), ("litdata-high", LitDataWriter)):
        w = writer(open_target(str(root / name)), vocab_size=200_000)
        w.add(high_id_batch())
        w.finish()
    jobs = [
        {"name": "mds", "format": "mds", "dir": str(root / "mds")},
        {"name": "lit1", "format": "litdata", "dir": str(root / "litdata"), "block_size": 1},
        {"name": "litB", "format": "litdata", "dir": str(root / "litdata"), "block_size": BLOCK},
        {"name": "mds-high", "format": "mds", "dir": str(root / "mds-high")},
        {"name": "lit-high", "format": "litdata", "dir": str(root / "litdata-high"), "block_size": 1},
    ]
    (root / "jobs.json").write_text(json.dumps(jobs))
    python = readers_python(Path(request.config.cache.mkdir("export-readers")))
    proc = subprocess.run(
        [str(python), str(READ_BACK), str(root / "jobs.json"), str(root / "read.npz")],
        capture_output=True, text=True, timeout=600, cwd=root,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    with np.load(root / "read.npz") as npz:
        read = {key: npz[key] for key in npz.files}
    return {"run": run, "root": root, "read": read, "docs": shard_documents(run)}


def test_mds_serves_every_document_in_order_with_its_id_source_and_meta(exports):
    docs, read = exports["docs"], exports["read"]
    assert read["mds.doc_id"].tolist() == [d["doc_id"] for d in docs]
    assert read["mds.source"].tolist() == [d["source"] for d in docs]
    assert read["mds.meta"].tolist() == [d["meta"] for d in docs]
    assert read["mds.lengths"].tolist() == [len(d["tokens"]) for d in docs]
    assert np.array_equal(read["mds.tokens"], np.concatenate([d["tokens"] for d in docs]))
    assert str(read["mds.dtype"]) == "uint16"
    index = json.loads((exports["root"] / "mds" / "index.json").read_text())
    assert len(index["shards"]) > 1  # read across shard files, each checked against its sha256


def test_litdata_serves_the_token_stream_of_every_document(exports):
    docs, read = exports["docs"], exports["read"]
    assert np.array_equal(read["lit1.tokens"], np.concatenate([d["tokens"] for d in docs]))
    assert str(read["lit1.dtype"]) == "uint16"


def test_litdata_blocks_are_the_stream_of_each_chunk_cut_into_block_size(exports):
    """TokensLoader serves whole blocks of each chunk's stream; the test rebuilds them from the shards and
    the number of documents each chunk holds (the only fact it takes from the export)."""
    docs, read = exports["docs"], exports["read"]
    chunks = json.loads((exports["root"] / "litdata" / "index.json").read_text())["chunks"]
    assert len(chunks) > 1 and sum(c["chunk_size"] for c in chunks) == len(docs)
    expected, first = [], 0
    for chunk in chunks:
        stream = np.concatenate([d["tokens"] for d in docs[first : first + chunk["chunk_size"]]])
        first += chunk["chunk_size"]
        expected.append(stream[: len(stream) // BLOCK * BLOCK])
    assert set(read["litB.lengths"].tolist()) == {BLOCK}
    assert np.array_equal(read["litB.tokens"], np.concatenate(expected))


def test_ids_over_65535_are_uint32_in_both_formats(exports):
    batch, read = high_id_batch(), exports["read"]
    assert str(read["mds-high.dtype"]) == "uint32" and str(read["lit-high.dtype"]) == "uint32"
    assert np.array_equal(read["mds-high.tokens"], batch.tokens.astype(np.int64))
    assert read["mds-high.lengths"].tolist() == batch.lengths.tolist()
    assert np.array_equal(read["lit-high.tokens"], batch.tokens.astype(np.int64))
