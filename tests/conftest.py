"""Fixtures shared by the production-run tests: the CLI in a subprocess, comparable outputs, an Airflow home."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "etl" / "data" / "sample"
# A report's footer says when it was rendered; masked like the manifest's created_at when outputs are compared.
_GENERATED = re.compile(rb"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC")


def checkout_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with the checkout importable (the CLI, Beam workers and Airflow tasks)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    env.update(extra or {})
    return env


def cli_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "etl.cli", *args]


@pytest.fixture()
def run_cli() -> Callable[..., subprocess.CompletedProcess]:
    """`corpus-etl ARGS` in a subprocess of this interpreter; returns the completed process (text output)."""

    def run(
        *args: str, timeout: float = 300, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess:
        return subprocess.run(
            cli_command(*args),
            env=checkout_env(env),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    return run


def comparable_outputs(
    out: Path, ignore_manifest_keys: tuple[str, ...] = ("created_at",)
) -> dict[str, bytes]:
    """Every file under a committed output, as bytes that must not differ between equivalent runs.

    The manifest loses `ignore_manifest_keys` (dotted paths; `created_at` always differs); the report has the
    run's created_at and its render time masked. Everything else, shards and rejects included, is raw bytes.
    """
    manifest = json.loads((out / "manifest.json").read_text())
    created = manifest["created_at"].encode()
    files = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        rel = path.relative_to(out).as_posix()
        data = path.read_bytes()
        if rel == "manifest.json":
            doc = json.loads(data)
            for dotted in ignore_manifest_keys:
                *parents, leaf = dotted.split(".")
                node = doc
                for key in parents:
                    node = node.get(key, {})
                node.pop(leaf, None)
            data = json.dumps(doc, sort_keys=True).encode()
        elif rel.endswith(".html"):
            data = _GENERATED.sub(b"generated <time>", data.replace(created, b"<created_at>"))
        files[rel] = data
    return files


def airflow_home_env(home: Path) -> dict[str, str]:
    """The env to run `airflow` in: a throwaway home on SQLite, no examples, the repo's dags/."""
    return checkout_env(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        }
    )


@pytest.fixture(scope="module")
def airflow_env(tmp_path_factory) -> dict[str, str]:
    """`airflow_home_env` with the database migrated (`airflow db migrate`)."""
    home = tmp_path_factory.mktemp("airflow-home")
    env = airflow_home_env(home)
    migrate = subprocess.run(
        [str(Path(sys.executable).parent / "airflow"), "db", "migrate"],
        env=env, cwd=home, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
    return env


@pytest.fixture(scope="module")
def airflow_dag_test(airflow_env) -> Callable[[str, dict], dict]:
    """Run a DAG with `airflow dags test DAG_ID -c CONF`; returns the DAG run's state, task states and XComs."""

    def dag_test(dag_id: str, conf: dict, timeout: float = 300) -> dict:
        airflow = str(Path(sys.executable).parent / "airflow")
        proc = subprocess.run(
            [airflow, "dags", "test", dag_id, "-c", json.dumps(conf)],
            env=airflow_env, cwd=airflow_env["AIRFLOW_HOME"], capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        db = sqlite3.connect(f"{airflow_env['AIRFLOW_HOME']}/airflow.db")
        try:
            run_id, state = db.execute(
                "SELECT run_id, state FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (dag_id,)
            ).fetchone()
            rows = db.execute(
                "SELECT task_id, state FROM task_instance WHERE dag_id = ? AND run_id = ?", (dag_id, run_id)
            )
            tasks = dict(rows.fetchall())
            rows = db.execute(
                "SELECT task_id, value FROM xcom WHERE dag_id = ? AND run_id = ? AND key = 'return_value'",
                (dag_id, run_id),
            )
            xcom = {task: json.loads(value) for task, value in rows.fetchall()}
        finally:
            db.close()
        return {"state": state, "tasks": tasks, "xcom": xcom, "log": proc.stdout + proc.stderr}

    return dag_test


@pytest.fixture(autouse=True)
def _fresh_s3_filesystems():
    """fsspec caches S3FileSystem instances per process, endpoint included: a test that starts its own moto
    server must not reach the server of an earlier test through a cached instance."""
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    yield
    s3fs.S3FileSystem.clear_instance_cache()


@pytest.fixture()
def s3_client(monkeypatch):
    """A real S3 endpoint (moto's server) on a free loopback port, reached only through the standard AWS_*
    variables, as s3fs, boto3 and subprocesses of the CLI read them."""
    import socket

    import boto3
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    # moto keeps its buckets in process-wide state that outlives a server: start every test empty, or a
    # bucket an earlier test filled (a committed output) is still there.
    urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/moto-api/reset", method="POST"))
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    yield boto3.client("s3")
    server.stop()
