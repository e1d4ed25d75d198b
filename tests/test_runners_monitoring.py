"""Monitoring: throttled progress lines with documents, bytes and rates (also as JSON fields), and the Beam
counters per stage and reason read back from a finished pipeline."""

from __future__ import annotations

import io
import json
import logging

import apache_beam as beam
from apache_beam.metrics import Metrics

from etl.logs import JsonFormatter
from etl.run.progress import ProgressMeter, stage_counters
from etl.run.runner import local_options


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_meter_logs_docs_bytes_and_rates_at_most_every_interval(caplog):
    clock = FakeClock()
    meter = ProgressMeter("write", interval=10, clock=clock)
    with caplog.at_level(logging.INFO, logger="corpus_etl"):
        for _ in range(5):  # 5 batches of 1000 docs / 2 MB, 4 s apart: one line at 12 s, none at 20 s
            clock.now += 4
            meter.add(1000, 2_000_000)
        meter.finish()
    lines = [r for r in caplog.records if r.getMessage().startswith("progress:")]
    assert [r.fields["docs_done"] for r in lines] == [3000, 5000]  # the second from finish()
    assert lines[0].fields == {
        "stage": "write", "docs_done": 3000, "bytes_done": 6_000_000, "docs_per_s": 250.0,
        "mb_per_s": 0.5, "elapsed_s": 12.0,
    }  # fmt: skip
    assert "write 3000 docs, 6.0 MB text in 12 s (250 docs/s, 0.50 MB/s of text" in lines[0].getMessage()


def test_progress_fields_reach_json_logs():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("corpus_etl")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        clock = FakeClock()
        meter = ProgressMeter("write", clock=clock)
        clock.now += 2
        meter.add(10, 5000)
        meter.finish()
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    record = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert record["level"] == "INFO" and record["msg"].startswith("progress: write 10 docs")
    assert (record["docs_done"], record["bytes_done"], record["docs_per_s"]) == (10, 5000, 5.0)


def _count(batch: dict) -> dict:
    Metrics.counter(f"stage.{batch['stage']}", "in").inc(batch["in"])
    Metrics.counter(f"stage.{batch['stage']}", "out").inc(batch["out"])
    for reason, n in batch["reasons"].items():
        Metrics.counter(f"stage.{batch['stage']}", f"rejected.{reason}").inc(n)
    Metrics.counter("other", "ignored").inc()
    return batch


def test_stage_counters_are_read_back_per_stage_and_reason():
    units = [
        {"stage": "read", "in": 10, "out": 8, "reasons": {"invalid_json": 2}},
        {"stage": "read", "in": 5, "out": 4, "reasons": {"invalid_json": 1}},
        {"stage": "exact_dedup", "in": 12, "out": 9, "reasons": {"exact_duplicate": 3}},
    ]
    p = beam.Pipeline(options=local_options())
    counted = p | beam.Create(units) | "CountA" >> beam.Map(_count)
    _ = counted | "Again" >> beam.Map(lambda b: b)  # a second step: counters are summed over steps
    result = p.run()
    result.wait_until_finish()
    assert stage_counters(result) == {
        "read": {"in": 15, "out": 12, "rejected.invalid_json": 3},
        "exact_dedup": {"in": 12, "out": 9, "rejected.exact_duplicate": 3},
    }
