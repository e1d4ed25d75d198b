"""Validation policies through a real run: one planted bad shard fails the run, warns, or is quarantined."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from etl.cli import main
from tests.corpus_fixtures import prose

MAX_CHARS = 5000


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("policy")
    (root / "a-good.jsonl").write_text(
        "".join(json.dumps({"id": f"a{i}", "text": prose(i)}) + "\n" for i in range(20))
    )
    # The planted bad shard: one document far longer than the suite allows.
    rows = [json.dumps({"id": f"b{i}", "text": prose(50 + i)}) for i in range(5)]
    rows.append(json.dumps({"id": "b-huge", "text": " ".join(prose(90 + k) for k in range(40))}))
    (root / "b-bad.jsonl").write_text("\n".join(rows) + "\n")
    suite = root / "max_length.json"
    suite.write_text(
        json.dumps(
            {
                "name": "max_length",
                "meta": {"corpus_etl": {"frame": "shard", "required_columns": ["num_chars"]}},
                "expectations": [
                    {
                        "type": "expect_column_max_to_be_between",
                        "kwargs": {"column": "num_chars", "max_value": MAX_CHARS},
                        "meta": {"why": "planted: no document longer than the limit"},
                    }
                ],
            }
        )
    )
    return root, suite


def _run(inputs, out: Path, policy: str) -> tuple[int, dict]:
    root, suite = inputs
    settings = [
        "quality.enabled=false",
        "near_dedup.enabled=false",
        # One work unit, so one shard, per input file: the bigger file fits one unit, the two do not.
        f"input.unit_bytes={max(p.stat().st_size for p in root.glob('*.jsonl'))}",
        f"validation.suites=[{suite}]",
        f"validation.policy={policy}",
    ]
    code = main(
        [
            "--quiet",
            "run",
            "--input",
            str(root / "*.jsonl"),
            "--output",
            str(out),
            *sum((["--set", s] for s in settings), []),
        ]
    )
    return code, json.loads((out / "manifest.json").read_text())


def _unversioned(path: str) -> str:
    """shards/part-00001-<version>.parquet -> shards/part-00001: the version id is a content hash."""
    assert re.fullmatch(r"\w+/part-\d{5}-[0-9a-f]{12}\.parquet", path), path
    return path.rsplit("-", 1)[0]


def test_policy_fail_exits_non_zero_and_the_report_names_the_failed_expectation(inputs, tmp_path):
    code, manifest = _run(inputs, tmp_path / "fail", "fail")
    assert code == 1
    assert manifest["validation"]["success"] is False
    failed = manifest["validation"]["failures"]
    assert [_unversioned(f["shard"]) for f in failed] == ["shards/part-00001"]
    html = (tmp_path / "fail" / "report" / "index.html").read_text()
    assert "expect_column_max_to_be_between" in html
    huge = len(" ".join(prose(90 + k) for k in range(40)))
    assert f"{huge:,}" in html or str(huge) in html, "the observed maximum is shown"


def test_policy_warn_passes_and_keeps_every_shard(inputs, tmp_path):
    code, manifest = _run(inputs, tmp_path / "warn", "warn")
    assert code == 0
    assert manifest["validation"]["success"] is True and manifest["validation"]["warnings"]
    assert [_unversioned(s["path"]) for s in manifest["shards"]] == ["shards/part-00000", "shards/part-00001"]
    assert manifest["quarantine"] == []


def test_policy_quarantine_sets_the_bad_shard_aside_and_lists_it(inputs, tmp_path):
    out = tmp_path / "quarantine"
    code, manifest = _run(inputs, out, "quarantine")
    assert code == 0
    assert [_unversioned(s["path"]) for s in manifest["shards"]] == ["shards/part-00000"]
    assert [_unversioned(q["path"]) for q in manifest["quarantine"]] == ["quarantine/part-00001"]
    assert (out / manifest["quarantine"][0]["path"]).exists()
    assert not list((out / "shards").glob("part-00001-*.parquet"))
    from etl.reader import TokenShardDataset

    ds = TokenShardDataset(str(out / "manifest.json"), seq_len=16, batch_size=1, rank=0, world_size=1, seed=0)
    seen = sum(int(b["tokens"].numel()) for b in ds)
    kept_tokens = manifest["shards"][0]["tokens"]
    assert 0 < seen <= kept_tokens, "the reader serves tokens of the kept shard only"
