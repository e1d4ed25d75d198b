"""Pure parts of the skeleton: sources, normalisation, exact dedup, removal filter, config, reconciliation."""

from __future__ import annotations

import gzip
import hashlib

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import ConfigError, load_config
from etl.ingest.plan import plan_units
from etl.ingest.sources import InputError, InputSpec, expand_inputs, read_file
from etl.store.manifest import merge_stage_counts, reconcile
from etl.store.shard_writer import UnitWriter
from transforms.exact_dedup import duplicate_removals, hash_keys
from transforms.near_dedup.hashing import doc_keys
from transforms.normalize import normalize_batch
from transforms.schema import DOC_SCHEMA
from transforms.stage import RemovalFilter


def docs(texts, ids=None):
    ids = ids or [f"d{i}" for i in range(len(texts))]
    n = len(texts)
    return pa.RecordBatch.from_pydict(
        {
            "doc_id": ids,
            "text": texts,
            "source": ["s"] * n,
            "meta": ["{}"] * n,
            "line": list(range(1, n + 1)),
        },
        schema=DOC_SCHEMA,
    )


def collect(url, spec=None):
    got = {"docs": [], "rejects": []}
    for kind, batch in read_file(url, spec or InputSpec()):
        got[kind].extend(batch.to_pylist())
    return got


def test_normalize_makes_nfc_unifies_line_endings_and_drops_control_characters():
    kept, rejects = normalize_batch(docs(["e\u0301t\u00e9\r\nx\ry\x00z\tq\x85", "\x00 \x07 "]))
    assert kept.column("text").to_pylist() == ["\u00e9t\u00e9\nx\nyz\tq"]
    assert rejects.column("reason").to_pylist() == ["empty_text"]
    assert rejects.column("stage").to_pylist() == ["normalize"]


def test_exact_dedup_keeps_smallest_doc_id_per_identical_text():
    batch = docs(["same", "other", "same", "same"], ["c", "a", "b", "d"])
    removed = duplicate_removals(pa.Table.from_batches([hash_keys(batch)])).to_pylist()
    assert sorted((r["doc_id"], r["detail"]) for r in removed) == [
        ("c", "duplicate of b"),
        ("d", "duplicate of b"),
    ]


def test_removal_filter_moves_named_documents_to_rejects_with_their_reason():
    batch = docs(["a", "b", "c"])
    removals = pa.table(
        {
            "key": pa.array(doc_keys(batch.slice(1, 1)), pa.uint64()),
            "doc_id": ["d1"],
            "stage": ["near_dedup"],
            "reason": ["near_duplicate"],
            "detail": ["duplicate of d0"],
            "value": [0.91],
        }
    )
    kept, rejects = RemovalFilter("near_dedup", removals).process(batch)
    assert kept.column("doc_id").to_pylist() == ["d0", "d2"]
    row = rejects.to_pylist()[0]
    assert (row["doc_id"], row["stage"], row["reason"], row["value"]) == (
        "d1",
        "near_dedup",
        "near_duplicate",
        0.91,
    )


def test_removal_matches_the_row_not_just_its_doc_id():
    """Merged corpora reuse ids: removing file a's "1" must keep file b's "1"."""
    a = docs(["same text"], ["1"])
    b = pa.RecordBatch.from_pydict(
        {"doc_id": ["1"], "text": ["same text"], "source": ["b"], "meta": ["{}"], "line": [1]},
        schema=DOC_SCHEMA,
    )
    removals = duplicate_removals(pa.Table.from_batches([hash_keys(a), hash_keys(b)]))
    assert removals.num_rows == 1
    stage = RemovalFilter("exact_dedup", pa.Table.from_batches([removals]))
    kept_a, rejected_a = stage.process(a)
    kept_b, rejected_b = stage.process(b)
    assert kept_a.num_rows + kept_b.num_rows == 1
    assert rejected_a.num_rows + rejected_b.num_rows == 1


def test_jsonl_reader_derives_ids_from_source_and_line_and_keeps_other_fields_as_meta(tmp_path):
    path = tmp_path / "x.jsonl.gz"
    with gzip.open(path, "wt") as fh:
        fh.write('{"text": "hello", "url": "u", "n": 1}\n{"id": 7, "text": "second"}\n')
    got = collect(str(path))
    assert [d["doc_id"] for d in got["docs"]] == [f"{path}:1", "7"]
    assert got["docs"][0]["meta"] == '{"url":"u","n":1}'
    assert got["rejects"] == []


def test_truncated_gzip_keeps_lines_before_the_damage_and_rejects_the_rest(tmp_path):
    data = gzip.compress(("".join(f'{{"text": "line {i} {"x" * 200}"}}\n' for i in range(2000))).encode())
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    got = collect(str(path))
    assert len(got["docs"]) > 0
    assert [r["reason"] for r in got["rejects"]] == ["truncated_file"]
    assert got["rejects"][0]["line"] == len(got["docs"]) + 1


def test_a_byte_order_mark_before_the_first_line_is_not_a_bad_record(tmp_path):
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"text": "first"}\n{"text": "second"}\n')
    got = collect(str(path))
    assert [d["text"] for d in got["docs"]] == ["first", "second"] and got["rejects"] == []


def test_unknown_format_and_unmatched_pattern_are_explicit(tmp_path):
    (tmp_path / "data.csv").write_text("a,b\n")
    got = collect(str(tmp_path / "data.csv"))
    assert got["rejects"][0]["reason"] == "unknown_format"
    with pytest.raises(InputError, match="matches no file"):
        expand_inputs([str(tmp_path / "*.jsonl")])


def test_parquet_with_no_text_column_is_one_reject_naming_the_columns(tmp_path):
    pq.write_table(pa.table({"body": ["x"]}), tmp_path / "p.parquet")
    got = collect(str(tmp_path / "p.parquet"))
    assert got["docs"] == [] and got["rejects"][0]["reason"] == "missing_text"
    assert "body" in got["rejects"][0]["detail"]


def test_config_overrides_are_typed_and_unknown_keys_are_named():
    cfg = load_config(overrides=["near_dedup.threshold=0.7", "output.keep_text=true"])
    assert cfg.near_dedup.threshold == 0.7 and cfg.output.keep_text is True
    with pytest.raises(ConfigError, match="near_dedup.thresh"):
        load_config(overrides=["near_dedup.thresh=1"])
    assert load_config().hash() == load_config().hash() != cfg.hash()


def test_reconcile_reports_a_lost_row():
    unit = {"counts": {"read": {"in": 5, "out": 4, "rejected": 1, "in_bytes": 0, "out_bytes": 0, "reasons": {"x": 1}},
                       "tokenize": {"in": 4, "out": 4, "rejected": 0, "in_bytes": 0, "out_bytes": 0, "reasons": {}}}}  # fmt: skip
    stages = merge_stage_counts([unit])
    assert reconcile(stages, kept=4) == []
    assert any("read 5 != kept 3" in p for p in reconcile(stages, kept=3))


def test_units_group_consecutive_files_by_size():
    units = plan_units([("a", 10), ("b", 10), ("c", 25), ("d", 1)], unit_bytes=20)
    assert [u.files for u in units] == [("a", "b"), ("c",), ("d",)]


def test_unit_writer_rolls_shards_at_target_and_hashes_what_it_wrote(tmp_path):
    cfg = load_config(overrides=["output.shard_target_bytes=2000", "output.row_group_tokens=100"]).output
    writer = UnitWriter(str(tmp_path), 3, cfg)
    for k in range(6):
        batch = docs([f"t{k}-{i}" for i in range(20)], [f"k{k}-{i}" for i in range(20)])
        tokens = pa.array([[i, i + 1, i + 2] * 10 for i in range(20)], pa.list_(pa.uint32()))
        writer.add_docs(
            batch.append_column("tokens", tokens).append_column("num_tokens", pa.array([30] * 20))
        )
    out = writer.close()
    assert len(out.shards) > 1 and len(out.stats) == len(out.shards)
    assert sum(f.rows for f in out.shards) == 120 and sum(f.tokens for f in out.shards) == 3600
    for shard, stats in zip(out.shards, out.stats, strict=True):
        data = open(shard.path, "rb").read()
        assert hashlib.sha256(data).hexdigest() == shard.sha256 and len(data) == shard.bytes
        assert (
            pq.read_table(shard.path)["doc_id"].to_pylist() == pq.read_table(stats.path)["doc_id"].to_pylist()
        )
