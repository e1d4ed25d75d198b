"""The dags/ folder parses in a DagBag (Airflow's own import check): no errors, the params and the task graph."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import REPO, airflow_home_env


def test_dag_folder_imports_without_errors(tmp_path):
    env = airflow_home_env(tmp_path)
    check = (
        "import json\n"
        "from airflow.dag_processing.dagbag import DagBag\n"
        f"bag = DagBag(dag_folder={str(REPO / 'dags')!r})\n"
        "dag = bag.dags['corpus_etl']\n"
        "print(json.dumps({'errors': {k: str(v) for k, v in bag.import_errors.items()},\n"
        "    'tasks': {t.task_id: [t.retries, sorted(t.downstream_task_ids)] for t in dag.tasks},\n"
        "    'params': sorted(dag.params.keys()),\n"
        "    'outlets': {t.task_id: [o.name for o in t.outlets] for t in dag.tasks if t.outlets}}))\n"
    )
    proc = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    found = json.loads(proc.stdout.strip().splitlines()[-1])
    assert found["errors"] == {}
    assert found["params"] == sorted(
        ["input", "output", "config", "overrides", "runner", "runner_options", "json_logs",
         "version_format", "against_previous", "against_versions", "incremental"]
    )  # fmt: skip
    # The run is retried (reruns are idempotent); the validation gate is not (the data does not change), and
    # the Asset event comes only after it.
    assert found["tasks"] == {
        "run_pipeline": [2, ["check_validation", "publish_manifest", "publish_report"]],
        "publish_report": [2, []],
        "check_validation": [0, ["publish_manifest"]],
        "publish_manifest": [0, []],
    }
    assert found["outlets"] == {"publish_manifest": ["corpus_etl"]}
