"""The reader on S3 (moto's server): manifest and shards by s3:// URL, in the training process and in workers."""

from __future__ import annotations

import pytest

from tests.test_reader import LANES, WINDOW, WORLD, batches, dataset, same, write_corpus


@pytest.fixture()
def moto_s3(s3_client):
    s3_client.create_bucket(Bucket="corpus")
    return s3_client


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
