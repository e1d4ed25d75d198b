"""Ablation: the same tiny model trained on the pipeline's filtered output and on its raw input, loss on held-out text.

Two runs of the pipeline over the same inputs: "filtered" with the configured stages (exact dedup, quality
filters, near dedup), "raw" with those three off (reading, normalization and tokenization are the same, so the
token ids mean the same). Documents are split into train and held-out by a hash of their tokens, so an exact
duplicate never sits on both sides. Each arm trains the same model (bench/tiny_lm.py) from the same seed for the
same number of steps through the project's reader, and is scored on two held-out sets that neither arm trained on:
the held-out documents the filters kept ("clean"), and every held-out document ("raw"). Prints a markdown table.

    .venv/bin/python bench/ablation.py                                   # CPU toy: the bundled sample, seconds
    .venv/bin/python bench/ablation.py --input DIR --device cuda --steps 2000 --width 256 --layers 4 \
        --seq-len 512 --batch-size 32 --beam-args=--direct_running_mode=multi_processing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import shlex
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.tiny_lm import TinyConfig, TinyLM, next_token_loss  # noqa: E402
from etl.reader import TokenShardDataset  # noqa: E402

SAMPLE = Path(__file__).resolve().parents[1] / "etl" / "data" / "sample"
RAW = ["exact_dedup.enabled=false", "quality.enabled=false", "near_dedup.enabled=false"]
BOTH_ARMS = ["validation.enabled=false"]  # the ablation measures the filters, not the suites
Docs = list[tuple[str, np.ndarray]]  # (doc_id, tokens)


def run_arm(inputs: list[str], out: Path, overrides: list[str], beam_args: list[str]) -> Path:
    from etl.config import load_config
    from etl.run import run_pipeline

    run_pipeline(inputs, str(out), load_config(overrides=[*BOTH_ARMS, *overrides]), beam_args)
    return out / "manifest.json"


def read_docs(manifest: Path) -> tuple[Docs, dict]:
    """Every document of a committed run, in manifest order, and its tokenizer block."""
    doc = json.loads(manifest.read_text())
    docs: Docs = []
    for shard in doc["shards"]:
        table = pq.read_table(manifest.parent / shard["path"], columns=["doc_id", "tokens"])
        tokens = table["tokens"].combine_chunks()
        values, offsets = tokens.flatten().to_numpy(), tokens.offsets.to_numpy()
        for i, doc_id in enumerate(table["doc_id"].to_pylist()):
            docs.append((doc_id, values[offsets[i] : offsets[i + 1]]))
    return docs, doc["tokenizer"]


def held_out(tokens: np.ndarray, fraction: float) -> bool:
    """A pure function of the document's tokens: duplicates fall on the same side."""
    digest = hashlib.blake2b(tokens.astype(np.uint32).tobytes(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % 10_000 < fraction * 10_000


def write_split(docs: Docs, folder: Path, tokenizer: dict) -> Path:
    """Documents as one shard plus a manifest the reader accepts (the pipeline's output format)."""
    table = pa.table(
        {
            "doc_id": [d for d, _ in docs],
            "tokens": pa.array([t.tolist() for _, t in docs], pa.list_(pa.uint32())),
            "num_tokens": pa.array([len(t) for _, t in docs], pa.int64()),
            "source": ["ablation"] * len(docs),
            "meta": ["{}"] * len(docs),
        }
    )
    (folder / "shards").mkdir(parents=True)
    pq.write_table(table, folder / "shards/part-00000.parquet", row_group_size=256)
    data = (folder / "shards/part-00000.parquet").read_bytes()
    shard = {"path": "shards/part-00000.parquet", "rows": len(docs), "tokens": int(sum(len(t) for _, t in docs)),
             "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}  # fmt: skip
    manifest = {"schema_version": 1, "created_at": "", "config": {}, "config_hash": "", "tokenizer": tokenizer,
                "counts": {}, "shards": [shard], "validation": {"success": True}}  # fmt: skip
    (folder / "manifest.json").write_text(json.dumps(manifest))
    return folder / "manifest.json"


def train(manifest: Path, model: TinyLM, args) -> dict:
    """`args.steps` steps from the train split, epoch after epoch; returns what it saw."""
    ds = TokenShardDataset(str(manifest), args.seq_len, args.batch_size, seed=args.seed, lanes=1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr)
    model.train()
    steps, epoch, first = 0, 0, None
    while steps < args.steps:
        ds.set_epoch(epoch)
        for batch in ds:
            loss = next_token_loss(model, batch, args.device)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            first = loss.item() if first is None else first
            steps += 1
            if steps == args.steps:
                break
        epoch += 1
    return {
        "epochs": steps * args.batch_size / ds.samples_per_epoch,
        "first_loss": first,
        "last_loss": loss.item(),
    }


@torch.no_grad()
def evaluate(model: TinyLM, manifest: Path, args) -> float:
    """Mean next-token loss over the windows of a held-out split (the first --max-eval-windows, 0: all)."""
    model.eval()
    ds = TokenShardDataset(str(manifest), args.seq_len, args.batch_size, shuffle=False, lanes=1)
    total, windows = 0.0, 0
    for batch in ds:
        if args.max_eval_windows and windows >= args.max_eval_windows:
            break
        rows = len(batch["tokens"])
        total += next_token_loss(model, batch, args.device).item() * rows
        windows += rows
    return total / windows


def build_splits(inputs: list[str], work: Path, args) -> dict[str, Path]:
    beam = shlex.split(args.beam_args)
    filtered, tokenizer = read_docs(run_arm(inputs, work / "run-filtered", [], beam))
    raw, _ = read_docs(run_arm(inputs, work / "run-raw", RAW, beam))
    sides = {
        "train-filtered": [d for d in filtered if not held_out(d[1], args.held_out)],
        "train-raw": [d for d in raw if not held_out(d[1], args.held_out)],
        "held-out-clean": [d for d in filtered if held_out(d[1], args.held_out)],
        "held-out-raw": [d for d in raw if held_out(d[1], args.held_out)],
    }
    return {name: write_split(docs, work / name, tokenizer) for name, docs in sides.items()}


def run(args) -> list[dict]:
    inputs = args.input or [str(SAMPLE)]
    with tempfile.TemporaryDirectory(prefix="ablation-") as tmp:
        work = Path(args.work or tmp)
        splits = build_splits(inputs, work, args)
        vocab = json.loads(splits["train-raw"].read_text())["tokenizer"]["vocab_size"]
        rows = []
        for arm in ("filtered", "raw"):
            torch.manual_seed(args.seed)
            config = TinyConfig(vocab, args.seq_len, width=args.width, layers=args.layers, heads=args.heads)
            model = TinyLM(config).to(args.device)
            started = time.perf_counter()
            seen = train(splits[f"train-{arm}"], model, args)
            shard = json.loads(splits[f"train-{arm}"].read_text())["shards"][0]
            rows.append({"arm": arm, "docs": shard["rows"], "tokens": shard["tokens"], **seen,
                         "clean": evaluate(model, splits["held-out-clean"], args),
                         "raw": evaluate(model, splits["held-out-raw"], args),
                         "seconds": time.perf_counter() - started})  # fmt: skip
        held = {k: json.loads(splits[k].read_text())["shards"][0] for k in ("held-out-clean", "held-out-raw")}
    print_table(rows, held, args)
    return rows


def print_table(rows: list[dict], held: dict, args) -> None:
    print(f"ablation: {args.steps} steps x {args.batch_size} windows of {args.seq_len + 1} tokens, width "
          f"{args.width}, {args.layers} layer(s), seed {args.seed}, {args.device}; held-out: clean "
          f"{held['held-out-clean']['rows']} docs / {held['held-out-clean']['tokens']} tokens, raw "
          f"{held['held-out-raw']['rows']} docs / {held['held-out-raw']['tokens']} tokens")  # fmt: skip
    print("| arm | train docs | train tokens | epochs | first loss | last loss | held-out clean loss "
          "| held-out raw loss | seconds |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['arm']} | {r['docs']} | {r['tokens']} | {r['epochs']:.2f} | {r['first_loss']:.3f} | "
              f"{r['last_loss']:.3f} | {r['clean']:.3f} | {r['raw']:.3f} | {r['seconds']:.1f} |")  # fmt: skip
    if not all(math.isfinite(r[k]) for r in rows for k in ("clean", "raw")):
        raise SystemExit("a held-out loss is not finite")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", nargs="+", help="pipeline inputs (default: the bundled sample corpus)")
    parser.add_argument("--work", help="keep the runs and splits in this folder (default: a temporary one)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda, cuda:1, ...")
    parser.add_argument("--steps", type=int, default=60, help="optimizer steps per arm (>= 1)")
    parser.add_argument("--seq-len", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--width", type=int, default=32)
    parser.add_argument("--layers", type=int, default=1)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--lr", type=float, default=1e-2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--held-out", type=float, default=0.1, help="fraction of documents held out")
    parser.add_argument("--max-eval-windows", type=int, default=0, help="score at most this many (0: all)")
    parser.add_argument("--beam-args", default="--direct_running_mode=in_memory --direct_num_workers=1",
                        help="Beam options of both pipeline runs (one string)")  # fmt: skip
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error("--steps must be >= 1")
    return args


if __name__ == "__main__":
    run(parse_args())
