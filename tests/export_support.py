"""Shared by the export and Hugging Face tests: a small committed run made by the real pipeline, its documents
read independently of the code under test, and the separate environment in which the trainers' own readers
that cannot live beside the project's pins (mosaicml-streaming, litdata) are run.

The readers' environment: mosaicml-streaming 0.13 pins numpy < 2.2, and both it and litdata 0.2.76 ask for
torchvision, which does not import beside this machine's torch 2.13 wheel ("operator torchvision::nms does not
exist"). Their reading paths do not use it: litdata imports torchvision only for images and video, and
mosaicml-streaming's `streaming/__init__.py` imports its vision, text and multimodal example datasets
(torchvision, transformers) before `streaming.base`. So the venv holds the two readers installed without
their dependencies plus exactly what `streaming.base` and `litdata` import, torch from the local CPU wheel,
and `tests/readers/read_back.py` imports `streaming.base` with the package's own `__init__` skipped (nothing is
stubbed: every module that runs is the project's own). The venv lives in pytest's cache folder (git-ignored),
keyed by the requirement set, and is built once (uv, about a minute on a cold cache) and reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from tests.corpus_fixtures import prose

REPO = Path(__file__).resolve().parent.parent
READ_BACK = REPO / "tests" / "readers" / "read_back.py"
# What the reading paths of mosaicml-streaming's `streaming.base` and litdata import, with their own deps.
READER_DEPS = (
    "torch==2.13.0",  # the CPU wheel of LOCAL_WHEELS where that folder has it (2.13.0+cpu satisfies the pin)
    "numpy==2.1.3",  # mosaicml-streaming 0.13: numpy < 2.2
    "transformers==4.57.6",  # streaming.base.dataloader (BatchFeature, BatchEncoding)
    "brotli==1.2.1",
    "python-snappy==0.7.3",
    "zstd==1.5.7.2",  # streaming.base.compression
    "xxhash==3.8.2",
    "catalogue==2.0.10",
    "pillow==13.0.0",  # streaming.base.format.mds.encodings
    "lightning-utilities==0.15.3",  # litdata.constants
    "boto3==1.44.8",  # litdata.streaming.client
    "filelock==4.3.1",
)
# The team's machines and CI keep the CPU build of torch here (the Makefile's LOCAL_WHEELS): no CUDA download.
LOCAL_WHEELS = Path(os.environ.get("LOCAL_WHEELS", REPO.parent / "shared" / "wheels")).resolve()
READERS = ("mosaicml-streaming==0.13.0", "litdata==0.2.76")  # installed without their dependencies
RUN_OVERRIDES = [
    "quality.enabled=false",
    "near_dedup.enabled=false",
    "validation.enabled=false",
    "input.unit_bytes=20000",  # several work units, so several shards
    "output.row_group_tokens=800",
]


def write_inputs(root: Path) -> None:
    """Two JSONL files of distinct documents with an extra field each (it lands in `meta`)."""
    root.mkdir(parents=True, exist_ok=True)
    for part in range(2):
        lines = [
            json.dumps(
                {
                    "id": f"p{part}-{i:03d}",
                    "text": prose(part * 1000 + i, 40 + i % 50),
                    "url": f"u/{part}/{i}",
                }
            )
            for i in range(60)
        ]
        (root / f"p{part}.jsonl").write_text("\n".join(lines) + "\n")


def committed_run(tmp_path_factory) -> Path:
    """The output folder of one real pipeline run, made once per test session and shared by the modules."""
    from etl.config import load_config
    from etl.run import run_pipeline

    base = tmp_path_factory.getbasetemp() / "export-run"
    out = base / "out"
    if not (out / "manifest.json").exists():
        write_inputs(base / "in")
        result = run_pipeline([str(base / "in")], str(out), load_config(overrides=RUN_OVERRIDES))
        assert result.ok and len(result.manifest["shards"]) > 1, result.manifest["shards"]
    return out


def shard_documents(out: Path) -> list[dict]:
    """Every document the manifest lists, in manifest order, read with pyarrow alone (not etl.export)."""
    manifest = json.loads((out / "manifest.json").read_text())
    docs = []
    for shard in manifest["shards"]:
        table = pq.read_table(out / shard["path"], columns=["doc_id", "source", "meta", "tokens"])
        for row in table.to_pylist():
            docs.append({**row, "tokens": np.asarray(row["tokens"], dtype=np.int64)})
    return docs


def readers_python(cache_root: Path) -> Path:
    """The Python of the readers' venv under `cache_root`, built when missing (a lock keeps it to one builder)."""
    spec = "\n".join((sys.version, *READER_DEPS, "--no-deps", *READERS))
    venv = cache_root / f"readers-{hashlib.sha256(spec.encode()).hexdigest()[:12]}"
    python = venv / "bin" / "python"
    cache_root.mkdir(parents=True, exist_ok=True)
    with open(cache_root / "readers.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (venv / "ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            uv = str(Path(sys.executable).parent / "uv")
            install = [uv, "pip", "install", "-q", "--python", str(python)]
            if LOCAL_WHEELS.is_dir():
                install += ["--find-links", str(LOCAL_WHEELS)]
            for cmd in (
                [uv, "venv", "-q", "--python", sys.executable, str(venv)],
                [*install, "--compile-bytecode", *READER_DEPS],
                [*install, "--compile-bytecode", "--no-deps", *READERS],
            ):
                proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
                assert proc.returncode == 0, f"{cmd}: {proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            (venv / "ready").write_text(spec)
    return python
