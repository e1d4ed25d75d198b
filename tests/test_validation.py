"""Great Expectations on the real suites in expectations/: a planted bad shard under each validation policy."""

from __future__ import annotations

import pytest

from etl.config import ValidationConfig
from etl.report import render_report
from etl.validation import load_suite, validate_outputs
from expectations.frames import run_aggregates, shard_frame
from tests.test_report_data import make_run

BAD = "shards/part-00001.parquet"


@pytest.fixture(scope="module")
def bad_run():
    return make_run(bad_shard=1)


def _failed(result: dict, shard: str) -> set[tuple[str, str]]:
    return {(f["expectation_type"], f["kwargs"].get("column")) for f in result["shards"][shard]["failed"]}


def test_clean_run_passes_and_absent_metric_columns_are_not_applicable(tmp_path):
    run = make_run()
    stats = {path: t.drop_columns(["q_lang_score"]) for path, t in run["stats_by_shard"].items()}
    result = validate_outputs(stats, run["manifest"], ValidationConfig(policy="fail"), str(tmp_path / "docs"))
    assert result["success"] and result["status"] == "pass" and result["failures"] == []
    lang = [
        r for r in result["suites"]["shard_stats"]["results"] if r["kwargs"].get("column") == "q_lang_score"
    ]
    assert lang[0]["success"] is None and "n/a" in lang[0]["observed_value"]
    aggregate = {r["kwargs"]["column"]: r for r in result["suites"]["run_aggregate"]["results"]}
    assert aggregate["docs_kept"]["observed_value"] == 1240
    assert aggregate["drop_rate_quality"]["observed_value"] == pytest.approx(410 / 1803)
    assert (tmp_path / "docs" / "index.html").exists()  # GE Data Docs were built


def test_planted_bad_shard_fails_the_run_under_policy_fail(bad_run):
    result = validate_outputs(
        bad_run["stats_by_shard"], bad_run["manifest"], ValidationConfig(policy="fail"), None
    )
    assert result["success"] is False and result["status"] == "fail" and result["quarantine"] == []
    assert ("expect_column_min_to_be_between", "num_chars") in _failed(result, BAD)
    assert ("expect_column_min_to_be_between", "num_tokens") in _failed(result, BAD)
    assert all(result["shards"][p]["success"] for p in bad_run["stats_by_shard"] if p != BAD)
    merged = next(
        r
        for r in result["suites"]["shard_stats"]["results"]
        if r["kwargs"].get("column") == "num_chars" and "min" in r["expectation_type"]
    )
    assert merged["success"] is False and merged["observed_value"] == 0 and merged["failed_shards"] == [BAD]
    # the report names the failed expectation, where, and what was observed
    page = render_report(bad_run["manifest"], bad_run["rejects"], bad_run["stats"], result)
    alert = page[page.index('id="failures"') :][:3000]
    assert "expect_column_min_to_be_between" in alert and BAD in alert and "observed <b" in alert
    assert 'data-status="fail"' in page


def test_planted_bad_shard_passes_with_warning_under_policy_warn(bad_run):
    result = validate_outputs(
        bad_run["stats_by_shard"], bad_run["manifest"], ValidationConfig(policy="warn"), None
    )
    assert result["success"] is True and result["status"] == "warn"
    assert result["expectations_passed"] is False
    assert any("num_chars" in w and "observed 0" in w and BAD in w for w in result["warnings"])


def test_planted_bad_shard_is_set_aside_under_policy_quarantine(bad_run):
    result = validate_outputs(
        bad_run["stats_by_shard"], bad_run["manifest"], ValidationConfig(policy="quarantine"), None
    )
    assert result["success"] is True and result["status"] == "warn" and result["quarantine"] == [BAD]
    assert result["shards"][BAD]["failed"] and all(
        result["shards"][p]["success"] for p in bad_run["stats_by_shard"] if p != BAD
    )
    page = render_report(bad_run["manifest"], bad_run["rejects"], bad_run["stats"], result)
    assert "QUARANTINED 1 SHARD" in page and f"Set aside: <code>{BAD}</code>" in page


def test_run_aggregate_failure_is_not_quarantinable(bad_run):
    manifest = {**bad_run["manifest"], "counts": {**bad_run["manifest"]["counts"], "kept": 0}}
    result = validate_outputs(
        bad_run["stats_by_shard"], manifest, ValidationConfig(policy="quarantine"), None
    )
    assert result["success"] is False and result["status"] == "fail"
    failed = {f["kwargs"]["column"] for f in result["failures"] if f["shard"] is None}
    assert {"docs_kept", "kept_rows_mismatch"} <= failed


def test_disabled_validation_and_unknown_suite():
    run = make_run()
    skipped = validate_outputs(run["stats_by_shard"], run["manifest"], ValidationConfig(enabled=False), None)
    assert skipped["success"] and skipped["status"] == "skipped"
    with pytest.raises(ValueError, match="no_such_suite"):
        load_suite("no_such_suite")


def test_frames_hold_numbers_and_run_figures(bad_run):
    frame = shard_frame(bad_run["stats_by_shard"][BAD])
    assert "lang" not in frame.columns and "chars_per_token" in frame.columns
    figures = run_aggregates(bad_run["manifest"], bad_run["stats_by_shard"])
    assert figures["drop_rate_exact_dedup"] == pytest.approx(180 / 1983)
    assert figures["exact_dup_rate"] == pytest.approx(180 / 1983)
    assert figures["stage_balance_errors"] == 0 and figures["kept_rows_mismatch"] == 0
    assert figures["lang_share_configured"] == pytest.approx(
        sum(figures.get(f"lang_share_{k}", 0) for k in ("en", "de", "fr"))
    )
    assert figures["total_tokens"] == sum(s["tokens"] for s in bad_run["manifest"]["shards"])
