"""Build the chain of batch stages a pass runs, from the config and the removal maps of the dedup shuffles.

Order (DESIGN.md "The flow"): normalize -> exact dedup -> quality -> near dedup -> tokenize. Each pass runs a
prefix of this chain; a disabled stage is left out, so it neither counts nor drops anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from transforms.normalize import normalize_batch
from transforms.stage import BatchStage, FunctionStage, RemovalFilter

ORDER = ("normalize", "exact_dedup", "quality", "near_dedup", "tokenize")


class LoadedStage(BatchStage):
    """A stage whose model (tokenizer, language id, word lists) loads once per worker, on first use."""

    def __init__(self, name: str, load: Callable[[], Any], apply: Callable[[Any, pa.RecordBatch], tuple]):
        self.name, self._load, self._apply = name, load, apply
        self._model = None

    def setup(self) -> None:
        if self._model is None:
            self._model = self._load()

    def process(self, batch):
        self.setup()
        return self._apply(self._model, batch)


def tokenize_stage(config) -> BatchStage:
    from transforms.tokenize import load_encoder, tokenize_batch

    return LoadedStage(
        "tokenize", lambda: load_encoder(config), lambda enc, batch: tokenize_batch(batch, enc)
    )


def quality_stage(config) -> BatchStage:
    from transforms.quality import BatchQualityFilter

    def apply(judge, batch):
        result = judge(batch)
        return result.kept, result.rejects

    return LoadedStage("quality", lambda: BatchQualityFilter(config), apply)


def build_chain(
    config,
    through: str,
    exact_removals: pa.Table | None = None,
    near_removals: pa.Table | None = None,
) -> list[BatchStage]:
    """The stages up to and including `through` (one of ORDER) that the config enables."""
    chain: list[BatchStage] = []
    for name in ORDER[: ORDER.index(through) + 1]:
        if name == "normalize":
            chain.append(FunctionStage("normalize", normalize_batch))
        elif name == "exact_dedup" and config.exact_dedup.enabled:
            chain.append(RemovalFilter("exact_dedup", exact_removals))
        elif name == "quality" and config.quality.enabled:
            chain.append(quality_stage(config.quality))
        elif name == "near_dedup" and config.near_dedup.enabled:
            chain.append(RemovalFilter("near_dedup", near_removals))
        elif name == "tokenize":
            chain.append(tokenize_stage(config.tokenize))
    return chain
