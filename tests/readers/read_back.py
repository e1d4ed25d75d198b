"""Read exports back with the trainers' own readers; run in the readers' venv (tests/export_support.py).

    python read_back.py JOBS.json OUT.npz

JOBS.json is a list of {"name", "format": "mds" | "litdata", "dir", "block_size" (litdata)}. For each job
OUT.npz gets `<name>.tokens` (every token served, in serving order) and `<name>.lengths` (tokens per sample),
and `<name>.doc_id` / `.source` / `.meta` for MDS. Nothing here knows how the export was written.
"""

from __future__ import annotations

import importlib.util
import json
import sys

import numpy as np


def import_streaming_base():
    """`streaming.base` without `streaming/__init__.py`, which imports the vision, text and multimodal example
    datasets (torchvision, transformers models) that a reader of MDS shards never uses."""
    if "streaming" not in sys.modules:
        spec = importlib.util.find_spec("streaming")
        sys.modules["streaming"] = importlib.util.module_from_spec(spec)
    return importlib.import_module("streaming.base")


def read_mds(job: dict) -> dict:
    base = import_streaming_base()
    ds = base.StreamingDataset(local=job["dir"], shuffle=False, batch_size=1, validate_hash="sha256")
    samples = list(ds)  # iteration, as a trainer's DataLoader does
    assert len(samples) == ds.num_samples, (len(samples), ds.num_samples)
    return {
        "tokens": np.concatenate([s["tokens"] for s in samples]).astype(np.int64),
        "lengths": np.array([len(s["tokens"]) for s in samples], dtype=np.int64),
        "dtype": np.array(samples[0]["tokens"].dtype.name),
        **{key: np.array([s[key] for s in samples]) for key in ("doc_id", "source", "meta")},
    }


def read_litdata(job: dict) -> dict:
    from litdata import StreamingDataset
    from litdata.streaming.item_loader import TokensLoader

    ds = StreamingDataset(job["dir"], item_loader=TokensLoader(block_size=job["block_size"]), shuffle=False)
    blocks = list(ds)
    assert len(blocks) == len(ds), (len(blocks), len(ds))
    return {
        "tokens": np.concatenate([np.asarray(b) for b in blocks]).astype(np.int64),
        "lengths": np.array([len(b) for b in blocks], dtype=np.int64),
        "dtype": np.array(np.asarray(blocks[0]).dtype.name),
    }


def main(jobs_path: str, out_path: str) -> None:
    with open(jobs_path) as fh:
        jobs = json.load(fh)
    arrays = {}
    for job in jobs:
        read = {"mds": read_mds, "litdata": read_litdata}[job["format"]](job)
        arrays.update({f"{job['name']}.{key}": value for key, value in read.items()})
    np.savez(out_path, **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:])
