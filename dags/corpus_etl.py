"""Airflow DAG `corpus_etl`: one pipeline run with parameters, a validation gate, and the dataset as an Asset.

run_pipeline runs `corpus-etl run` in a subprocess (retried: a rerun into the same output is idempotent, see
etl/store/manifest.py); publish_report returns the report URL as XCom; check_validation fails the DAG run when the
committed manifest says the data failed validation under policy `fail`; publish_manifest, only after that gate,
emits an event of the Asset `CORPUS_ETL_ASSET` (default `corpus_etl`) whose extra names the manifest, so a
training DAG with `schedule=[Asset("corpus_etl")]` runs on each new version that passed validation.

Versions: with `version_format` (e.g. `%Y-%m-%d`), `output` is a base and each DAG run writes its own version,
`<output>/<logical date formatted>`; `against_previous` deduplicates it against the earlier committed versions
there (folders whose names sort before it and hold a manifest; `against_versions` bounds how many), and
`incremental` skips the inputs they already processed. Without `version_format`, `output` is the one folder
that every run rewrites (the old behaviour). Storage is whatever the output URL names (local or s3://,
configured by the standard AWS_* variables of the worker).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from airflow.sdk import Asset, Param, dag, task
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

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
    "version_format": Param(
        None,
        type=["null", "string"],
        description="strftime of the DAG run's logical date (UTC), e.g. %Y-%m-%d: each DAG run writes the version "
        "OUTPUT/<formatted date> (names must sort in time order, no '/'); null: OUTPUT itself",
    ),
    "against_previous": Param(
        False,
        type="boolean",
        description="deduplicate against the earlier committed versions under OUTPUT (--against); needs "
        "version_format",
    ),
    "against_versions": Param(
        0,
        type="integer",
        minimum=0,
        description="how many of the newest earlier versions to deduplicate against; 0: all of them (a version "
        "indexes only what it kept, so fewer misses duplicates of older ones)",
    ),
    "incremental": Param(
        False,
        type="boolean",
        description="skip inputs whose bytes an earlier version already processed (--incremental)",
    ),
}

# What a training DAG schedules on: one event per committed version that passed validation.
MANIFEST_ASSET = Asset(os.environ.get("CORPUS_ETL_ASSET", "corpus_etl"))


def version_output(params: dict, when: datetime) -> tuple[str, str | None]:
    """(the output folder of this DAG run, its version name or None when runs are not versioned)."""
    base = params["output"].rstrip("/")
    fmt = params.get("version_format")
    if not fmt:
        if params.get("against_previous"):
            raise AirflowFailException("against_previous needs version_format: earlier versions are folders")
        return base, None
    name = when.strftime(fmt)
    if not name or "/" in name or name.startswith((".", "_")):
        raise AirflowFailException(f"version_format {fmt!r} gives {name!r}: not one folder name")
    return f"{base}/{name}", name


def earlier_versions(base: str, name: str, limit: int = 0) -> list[str]:
    """The committed versions under `base` whose names sort before `name`, oldest first (the newest `limit`)."""
    import fsspec

    fs, root = fsspec.core.url_to_fs(base)
    if not fs.exists(root):
        return []
    found = []
    for entry in fs.ls(root, detail=True):
        child = entry["name"].rstrip("/").rsplit("/", 1)[-1]
        if entry["type"] != "directory" or child.startswith((".", "_")) or child >= name:
            continue
        if fs.exists(f"{entry['name'].rstrip('/')}/manifest.json"):  # a folder without one never committed
            found.append(child)
    found.sort()
    return [f"{base.rstrip('/')}/{v}" for v in (found[-limit:] if limit else found)]


def cli_command(params: dict, output: str | None = None, against: list[str] = ()) -> list[str]:
    """The `corpus-etl run` command line for a DAG run's params (output: the version folder, when one)."""
    argv = [sys.executable, "-m", "etl.cli"]
    if params.get("json_logs"):
        argv.append("--json-logs")
    argv.append("run")
    for pattern in params["input"]:
        argv += ["--input", pattern]
    argv += ["--output", output or params["output"]]
    for earlier in against:
        argv += ["--against", earlier]
    if params.get("incremental"):
        argv.append("--incremental")
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
    def run_pipeline(params: dict | None = None, logical_date=None, dag_run=None) -> dict:
        # A run triggered without a logical date (Airflow 3 allows it) is versioned by when it was due.
        output, version = version_output(params, logical_date or dag_run.run_after)
        against = []
        if params.get("against_previous"):
            against = earlier_versions(params["output"], version, int(params.get("against_versions") or 0))
        argv = cli_command(params, output, against)
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
        if code not in (EXIT_OK, EXIT_INVALID) or committed_manifest(output, started) is None:
            raise RuntimeError(f"corpus-etl run failed (exit {code}); the task retries into the same output")
        return {
            "output": output,
            "version": version,
            "against": against,
            "exit_code": code,
            "started": started,
        }

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

    @task(outlets=[MANIFEST_ASSET], retries=0)
    def publish_manifest(run: dict, summary: dict, outlet_events=None) -> dict:
        """The Asset event: after the validation gate, so training never starts on data that failed it."""
        import fsspec

        if summary["kept"] == 0:  # skipped: a skipped task emits no event, and the DAG run still succeeds
            raise AirflowSkipException(
                f"{run['output']} holds no new document: no {MANIFEST_ASSET.name} event"
            )
        url = f"{run['output']}/manifest.json"
        with fsspec.open(url, "rb") as fh:
            raw = fh.read()
        manifest = json.loads(raw)
        extra = {
            "manifest": url,
            "sha256": hashlib.sha256(raw).hexdigest(),
            "version": run["version"],
            "config_hash": manifest["config_hash"],
            "parents": [p["url"] for p in manifest.get("parents") or []],
            "kept": summary["kept"],
            "tokens": summary["tokens"],
            "skipped_inputs": (manifest.get("run") or {}).get("skipped_inputs", 0),
        }
        outlet_events[MANIFEST_ASSET].extra = extra
        log.info("published %s: %s", MANIFEST_ASSET.name, json.dumps(extra))
        return extra

    run = run_pipeline()
    publish_report(run)
    publish_manifest(run, check_validation(run))


corpus_etl()
