"""Build the chain of batch stages a pass runs, from the config and the removal maps of the dedup shuffles.

Order (DESIGN.md "The flow"): normalize -> exact dedup -> quality -> near dedup -> tokenize. Each pass runs a
prefix of this chain; a disabled stage is left out, so it neither counts nor drops anything.
"""

from __future__ import annotations

import pyarrow as pa

from transforms.normalize import normalize_batch
from transforms.stage import BatchStage, FunctionStage, RemovalFilter

ORDER = ("normalize", "exact_dedup", "quality", "near_dedup", "tokenize")


class TokenizeStage(BatchStage):
    """The tokenizer as a batch stage; the encoder loads once per worker."""

    name = "tokenize"

    def __init__(self, config):
        self.config = config
        self._encoder = None

    def setup(self) -> None:
        if self._encoder is None:
            from transforms.tokenize import load_encoder

            self._encoder = load_encoder(self.config)

    def process(self, batch):
        from transforms.tokenize import tokenize_batch

        self.setup()
        return tokenize_batch(batch, self._encoder)


class QualityStage(BatchStage):
    """The heuristic quality filters as a batch stage; the language model and word lists load once."""

    name = "quality"

    def __init__(self, config):
        self.config = config
        self._filter = None

    def setup(self) -> None:
        if self._filter is None:
            from transforms.quality import BatchQualityFilter

            self._filter = BatchQualityFilter(self.config)

    def process(self, batch):
        self.setup()
        result = self._filter(batch)
        return result.kept, result.rejects


def quality_stage(config) -> BatchStage:
    return QualityStage(config)


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
            chain.append(TokenizeStage(config.tokenize))
    return chain
