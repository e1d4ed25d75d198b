"""The reader on S3 (moto's server): manifest and shards by s3:// URL, in the training process and in workers."""

from __future__ import annotations

import socket

import pytest

from tests.test_reader import LANES, WINDOW, WORLD, batches, dataset, same, write_corpus

moto_server = pytest.importorskip("moto.server")
boto3 = pytest.importorskip("boto3")


@pytest.fixture()
def moto_s3(monkeypatch):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    for key, value in {
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    }.items():  # fmt: skip
        monkeypatch.setenv(key, value)
    client = boto3.client("s3")
    client.create_bucket(Bucket="corpus")
    yield client
    server.stop()


@pytest.mark.filterwarnings("ignore:This DataLoader will create")
def test_reads_an_s3_manifest_like_a_local_one(moto_s3, tmp_path):
    from etl.reader import TokenShardLoader

    manifest = write_corpus(tmp_path, total_tokens=WORLD * LANES * WINDOW * 6)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            moto_s3.upload_file(str(path), "corpus", f"run/{path.relative_to(tmp_path)}")
    local = batches(dataset(manifest, rank=1))
    remote = dataset("s3://corpus/run/manifest.json", rank=1, verify="all")
    assert same(batches(TokenShardLoader(remote, num_workers=2)), local)
