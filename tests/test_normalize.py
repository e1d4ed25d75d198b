"""Normalization works row by row only where a row needs it; the result must not depend on that shortcut."""

from __future__ import annotations

import unicodedata

import pyarrow as pa

from transforms.normalize import normalize_batch, normalize_text


def test_each_step_applies_to_the_rows_that_need_it_and_keeps_row_order():
    rows = [
        "plain ascii",
        "a\r\nb\rc\x00d\x85e",
        "e\u0301t\u00e9",
        "x\u0085y\r",
        "\u1e9b\u0323",
        "A\u030a",
        "ok",
    ]
    got = normalize_text(pa.array(rows * 3, pa.string())).to_pylist()
    expected = ["plain ascii", "a\nb\ncde", "\u00e9t\u00e9", "xy\n", "\u1e9b\u0323", "\u00c5", "ok"]
    assert got == expected * 3
    assert all(unicodedata.is_normalized("NFC", t) for t in got)


def test_a_batch_without_work_comes_back_unchanged_and_blank_rows_are_rejected():
    batch = pa.RecordBatch.from_pydict(
        {"doc_id": ["a", "b", "c"], "text": ["hello", "\x00\x01 \r\n", "world"], "source": ["s"] * 3,
         "meta": ["{}"] * 3, "line": [1, 2, 3]},
        schema=pa.schema([("doc_id", pa.string()), ("text", pa.large_string()), ("source", pa.string()),
                          ("meta", pa.string()), ("line", pa.int64())]),
    )  # fmt: skip
    kept, rejects = normalize_batch(batch)
    assert kept.column(1).to_pylist() == ["hello", "world"]
    assert rejects.column(0).to_pylist() == ["b"] and rejects.num_rows == 1
