"""Reader throughput against a plain pyarrow read of the same shards, and bytes per token of shard encodings.

Writes its own corpus (Zipf-distributed token ids over a 50k vocabulary, which compresses like real token
streams do, unlike uniform random ids; document lengths log-normal), one copy per encoding, row groups of
~4 M tokens as the pipeline writes them. Prints a markdown table: bytes/token, and tokens/s
of a plain pyarrow read (`ParquetFile.read_row_group(i, columns=["tokens"])`, then `.flatten()` to numpy, row
group after row group: the reader's IO pattern) and of TokenShardDataset (one epoch in this process, batches of
int64 tokens and position ids), per CPU second (this process's threads; a worker's too) and per wall second.

    .venv/bin/python bench/reader.py                      # 50 M tokens, every encoding
    .venv/bin/python bench/reader.py --tokens 100_000_000 --encodings zstd3-dict
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from etl.reader import TokenShardDataset, TokenShardLoader  # noqa: E402

VOCAB = 50_257
ROW_GROUP_TOKENS = 4 << 20  # the pipeline's output.row_group_tokens default
SHARD_TOKENS = 16 << 20
# name -> pq.write_table options. "zstd3-dict" is what the pipeline writes today (pyarrow's defaults + zstd 3).
ENCODINGS = {
    "zstd3-dict": {"compression": "zstd", "compression_level": 3},
    "zstd3-plain": {"compression": "zstd", "compression_level": 3, "use_dictionary": False},
    "zstd3-delta": {"compression": "zstd", "compression_level": 3, "use_dictionary": False,
                    "column_encoding": {"tokens.list.element": "DELTA_BINARY_PACKED"}},
    "zstd3-bss": {"compression": "zstd", "compression_level": 3, "use_dictionary": False,
                  "column_encoding": {"tokens.list.element": "BYTE_STREAM_SPLIT"}},
    "zstd9-dict": {"compression": "zstd", "compression_level": 9},
    "snappy-dict": {"compression": "snappy"},
    "none-dict": {"compression": "none"},
    "none-plain": {"compression": "none", "use_dictionary": False},
}  # fmt: skip


def make_documents(n_tokens: int, mean_doc: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(offsets int64, token values uint32) of documents adding up to n_tokens."""
    rng = np.random.default_rng(seed)
    sigma = 1.0
    lengths = rng.lognormal(np.log(mean_doc) - sigma**2 / 2, sigma, size=n_tokens // mean_doc * 2 + 16)
    lengths = np.maximum(lengths.astype(np.int64), 1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    cut = int(np.searchsorted(offsets, n_tokens))
    offsets = np.append(offsets[:cut], n_tokens)
    weights = 1.0 / np.arange(1, VOCAB + 1) ** 1.1
    ids = rng.permutation(VOCAB).astype(
        np.uint32
    )  # frequent tokens get scattered ids, as in BPE vocabularies
    values = ids[np.searchsorted(np.cumsum(weights / weights.sum()), rng.random(n_tokens))]
    values[offsets[1:] - 1] = 0  # EOS closes each document
    return offsets, values


def write_corpus(root: Path, offsets: np.ndarray, values: np.ndarray, options: dict) -> Path:
    (root / "shards").mkdir(parents=True)
    lengths = np.diff(offsets)
    doc_bounds = np.searchsorted(offsets, np.arange(0, offsets[-1], SHARD_TOKENS)).tolist() + [len(lengths)]
    rows_per_group = max(1, ROW_GROUP_TOKENS * len(lengths) // int(offsets[-1]))
    shards = []
    for i, (a, b) in enumerate(zip(doc_bounds[:-1], doc_bounds[1:], strict=True)):
        local = (offsets[a : b + 1] - offsets[a]).astype(np.int32)
        tokens = pa.ListArray.from_arrays(pa.array(local), pa.array(values[offsets[a] : offsets[b]]))
        table = pa.table({
            "doc_id": pa.array([f"doc-{j}" for j in range(a, b)]),
            "tokens": tokens,
            "num_tokens": pa.array(lengths[a:b]),
            "source": pa.array(["bench"] * (b - a)),
            "meta": pa.array(["{}"] * (b - a)),
        })  # fmt: skip
        rel = f"shards/part-{i:05d}.parquet"
        pq.write_table(table, root / rel, row_group_size=rows_per_group, **options)
        data = (root / rel).read_bytes()
        shards.append({"path": rel, "rows": b - a, "tokens": int(lengths[a:b].sum()), "bytes": len(data),
                       "sha256": hashlib.sha256(data).hexdigest()})  # fmt: skip
    manifest = {"schema_version": 1, "created_at": "bench", "config": {}, "config_hash": "bench",
                "tokenizer": {"vocab_size": VOCAB, "eos_id": 0}, "counts": {}, "shards": shards,
                "validation": {"success": True}}  # fmt: skip
    (root / "manifest.json").write_text(json.dumps(manifest))
    return root / "manifest.json"


def tokens_bytes(manifest: Path) -> tuple[int, int]:
    shards = json.loads(manifest.read_text())["shards"]
    return sum(s["tokens"] for s in shards), sum(s["bytes"] for s in shards)


def token_column_bytes(manifest: Path) -> int:
    """Compressed bytes of the tokens column alone (files also hold doc_id, num_tokens, source, meta)."""
    total = 0
    for s in json.loads(manifest.read_text())["shards"]:
        md = pq.ParquetFile(manifest.parent / s["path"]).metadata
        for g in range(md.num_row_groups):
            for c in range(md.num_columns):
                if md.row_group(g).column(c).path_in_schema.startswith("tokens"):
                    total += md.row_group(g).column(c).total_compressed_size
    return total


def plain_row_groups(manifest: Path) -> int:
    n = 0
    for s in json.loads(manifest.read_text())["shards"]:
        pf = pq.ParquetFile(manifest.parent / s["path"])
        for g in range(pf.metadata.num_row_groups):
            n += len(pf.read_row_group(g, columns=["tokens"]).column(0).combine_chunks().flatten().to_numpy())
    return n


def reader_epoch(manifest: Path, args, shuffle: bool = True, workers: int | None = None) -> int:
    ds = TokenShardDataset(
        str(manifest), args.seq_len, args.batch_size, lanes=args.lanes, shuffle=shuffle, verify="none"
    )
    source = ds if workers is None else TokenShardLoader(ds, num_workers=workers)
    return sum(batch["tokens"].numel() for batch in source)


class _ZeroBatches(IterableDataset):
    """Batches shaped like the reader's, with nothing read: what moving them between processes costs alone."""

    def __init__(self, batches: int, rows: int, window: int):
        self.batches, self.rows, self.window = batches, rows, window

    def __iter__(self):
        info = get_worker_info()
        for _ in range(info.id if info else 0, self.batches, info.num_workers if info else 1):
            flat = torch.zeros(2 * self.rows * self.window + self.rows, dtype=torch.int64)
            n = self.rows * self.window
            yield {"tokens": flat[:n].view(self.rows, -1), "position_ids": flat[n : 2 * n].view(self.rows, -1),
                   "sample_index": flat[2 * n :]}  # fmt: skip


def packing_only(manifest: Path, args) -> int:
    """One epoch of batches from units decoded beforehand: the reader's own work on top of pyarrow's."""
    ds = TokenShardDataset(str(manifest), args.seq_len, args.batch_size, lanes=args.lanes, verify="none")
    cache, plan = ds._unit_cache(1), ds._plan(0)
    cache.capacity = len(ds.units.tokens)
    for unit in range(len(ds.units.tokens)):
        cache.get(0, unit)
    start = cpu_seconds()
    end, b, leg = ds.samples_per_epoch, args.batch_size, ds._leg(0)
    n = sum(
        ds._batch(plan, cache, 0, leg.ranges(0, f, min(f + b, end)))["tokens"].numel()
        for f in range(0, end, b)
    )
    return n / (cpu_seconds() - start)


def ipc_only(manifest: Path, args) -> int:
    ds = TokenShardDataset(str(manifest), args.seq_len, args.batch_size, lanes=args.lanes, verify="none")
    zeros = _ZeroBatches(len(ds), args.batch_size, args.seq_len + 1)
    return sum(batch["tokens"].numel() for batch in DataLoader(zeros, batch_size=None, num_workers=2))


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its reaped children (dataloader workers)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def best_rates(fns: list, repeats: int) -> list[tuple[float, float]]:
    """(tokens per CPU second, tokens per wall second) of each function, each the best of `repeats` runs.

    The machine is shared: runs of the functions alternate so that load changes hit them alike, and the
    fastest run is the least disturbed one; CPU time is less disturbed than wall time.
    """
    cpu, wall = [[] for _ in fns], [[] for _ in fns]
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            c0, w0 = cpu_seconds(), time.perf_counter()
            n = fn()
            cpu[i].append(n / (cpu_seconds() - c0))
            wall[i].append(n / (time.perf_counter() - w0))
    return [(max(c), max(w)) for c, w in zip(cpu, wall, strict=True)]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=50_000_000)
    parser.add_argument("--mean-doc", type=int, default=800, help="mean document length in tokens")
    parser.add_argument("--seq-len", type=int, default=2048)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--encodings", nargs="+", default=list(ENCODINGS), choices=list(ENCODINGS))
    parser.add_argument(
        "--workdir", type=Path, default=None, help="keep the corpora here (default: a temp dir)"
    )
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="bench-reader-"))
    offsets, values = make_documents(args.tokens, args.mean_doc, seed=0)
    print(f"{args.tokens:,} tokens, {len(offsets) - 1:,} documents, seq_len {args.seq_len}, "
          f"batch {args.batch_size}, lanes {args.lanes}; best of {args.repeats}; rates in M tokens/s\n")  # fmt: skip
    print("| encoding | bytes/token (file) | bytes/token (tokens column) | plain read, CPU | reader, CPU "
          "| reader / plain, CPU | plain read, wall | reader, wall | reader / plain, wall |")  # fmt: skip
    print("|---|---|---|---|---|---|---|---|---|")
    try:
        for name in args.encodings:
            manifest = write_corpus(workdir / name, offsets, values, ENCODINGS[name])
            n_tokens, n_bytes = tokens_bytes(manifest)
            if name == args.encodings[0]:  # warm up: first-use imports and allocator growth are not reading
                plain_row_groups(manifest), reader_epoch(manifest, args)
            plain, reader = best_rates(
                [lambda m=manifest: plain_row_groups(m), lambda m=manifest: reader_epoch(m, args)],
                args.repeats,
            )
            print(f"| {name} | {n_bytes / n_tokens:.3f} | {token_column_bytes(manifest) / n_tokens:.3f} "
                  f"| {plain[0] / 1e6:.0f} | {reader[0] / 1e6:.0f} | {reader[0] / plain[0]:.2f} "
                  f"| {plain[1] / 1e6:.0f} | {reader[1] / 1e6:.0f} | {reader[1] / plain[1]:.2f} |", flush=True)  # fmt: skip
        manifest = workdir / args.encodings[0] / "manifest.json"
        print(f"\nreader variants on {args.encodings[0]} (M tokens/s, CPU incl. workers / wall):")
        variants = {
            "no shuffle, in process": lambda: reader_epoch(manifest, args, shuffle=False),
            "TokenShardLoader, 2 workers": lambda: reader_epoch(manifest, args, workers=2),
            "torch DataLoader, 2 workers, zero batches of that shape (IPC ceiling)": lambda: ipc_only(
                manifest, args
            ),
        }
        for label, (cpu, wall) in zip(
            variants, best_rates(list(variants.values()), args.repeats), strict=True
        ):
            print(f"- {label}: {cpu / 1e6:.0f} / {wall / 1e6:.0f}")
        packing = max(packing_only(manifest, args) for _ in range(args.repeats))
        print(f"- packing alone (units decoded beforehand), per CPU second: {packing / 1e6:.0f}")
        start = time.perf_counter()
        TokenShardDataset(str(manifest), args.seq_len, args.batch_size, verify="none")
        opened = time.perf_counter() - start
        start = time.perf_counter()
        TokenShardDataset(str(manifest), args.seq_len, args.batch_size, verify="all")
        verified = time.perf_counter() - start - opened
        print(f"- construction (manifest + footers): {opened * 1e3:.0f} ms; sha256 of all shards: "
              f"{tokens_bytes(manifest)[1] / verified / 1e6:.0f} MB/s")  # fmt: skip
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
