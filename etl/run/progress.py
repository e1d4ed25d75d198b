"""Progress of a running pipeline: a throttled progress line per worker, and the stage counters read back.

`ProgressMeter` is fed each batch a worker finishes and logs at most one line per `interval` seconds: documents
and text bytes done, their rates, the time elapsed and, when the size of the input is known (`total_bytes`),
the share done and an ETA (logger `corpus_etl`; the same figures as JSON fields under --json-logs). It works
inside a unit, so a long unit (a big file) still shows progress. On a terminal the CLI draws a live bar instead
(etl/logs/live_bar.py): the meter updates it on every batch and its lines drop to DEBUG. `stage_counters`
reads the Beam counters `stage.<stage>` / `in`, `out`, `rejected.<reason>` back from a finished PipelineResult.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable

from etl.logs import live_bar

log = logging.getLogger("corpus_etl")


class ProgressMeter:
    """Documents and text bytes done by this worker, logged every `interval` seconds and once at `finish()`.

    total_bytes: the size of what this meter covers, in the measure of `add`'s `done_bytes` (the input's bytes,
    compressed or not). Without `done_bytes`, the text bytes added stand for the input read: exact enough for
    plain files, where text is most of the bytes; for a compressed input pass the compressed bytes read, or the
    text soon passes the total and the ETA is left out rather than shown wrong.
    """

    def __init__(
        self,
        what: str,
        total_bytes: int | None = None,
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.what, self.total_bytes, self.interval, self.clock = what, total_bytes, interval, clock
        self.docs = self.bytes = 0
        self.done_bytes: int | None = None
        self.started = self._last = clock()

    def add(self, docs: int, nbytes: int, done_bytes: int | None = None) -> None:
        """Count `docs` documents of `nbytes` text bytes; `done_bytes`: how far into `total_bytes` we are."""
        self.docs += docs
        self.bytes += nbytes
        if done_bytes is not None:
            self.done_bytes = done_bytes
        now = self.clock()
        bar = live_bar()
        if bar is not None:
            eta = self.eta_seconds(now)
            bar.show(self.what, self.docs, self.bytes, now - self.started, self.done_bytes,
                     self.total_bytes, f"ETA {_duration(eta)}" if eta is not None else "")  # fmt: skip
        if now - self._last >= self.interval:
            self._emit(now)

    def finish(self) -> None:
        self._emit(self.clock())

    def eta_seconds(self, now: float) -> float | None:
        """Seconds left at the rate so far; None without a total, before any progress, or past the total."""
        done = self.done_bytes if self.done_bytes is not None else self.bytes
        if not self.total_bytes or done <= 0 or done > self.total_bytes:
            return None
        return (now - self.started) * (self.total_bytes - done) / done

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
        eta = self.eta_seconds(now)
        tail = ""
        if self.total_bytes:
            fields["total_bytes"] = self.total_bytes
            tail = f", input {self.total_bytes / 1e6:.1f} MB"
        if eta is not None:
            fields["eta_s"] = round(eta, 1)
            tail += f", ETA {_duration(eta)}"
        level = logging.DEBUG if live_bar() is not None else logging.INFO  # the bar shows the same figures
        log.log(
            level, "progress: %s %d docs, %.1f MB text in %s (%.0f docs/s, %.2f MB/s of text%s; this worker)",
            self.what, self.docs, self.bytes / 1e6, _duration(elapsed), fields["docs_per_s"],
            fields["mb_per_s"], tail, extra={"fields": fields},
        )  # fmt: skip


def _duration(seconds: float) -> str:
    """`42 s`, `3 min 05 s`, `2 h 07 min`: short enough for a progress line, exact enough for a person."""
    s = int(round(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


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


def namespace_counters(result, namespace: str) -> dict[str, int]:
    """The counters of one Beam namespace (e.g. the near-dedup steps: candidate, attached and compared pairs,
    edges per round), for the log: where a count drops between two steps, the drop is in the shuffle."""
    from apache_beam.metrics.metric import MetricsFilter

    found: Counter = Counter()
    for counter in result.metrics().query(MetricsFilter().with_namespace(namespace))["counters"]:
        value = counter.committed if counter.committed is not None else counter.attempted
        found[counter.key.metric.name] += int(value or 0)
    return dict(sorted(found.items()))
