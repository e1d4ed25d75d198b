"""Across hosts (issue 10): the real CLI runs the real pipeline with `--runner=PortableRunner` on Beam's job
service, its bundles executed by SDK harnesses of two worker pools on two other hosts (network namespaces with
private mounts), input and output on an S3 server on a fourth. Both worker hosts must have processed bundles,
the counts must reconcile, and shards, stats and rejects must be byte-identical to a run of the local runner.

Hosts, servers and the job-service wrapper are test code in tests/multihost/. Every client here (uploads, the
two runs, the checks of S3) runs on the `jobs` host; the root namespace never connects to any host.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE
from tests.multihost.cluster import DISPATCH_PORT, JOB_PORT, POOL_PORT, VENV_BIN, cluster
from tests.multihost.job_service import LEDGER_TAG

# Near dedup is on by default; a unit per file so that the units, the shuffles and the write pass are spread
# over both harnesses. Validation runs on the driver only and is left out to keep the test short.
SETS = ["input.unit_bytes=1", "validation.enabled=false"]
INPUT, PORTABLE_OUT, LOCAL_OUT = "s3://raw/sample", "s3://datasets/portable", "s3://datasets/local"


def _run_cli(c, output: str, *beam_args: str, timeout: float = 300) -> None:
    sets = [arg for item in SETS for arg in ("--set", item)]
    argv = [
        str(VENV_BIN / "corpus-etl"),
        "run",
        "--input",
        f"{INPUT}/",
        "--output",
        output,
        *sets,
        "--",
        *beam_args,
    ]
    proc = c.client(argv, timeout)
    assert proc.returncode == 0, (
        f"{output}: exit {proc.returncode}\n{proc.stdout[-2000:]}\n{proc.stderr[-5000:]}{c.tails()}"
    )


def _committed(c, url: str) -> dict:
    """The manifest at `url` and the sha256 of every object under it, as S3 serves them."""
    found = json.loads(c.probe("outputs", url).stdout)
    assert found["manifest"], f"no manifest.json under {url}"
    return found


def _files(found: dict) -> dict[str, str]:
    """path -> sha256 of every shard, stats and rejects file the manifest lists, checked against S3's bytes."""
    manifest, stored = found["manifest"], found["sha256"]
    listed = {e["path"]: e["sha256"] for kind in ("shards", "stats", "rejects") for e in manifest[kind]}
    on_s3 = {p: h for p, h in stored.items() if p.startswith(("shards/", "stats/", "rejects/"))}
    assert on_s3 == listed, "the objects under the output differ from what the manifest lists"
    return listed


def _ledger(jobs_log: str) -> dict[str, dict]:
    lines = [line for line in jobs_log.splitlines() if line.startswith(LEDGER_TAG)]
    assert len(lines) == 1, f"expected one job's ledger in the job service's log:\n{jobs_log[-3000:]}"
    return json.loads(lines[0][len(LEDGER_TAG) :])


@pytest.fixture()
def deployment(tmp_path):
    with cluster(tmp_path, tmp_path / "logs") as c:
        yield c


def test_portable_run_over_two_worker_hosts_matches_the_local_runner(deployment, tmp_path):
    c = deployment
    for pool in c.pools:  # a private mount: the pool's process sees the checkout but not the test's files
        seen_by_pool = Path(f"/proc/{c.pids[pool.role]}/root")
        assert (seen_by_pool / REPO.relative_to("/") / "etl").is_dir(), f"{pool.role}'s pool is not running"
        # Hidden: absent, or (a checkout under /tmp) a tmpfs of the pool's own over it, without the test's logs.
        hidden_logs = seen_by_pool / tmp_path.relative_to("/") / "logs"
        assert (tmp_path / "logs").is_dir() and not hidden_logs.exists()
    c.probe("upload", str(SAMPLE), INPUT, "--bucket", "raw", "--bucket", "datasets")

    jobs = c.jobs.addr
    _run_cli(c, PORTABLE_OUT, "--runner=PortableRunner", f"--job_endpoint={jobs}:{JOB_PORT}",
             "--environment_type=EXTERNAL", f"--environment_config={jobs}:{DISPATCH_PORT}")  # fmt: skip
    _run_cli(c, LOCAL_OUT)  # the local runner (FnApiRunner, its default mode) on the driver's host
    portable, local = _committed(c, PORTABLE_OUT), _committed(c, LOCAL_OUT)

    # Both worker hosts ran harnesses that returned bundles: started by that host's pool (the dispatcher's
    # record and the pool's own log), its control stream coming from that host's address.
    ledger = _ledger(c.log("jobs"))
    for pool in c.pools:
        mine = {w: e for w, e in ledger.items() if e["pool"] == f"{pool.addr}:{POOL_PORT}"}
        assert mine, f"no harness started on {pool.role}: {ledger}"
        for worker_id, entry in mine.items():
            assert re.fullmatch(rf"ipv4:{re.escape(pool.addr)}:\d+", entry["peer"]), (worker_id, entry)
            assert entry["bundles"] > 0, f"{worker_id} on {pool.role} processed no bundle: {ledger}"
            assert f'worker_id="{worker_id}"' in c.log(pool.role)
    assert len(ledger) == len(c.pools)

    counts = portable["manifest"]["counts"]
    rejected = sum(n for reasons in counts["rejected"].values() for n in reasons.values())
    assert counts["read"] == counts["kept"] + rejected and rejected > 0
    assert counts["rejected"]["near_dedup"]["near_duplicate"] > 0  # near dedup's shuffles ran across hosts
    assert counts == local["manifest"]["counts"]

    files, reference = _files(portable), _files(local)
    assert sum(p.startswith("shards/") for p in files) >= 2
    assert files == reference, "shards, stats or rejects differ between the portable and the local run"
