"""input.max_record_bytes: a record over the limit is a `record_too_large` reject with its size, read past
without being held, in every input format; the records around it are untouched."""

from __future__ import annotations

import gzip
import io
import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.config import ConfigError, load_config
from etl.ingest.streams import OversizedLine, bounded_lines
from etl.run import run_pipeline
from tests.corpus_fixtures import prose

LIMIT = 4096
FAST = [
    "quality.enabled=false",
    "near_dedup.enabled=false",
    "exact_dedup.enabled=false",
    "validation.enabled=false",
    f"input.max_record_bytes={LIMIT}",
]
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def test_bounded_lines_pass_short_lines_and_measure_long_ones_without_holding_them():
    lines = [
        b"a" * 10 + b"\n",
        b"b" * LIMIT + b"\n",
        b"c" * (LIMIT + 1) + b"\n",
        b"d" * 50_000 + b"\n",
        b"tail",
    ]
    got = list(bounded_lines(io.BufferedReader(io.BytesIO(b"".join(lines)), 1024), LIMIT))
    assert got[0] == lines[0] and got[1] == lines[1] and got[4] == b"tail"
    assert got[2] == OversizedLine(LIMIT + 1, b"c" * 4096)
    assert isinstance(got[3], OversizedLine) and got[3].size == 50_000 and got[3].head == b"d" * 4096


def test_bounded_lines_measure_an_unended_last_line():
    got = list(bounded_lines(io.BytesIO(b"x\n" + b"y" * 9000), LIMIT))
    assert got == [b"x\n", OversizedLine(9000, b"y" * 4096)]


def _rows(i: int) -> dict:
    return {"id": f"d{i:02d}", "text": prose(i, 60)}


def _write(fmt: str, root, huge: int):
    root.mkdir()
    docs = [_rows(i) for i in range(6)]
    docs.insert(3, {"id": "huge", "text": "word " * (huge // 5)})
    if fmt == "parquet":
        pq.write_table(pa.Table.from_pylist(docs), root / "part.parquet")
        return
    data = "".join(json.dumps(d) + "\n" for d in docs).encode()
    if fmt == "jsonl.gz":
        (root / "part.jsonl.gz").write_bytes(gzip.compress(data))
    else:
        (root / "part.jsonl").write_bytes(data)


def _rejects(out) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    return [r for f in manifest["rejects"] for r in pq.read_table(out / f["path"]).to_pylist()], manifest


@pytest.mark.parametrize("fmt", ["jsonl", "jsonl.gz", "parquet"])
def test_a_record_over_the_limit_is_rejected_with_its_size(tmp_path, fmt):
    _write(fmt, tmp_path / "in", huge=50_000)
    out = tmp_path / "out"
    extra = (
        ["input.unit_bytes=4096"] if fmt == "jsonl.gz" else []
    )  # a stream cut into chunks, as big ones are
    run_pipeline([str(tmp_path / "in")], str(out), load_config(overrides=[*FAST, *extra]), BEAM)
    rejects, manifest = _rejects(out)
    assert [r["reason"] for r in rejects] == ["record_too_large"]
    (reject,) = rejects
    expected = len(json.dumps({"id": "huge", "text": "word " * 10_000}).encode())
    if fmt == "parquet":
        expected = len(("word " * 10_000).encode())
    assert reject["value"] == expected and reject["line"] == 4
    assert str(LIMIT) in reject["detail"] and len(reject["text"]) <= 4096
    assert manifest["counts"]["read"] == 7 and manifest["counts"]["kept"] == 6


def test_a_text_file_over_the_limit_is_rejected_whole(tmp_path):
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "small.txt").write_text(prose(1, 50))
    (tmp_path / "in" / "big.txt").write_text("word " * 2000)
    out = tmp_path / "out"
    run_pipeline([str(tmp_path / "in")], str(out), load_config(overrides=FAST), BEAM)
    rejects, manifest = _rejects(out)
    assert [(r["reason"], r["value"], r["line"]) for r in rejects] == [("record_too_large", 10_000, 0)]
    assert manifest["counts"]["kept"] == 1


@pytest.mark.parametrize("value", ["0", "1023", str((1 << 30) + 1)])
def test_the_limit_is_range_checked(value):
    with pytest.raises(ConfigError, match="max_record_bytes"):
        load_config(overrides=[f"input.max_record_bytes={value}"])
