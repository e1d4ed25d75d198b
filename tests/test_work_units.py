"""Work units are ranges (DESIGN.md "Scale"): a big file is cut into many units, and the cut changes nothing.

Plain JSONL is cut at line starts and Parquet at row-group runs; the kept documents and the rejects (with their
line numbers, bad lines planted on both sides of a boundary) equal those of a one-unit read, through the pure
functions and through a real run. Runs under `multi_processing` and the default (in_memory) are byte-identical.
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.ingest.plan import line_ranges, plan_units, row_group_runs
from etl.ingest.sources import InputSpec
from etl.run.flow import stream_unit
from tests.conftest import comparable_outputs

LINE = 100  # bytes per line, newline included: unit boundaries then fall on known lines


def _line(i: int) -> str:
    body = json.dumps({"id": f"d{i:05d}", "text": f"document {i} " + "x" * 40})
    return body + " " * (LINE - 1 - len(body))


def _plain_jsonl(path: Path, n: int, bad: set[int]) -> Path:
    """n lines of exactly LINE bytes; the 1-based lines in `bad` are broken JSON of the same length."""
    rows = ["{broken" + " " * (LINE - 8) if i + 1 in bad else _line(i) for i in range(n)]
    path.write_text("\n".join(rows) + "\n")
    return path


def _read(units) -> tuple[list[dict], list[dict]]:
    spec = InputSpec()
    docs, rejects = [], []
    for unit in units:
        for kind, batch in stream_unit(unit, spec, []):
            (docs if kind == "docs" else rejects).extend(batch.to_pylist())
    return docs, rejects


def test_line_ranges_start_at_line_starts_with_their_line_numbers(tmp_path):
    path = _plain_jsonl(tmp_path / "a.jsonl", 95, set())
    parts = line_ranges(str(path), path.stat().st_size, 1000)
    assert [(p.start, p.first_line) for p in parts] == [(k * 1000, k * 10 + 1) for k in range(10)]
    assert parts[-1].stop == path.stat().st_size
    assert all(a.stop == b.start for a, b in zip(parts, parts[1:], strict=False))


def test_a_line_longer_than_a_unit_stays_whole(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_text(_line(0) + "\n" + json.dumps({"text": "y" * 5000}) + "\n" + _line(2) + "\n")
    parts = line_ranges(str(path), path.stat().st_size, 1000)
    docs, rejects = _read(plan_units([(str(path), path.stat().st_size)], 1000))
    assert [d["line"] for d in docs] == [1, 2, 3] and not rejects
    assert len(parts) == 2 and parts[1].first_line == 3


def test_a_split_jsonl_file_gives_the_same_documents_and_rejects_as_one_unit(tmp_path):
    # Lines 10 and 11 lie on both sides of the first boundary (byte 1000), 20 and 21 of the second.
    bad = {10, 11, 20, 21, 57}
    path = _plain_jsonl(tmp_path / "a.jsonl", 95, bad)
    files = [(str(path), path.stat().st_size)]
    split = plan_units(files, 1000)
    assert len(split) == 10
    whole = _read(plan_units(files, 1 << 40))
    cut = _read(split)
    assert cut == whole
    assert sorted(r["line"] for r in cut[1]) == sorted(bad)
    assert all(r["reason"] == "invalid_json" and f"a.jsonl:{r['line']}:" in r["detail"] for r in cut[1])
    assert [d["line"] for d in cut[0]] == [i for i in range(1, 96) if i not in bad]


def test_a_split_parquet_file_gives_the_same_rows_and_rejects_as_one_unit(tmp_path):
    n = 2000
    texts = [None if i % 97 == 5 else f"text of row {i}" for i in range(n)]
    path = tmp_path / "a.parquet"
    pq.write_table(pa.table({"id": [f"r{i}" for i in range(n)], "text": texts}), path, row_group_size=150)
    files = [(str(path), path.stat().st_size)]
    runs = row_group_runs(str(path), 4000)
    assert len(runs) > 3 and runs[0].first_line == 1
    assert [r.first_line for r in runs[1:]] == [1 + 150 * r.start for r in runs[1:]]
    whole = _read(plan_units(files, 1 << 40))
    cut = _read(plan_units(files, 4000))
    assert cut == whole
    assert sorted(r["line"] for r in cut[1]) == [i + 1 for i in range(n) if texts[i] is None]


FAST = ["quality.enabled=false", "near_dedup.enabled=false", "validation.enabled=false"]


def _docs_of(out: Path) -> list[tuple]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for shard in manifest["shards"]:
        table = pq.read_table(out / shard["path"], columns=["doc_id", "tokens", "source"])
        rows += [(r["doc_id"], tuple(r["tokens"]), r["source"]) for r in table.to_pylist()]
    return rows


def _rejects_of(out: Path) -> list[tuple]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for entry in manifest["rejects"]:
        table = pq.read_table(out / entry["path"], columns=["doc_id", "source", "line", "stage", "reason"])
        rows += [tuple(r.values()) for r in table.to_pylist()]
    return sorted(rows)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A plain JSONL file with exact duplicates across its future units, and bad lines at boundaries."""
    root = tmp_path_factory.mktemp("split")
    path = _plain_jsonl(root / "big.jsonl", 400, {10, 11, 200, 201})
    with path.open("a") as fh:  # duplicates of early documents at the end: exact dedup spans units
        for i in range(0, 40, 4):
            fh.write(_line(i).replace(f'"d{i:05d}"', f'"e{i:05d}"') + "\n")
    return root


def test_a_run_over_a_split_file_keeps_what_a_one_unit_run_keeps(corpus, tmp_path, run_cli):
    outs = {}
    for name, unit_bytes in (("one", 1 << 30), ("many", 4000)):
        out = tmp_path / name
        args = [
            "run",
            "--input",
            str(corpus),
            "--output",
            str(out),
            "--set",
            f"input.unit_bytes={unit_bytes}",
        ]
        proc = run_cli(*args, *(a for s in FAST for a in ("--set", s)))
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs[name] = out
    many = json.loads((outs["many"] / "manifest.json").read_text())
    assert many["run"]["work_units"] >= 10
    assert _docs_of(outs["many"]) == _docs_of(outs["one"])
    rejects = _rejects_of(outs["many"])
    assert rejects == _rejects_of(outs["one"])
    assert sorted(r[2] for r in rejects if r[4] == "invalid_json") == [10, 11, 200, 201]
    assert sum(1 for r in rejects if r[4] == "exact_duplicate") == 10
    one = json.loads((outs["one"] / "manifest.json").read_text())
    assert many["counts"]["stages"] == one["counts"]["stages"]


def test_the_default_equals_a_worker_per_core_and_reruns_too(corpus, tmp_path, run_cli):
    # The default is one in-process worker (etl/run/runner.py) that hands each unit to a pool of worker processes
    # on inputs big enough (etl/local_runner/processes.py); the pool forced on and off, multi_processing with two workers
    # and a rerun must all agree, byte for byte.
    multi = ["--", "--direct_running_mode=multi_processing", "--direct_num_workers=2"]
    runs = (
        ("default", [], {}),
        ("pool", [], {"CORPUS_ETL_PROCESSES": "2"}),
        ("inline", [], {"CORPUS_ETL_PROCESSES": "0"}),
        ("two", multi, {}),
        ("again", [], {}),
    )
    outs, logs = [], {}
    for name, beam, env in runs:
        out = tmp_path / name
        args = ["run", "--input", str(corpus), "--output", str(out), "--set", "input.unit_bytes=4000"]
        proc = run_cli(*args, *(a for s in FAST for a in ("--set", s)), *beam, timeout=600, env=env)
        assert proc.returncode == 0, proc.stderr[-3000:]
        outs.append(comparable_outputs(out, ignore_manifest_keys=("created_at", "run.beam_args")))
        logs[name] = proc.stderr
    assert "work units run in 2 worker processes" in logs["pool"]
    assert "worker processes" not in logs["inline"]
    for other in outs[1:]:
        assert other == outs[0]


def _compressed(path: Path, lines: list[str], kind: str, cut: bool) -> Path:
    """JSONL as gzip or as two zstd frames; `cut` drops the second half of the last frame or the trailer."""
    import gzip

    import zstandard

    half = len(lines) // 2
    if kind == "gz":
        data = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=1)
        data = data[:-6] if cut else data
    else:
        cctx = zstandard.ZstdCompressor(level=1)
        frames = [cctx.compress(("\n".join(part) + "\n").encode()) for part in (lines[:half], lines[half:])]
        data = frames[0] + (frames[1][: len(frames[1]) // 2] if cut else frames[1])
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("kind", ["gz", "zst"])
@pytest.mark.parametrize("cut", [False, True], ids=["whole", "truncated"])
def test_a_compressed_stream_cut_into_chunks_reads_like_one_unit(tmp_path, kind, cut):
    bad = {3, 5000, 5001, 9000}
    lines = ["{broken" if i + 1 in bad else _line(i) for i in range(30000)]
    path = _compressed(tmp_path / f"big.jsonl.{kind}", lines, kind, cut)
    files = [(str(path), path.stat().st_size)]
    whole = _read(plan_units(files, 1 << 40))
    units = plan_units(files, 1, spill_dir=str(tmp_path / "spill"))  # chunks of the 1 MiB floor
    assert len(units) >= 2 and all(p.url == str(path) for u in units for p in u.parts)
    chunked = _read(units)
    assert chunked == whole
    docs, rejects = chunked
    assert {r["line"] for r in rejects if r["reason"] == "invalid_json"} == {
        b for b in bad if b <= len(docs) + 4
    }
    faults = [r for r in rejects if r["reason"] == "truncated_file"]
    assert len(faults) == (1 if cut else 0)
    if cut:
        last_good = len(docs) + sum(1 for r in rejects if r["reason"] == "invalid_json")
        assert faults[0]["line"] == last_good + 1 and f"after line {last_good} " in faults[0]["detail"]
    else:
        assert len(docs) == 30000 - len(bad)
