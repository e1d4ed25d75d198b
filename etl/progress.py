"""Progress of a running pipeline: a throttled progress line per worker, and the stage counters read back.

`ProgressMeter` is fed each batch a worker finishes and logs at most one line per `interval` seconds: documents
and text bytes done, and their rates (logger `corpus_etl`; the same figures as JSON fields under --json-logs).
It works inside a unit, so a long unit (a big file) still shows progress. `stage_counters` reads the Beam
counters `stage.<stage>` / `in`, `out`, `rejected.<reason>` back from a finished PipelineResult.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

log = logging.getLogger("corpus_etl")


class ProgressMeter:
    """Documents and bytes done by this worker, logged every `interval` seconds and once at `finish()`."""

    def __init__(self, what: str, interval: float = 30.0, clock: Callable[[], float] = time.monotonic):
        self.what, self.interval, self.clock = what, interval, clock
        self.docs = self.bytes = 0
        self.started = self._last = clock()

    def add(self, docs: int, nbytes: int) -> None:
        self.docs += docs
        self.bytes += nbytes
        now = self.clock()
        if now - self._last >= self.interval:
            self._emit(now)

    def finish(self) -> None:
        self._emit(self.clock())

    def _emit(self, now: float) -> None:
        self._last = now
        elapsed = max(now - self.started, 1e-9)
        fields = {
            "stage": self.what,
            "docs_done": self.docs,
            "bytes_done": self.bytes,
            "docs_per_s": round(self.docs / elapsed, 1),
            "mb_per_s": round(self.bytes / 1e6 / elapsed, 3),
            "elapsed_s": round(elapsed, 1),
        }
        log.info(
            "progress: %s %d docs, %.1f MB done in %.0f s (%.0f docs/s, %.2f MB/s, this worker)",
            self.what, self.docs, self.bytes / 1e6, elapsed, fields["docs_per_s"], fields["mb_per_s"],
            extra={"fields": fields},
        )  # fmt: skip


def stage_counters(result) -> dict[str, dict[str, int]]:
    """{stage: {"in": n, "out": n, "rejected.<reason>": n}} summed over steps, from a finished pipeline."""
    from apache_beam.metrics.metric import MetricsFilter

    totals: dict[str, Counter] = {}
    for counter in result.metrics().query(MetricsFilter())["counters"]:
        namespace, name = counter.key.metric.namespace, counter.key.metric.name
        if namespace.startswith("stage."):
            value = counter.committed if counter.committed is not None else counter.attempted
            totals.setdefault(namespace.removeprefix("stage."), Counter())[name] += int(value or 0)
    return {stage: dict(sorted(c.items())) for stage, c in totals.items()}
