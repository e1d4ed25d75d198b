"""Airflow runs the `corpus_etl` DAG end to end (SQLite home, `airflow dags test`): manifest, report, Asset event."""

from __future__ import annotations

import hashlib
import json

from tests.conftest import SAMPLE


def test_dag_run_commits_manifest_and_report(airflow_dag_test, tmp_path):
    out = tmp_path / "out"
    run = airflow_dag_test("corpus_etl", {"input": [str(SAMPLE)], "output": str(out)})  # the default config
    assert run["tasks"] == {
        "run_pipeline": "success", "publish_report": "success", "check_validation": "success",
        "publish_manifest": "success",
    }, run["log"][-4000:]  # fmt: skip
    assert run["state"] == "success"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["validation"]["success"] is True
    assert manifest["validation"].get("enabled", True) is True  # the bundled suites really ran
    assert manifest["shards"] and all((out / s["path"]).is_file() for s in manifest["shards"])
    assert (out / "report" / "index.html").stat().st_size > 0
    assert not (out / "_staging").exists()
    assert run["xcom"]["publish_report"] == f"{out}/report/index.html"
    summary = run["xcom"]["check_validation"]
    assert summary["kept"] == manifest["counts"]["kept"] > 0
    assert summary["tokens"] == sum(s["tokens"] for s in manifest["shards"])
    # Not versioned (no version_format): the output itself is the dataset, and its manifest is the event's.
    event = run["xcom"]["publish_manifest"]
    assert event["manifest"] == f"{out}/manifest.json" and event["version"] is None
    assert event["sha256"] == hashlib.sha256((out / "manifest.json").read_bytes()).hexdigest()
    assert event["kept"] == summary["kept"] and event["parents"] == []
