"""Build the chain of batch stages a pass runs, from the config; the dedup stages get each unit's removals.

Order (DESIGN.md "The flow"): normalize -> exact dedup -> quality -> near dedup -> tokenize. Each pass runs a
prefix of this chain; a disabled stage is left out, so it neither counts nor drops anything.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from transforms.normalize import normalize_batch
from transforms.stage import ORDER, BatchStage, FunctionStage, RemovalFilter


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


class _QualitySignals:
    """What both forms of the quality stage pass on beside kept and rejects: the last batch's signals."""

    _signals = None

    def side_outputs(self):
        return [("signals", self._signals)] if self._signals is not None else []


class QualityStage(_QualitySignals, LoadedStage):
    """The quality stage; with signals on, each batch's signals leave beside its kept and rejected rows."""

    def __init__(self, config):
        super().__init__("quality", lambda: _quality_filter(config), self._judge)

    def _judge(self, judge, batch):
        result = judge(batch)
        self._signals = result.signals
        return result.kept, result.rejects


def _quality_filter(config):
    from transforms.quality import BatchQualityFilter

    return BatchQualityFilter(config)  # loads the language model and word lists: once, on first use


def quality_stage(config) -> BatchStage:
    return QualityStage(config)


def url_filter_stage(config) -> BatchStage:
    from transforms.url_filter import UrlFilterStage

    return UrlFilterStage(config)


def decontamination_stage(config) -> BatchStage:
    from transforms.decontamination_stage import DecontaminationStage

    return DecontaminationStage(config)


class RecordedQuality(_QualitySignals, BatchStage):
    """The quality stage replayed from the verdicts the key pass recorded for the unit (once per unit)."""

    name = "quality"

    def __init__(self, staging: str):
        self.staging = staging
        self._verdicts = None

    def for_unit(self, unit: int) -> None:
        import fsspec
        import pyarrow.parquet as pq

        from transforms.quality.verdicts import Verdicts

        self._unit, path = unit, verdicts_path(self.staging, unit)
        fs, local = fsspec.core.url_to_fs(path)
        if not fs.exists(local):
            self._verdicts = None  # the key pass saw no document in this unit
            return
        with fs.open(local, "rb") as fh:
            self._verdicts = Verdicts(pq.read_table(fh))

    def process(self, batch):
        if self._verdicts is None:
            raise RuntimeError(
                f"work unit {self._unit}: documents reached quality that the key pass never saw"
            )
        kept, rejects, self._signals = self._verdicts.replay(batch)
        return kept, rejects


def verdicts_path(staging: str, unit: int) -> str:
    return f"{staging}/quality/u{unit:05d}.parquet"


def build_chain(config, through: str, recorded_quality: str | None = None) -> list[BatchStage]:
    """The stages up to and including `through` (one of ORDER) that the config enables; with
    `recorded_quality` (a staging URL) the quality stage replays the key pass's verdicts. The dedup stages
    start with no removals: the write pass gives each unit its own (`RemovalFilter.use`)."""
    chain: list[BatchStage] = []
    for name in ORDER[: ORDER.index(through) + 1]:
        if name == "normalize":
            chain.append(FunctionStage("normalize", normalize_batch))
        elif name == "url_filter" and config.url_filter.enabled:
            chain.append(url_filter_stage(config.url_filter))
        elif name == "decontamination" and config.decontamination.enabled:
            chain.append(decontamination_stage(config.decontamination))
        elif name == "exact_dedup" and config.exact_dedup.enabled:
            chain.append(RemovalFilter("exact_dedup"))
        elif name == "quality" and config.quality.enabled:
            chain.append(
                RecordedQuality(recorded_quality) if recorded_quality else quality_stage(config.quality)
            )
        elif name == "near_dedup" and config.near_dedup.enabled:
            chain.append(RemovalFilter("near_dedup"))
        elif name == "tokenize":
            chain.append(tokenize_stage(config.tokenize))
    return chain
