"""Heuristic quality filters: Gopher quality and repetition, C4, FineWeb, language id, optional PII redaction.

`QualityFilter(config)` is the Beam stage; `BatchQualityFilter` / `filter_batch` the same on one record
batch; `<family>_metrics` compute one family's metric columns for tests and reports. See stage.py for the
order rules decide in and params.py for every threshold.
"""

from transforms.quality.c4 import c4_metrics
from transforms.quality.fineweb import fineweb_metrics
from transforms.quality.gopher_quality import gopher_quality_metrics
from transforms.quality.gopher_repetition import gopher_repetition_metrics
from transforms.quality.language import language_metrics, language_model
from transforms.quality.params import FAMILY_ORDER, QualityConfig
from transforms.quality.pii import redact_pii
from transforms.quality.stage import (
    BatchQualityFilter,
    FilterResult,
    QualityFilter,
    filter_batch,
    quality_steps,
)


def release_models() -> None:
    """Drop the language model and the classifiers this process loaded (about 100 MB and up): the write
    pass replays the key pass's verdicts and never judges again, so a worker need not carry them."""
    from transforms.quality.classifier_models import release_models as release_classifiers

    language_model.cache_clear()
    release_classifiers()


__all__ = [
    "FAMILY_ORDER",
    "BatchQualityFilter",
    "FilterResult",
    "QualityConfig",
    "QualityFilter",
    "c4_metrics",
    "filter_batch",
    "fineweb_metrics",
    "gopher_quality_metrics",
    "gopher_repetition_metrics",
    "language_metrics",
    "quality_steps",
    "redact_pii",
    "release_models",
]
