"""Issue 11, acceptance 4: the DAG, run twice by Airflow on a growing input folder, writes one version per DAG
run, deduplicates the second against the first and emits the Asset event that a training DAG schedules on.

Its own Airflow home (SQLite, `airflow dags test DAG_ID LOGICAL_DATE`): the repo's DAG plus a training DAG with
`schedule=[Asset("corpus_etl")]`, so that the metadata DB shows the event queued a run of that consumer. Day 2
of the folder holds exact and near copies of day-1 documents; the DAG passes day 1's version as `--against` and
`--incremental`, so day 2 processes only its new file and rejects the copies as duplicates of earlier.
"""

from __future__ import annotations

import hashlib
import json
import random
import sqlite3
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import REPO, airflow_home_env

CONSUMER = """
from datetime import datetime, UTC
from airflow.sdk import Asset, dag, task

@dag(dag_id="train_on_corpus", schedule=[Asset("corpus_etl")], start_date=datetime(2026, 1, 1, tzinfo=UTC),
     catchup=False)
def train_on_corpus():
    @task
    def train(triggering_asset_events=None):
        for event in triggering_asset_events[Asset("corpus_etl")]:
            print("training on", event.extra["manifest"])

    train()

train_on_corpus()
"""

# The asset events and the consumer's queue, read through Airflow's own ORM.
EVENTS = """
import json
from sqlalchemy import select
from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
from airflow.utils.session import create_session
with create_session() as s:
    events = s.execute(select(AssetEvent).join(AssetModel, AssetEvent.asset_id == AssetModel.id)
                       .where(AssetModel.name == "corpus_etl").order_by(AssetEvent.id)).scalars().all()
    queued = s.execute(select(AssetDagRunQueue.target_dag_id)).scalars().all()
    print(json.dumps({"events": [{"extra": e.extra, "dag_id": e.source_dag_id, "run_id": e.source_run_id,
                                  "task_id": e.source_task_id} for e in events], "queued": sorted(queued)}))
"""

CONF = {
    "version_format": "%Y-%m-%d",
    "against_previous": True,
    "incremental": True,
    "overrides": ["quality.enabled=false", "validation.policy=warn"],
    "runner_options": ["--direct_running_mode=in_memory"],
}


def _airflow(env: dict, *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    airflow = str(Path(sys.executable).parent / "airflow")
    return subprocess.run(
        [airflow, *args], env=env, cwd=env["AIRFLOW_HOME"], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def airflow_with_consumer(tmp_path_factory) -> dict:
    home = tmp_path_factory.mktemp("airflow-versions")
    dags = home / "dags"
    dags.mkdir()
    (dags / "corpus_etl.py").symlink_to(REPO / "dags" / "corpus_etl.py")
    (dags / "train_on_corpus.py").write_text(CONSUMER)
    env = airflow_home_env(home)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    # The consumer's schedule reaches the DB by reserialize; a paused DAG is never queued, so unpause it.
    for step in (("db", "migrate"), ("dags", "reserialize"), ("dags", "unpause", "train_on_corpus")):
        proc = _airflow(env, *step, timeout=180)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return env


def _words(rng: random.Random, vocab: list[str], n: int = 120) -> str:
    return " ".join(rng.choice(vocab) for _ in range(n)) + "."


def _write(path: Path, docs: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))


def _dag_run(env: dict, day: str, conf: dict) -> dict:
    """`airflow dags test corpus_etl DAY`; the DAG run's id, state and task states from the metadata DB."""
    proc = _airflow(env, "dags", "test", "corpus_etl", day, "-c", json.dumps(conf))
    db = sqlite3.connect(f"{env['AIRFLOW_HOME']}/airflow.db")
    try:
        run_id, state = db.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = 'corpus_etl' ORDER BY id DESC LIMIT 1"
        ).fetchone()
        rows = db.execute("SELECT task_id, state FROM task_instance WHERE run_id = ?", (run_id,)).fetchall()
    finally:
        db.close()
    return {"run_id": run_id, "state": state, "tasks": dict(rows), "log": proc.stdout + proc.stderr}


def _events(env: dict) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", EVENTS], env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _rejects(out: Path) -> dict[str, str]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = [r for e in manifest["rejects"] for r in pq.read_table(out / e["path"]).to_pylist()]
    return {r["doc_id"]: (r["reason"], r["detail"]) for r in rows}


def test_two_dag_runs_on_a_growing_folder_make_two_versions_the_second_deduplicated_against_the_first(
    airflow_with_consumer, tmp_path
):
    env = airflow_with_consumer
    rng = random.Random(11)
    vocab = sorted({"".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(6)) for _ in range(2000)})
    day1 = [(f"a{i:02d}", _words(rng, vocab)) for i in range(30)]
    folder, base = tmp_path / "raw", tmp_path / "runs"
    folder.mkdir()
    _write(folder / "day1.jsonl", day1)
    conf = {**CONF, "input": [str(folder)], "output": str(base)}

    first = _dag_run(env, "2026-03-01", conf)
    assert first["state"] == "success" and set(first["tasks"].values()) == {"success"}, first["log"][-4000:]
    v1 = base / "2026-03-01"
    m1 = json.loads((v1 / "manifest.json").read_text())
    assert m1["parents"] == [] and m1["counts"]["kept"] == 30

    near = []
    for i in range(5, 10):  # one word in 120 changed: far above the 0.8 threshold
        words = day1[i][1].split(" ")
        words[60] = "zeppelin"
        near.append((f"near-of-a{i:02d}", " ".join(words)))
    day2 = [(f"b{i:02d}", _words(rng, vocab)) for i in range(20)]
    day2 += [(f"exact-of-a{i:02d}", day1[i][1]) for i in range(5)] + near
    _write(folder / "day2.jsonl", day2)
    second = _dag_run(env, "2026-03-02", conf)
    assert second["state"] == "success" and set(second["tasks"].values()) == {"success"}, second["log"][
        -4000:
    ]
    v2 = base / "2026-03-02"
    m2 = json.loads((v2 / "manifest.json").read_text())
    assert [p["url"] for p in m2["parents"]] == [f"{v1}/manifest.json"]
    assert [(Path(e["path"]).name, bool(e.get("skipped"))) for e in m2["inputs"]] == [
        ("day1.jsonl", True), ("day2.jsonl", False),
    ]  # fmt: skip
    assert m2["counts"]["read"] == len(day2) and m2["counts"]["kept"] == 20
    rejects = _rejects(v2)
    assert {d: r for d, (r, _) in rejects.items()} == {
        **{f"exact-of-a{i:02d}": "exact_duplicate_of_earlier" for i in range(5)},
        **{f"near-of-a{i:02d}": "near_duplicate_of_earlier" for i in range(5, 10)},
    }
    for doc_id, (_, detail) in rejects.items():
        assert doc_id.rsplit("-of-", 1)[1] in detail, detail  # names the day-1 document it duplicates
    assert json.loads((v1 / "manifest.json").read_text()) == m1  # the earlier version is untouched

    db = _events(env)
    assert [e["extra"]["manifest"] for e in db["events"]] == [f"{v1}/manifest.json", f"{v2}/manifest.json"]
    event = db["events"][1]
    assert (event["dag_id"], event["task_id"]) == ("corpus_etl", "publish_manifest")
    assert event["run_id"] == second["run_id"] != first["run_id"]
    assert event["extra"]["version"] == "2026-03-02" and event["extra"]["kept"] == 20
    assert event["extra"]["parents"] == [f"{v1}/manifest.json"]
    assert event["extra"]["sha256"] == hashlib.sha256((v2 / "manifest.json").read_bytes()).hexdigest()
    assert db["queued"] == ["train_on_corpus"]  # the training DAG is due on the new version

    # Day 3 finds nothing new: an empty version against both earlier ones, and no event (nothing to train on).
    third = _dag_run(env, "2026-03-03", conf)
    assert third["state"] == "success", third["log"][-4000:]
    assert third["tasks"] == {
        "run_pipeline": "success", "publish_report": "success", "check_validation": "success",
        "publish_manifest": "skipped",
    }, third["log"][-4000:]  # fmt: skip
    m3 = json.loads((base / "2026-03-03" / "manifest.json").read_text())
    assert [p["url"] for p in m3["parents"]] == [f"{v1}/manifest.json", f"{v2}/manifest.json"]
    assert m3["run"]["skipped_inputs"] == 2 and m3["counts"]["read"] == 0 and m3["shards"] == []
    assert len(_events(env)["events"]) == 2
