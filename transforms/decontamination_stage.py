"""The decontamination stage: documents that hold a benchmark item's n-grams never reach the shards.

Benchmarks are the user's files (config `decontamination.benchmarks`); their n-gram index is built once per
worker process and matched against whole columns (transforms/decontamination.py). Policy `remove` makes a hit
a `contaminated` reject (detail: benchmark, item id, matched n-gram; value: share of the item's n-grams found);
`flag` keeps the document and records that share as `q_contamination` in its stats.
"""

from __future__ import annotations

import json
from typing import Literal

import pyarrow as pa
from pydantic import Field

from transforms.decontamination import BenchmarkIndex, BenchmarkSpec, contamination, load_benchmark_ngrams
from transforms.params import StageParams
from transforms.rejects import rejects_from_docs, split_by_mask
from transforms.stage import BatchStage

STAGE = "decontamination"
_INDEXES: dict[str, BenchmarkIndex] = {}  # per process, by config: every unit of a worker shares one index


class DecontaminationConfig(StageParams):
    """Removal of documents that contain evaluation benchmark items (GPT-3's and datatrove's 13-gram rule)."""

    benchmarks: list[BenchmarkSpec] = []
    """The benchmarks to match, each `{name, path, fields, id_field}`; none: the stage does not run."""
    ngram: int = Field(default=13, ge=5, le=50)
    """Words per n-gram, after the same normalisation on both sides (NFKC, lowercase, punctuation out)."""
    min_words: int = Field(default=5, ge=1, le=50)
    """A benchmark field shorter than `ngram` words is matched whole, unless shorter than this: a one-word
    answer is no evidence of contamination."""
    policy: Literal["remove", "flag"] = "remove"
    """remove: a hit is a `contaminated` reject; flag: the document is kept and its stats get q_contamination."""

    @property
    def enabled(self) -> bool:
        return bool(self.benchmarks)


def benchmark_index(config: DecontaminationConfig) -> BenchmarkIndex:
    key = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    if key not in _INDEXES:
        _INDEXES.clear()
        _INDEXES[key] = load_benchmark_ngrams(config.benchmarks, config.ngram, config.min_words)
    return _INDEXES[key]


class DecontaminationStage(BatchStage):
    name = STAGE

    def __init__(self, config: DecontaminationConfig):
        self.config = config
        self._index: BenchmarkIndex | None = None

    def setup(self) -> None:
        if self._index is None:
            self._index = benchmark_index(self.config)

    def process(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        self.setup()
        hits = contamination(batch.column("text"), self._index) if batch.num_rows else []
        if self.config.policy == "flag":
            share = pa.array([h.value if h else None for h in hits], pa.float64())
            return batch.append_column("q_contamination", share), rejects_from_docs(
                batch.slice(0, 0), STAGE, ""
            )
        if not any(hits):  # the common case: no copy of the batch's text
            return batch, rejects_from_docs(batch.slice(0, 0), STAGE, "contaminated")
        drop = pa.array([h is not None for h in hits], pa.bool_())
        kept, dropped = split_by_mask(batch, drop)
        found = [h for h in hits if h is not None]
        return kept, rejects_from_docs(
            dropped, STAGE, "contaminated", [h.detail for h in found], [h.value for h in found]
        )
