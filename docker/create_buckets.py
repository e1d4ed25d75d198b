"""Compose init step: wait for the S3 server, create the buckets, seed s3://corpus/raw/ with the sample corpus.

Configured only by the standard variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION), like the pipeline. Idempotent: existing buckets and objects are left as they are.
    python docker/create_buckets.py corpus [more buckets...]
"""

from __future__ import annotations

import os
import sys
import time
from importlib import resources
from pathlib import Path

import boto3
from botocore.exceptions import BotoCoreError, ClientError

SEED_BUCKET, SEED_PREFIX = "corpus", "raw/sample/"


def wait_for_s3(client, seconds: float = 180) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            client.list_buckets()
            return
        except (BotoCoreError, ClientError) as err:
            if time.monotonic() > deadline:
                raise SystemExit(
                    f"S3 at {os.environ.get('AWS_ENDPOINT_URL')} not ready after {seconds}s: {err}"
                ) from err
            time.sleep(2)


def create_bucket(client, name: str) -> None:
    try:
        client.create_bucket(Bucket=name)
        print(f"created s3://{name}")
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        print(f"exists  s3://{name}")


def seed_sample(client) -> None:
    if client.list_objects_v2(Bucket=SEED_BUCKET, Prefix=SEED_PREFIX).get("KeyCount", 0):
        return
    sample = Path(str(resources.files("etl") / "data" / "sample"))
    for path in sorted(p for p in sample.rglob("*") if p.is_file()):
        key = SEED_PREFIX + path.relative_to(sample).as_posix()
        client.upload_file(str(path), SEED_BUCKET, key)
        print(f"seeded  s3://{SEED_BUCKET}/{key}")


def main(buckets: list[str]) -> None:
    client = boto3.client("s3")
    wait_for_s3(client)
    for name in dict.fromkeys([SEED_BUCKET, *buckets]):
        create_bucket(client, name)
    seed_sample(client)


if __name__ == "__main__":
    main(sys.argv[1:])
