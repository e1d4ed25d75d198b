"""Airflow DAG `corpus_etl`: one pipeline run with parameters, a validation gate, and the report's location.

run_pipeline runs `corpus-etl run` in a subprocess (retried: a rerun into the same output is idempotent, see
etl/manifest.py); publish_report returns the report URL as XCom; check_validation fails the DAG run when the
committed manifest says the data failed validation under policy `fail`. Storage is whatever the output URL names
(local or s3://, configured by the standard AWS_* variables of the worker).
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import Param, dag, task
from airflow.sdk.exceptions import AirflowFailException

log = logging.getLogger(__name__)

# CLI exit codes (etl/cli.py): 1 = committed but validation failed; 2 = bad usage/config/input; 3 = run failed.
EXIT_OK, EXIT_INVALID, EXIT_USAGE = 0, 1, 2

# In a source checkout the DAG runs the checkout's code; in the image the package is installed.
_CHECKOUT = Path(__file__).resolve().parent.parent

PARAMS = {
    "input": Param(
        os.environ.get("CORPUS_ETL_INPUT", "s3://corpus/raw/").split(","),
        type="array",
        items={"type": "string"},
        minItems=1,
        description="input files, directories or globs (local paths or s3:// URLs)",
    ),
    "output": Param(
        os.environ.get("CORPUS_ETL_OUTPUT", "s3://corpus/runs/latest"),
        type="string",
        minLength=1,
        description="output folder or URL; its manifest.json is the commit point",
    ),
    "config": Param(
        None, type=["null", "string"], description="a config YAML file (see `corpus-etl config`)"
    ),
    "overrides": Param(
        [], type="array", items={"type": "string"}, description="KEY=VALUE config overrides (--set)"
    ),
    "runner": Param(
        "local",
        type="string",
        description="'local' (the in-process FnApiRunner) or a Beam runner: DataflowRunner, FlinkRunner, "
        "SparkRunner, PortableRunner (see docs/runners.md)",
    ),
    "runner_options": Param(
        [],
        type="array",
        items={"type": "string"},
        description="Beam pipeline options, e.g. --direct_running_mode=multi_processing or --project=...",
    ),
    "json_logs": Param(False, type="boolean", description="structured JSON log lines from the pipeline"),
}


def cli_command(params: dict) -> list[str]:
    """The `corpus-etl run` command line for a DAG run's params."""
    argv = [sys.executable, "-m", "etl.cli"]
    if params.get("json_logs"):
        argv.append("--json-logs")
    argv.append("run")
    for pattern in params["input"]:
        argv += ["--input", pattern]
    argv += ["--output", params["output"]]
    if params.get("config"):
        argv += ["--config", params["config"]]
    for item in params.get("overrides") or []:
        argv += ["--set", item]
    beam = list(params.get("runner_options") or [])
    if params.get("runner", "local") != "local":
        beam.insert(0, f"--runner={params['runner']}")
    return argv + (["--", *beam] if beam else [])


def _cli_env() -> dict[str, str]:
    env = dict(os.environ)
    if (_CHECKOUT / "etl" / "cli.py").exists():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_CHECKOUT), env.get("PYTHONPATH")) if p)
    return env


def committed_manifest(output: str, started: float) -> dict | None:
    """The output's manifest when this run committed it (written after `started`), else None."""
    import fsspec

    try:
        with fsspec.open(f"{output.rstrip('/')}/manifest.json", "r") as fh:
            manifest = json.load(fh)
    except FileNotFoundError:
        return None
    # created_at has whole seconds: compare with the start second.
    return manifest if datetime.fromisoformat(manifest["created_at"]).timestamp() >= int(started) else None


@dag(
    dag_id="corpus_etl",
    schedule=None,
    start_date=datetime(2026, 1, 1, tzinfo=UTC),
    catchup=False,
    max_active_runs=1,  # two runs into one output would race on its commit
    params=PARAMS,
    default_args={"retries": 2, "retry_delay": timedelta(minutes=1), "retry_exponential_backoff": True},
    tags=["corpus-etl"],
    doc_md=__doc__,
)
def corpus_etl():
    @task(execution_timeout=timedelta(hours=24), multiple_outputs=False)
    def run_pipeline(params: dict | None = None) -> dict:
        argv = cli_command(params)
        log.info("running: %s", " ".join(argv))
        started = time.time()
        with subprocess.Popen(
            argv, env=_cli_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        ) as proc:
            for line in proc.stdout:
                log.info("%s", line.rstrip())
        code = proc.returncode
        if code == EXIT_USAGE:
            raise AirflowFailException(f"corpus-etl refused its arguments (exit {code}); see the log above")
        # An uncaught error also exits 1: only a manifest written by this run means "committed".
        if code not in (EXIT_OK, EXIT_INVALID) or committed_manifest(params["output"], started) is None:
            raise RuntimeError(f"corpus-etl run failed (exit {code}); the task retries into the same output")
        return {"output": params["output"].rstrip("/"), "exit_code": code, "started": started}

    @task
    def publish_report(run: dict) -> str:
        import fsspec

        url = f"{run['output']}/report/index.html"
        fs, path = fsspec.core.url_to_fs(url)
        if not fs.exists(path):
            raise AirflowFailException(f"{url}: the run committed no report")
        log.info("report: %s", url)
        return url

    @task(retries=0, multiple_outputs=False)  # the data does not change on a retry
    def check_validation(run: dict) -> dict:
        manifest = committed_manifest(run["output"], run["started"])
        if manifest is None:
            raise AirflowFailException(f"{run['output']}/manifest.json is gone or older than this run")
        v = manifest["validation"]
        summary = {
            "success": bool(v.get("success")),
            "policy": v.get("policy"),
            "kept": manifest["counts"]["kept"],
            "shards": len(manifest["shards"]),
            "tokens": sum(s["tokens"] for s in manifest["shards"]),
            "quarantined": len(manifest.get("quarantine") or []),
        }
        log.info("validation: %s", json.dumps(summary))
        if run["exit_code"] == EXIT_INVALID or (not summary["success"] and summary["policy"] == "fail"):
            failed = [name for name, r in (v.get("suites") or {}).items() if not r.get("success", True)]
            raise AirflowFailException(
                f"the data failed validation (policy {summary['policy']}; suites failed: "
                f"{', '.join(failed) or 'see the manifest'}); report: {run['output']}/report/index.html"
            )
        return summary

    run = run_pipeline()
    publish_report(run)
    check_validation(run)


corpus_etl()
