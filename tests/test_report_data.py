"""A synthetic finished run, shaped like the pipeline's output, for the validation and report tests.

No tests here: builders only (named test_* so the report and validation tests own it).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from transforms.schema import REJECT_SCHEMA

QUALITY_CONFIG = {
    "enabled": True,
    "languages": ["en", "de", "fr"],
    "gopher_quality": {
        "enabled": True,
        "min_doc_words": 50,
        "max_doc_words": 100_000,
        "min_avg_word_length": 3,
        "max_avg_word_length": 10,
        "max_symbol_word_ratio": 0.1,
    },
    "language": {"enabled": True, "min_lang_score": 0.65},
}

# stage -> {reason: rejected docs}; in/out follow from the read count.
REJECTS = {
    "read": {"bad_json": 8, "missing_text": 4},
    "normalize": {"empty_after_normalize": 5},
    "exact_dedup": {"duplicate": 180},
    "quality": {
        "min_doc_words": 220,
        "max_symbol_word_ratio": 60,
        "min_avg_word_length": 40,
        "min_lang_score": 90,
    },
    "near_dedup": {"near_duplicate": 150},
    "tokenize": {"empty_tokens": 3},
}
READ = 2000
SHARD_ROWS = (420, 420, 400)
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png"> & more'


def _stats(rng: np.random.Generator, rows: int, empty_docs: int = 0) -> pa.Table:
    chars = np.maximum(rng.lognormal(7.2, 0.9, rows).astype(np.int64), 300)
    tokens = np.maximum((chars / rng.normal(4.3, 0.3, rows)).astype(np.int64), 1)
    chars[:empty_docs], tokens[:empty_docs] = 0, 0
    langs = rng.choice(["en", "de", "fr", "es"], rows, p=[0.86, 0.07, 0.05, 0.02])
    return pa.table(
        {
            "num_chars": chars,
            "num_tokens": tokens,
            "q_word_count": np.maximum(chars // 6, 50).astype(np.int64),
            "q_mean_word_length": np.clip(rng.normal(4.8, 0.55, rows), 3.0, 10.0),
            "q_symbol_word_ratio": np.clip(rng.beta(1.2, 60, rows), 0, 0.1),
            "q_lang_score": np.clip(rng.beta(30, 1.5, rows), 0.65, 1.0),
            "lang": langs,
        }
    )


def _rejects(rng: np.random.Generator) -> pa.Table:
    rows = []
    values = {
        "min_doc_words": lambda: float(rng.integers(1, 50)),
        "max_symbol_word_ratio": lambda: float(rng.uniform(0.1, 0.6)),
        "min_avg_word_length": lambda: float(rng.uniform(1.2, 3.0)),
        "min_lang_score": lambda: float(rng.uniform(0.05, 0.65)),
    }
    doc = 0
    for stage, reasons in REJECTS.items():
        for reason, n in reasons.items():
            for i in range(n):
                doc += 1
                detail, value = None, values[reason]() if reason in values else None
                if stage.endswith("dedup"):
                    # clusters of varied size: survivor ids repeat
                    detail = f"duplicate of doc-{int(rng.zipf(1.6)) % 90:05d}"
                    value = 1.0 if stage == "exact_dedup" else float(rng.uniform(0.8, 1.0))
                text = f"Sample rejected text {doc} for {reason}. " * 3 if i else HOSTILE
                rows.append(
                    {
                        "doc_id": f"rej-{doc:05d}",
                        "source": "data/crawl-000.jsonl",
                        "line": doc,
                        "stage": stage,
                        "reason": reason,
                        "detail": detail,
                        "value": value,
                        "text": text,
                    }
                )
    return pa.Table.from_pylist(rows, REJECT_SCHEMA)


def make_run(bad_shard: int | None = None, seed: int = 7) -> dict:
    """manifest, stats_by_shard (shard path -> stats table), stats (all shards), rejects.

    ``bad_shard``: that shard's first two documents have empty texts and no tokens (a planted failure).
    """
    rng = np.random.default_rng(seed)
    stats_by_shard = {
        f"shards/part-{k:05d}.parquet": _stats(rng, rows, 2 if k == bad_shard else 0)
        for k, rows in enumerate(SHARD_ROWS)
    }
    stages, n, chars = {}, READ, 9_800_000
    for stage, reasons in REJECTS.items():
        rejected = sum(reasons.values())
        lost_chars = int(chars * rejected / n * (0.6 if stage == "quality" else 1.0))
        stages[stage] = {
            "in": n,
            "out": n - rejected,
            "rejected": rejected,
            "in_chars": chars,
            "out_chars": chars - lost_chars,
        }
        n, chars = n - rejected, chars - lost_chars
    shards = [
        {
            "path": path,
            "rows": t.num_rows,
            "tokens": int(sum(t.column("num_tokens").to_pylist())),
            "bytes": 40_000 * t.num_rows,
            "sha256": f"{k:x}" * 64,
        }
        for k, (path, t) in enumerate(stats_by_shard.items())
    ]
    manifest = {
        "schema_version": 1,
        "created_at": "2026-11-22T01:00:00Z",
        "config_hash": "3f9a0c1e5b7d" + "0" * 52,
        "tokenizer": {"path": "tokenizer.json", "name": "byte-bpe-8k", "vocab_size": 8192},
        "counts": {"read": READ, "kept": n, "rejected": REJECTS, "stages": stages},
        "shards": shards,
        "config": {
            "input": {"text_field": "text"},
            "quality": QUALITY_CONFIG,
            "near_dedup": {"threshold": 0.8, "ngram": 5},
            "validation": {"policy": "warn", "suites": ["shard_stats", "run_aggregate"]},
        },
    }
    return {
        "manifest": manifest,
        "stats_by_shard": stats_by_shard,
        "stats": pa.concat_tables(stats_by_shard.values()),
        "rejects": _rejects(rng),
    }
