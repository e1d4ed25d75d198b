"""A run on a remote runner refuses, up front, inputs and outputs that only the driver can see (exit 2)."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from etl.run.reachability import UnreachableError, check_reachable

PORTABLE = ["--runner=PortableRunner", "--job_endpoint=localhost:1", "--environment_type=EXTERNAL"]


def test_portable_runner_with_a_local_output_exits_2_within_seconds_naming_the_path(tmp_path):
    out = tmp_path / "out"
    started = time.time()
    proc = subprocess.run(
        [sys.executable, "-m", "etl.cli", "run", "--input", "s3://corpus/raw/", "--output", str(out), "--", *PORTABLE],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert f"--output {out}" in proc.stderr and "s3://" in proc.stderr
    assert time.time() - started < 30
    assert not out.exists()  # refused before the lease or staging was made


@pytest.mark.parametrize(
    "inputs, output, named",
    [
        (["data/raw.jsonl"], "s3://b/out", "--input data/raw.jsonl"),
        (["s3://b/raw/", "file:///srv/more/*.jsonl"], "s3://b/out", "--input file:///srv/more/*.jsonl"),
        (["s3://b/raw/"], "memory://out", "--output memory://out"),
    ],
)
def test_driver_only_paths_are_refused_on_remote_runners(inputs, output, named):
    for runner in (PORTABLE, ["--runner=DataflowRunner"], ["--runner=FlinkRunner"]):
        with pytest.raises(UnreachableError, match=named.replace("*", r"\*")):
            check_reachable(inputs, output, runner)


def test_shared_storage_and_same_host_workers_are_accepted(tmp_path):
    check_reachable(["s3://b/raw/", "gs://c/more/*.jsonl.gz"], "s3://b/out", PORTABLE)
    local = [str(tmp_path / "raw.jsonl")]
    check_reachable(local, str(tmp_path / "out"), [])  # the local runner
    check_reachable(local, str(tmp_path / "out"), ["--direct_num_workers=2"])
    check_reachable(local, str(tmp_path / "out"), ["--runner=PortableRunner", "--environment_type=LOOPBACK"])


def test_dask_runner_is_refused_with_its_reason():
    from etl.run.runner import RunnerError, pipeline_options

    for name in ("DaskRunner", "apache_beam.runners.dask.dask_runner.DaskRunner"):
        with pytest.raises(RunnerError, match="only the last branch"):
            pipeline_options([f"--runner={name}"])
