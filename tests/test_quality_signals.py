"""Quality signals (every judged document's metrics and first failing rule), annotate mode, and slicing.

The stage is checked as a pure function first (slices change nothing; signals agree with kept and rejects;
annotate keeps all and names the same reasons), then through whole runs: signals leave shards, stats and
rejects byte-identical, reconcile with the manifest, and come out the same whether the write pass replays the
key pass's verdicts (near dedup on) or judges again (near dedup off).
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import load_config
from etl.run import run_pipeline
from transforms.quality import BatchQualityFilter
from transforms.quality.params import QualityConfig
from transforms.quality.stage import SIGNAL_KEYS
from transforms.schema import byte_slices

SAMPLE = Path(__file__).resolve().parent.parent / "etl" / "data" / "sample"
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _sample_batch() -> pa.RecordBatch:
    """The sample's JSONL posts plus long and odd documents: repeated lines, other languages, empty text."""
    lines = gzip.decompress((SAMPLE / "web-a.jsonl.gz").read_bytes()).decode().splitlines()
    texts = [json.loads(line)["text"] for line in lines[:150]]
    texts += [
        "The same line again.\n" * 400,
        "Der schnelle braune Fuchs springt über den faulen Hund. " * 80,
        "",
        ("A long and careful essay about rivers, their floods and the towns built beside them. " * 30 + "\n")
        * 20,
    ]
    n = len(texts)
    return pa.RecordBatch.from_pydict(
        {
            "doc_id": [f"d{i}" for i in range(n)],
            "text": pa.array(texts, pa.large_string()),
            "source": ["sample"] * n,
            "meta": pa.array([None] * n, pa.string()),
            "line": list(range(1, n + 1)),
        }
    )


def test_byte_slices_cover_the_batch_in_order_within_the_limit():
    batch = _sample_batch()
    limit = 20_000
    slices = byte_slices(batch, limit)
    assert len(slices) > 3
    assert pa.concat_batches(slices).equals(batch)
    lengths = [np.asarray([len(t.encode()) for t in s.column("text").to_pylist()]) for s in slices]
    assert all(part.sum() <= limit or len(part) == 1 for part in lengths)


def test_judging_in_slices_gives_the_same_kept_rows_rejects_and_signals():
    batch = _sample_batch()
    config = QualityConfig(signals=True)
    whole = BatchQualityFilter(config, slice_bytes=1 << 40)(batch)
    sliced = BatchQualityFilter(config, slice_bytes=8_000)(batch)
    assert whole.kept.num_rows and whole.rejects.num_rows
    assert sliced.kept.equals(whole.kept)
    assert sliced.rejects.equals(whole.rejects)
    assert sliced.signals.equals(whole.signals)
    assert sliced.rejected == whole.rejected


def test_signals_have_a_row_per_document_agreeing_with_kept_and_rejects():
    batch = _sample_batch()
    result = BatchQualityFilter(QualityConfig(signals=True))(batch)
    signals = pl.from_arrow(result.signals)
    assert signals.columns[: len(SIGNAL_KEYS)] == list(SIGNAL_KEYS)
    assert signals["doc_id"].to_list() == batch.column("doc_id").to_pylist()
    rejects = pl.from_arrow(result.rejects)
    reason_of = dict(zip(rejects["doc_id"], rejects["reason"], strict=True))
    assert dict(zip(signals["doc_id"], signals["reason"], strict=True)) == {
        d: reason_of.get(d) for d in signals["doc_id"]
    }
    # Kept documents carry exactly their signals' metric columns and values.
    kept = pl.from_arrow(result.kept)
    metric_names = signals.columns[len(SIGNAL_KEYS) :]
    assert metric_names == [c for c in kept.columns if c not in batch.schema.names]
    assert signals.filter(pl.col("reason").is_null()).select(metric_names).equals(kept.select(metric_names))
    assert signals["num_bytes"].to_list() == [len(t.encode()) for t in batch.column("text").to_pylist()]
    # A document that language id rejects was never measured by the later families.
    by_language = signals.filter(pl.col("reason").str.starts_with("language."))
    assert by_language.height > 0
    assert by_language["q_dup_line_frac"].null_count() == by_language.height
    assert by_language["q_lang_score"].null_count() == 0


def test_annotate_keeps_every_document_and_names_the_reasons_filter_mode_gives():
    batch = _sample_batch()
    filtered = BatchQualityFilter(QualityConfig(signals=True))(batch)
    annotated = BatchQualityFilter(QualityConfig(mode="annotate"))(batch)
    assert annotated.kept.num_rows == batch.num_rows and annotated.rejects.num_rows == 0
    assert annotated.signals.column("reason").equals(filtered.signals.column("reason"))
    signals = pl.from_arrow(annotated.signals)
    rule_columns = [c for c in signals.columns if c.startswith("q_") and not c.startswith("q_pii_")]
    assert signals.select(rule_columns).null_count().sum_horizontal().item() == 0
    # Where filter mode measured a document, annotate measured the same.
    measured = pl.from_arrow(filtered.signals)
    for column in rule_columns:
        both = measured[column].is_not_null()
        assert signals[column].filter(both).equals(measured[column].filter(both)), column


def _digests(out: Path, kinds: tuple[str, ...]) -> dict[str, str]:
    return {
        p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for kind in kinds
        for p in sorted((out / kind).glob("*.parquet"))
    }


def _run(tmp_path: Path, name: str, *overrides: str) -> Path:
    out = tmp_path / name
    config = load_config(overrides=["validation.enabled=false", *overrides])
    run_pipeline([str(SAMPLE / "forum-posts.jsonl"), str(SAMPLE / "web-a.jsonl.gz")], str(out), config, BEAM)
    return out


def _signals(out: Path) -> pl.DataFrame:
    manifest = json.loads((out / "manifest.json").read_text())
    frames = [pl.read_parquet(out / entry["path"]) for entry in manifest["signals"]]
    return pl.concat(frames).sort("source", "line")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("signals")
    return {
        "plain": _run(base, "plain"),
        "signals": _run(base, "signals", "quality.signals=true"),
        "signals_no_near": _run(base, "signals-no-near", "quality.signals=true", "near_dedup.enabled=false"),
        "annotate": _run(base, "annotate", "quality.mode=annotate"),
    }


def test_signals_change_no_shard_stats_or_reject_byte(runs):
    kinds = ("shards", "stats", "rejects")
    plain, signals = _digests(runs["plain"], kinds), _digests(runs["signals"], kinds)
    assert [h for _, h in sorted(plain.items())] == [h for _, h in sorted(signals.items())]
    assert "signals" not in json.loads((runs["plain"] / "manifest.json").read_text())
    assert not (runs["plain"] / "signals").exists()


def test_signals_reconcile_with_the_manifest(runs):
    manifest = json.loads((runs["signals"] / "manifest.json").read_text())
    quality = manifest["counts"]["stages"]["quality"]
    signals = _signals(runs["signals"])
    assert signals.height == quality["in"] == sum(e["rows"] for e in manifest["signals"])
    counted = signals.filter(pl.col("reason").is_not_null())["reason"].value_counts()
    assert dict(counted.iter_rows()) == quality["reasons"]
    for entry in manifest["signals"]:
        data = (runs["signals"] / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]


def test_replayed_and_judged_signals_agree(runs):
    """Near dedup on: the write pass replays the key pass's verdicts; off: it judges again."""
    replayed, judged = _signals(runs["signals"]), _signals(runs["signals_no_near"])
    assert replayed.height == judged.height
    assert replayed.equals(judged)


def test_an_annotate_run_keeps_what_filter_mode_would_reject_and_says_why(runs):
    manifest = json.loads((runs["annotate"] / "manifest.json").read_text())
    quality = manifest["counts"]["stages"]["quality"]
    assert quality["rejected"] == 0 and quality["out"] == quality["in"]
    filtered = json.loads((runs["signals"] / "manifest.json").read_text())["counts"]["stages"]["quality"]
    signals = _signals(runs["annotate"])
    counted = signals.filter(pl.col("reason").is_not_null())["reason"].value_counts()
    assert dict(counted.iter_rows()) == filtered["reasons"]
    stats = pl.concat([pl.read_parquet(runs["annotate"] / e["path"]) for e in manifest["stats"]])
    assert stats["q_dup_line_frac"].null_count() == 0
    assert pq.read_schema(runs["annotate"] / manifest["signals"][0]["path"]).names[:5] == list(SIGNAL_KEYS)


def test_parquet_batches_of_long_documents_are_cut_at_batch_bytes_with_every_row_kept(tmp_path):
    """A row group of long documents becomes several batches of at most BATCH_BYTES of text (one longer
    document alone), in order, so that no stage holds a whole row group of text."""
    from etl.ingest.sources import InputSpec, read_file
    from transforms.schema import BATCH_BYTES

    texts = [f"document {i} " + "word " * (2_000 + 37 * i) for i in range(300)]  # about 3.5 MB ...
    texts[100] = "one long document " * 300_000  # ... and one of 5.4 MB
    path = tmp_path / "long.parquet"
    pq.write_table(pa.table({"id": [f"p{i}" for i in range(300)], "text": texts}), path)
    batches = [batch for kind, batch in read_file(str(path), InputSpec()) if kind == "docs"]
    assert len(batches) >= 3
    assert [t for b in batches for t in b.column("text").to_pylist()] == texts
    assert [i for b in batches for i in b.column("line").to_pylist()] == list(range(1, 301))
    for b in batches:
        size = sum(len(t.encode()) for t in b.column("text").to_pylist())
        assert size <= BATCH_BYTES or b.num_rows == 1
