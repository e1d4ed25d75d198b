"""TEST CODE ONLY: the clients of the multi-host test, run inside a host (`python -m tests.multihost.probe`).

`wait ADDR:PORT...` returns once every address accepts a connection (exit 1 naming the rest at the deadline);
`upload DIR s3://BUCKET/PREFIX` creates the buckets and puts every file; `outputs s3://BUCKET/PREFIX` prints a
JSON object with the committed manifest and the sha256 of every object under the prefix, hashed as S3 gives it.
S3 is reached through the standard AWS_* variables only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import socket
import sys
import time
from pathlib import Path


def wait(addresses: list[str], timeout: float) -> int:
    pending = list(addresses)
    deadline = time.monotonic() + timeout
    while pending and time.monotonic() < deadline:
        for address in list(pending):
            host, port = address.rsplit(":", 1)
            try:
                socket.create_connection((host, int(port)), timeout=1).close()
                pending.remove(address)
            except OSError:
                pass
        time.sleep(0.2 if pending else 0)
    if pending:
        print(f"not listening after {timeout:.0f} s: {', '.join(pending)}", file=sys.stderr)
        return 1
    return 0


def _split(url: str) -> tuple[str, str]:
    bucket, _, prefix = url.removeprefix("s3://").partition("/")
    return bucket, prefix.rstrip("/")


def upload(src: Path, url: str, buckets: list[str]) -> int:
    import boto3

    client = boto3.client("s3")
    for bucket in buckets:
        client.create_bucket(Bucket=bucket)
    bucket, prefix = _split(url)
    files = sorted(p for p in src.rglob("*") if p.is_file())
    for path in files:
        client.upload_file(str(path), bucket, f"{prefix}/{path.relative_to(src).as_posix()}")
    print(json.dumps({"uploaded": len(files)}))
    return 0


def outputs(url: str) -> int:
    import boto3

    client = boto3.client("s3")
    bucket, prefix = _split(url)
    hashes, manifest = {}, None
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/"):
        for obj in page.get("Contents", []):
            data = client.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
            rel = obj["Key"][len(prefix) + 1 :]
            hashes[rel] = hashlib.sha256(data).hexdigest()
            if rel == "manifest.json":
                manifest = json.loads(data)
    print(json.dumps({"manifest": manifest, "sha256": hashes}))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.multihost.probe")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wait")
    p.add_argument("addresses", nargs="+")
    p.add_argument("--timeout", type=float, default=60)
    p = sub.add_parser("upload")
    p.add_argument("src", type=Path)
    p.add_argument("url")
    p.add_argument("--bucket", action="append", default=[])
    p = sub.add_parser("outputs")
    p.add_argument("url")
    args = parser.parse_args(argv)
    if args.cmd == "wait":
        return wait(args.addresses, args.timeout)
    if args.cmd == "upload":
        return upload(args.src, args.url, args.bucket)
    return outputs(args.url)


if __name__ == "__main__":
    sys.exit(main())
