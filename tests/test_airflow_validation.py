"""A DAG run whose data fails validation ends failed, after the run committed and the report was published."""

from __future__ import annotations

import json

from tests.conftest import SAMPLE

# A run-level bound the sample corpus violates: it holds broken records and duplicates (about 10% dropped).
STRICT_SUITE = {
    "name": "at_most_one_percent_dropped",
    "meta": {"corpus_etl": {"frame": "run", "required_columns": ["drop_rate_total"]}},
    "expectations": [
        {
            "type": "expect_column_max_to_be_between",
            "kwargs": {"column": "drop_rate_total", "max_value": 0.01},
            "meta": {"why": "a curated corpus loses at most 1% of its documents"},
        }
    ],
}


def test_dag_run_fails_when_the_data_fails_validation(airflow_dag_test, tmp_path):
    suite = tmp_path / "strict.json"
    suite.write_text(json.dumps(STRICT_SUITE))
    out = tmp_path / "out"
    overrides = [f"validation.suites=[{suite}]", "validation.policy=fail"]
    run = airflow_dag_test("corpus_etl", {"input": [str(SAMPLE)], "output": str(out), "overrides": overrides})
    assert run["tasks"] == {
        "run_pipeline": "success", "publish_report": "success", "check_validation": "failed",
        "publish_manifest": "upstream_failed",  # no Asset event: training never starts on failed data
    }, run["log"][-4000:]  # fmt: skip
    assert run["state"] == "failed"
    manifest = json.loads((out / "manifest.json").read_text())
    result = manifest["validation"]
    assert result["success"] is False
    assert result["suites"]["at_most_one_percent_dropped"]["success"] is False
    assert run["xcom"]["publish_report"] == f"{out}/report/index.html"
    assert "the data failed validation" in run["log"]
