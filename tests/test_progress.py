"""What a person watching a long run sees: ProgressMeter's lines, driven by a fake clock (no sleeping)."""

from __future__ import annotations

import logging

import pytest

from etl.run.progress import ProgressMeter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture()
def lines(caplog) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="corpus_etl")
    return caplog


def progress(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The progress lines logged so far in this test (caplog.records is per test phase: read it each time)."""
    return [r for r in caplog.records if r.getMessage().startswith("progress:")]


def test_a_line_at_least_every_interval_while_batches_arrive(lines):
    clock = FakeClock()
    meter = ProgressMeter("write", interval=30.0, clock=clock)
    emitted_at = []
    for _ in range(100):  # a batch every 7 s for 700 s
        clock.now += 7.0
        before = len(progress(lines))
        meter.add(1000, 4_000_000)
        if len(progress(lines)) > before:
            emitted_at.append(clock.now)
    gaps = [b - a for a, b in zip([1000.0, *emitted_at], emitted_at, strict=False)]
    assert len(emitted_at) >= 700 // 35
    assert max(gaps) <= 30.0 + 7.0, gaps  # at the first batch after 30 s: never more than a batch late
    assert min(gaps) >= 30.0, "throttled: not a line per batch"


def test_the_line_names_documents_text_mb_rate_and_elapsed(lines):
    clock = FakeClock()
    meter = ProgressMeter("write", clock=clock)
    clock.now += 40.0
    meter.add(2000, 80_000_000)
    (record,) = progress(lines)
    text = record.getMessage()
    assert "2000 docs" in text and "80.0 MB text" in text and "40 s" in text
    assert "2.00 MB/s of text" in text and "50 docs/s" in text
    assert "ETA" not in text, "no ETA without a known input size"
    assert record.fields["elapsed_s"] == 40.0 and record.fields["docs_done"] == 2000
    assert "eta_s" not in record.fields


def test_eta_from_the_share_of_a_known_total(lines):
    clock = FakeClock()
    meter = ProgressMeter("write", total_bytes=400_000_000, clock=clock)
    clock.now += 60.0
    meter.add(5000, 100_000_000)  # a quarter in a minute: three minutes to go
    (record,) = progress(lines)
    assert record.fields["eta_s"] == pytest.approx(180.0)
    assert "ETA 3 min 00 s" in record.getMessage() and "input 400.0 MB" in record.getMessage()


def test_eta_follows_the_input_position_of_a_compressed_stream(lines):
    """Text bytes of a compressed input pass its size; the position in the input drives the ETA instead."""
    clock = FakeClock()
    meter = ProgressMeter("write", total_bytes=50_000_000, clock=clock)
    clock.now += 100.0
    meter.add(9000, 200_000_000, done_bytes=40_000_000)
    assert progress(lines)[-1].fields["eta_s"] == pytest.approx(25.0)
    bare = ProgressMeter("write", total_bytes=50_000_000, clock=clock)
    clock.now += 100.0
    bare.add(9000, 200_000_000)  # past the total without a position: no ETA rather than a wrong one
    assert "eta_s" not in progress(lines)[-1].fields and "ETA" not in progress(lines)[-1].getMessage()


def test_finish_always_logs_the_totals(lines):
    clock = FakeClock()
    meter = ProgressMeter("write", clock=clock)
    meter.add(3, 300)
    assert not progress(lines)
    clock.now += 1.5
    meter.finish()
    assert progress(lines)[-1].fields["docs_done"] == 3 and progress(lines)[-1].fields["bytes_done"] == 300
