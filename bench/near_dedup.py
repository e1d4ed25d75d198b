"""Near-duplicate removal, one corpus, one run: ours vs datasketch MinHashLSH (default and 14x8) vs datatrove.

Prints docs/s, MB/s, peak RSS, precision, recall and F1 of removals against brute-force word 5-gram Jaccard
truth at 0.8, plus signature throughput per core. The corpus is real prose (Python's pydoc topics, recombined by
bench/corpus.py) with edited copies at word-edit rates from 0.2% to 8%, partial copies (hard negatives) and
copies equal after normalisation. Every tool gets the same normalised text (transforms.near_dedup.normalize),
so the scores compare the algorithms, not the tokenisers.

datatrove stays out of the project's lock: it runs in its own venv, in a subprocess:
    python3 -m venv bench/.venv-peers
    bench/.venv-peers/bin/pip install datatrove==0.10.1 "xxhash<4" orjson tokenizers nltk
(xxhash 4 refuses the str that datatrove 0.10.1 hashes.) Without that venv the datatrove row is skipped.

    .venv/bin/python bench/near_dedup.py --mb 20                     # the comparison
    .venv/bin/python bench/near_dedup.py --mb 100 --tools ours       # our stage at a larger scale
    .venv/bin/python bench/near_dedup.py --mb 20 --tools ours --scales 1,4 [--code DIR]
        # memory per worker as the corpus grows: ours at 1x and 4x the documents with 2 workers; --code runs
        # another checkout's transforms/ (e.g. `git worktree add /tmp/before <commit>`) beside this one
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import math
import os
import random
import subprocess
import sys
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data" / "near_dedup"
PEERS_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"
EDIT_RATES = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08)
THRESHOLD = 0.8


# ------------------------------------------------------------------------------------------- corpus and truth


def generate(target_mb: float, seed: int) -> list[tuple[str, str]]:
    """(doc_id, text): base docs, 1-3 edited copies of half of them, partial copies, normalisation twins."""
    spec = importlib.util.spec_from_file_location("bench_corpus", ROOT / "bench" / "corpus.py")
    corpus = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(corpus)
    edit_words, make_doc, paragraphs = corpus.edit_words, corpus.make_doc, corpus.paragraphs
    rng = random.Random(seed)
    pool = paragraphs()
    vocab = sorted({w for p in pool for w in p.split(" ") if w.isalpha()})
    docs, size = [], 0
    while size < target_mb * 1e6:
        base = make_doc(rng, pool, rng.randint(80, 600))
        made = [base]
        r = rng.random()
        if r < 0.5:
            made += [edit_words(rng, base, rng.choice(EDIT_RATES), vocab) for _ in range(rng.randint(1, 3))]
        elif r < 0.6:  # hard negative: most paragraphs kept, the rest replaced
            paras = base.split("\n\n")
            keep = max(1, int(len(paras) * rng.uniform(0.55, 0.85)))
            made.append(
                "\n\n".join(paras[:keep] + make_doc(rng, pool, 40).split("\n\n")[: len(paras) - keep])
            )
        elif r < 0.65:
            made.append(unicodedata.normalize("NFD", base.upper()))
        docs += made
        size += sum(len(d.encode()) for d in made)
    rng.shuffle(docs)
    return [(f"doc-{i:07d}", d) for i, d in enumerate(docs)]


def normalised(text: str) -> str:
    sys.path.insert(0, str(ROOT))
    from transforms.near_dedup.normalize import normalize_text

    return normalize_text(text)


def truth_clusters(texts: list[str], n: int = 5):
    """Cluster label of every doc: components of the graph of pairs with exact 5-gram Jaccard >= THRESHOLD."""
    import numpy as np
    from scipy.sparse import csr_matrix, triu
    from scipy.sparse.csgraph import connected_components

    rows, cols = [], []
    for doc, text in enumerate(texts):
        words = normalised(text).split(" ") if text.strip() else []
        grams = {" ".join(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))}
        cols += [hash(g) for g in grams]
        rows += [doc] * len(grams)
    _, col_ids = np.unique(np.array(cols, np.int64), return_inverse=True)
    m = csr_matrix(
        (np.ones(len(rows), np.int32), (np.array(rows), col_ids)), shape=(len(texts), col_ids.max() + 1)
    )
    sizes = np.asarray(m.sum(axis=1)).ravel()
    inter = triu(m @ m.T, k=1).tocoo()
    jaccard = inter.data / (sizes[inter.row] + sizes[inter.col] - inter.data)
    dup = jaccard >= THRESHOLD
    graph = csr_matrix((np.ones(dup.sum()), (inter.row[dup], inter.col[dup])), shape=(len(texts),) * 2)
    return connected_components(graph, directed=False)[1], int(dup.sum())


def removal_scores(ids: list[str], labels: list[int], removed: set[str]) -> tuple[float, float, float]:
    """Precision/recall/F1 of removals, whichever member a tool keeps: a cluster of c docs owes c-1 removals."""
    from collections import Counter

    size = Counter(labels)
    removed_in = Counter(lab for d, lab in zip(ids, labels, strict=True) if d in removed)
    tp = sum(min(k, size[lab] - 1) for lab, k in removed_in.items())
    owed = sum(c - 1 for c in size.values())
    p, r = tp / max(len(removed), 1), tp / max(owed, 1)
    return p, r, 2 * p * r / max(p + r, 1e-12)


# ------------------------------------------------------------------------------------------- tools (subprocesses)


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def write_parquet(corpus: Path, out: Path, rows: int = 4096) -> int:
    """The corpus as DOC_SCHEMA Parquet, one row group per batch; returns the number of row groups."""
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    table = pj.read_json(corpus)
    n = table.num_rows
    table = pa.table(
        {
            "doc_id": table.column("id").cast(pa.string()),
            "text": table.column("text").cast(pa.large_string()),
            "source": pa.array([corpus.name] * n, pa.string()),
            "meta": pa.nulls(n, pa.string()),
            "line": pa.array(range(1, n + 1), pa.int64()),
        }
    )
    pq.write_table(table, out, row_group_size=rows, compression="none")
    return pq.ParquetFile(out).num_row_groups


def read_row_group(path: str, index: int):
    """One batch of the corpus, read inside the pipeline as a source would (beam.Create of 20 MB of batches
    would bz2-pickle them into the pipeline graph and time that instead)."""
    import pyarrow.parquet as pq

    yield from pq.ParquetFile(path).read_row_group(index).to_batches(max_chunksize=1 << 20)


def run_ours(corpus: Path, workers: int, code: Path, bits: int) -> dict:
    """Near dedup's key pass (NearDuplicateIds: what the pipeline runs) on the local runner, then its signature
    step alone on one core. `code`: the checkout whose transforms/ run."""
    sys.path.insert(0, str(code))
    import apache_beam as beam

    from etl.run.runner import local_options
    from transforms.near_dedup import NearDedupConfig, NearDuplicateIds
    from transforms.near_dedup.minhash import Permutation
    from transforms.near_dedup.sketch import batch_signatures

    config = NearDedupConfig()
    out = DATA / f"ours-{workers}-{corpus.stem}-{abs(hash(str(code))) % 10**6}"
    subprocess.run(["rm", "-rf", str(out)], check=True)
    out.mkdir(parents=True)
    groups = write_parquet(corpus, out / "corpus.parquet")
    mode = "in_memory" if workers == 1 else "multi_processing"
    wall, cpu = time.perf_counter(), cpu_seconds()
    p = beam.Pipeline(options=local_options(mode, workers))
    docs = (
        p
        | beam.Create(range(groups))
        | beam.FlatMap(lambda i: read_row_group(str(out / "corpus.parquet"), i))
    )
    # Shards grow with the corpus, as the pipeline's shuffle_bits does with its input (a checkout from before
    # the node shards has one global step and no such knob).
    takes_bits = "bits" in inspect.signature(NearDuplicateIds.__init__).parameters
    removals = docs | (NearDuplicateIds(config, bits=bits) if takes_bits else NearDuplicateIds(config))
    ids = removals | beam.FlatMap(lambda b: b.column(b.schema.get_field_index("doc_id")).to_pylist())
    ids | beam.io.WriteToText(str(out / "removed"))
    result = p.run()
    result.wait_until_finish()
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    from apache_beam.metrics.metric import MetricsFilter

    groups_held = result.metrics().query(MetricsFilter().with_name("group_bytes"))["distributions"]
    biggest_group = max((d.committed.max for d in groups_held if d.committed), default=None)
    removed = [line.strip() for f in out.glob("removed*") for line in f.open()]
    batches = [b for i in range(groups) for b in read_row_group(str(out / "corpus.parquet"), i)]
    sig_cpu = time.process_time()
    for batch in batches:
        batch_signatures(batch.column(1), config, Permutation.from_seed(config.seed))
    sig_cpu = time.process_time() - sig_cpu
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "sig_cpu_s": sig_cpu,
        "removed": removed,
        "group_mb": biggest_group and biggest_group / 2**20,
    }


def run_datasketch(corpus: Path, num_perm: int, params: tuple[int, int] | None) -> dict:
    """datasketch as its README uses it: MinHash.update_batch per doc, MinHashLSH insert + query, components."""
    import numpy as np
    from datasketch import MinHash, MinHashLSH
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    docs = [json.loads(line) for line in corpus.open()]  # the normalised corpus
    wall, sig_cpu = time.perf_counter(), time.process_time()
    sigs = []
    for d in docs:
        words = d["text"].split(" ")
        grams = {" ".join(words[i : i + 5]).encode() for i in range(max(len(words) - 4, 1))}
        m = MinHash(num_perm=num_perm)
        m.update_batch(list(grams))
        sigs.append(m)
    sig_cpu = time.process_time() - sig_cpu
    lsh = MinHashLSH(threshold=THRESHOLD, num_perm=num_perm, params=params)
    for i, m in enumerate(sigs):
        lsh.insert(i, m)
    u, v = [], []
    for i, m in enumerate(sigs):
        for j in lsh.query(m):
            if j > i:
                u.append(i)
                v.append(j)
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(len(docs), len(docs)))
    labels = connected_components(graph, directed=False)[1]
    order = sorted(range(len(docs)), key=lambda i: docs[i]["id"])
    seen, removed = set(), []
    for i in order:
        (removed.append(docs[i]["id"]) if labels[i] in seen else seen.add(labels[i]))
    return {"wall_s": time.perf_counter() - wall, "sig_cpu_s": sig_cpu, "removed": removed}


def run_datatrove(corpus: Path, workers: int) -> dict:
    """datatrove's four MinHash stages (signatures, buckets, clusters, filter), its example's 14x8 config."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.dedup.minhash import MinhashConfig
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers.jsonl import JsonlWriter
    from datatrove.utils.hashing import HashConfig

    work = DATA / "datatrove"
    subprocess.run(["rm", "-rf", str(work)], check=True)
    cfg = MinhashConfig(hash_config=HashConfig(precision=64), num_buckets=14, hashes_per_bucket=8)
    folder = {k: str(work / k) for k in ("sigs", "buckets", "remove", "removed", "kept")}
    stages = [
        (
            [
                JsonlReader(str(corpus.parent), glob_pattern=corpus.name),
                MinhashDedupSignature(folder["sigs"], cfg),
            ],
            workers,
        ),
        ([MinhashDedupBuckets(folder["sigs"], folder["buckets"], config=cfg)], cfg.num_buckets),
        ([MinhashDedupCluster(folder["buckets"], folder["remove"], config=cfg)], 1),
        (
            [
                JsonlReader(str(corpus.parent), glob_pattern=corpus.name),
                MinhashDedupFilter(folder["remove"], exclusion_writer=JsonlWriter(folder["removed"])),
                JsonlWriter(folder["kept"]),
            ],
            workers,
        ),
    ]
    last = None
    for i, (steps, tasks) in enumerate(stages):
        last = LocalPipelineExecutor(
            steps, tasks=tasks, workers=min(tasks, workers), depends=last, logging_dir=str(work / f"logs{i}")
        )
    wall = time.perf_counter()
    last.run()
    wall = time.perf_counter() - wall
    import gzip

    removed = [json.loads(line)["id"] for f in (work / "removed").glob("*.gz") for line in gzip.open(f, "rt")]
    return {"wall_s": wall, "removed": removed}


def tool_main(args) -> None:
    corpus = Path(args.corpus)
    if args.run == "ours":
        out = run_ours(corpus, args.workers, Path(args.code), args.bits)
    elif args.run == "datasketch":
        out = run_datasketch(corpus, args.num_perm, tuple(args.params) if args.params else None)
    else:
        out = run_datatrove(corpus, args.workers)
    Path(args.result).write_text(json.dumps(out))


# ------------------------------------------------------------------------------------------- orchestration


def run_tool(name: str, python: Path, corpus: Path, *extra: str) -> dict | None:
    """Run one tool in its own process; its peak RSS is sampled over its whole process tree (workers too)."""
    import psutil

    result = DATA / f"{name}.json"
    cmd = [str(python), "-P", __file__, "--run", *extra, "--corpus", str(corpus), "--result", str(result)]
    log = (DATA / f"{name}.log").open("w")
    code = extra[extra.index("--code") + 1] if "--code" in extra else str(ROOT)
    env = {**os.environ, "PYTHONPATH": code}  # Beam's workers (python -m, from cwd) import this checkout
    proc = subprocess.Popen(cmd, cwd=code, stdout=log, stderr=subprocess.STDOUT, env=env)
    root, peak, each = psutil.Process(proc.pid), 0, {}
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
            rss = {p.pid: p.memory_info().rss for p in tree}
            peak = max(peak, sum(rss.values()))
            for pid, r in rss.items():
                each[pid] = max(each.get(pid, 0), r)
        except psutil.Error:
            pass
        time.sleep(0.05)
    log.close()
    if proc.returncode != 0:
        print(f"{name} failed, see {DATA / f'{name}.log'}", file=sys.stderr)
        return None
    out = json.loads(result.read_text())
    out["peak_rss_mb"] = peak / 2**20
    out["driver_peak_mb"] = each.pop(proc.pid, 0) / 2**20
    out["worker_peak_mb"] = max(each.values(), default=0) / 2**20  # the biggest single worker process
    return out


def prepare(target_mb: float, seed: int, scales: list[int]) -> None:
    """Corpus files and brute-force truth, in their own process, so that the parent stays small. Larger
    scales are the base corpus plus more documents from other seeds (no truth: only memory is compared)."""
    DATA.mkdir(parents=True, exist_ok=True)
    docs = generate(target_mb, seed)
    for scale in (s for s in scales if s > 1):
        more = [d for extra in range(1, scale) for d in generate(target_mb, seed + 1000 * extra)]
        with (DATA / f"corpus-x{scale}.jsonl").open("w") as f:
            for doc_id, text in docs + [(f"x{scale}-{i}-{d}", t) for i, (d, t) in enumerate(more)]:
                f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
    raw, norm = DATA / "corpus.jsonl", DATA / "corpus-normalised.jsonl"
    with raw.open("w") as f, norm.open("w") as g:
        for doc_id, text in docs:
            f.write(json.dumps({"id": doc_id, "text": text}) + "\n")
            g.write(json.dumps({"id": doc_id, "text": normalised(text)}) + "\n")
    labels, pairs = truth_clusters([t for _, t in docs])
    truth = {
        "ids": [d for d, _ in docs],
        "labels": labels.tolist(),
        "pairs": pairs,
        "mb": sum(len(t.encode()) for _, t in docs) / 1e6,
    }
    (DATA / "truth.json").write_text(json.dumps(truth))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tools", default="ours,datasketch,datatrove", help="comma-separated subset to run")
    ap.add_argument("--run", choices=["prepare", "ours", "datasketch", "datatrove"], help=argparse.SUPPRESS)
    ap.add_argument("--corpus", help=argparse.SUPPRESS)
    ap.add_argument("--result", help=argparse.SUPPRESS)
    ap.add_argument("--workers", type=int, default=1, help=argparse.SUPPRESS)
    ap.add_argument("--num-perm", type=int, default=128, help=argparse.SUPPRESS)
    ap.add_argument("--params", type=int, nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--scales", default="1", help="corpus multiples for ours with 2 workers, e.g. 1,4")
    ap.add_argument("--code", default=str(ROOT), help="checkout whose transforms/ 'ours' runs")
    ap.add_argument("--bits", type=int, default=4, help=argparse.SUPPRESS)
    args = ap.parse_args()
    scales = [int(x) for x in args.scales.split(",")]
    if args.run == "prepare":
        return prepare(args.mb, args.seed, scales)
    if args.run:
        return tool_main(args)

    py = Path(sys.executable)
    subprocess.run(
        [str(py), "-P", __file__, "--run", "prepare", "--mb", str(args.mb), "--seed", str(args.seed)]
        + ["--scales", args.scales],
        check=True,
    )
    truth = json.loads((DATA / "truth.json").read_text())
    ids, labels, mb = truth["ids"], truth["labels"], truth["mb"]
    owed = len(ids) - len(set(labels))
    print(
        f"corpus: {len(ids)} docs, {mb:.1f} MB, {truth['pairs']} pairs with Jaccard >= {THRESHOLD}, {owed} true removals"
    )
    raw, norm = DATA / "corpus.jsonl", DATA / "corpus-normalised.jsonl"
    tools, runs = args.tools.split(","), {}
    code = ["--code", args.code]
    if "ours" in tools and scales == [1]:
        runs["ours (in_memory, 1 worker)"] = run_tool("ours-1", py, raw, "ours", "--workers", "1", *code)
        runs["ours (multi_processing, 2 workers)"] = run_tool(
            "ours-2", py, raw, "ours", "--workers", "2", *code
        )
    elif "ours" in tools:
        for scale in scales:
            corpus = raw if scale == 1 else DATA / f"corpus-x{scale}.jsonl"
            bits = ["--bits", str(4 + math.ceil(math.log2(scale)))]
            runs[f"ours {scale}x (multi_processing, 2 workers)"] = run_tool(
                f"ours-x{scale}", py, corpus, "ours", "--workers", "2", *code, *bits
            )
    if "datasketch" in tools:
        runs["datasketch MinHashLSH(0.8, 128)"] = run_tool(
            "ds-default", py, norm, "datasketch", "--num-perm", "128"
        )
        runs["datasketch MinHashLSH 14x8 (112)"] = run_tool(
            "ds-14x8", py, norm, "datasketch", "--num-perm", "112", "--params", "14", "8"
        )
    if "datatrove" in tools and PEERS_PYTHON.exists():
        runs["datatrove 0.10.1 MinHash 14x8 (2 workers)"] = run_tool(
            "datatrove", PEERS_PYTHON, norm, "datatrove", "--workers", "2"
        )
    elif "datatrove" in tools:
        print("datatrove skipped: no bench/.venv-peers (see this script's docstring)")
    print_table(runs, ids, labels, len(ids), mb)


def print_table(runs: dict, ids: list[str], labels, n_docs: int, mb: float) -> None:
    print(
        "| tool | wall s | docs/s | MB/s | signatures docs/s/core | peak RSS MB (tree) | driver MB | biggest worker MB "
        "| biggest group MB | removed | precision | recall | F1 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in runs.items():
        if r is None:
            print(f"| {name} | failed | | | | | | | | | | | |")
            continue
        scale = int(name.split(" ")[1][:-1]) if name.split(" ")[1].endswith("x") else 1
        docs, size = n_docs * scale, mb * scale  # the larger scales: approximately
        score = (
            " | ".join(f"{v:.4f}" for v in removal_scores(ids, labels, set(r["removed"])))
            if scale == 1
            else "- | - | -"
        )
        sig = f"{docs / r['sig_cpu_s']:,.0f}" if "sig_cpu_s" in r else "-"
        worker = f"{r['worker_peak_mb']:,.0f}" if r.get("worker_peak_mb") else "-"
        group = f"{r['group_mb']:,.1f}" if r.get("group_mb") else "- (one global step)"
        print(
            f"| {name} | {r['wall_s']:.1f} | {docs / r['wall_s']:,.0f} | {size / r['wall_s']:.1f} | {sig} "
            f"| {r['peak_rss_mb']:,.0f} | {r.get('driver_peak_mb', 0):,.0f} | {worker} | {group} | {len(r['removed'])} | {score} |"
        )


if __name__ == "__main__":
    main()
