"""The skeleton flow on the real Beam runner: mixed inputs, planted duplicates, every kind of bad input."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl.cli import main
from etl.config import load_config
from etl.run import run_pipeline
from tests.corpus_fixtures import write_mixed_corpus

SKELETON = ["quality.enabled=false", "near_dedup.enabled=false", "validation.enabled=false"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("mixed")
    return root, write_mixed_corpus(root)


@pytest.fixture(scope="module")
def first_run(corpus, tmp_path_factory):
    root, expect = corpus
    out = tmp_path_factory.mktemp("out1")
    result = run_pipeline([str(root)], str(out), load_config(overrides=SKELETON))
    return out, result.manifest, expect


def _rejects(out: Path):
    return pq.read_table(sorted((out / "rejects").glob("*.parquet"))).to_pylist()


def test_kept_rows_are_input_minus_duplicates_minus_bad(first_run):
    out, manifest, expect = first_run
    n_bad = sum(len(v) for v in expect["bad"].values())
    kept = sum(pq.read_metadata(out / s["path"]).num_rows for s in manifest["shards"])
    assert kept == expect["docs"] - expect["dups"]
    assert manifest["counts"]["kept"] == kept
    assert manifest["counts"]["read"] == expect["docs"] + n_bad
    assert manifest["counts"]["rejected"]["exact_dedup"] == {"exact_duplicate": expect["dups"]}


def test_every_bad_record_is_a_reject_with_file_and_line(first_run):
    out, _, expect = first_run
    found = {(r["reason"], r["source"], r["line"]) for r in _rejects(out) if r["stage"] == "read"}
    wanted = {(reason, src, line) for reason, places in expect["bad"].items() for src, line in places}
    assert found == wanted
    for r in _rejects(out):
        if r["stage"] == "read":
            assert r["source"] in r["detail"], r


def test_duplicates_that_differ_only_in_unicode_form_or_line_endings_are_removed(first_run):
    out, _, _ = first_run
    dups = {r["doc_id"]: r["detail"] for r in _rejects(out) if r["reason"] == "exact_duplicate"}
    # One document of each planted pair survives: the smallest doc_id (plain string order).
    for pair in [("g03", "g-dup-nfd"), ("g04", "g-dup-crlf"), ("g00", "b8"), ("b0", "z9"), ("z0", "p07")]:
        survivor, removed = min(pair), max(pair)
        assert dups[removed] == f"duplicate of {survivor}"
        assert survivor not in dups


def test_manifest_checksums_match_the_files(first_run):
    out, manifest, _ = first_run
    assert manifest["shards"], "no shards written"
    for entry in manifest["shards"] + manifest["rejects"]:
        data = (out / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
        assert len(data) == entry["bytes"]
    for s in manifest["shards"]:
        table = pq.read_table(out / s["path"])
        assert table.num_rows == s["rows"]
        assert (
            sum(table["num_tokens"].to_pylist())
            == s["tokens"]
            == sum(len(t) for t in table["tokens"].to_pylist())
        )
        assert min(table["num_tokens"].to_pylist()) > 0


def test_counts_reconcile_for_every_stage(first_run):
    _, manifest, _ = first_run
    stages = manifest["counts"]["stages"]
    assert list(stages) == ["read", "normalize", "url_filter", "exact_dedup", "tokenize"]
    for name, c in stages.items():
        assert c["in"] == c["out"] + c["rejected"], name
    rejected = sum(sum(r.values()) for r in manifest["counts"]["rejected"].values())
    assert manifest["counts"]["read"] == manifest["counts"]["kept"] + rejected


def _files(out: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(out)): p.read_bytes()
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.name != "manifest.json" and "report" not in p.parts
    }


def _manifest_without_time(out: Path) -> dict:
    m = json.loads((out / "manifest.json").read_text())
    m.pop("created_at")
    return m


def test_two_runs_give_byte_identical_outputs_and_rerun_in_place_is_idempotent(corpus, first_run, tmp_path):
    root, _ = corpus
    out1, _, _ = first_run
    out2 = tmp_path / "out2"
    run_pipeline([str(root)], str(out2), load_config(overrides=SKELETON))
    assert _files(out1) == _files(out2)
    assert _manifest_without_time(out1) == _manifest_without_time(out2)
    before = _files(out2)
    run_pipeline([str(root)], str(out2), load_config(overrides=SKELETON))
    assert _files(out2) == before
    assert not (out2 / "_staging").exists()


def test_cli_pattern_matching_no_file_is_a_clear_error(tmp_path, capsys):
    code = main(["run", "--input", str(tmp_path / "nothing-*.jsonl"), "--output", str(tmp_path / "o")])
    assert code == 2
    assert "matches no file" in capsys.readouterr().err
    assert not (tmp_path / "o" / "manifest.json").exists()
