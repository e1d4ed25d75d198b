"""S3 end to end on moto's server: input on S3 -> pipeline -> shards, rejects, report and manifest on S3 -> the
reader streams every token back. Only the standard AWS_* variables point anything at the endpoint."""

from __future__ import annotations

import hashlib
import json

import fsspec
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLE


@pytest.fixture()
def s3(s3_client):
    for bucket in ("raw", "datasets"):
        s3_client.create_bucket(Bucket=bucket)
    return s3_client


def _objects(client, bucket: str, prefix: str) -> dict[str, bytes]:
    keys = [o["Key"] for o in client.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]
    return {k[len(prefix) :]: client.get_object(Bucket=bucket, Key=k)["Body"].read() for k in keys}


def test_s3_input_to_s3_output_read_back_by_the_reader(s3, run_cli):
    from etl.reader import TokenShardDataset

    for path in sorted(SAMPLE.rglob("*")):
        if path.is_file():
            s3.upload_file(str(path), "raw", f"sample/{path.relative_to(SAMPLE).as_posix()}")
    # The default config, in several work units so that several shard and reject files are staged and moved.
    overrides = ["input.unit_bytes=100000"]
    proc = run_cli(
        "run", "--input", "s3://raw/sample/", "--output", "s3://datasets/run-1",
        *(arg for item in overrides for arg in ("--set", item)),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]

    stored = _objects(s3, "datasets", "run-1/")
    manifest = json.loads(stored["manifest.json"])
    assert all(i["path"].startswith("s3://raw/sample/") for i in manifest["inputs"])
    assert len(manifest["inputs"]) == sum(1 for p in SAMPLE.rglob("*") if p.is_file())
    assert not [k for k in stored if k.startswith("_staging") or k.startswith(".")]
    listed = {e["path"]: e for e in manifest["shards"] + manifest["rejects"]}
    assert len(manifest["shards"]) >= 2 and manifest["rejects"]
    assert {k for k in stored if k.startswith(("shards/", "rejects/"))} == set(listed)
    for path, entry in listed.items():
        assert len(stored[path]) == entry["bytes"]
        assert hashlib.sha256(stored[path]).hexdigest() == entry["sha256"]
    assert b"</html>" in stored["report/index.html"]
    rejected = sum(n for reasons in manifest["counts"]["rejected"].values() for n in reasons.values())
    reject_rows = sum(pq.read_table(fsspec.open(f"s3://datasets/run-1/{e['path']}").open()).num_rows
                      for e in manifest["rejects"])  # fmt: skip
    assert reject_rows == rejected > 0

    # The shards' tokens in manifest order, straight from S3, are what the reader must give back.
    expected = np.concatenate([
        np.concatenate(pq.read_table(fsspec.open(f"s3://datasets/run-1/{e['path']}").open())
                       .column("tokens").to_numpy()).astype(np.int64)
        for e in manifest["shards"]
    ])  # fmt: skip
    total = sum(e["tokens"] for e in manifest["shards"])
    assert len(expected) == total > 0
    # One window of the whole stream, in manifest order: every token, none dropped, none twice.
    ds = TokenShardDataset(
        "s3://datasets/run-1/manifest.json", seq_len=total - 1, batch_size=1, lanes=1, shuffle=False,
        verify="all",
    )  # fmt: skip
    batches = list(ds)
    assert len(batches) == 1
    assert np.array_equal(batches[0]["tokens"].numpy().ravel(), expected)
