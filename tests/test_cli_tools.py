"""The operator's tools on a real run of the sample corpus, through the real CLI (issue 19): `rejects`, `show`,
`run --dry-run` / `demo --dry-run` (nothing written) and `--version`; the report's plain words for reasons."""

from __future__ import annotations

import html
import json
import re
import subprocess
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

import etl
from tests.conftest import REPO, SAMPLE, checkout_env, cli_command
from transforms.reasons import explain, lookup


def cli(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_command(*args), env=checkout_env(), cwd=cwd, capture_output=True, text=True, timeout=300
    )


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> Path:
    """The demo: the whole sample corpus through every stage, rejects with their text."""
    out = tmp_path_factory.mktemp("tools") / "run"
    proc = cli("demo", "--output", str(out))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def text_run(tmp_path_factory) -> Path:
    """One small input with the text in the shards and none in the rejects (both keys flipped)."""
    out = tmp_path_factory.mktemp("tools-text") / "run"
    proc = cli(
        "run", "--input", str(SAMPLE / "web-b.jsonl.zst"), "--output", str(out), "--set", "output.keep_text=true",
        "--set", "output.rejects_text=false", "--set", "validation.enabled=false",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def _table(out: Path, kind: str) -> pa.Table:
    manifest = json.loads((out / "manifest.json").read_text())
    return pa.concat_tables([pq.read_table(out / e["path"]) for e in manifest[kind]])


def _json_rows(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines()]


def assert_one_line_error(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-1000:], proc.stderr[-2000:])
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    for needle in needles:
        assert needle in lines[0], lines[0]


def test_version_prints_the_package_version():
    proc = cli("--version")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"corpus-etl {etl.__version__}\n"


def test_rejects_json_lists_every_reject_with_full_fields(sample_run):
    proc = cli("rejects", str(sample_run), "--json", "--limit", "0")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = _json_rows(proc.stdout)
    expected = _table(sample_run, "rejects")
    assert len(rows) == expected.num_rows
    assert rows == expected.select(list(rows[0])).to_pylist(), (
        "in file order, every field whole, text included"
    )
    assert set(rows[0]) == {"doc_id", "source", "line", "stage", "reason", "detail", "value", "text"}
    assert f"{expected.num_rows} of {expected.num_rows} rejects match" in proc.stderr, "summary on stderr"


def test_rejects_reason_prefix_takes_a_family_and_only_a_family(sample_run):
    rejected = json.loads((sample_run / "manifest.json").read_text())["counts"]["rejected"]
    family = {r: n for r, n in rejected["quality"].items() if r.startswith("gopher_repetition.")}
    assert family, "the sample has gopher repetition rejects"
    proc = cli("rejects", str(sample_run), "--reason", "gopher_repetition", "--json", "--limit", "0")
    rows = _json_rows(proc.stdout)
    assert len(rows) == sum(family.values())
    assert {r["reason"] for r in rows} == set(family)
    exact = next(iter(family))
    rows = _json_rows(cli("rejects", str(sample_run), "--reason", exact, "--json", "--limit", "0").stdout)
    assert len(rows) == family[exact] and {r["reason"] for r in rows} == {exact}
    # A prefix counts only at a dot: `gopher` is no reason and no family.
    assert cli("rejects", str(sample_run), "--reason", "gopher", "--json").stdout == ""


def test_rejects_filters_by_stage_and_source_glob(sample_run):
    table = _table(sample_run, "rejects")
    read = _json_rows(cli("rejects", str(sample_run), "--stage", "read", "--json").stdout)
    assert len(read) == pc.sum(pc.equal(table["stage"], "read")).as_py() == 4
    assert {r["reason"] for r in read} == {"blank_line", "invalid_json", "missing_text", "null_text"}
    books = _json_rows(
        cli("rejects", str(sample_run), "--source", "books.parquet", "--json", "--limit", "0").stdout
    )
    expected = pc.sum(pc.ends_with(table["source"], "/books.parquet")).as_py()
    assert len(books) == expected > 0 and all(r["source"].endswith("/books.parquet") for r in books)
    both = cli(
        "rejects",
        str(sample_run),
        "--source",
        "*.jsonl.*",
        "--stage",
        "exact_dedup",
        "--json",
        "--limit",
        "0",
    )
    rows = _json_rows(both.stdout)
    assert rows and all(r["stage"] == "exact_dedup" and ".jsonl." in r["source"] for r in rows)


def test_rejects_table_shows_a_summary_and_one_line_per_reject(sample_run):
    proc = cli("rejects", str(sample_run))
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    table = _table(sample_run, "rejects")
    total = table.num_rows
    top = max(pc.value_counts(table["reason"]).to_pylist(), key=lambda c: c["counts"])
    assert lines[0].startswith(f"{total} of {total} rejects match: {top['values']} {top['counts']}, ")
    assert lines[1].split() == ["doc_id", "source", "line", "stage", "reason", "detail", "value", "text"]
    rows = lines[2:-1]
    assert len(rows) == 20, "the default limit"
    assert lines[-1] == f"(the first 20 of {total}; --limit N shows more, 0 all)"
    first = table.slice(0, 1).to_pylist()[0]
    preview = " ".join(first["text"].split())[:79]
    assert first["doc_id"] in rows[0] and preview in rows[0]
    assert len(rows[0].split("  ")[-1]) <= 80


def test_rejects_of_something_that_is_not_a_run_is_one_line_exit_2(tmp_path):
    assert_one_line_error(cli("rejects", str(tmp_path)), str(tmp_path))
    assert_one_line_error(cli("rejects", str(SAMPLE / "books.parquet")), "books.parquet")
    assert_one_line_error(cli("show", str(tmp_path / "missing"), "x"), "missing")


def test_show_a_removed_document_says_where_why_and_its_text(sample_run):
    reject = next(r for r in _table(sample_run, "rejects").to_pylist() if r["stage"] == "quality")
    proc = cli("show", str(sample_run), reject["doc_id"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert f"{reject['doc_id']}: removed by quality: {reject['reason']}" in out
    assert explain(reject["reason"]) in out
    assert f"{reject['source']} line {reject['line']}" in out and reject["detail"] in out
    assert out.endswith(reject["text"] + "\n")


def test_show_a_kept_document_names_its_shard_row_and_tokens(sample_run):
    manifest = json.loads((sample_run / "manifest.json").read_text())
    shard = manifest["shards"][0]["path"]
    rows = pq.read_table(sample_run / shard, columns=["doc_id", "num_tokens"]).to_pylist()
    row = len(rows) // 2
    proc = cli("show", str(sample_run / "manifest.json"), rows[row]["doc_id"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert f"kept in {shard} row {row} ({rows[row]['num_tokens']} tokens)" in proc.stdout
    assert "text: not kept" in proc.stdout and "output.keep_text" in proc.stdout


def test_show_takes_the_text_from_the_shard_or_says_the_reject_has_none(text_run):
    shards = _table(text_run, "shards")
    kept = shards.slice(3, 1).to_pylist()[0]
    proc = cli("show", str(text_run), kept["doc_id"])
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.endswith(f"text ({len(kept['text'])} characters):\n{kept['text']}\n")
    reject = _table(text_run, "rejects").slice(0, 1).to_pylist()[0]
    assert reject.get("text") is None, "no text column, or a null one"
    proc = cli("show", str(text_run), reject["doc_id"])
    assert f"removed by {reject['stage']}: {reject['reason']}" in proc.stdout
    assert "text: not kept" in proc.stdout and "output.rejects_text" in proc.stdout


def test_show_an_unknown_id_is_one_line_exit_2(sample_run):
    assert_one_line_error(cli("show", str(sample_run), "no-such-doc"), "no-such-doc", str(sample_run))


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*")}


def test_dry_run_plans_a_new_version_and_writes_nothing(tmp_path):
    big = tmp_path / "in" / "big.jsonl"  # 100 lines of ~100 bytes: five units of 2000 bytes
    big.parent.mkdir()
    big.write_text(
        "".join(json.dumps({"id": f"b{i}", "text": f"line {i} " + "x" * 70}) + "\n" for i in range(100))
    )
    before = _snapshot(tmp_path), _snapshot(SAMPLE)
    out = tmp_path / "out" / "v1"
    proc = cli(
        "run", "--input", str(SAMPLE), str(big), "--output", str(out), "--dry-run", "--set", "input.unit_bytes=2000"
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (_snapshot(tmp_path), _snapshot(SAMPLE)) == before, "no output folder, lease, staging or spill"
    text = proc.stdout
    for name in (
        "books.parquet",
        "descriptors.txt",
        "scraped-broken.jsonl",
        "web-a.jsonl.gz",
        "web-b.jsonl.zst",
    ):
        assert f"/{name}  " in text, name
    ranges = re.findall(r"big\.jsonl bytes (\d+)-(\d+) \(from line (\d+)\)", text)
    assert len(ranges) >= 4 and ranges[0][0] == "0" and ranges[0][2] == "1", "a plain JSONL file cut at lines"
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False)), "ranges follow each other"
    assert "2 compressed files count as one unit each" in text, "no decompression into staging in a dry run"
    assert (
        "stages: read -> normalize -> url_filter -> exact_dedup -> quality -> near_dedup -> tokenize" in text
    )
    assert "unit_bytes 2000" in text and "threshold 0.8" in text
    assert text.splitlines()[-1].startswith(f"output {out}: new:")


def test_dry_run_on_a_committed_version_says_rerun_refused_or_replace(sample_run):
    before = _snapshot(sample_run)
    rerun = cli("demo", "--output", str(sample_run), "--dry-run")
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert ": rerun: same inputs and config" in rerun.stdout.splitlines()[-1]
    other = ["--set", "near_dedup.threshold=0.7"]
    refused = cli("run", "--input", str(SAMPLE), "--output", str(sample_run), "--dry-run", *other)
    assert (
        refused.returncode == 2
        and ": refused: " in refused.stdout
        and "near_dedup.threshold" in refused.stdout
    )
    replace = cli(
        "run", "--input", str(SAMPLE), "--output", str(sample_run), "--dry-run", "--overwrite", *other
    )
    assert replace.returncode == 0 and ": replace: --overwrite" in replace.stdout.splitlines()[-1]
    assert _snapshot(sample_run) == before, "a dry run changes nothing in a committed output"


def test_demo_dry_run_writes_nothing(tmp_path):
    proc = cli("demo", "--dry-run", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "output demo-out: new:" in proc.stdout and list(tmp_path.iterdir()) == []


def test_every_reason_of_the_sample_run_has_plain_words_in_the_report(sample_run):
    counts = json.loads((sample_run / "manifest.json").read_text())["counts"]["rejected"]
    reasons = {r for by_reason in counts.values() for r in by_reason}
    assert reasons and all(lookup(r) is not None for r in reasons), sorted(
        r for r in reasons if not lookup(r)
    )
    page = (sample_run / "report" / "index.html").read_text()
    for reason in reasons:
        assert html.escape(explain(reason), quote=True) in page, reason
