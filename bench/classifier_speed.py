"""Model-based quality classifiers' speed on one core: fastText in MB/s, Hugging Face models in tokens/s.

    .venv/bin/python bench/classifier_speed.py [--mb 30] [--hf-docs 400] [--big-docs 48]

Text: the first --mb MB of bench/.data/real-1000mb/one/corpus.jsonl.gz (bench/real_corpus.py), else the sample
corpus repeated. The process is pinned to one core (polars and torch one thread), so figures are per core.
fastText: the shipped tiny model (transforms/quality/data/tiny_quality.bin) through score_texts in batches of
1000 documents, and its bare predict on the same prepared lines (what the model alone costs). hf: seeded random
BERTs built by transforms.quality.tiny_models (hidden 32 x 2 layers, and hidden 256 x 4 layers), float32 on the
CPU, 512 tokens per document at most; tokens/s counts the tokens after truncation, padding not included.
datatrove's FastTextClassifierFilter is timed on the same model and texts where bench/.venv-peers exists
(bench/filters.py builds it; add `fasttext-community fasteners` to it for this one).
"""

from __future__ import annotations

import os

# Before polars and torch start their thread pools: one core, one thread each.
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
os.environ["POLARS_MAX_THREADS"] = "1"

import argparse  # noqa: E402
import datetime  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import polars as pl  # noqa: E402

from transforms.quality.classifier_models import load_model  # noqa: E402
from transforms.quality.classifier_params import ClassifierParams  # noqa: E402
from transforms.quality.classifiers import model_input, score_texts  # noqa: E402
from transforms.quality.tiny_models import SHIPPED_FASTTEXT, build_tiny_hf, sample_texts  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT / "bench" / ".data" / "real-1000mb" / "one" / "corpus.jsonl.gz"
PEERS = ROOT / "bench" / ".venv-peers"
BATCH_DOCS = 1000


def bench_texts(mb: float) -> tuple[list[str], str]:
    """About `mb` MB of UTF-8 text, as documents, and where it came from."""
    want, texts, size = int(mb * 1e6), [], 0
    if REAL.exists():
        with gzip.open(REAL, "rt", encoding="utf-8") as lines:
            for line in lines:
                texts.append(json.loads(line)["text"])
                size += len(texts[-1].encode())
                if size >= want:
                    return texts, f"{REAL.relative_to(ROOT)} (first {size / 1e6:.1f} MB)"
    sample = sample_texts()
    while size < want:
        texts += sample
        size += sum(len(t.encode()) for t in sample)
    return texts, f"sample corpus repeated ({size / 1e6:.1f} MB)"


def utf8_mb(texts: list[str]) -> float:
    return sum(len(t.encode()) for t in texts) / 1e6


def time_fasttext(texts: list[str]) -> list[tuple[str, int, float, float, str]]:
    params = ClassifierParams(name="tiny", type="fasttext", model=str(SHIPPED_FASTTEXT), label="hq")
    score_texts(params, pl.Series(texts[:10]))  # load the model
    batches = [pl.Series(texts[i : i + BATCH_DOCS]) for i in range(0, len(texts), BATCH_DOCS)]
    start = time.perf_counter()
    for batch in batches:
        score_texts(params, batch)
    whole = time.perf_counter() - start
    lines = [model_input(params, b).to_list() for b in batches]
    model = load_model(params).model
    start = time.perf_counter()
    for batch in lines:
        model.predict(batch, k=-1, threshold=0.0)
    bare = time.perf_counter() - start
    mb = utf8_mb(texts)
    return [
        ("fasttext tiny, score_texts", len(texts), mb, whole, f"{mb / whole:.1f} MB/s"),
        ("fasttext tiny, bare predict", len(texts), mb, bare, f"{mb / bare:.1f} MB/s"),
    ]


def time_hf(name: str, model_dir: Path, texts: list[str]) -> tuple[str, int, float, float, str]:
    params = ClassifierParams(name="hf", type="hf", model=str(model_dir), label="hq", device="cpu")
    loaded = load_model(params)
    score_texts(params, pl.Series(texts[:4]))  # first call: lazy inits
    inputs = model_input(params, pl.Series(texts)).to_list()
    tokens = sum(len(ids) for ids in loaded.tokenizer(inputs, truncation=True, max_length=512)["input_ids"])
    start = time.perf_counter()
    score_texts(params, pl.Series(texts))
    took = time.perf_counter() - start
    return (name, len(texts), utf8_mb(texts), took, f"{tokens / took:,.0f} tokens/s ({tokens:,} tokens)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=30, help="MB of text for fastText")
    parser.add_argument("--hf-docs", type=int, default=400, help="documents for the tiny BERT")
    parser.add_argument("--big-docs", type=int, default=48, help="documents for the 256 x 4 BERT")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(1)
    texts, origin = bench_texts(args.mb)
    print(f"{datetime.date.today()}  {platform.processor() or platform.machine()}  one core")
    print(f"text: {origin}, {len(texts)} documents")
    rows = time_fasttext(texts)
    with tempfile.TemporaryDirectory() as tmp:
        tiny = build_tiny_hf(Path(tmp) / "tiny", regression=False)
        big = build_tiny_hf(Path(tmp) / "big", regression=False, hidden=256, layers=4, heads=4)
        rows.append(time_hf("hf BERT 32 x 2 layers, fp32", tiny, texts[: args.hf_docs]))
        rows.append(time_hf("hf BERT 256 x 4 layers, fp32", big, texts[: args.big_docs]))
    print(f"\n| {'classifier':<30} | {'docs':>6} | {'MB':>6} | {'s':>6} | speed")
    print(f"|{'-' * 32}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 30}")
    for name, docs, mb, seconds, speed in rows:
        print(f"| {name:<30} | {docs:>6} | {mb:>6.1f} | {seconds:>6.2f} | {speed}")
    peer = PEERS / "bin" / "python"
    if not peer.exists():
        print("\ndatatrove not timed: bench/.venv-peers is absent (see bench/filters.py for how it is built)")
        return
    took = time_datatrove(peer, texts)
    if took is not None:
        mb = utf8_mb(texts)
        print(f"| {'datatrove FastTextClassifierFilter':<30} | {len(texts):>6} | {mb:>6.1f} | {took:>6.2f} | "
              f"{mb / took:.1f} MB/s (same model, same texts, filter() per document)")  # fmt: skip


# datatrove 0.10.1's fastText filter on the same model and texts, in its own venv (with fasttext-community,
# the binding this project uses), one document at a time as its pipeline calls it, on the same one core.
DATATROVE_RUN = """
import json, sys, time
from datatrove.data import Document
from datatrove.pipeline.filters import FastTextClassifierFilter
# datatrove asks for the fasttext-numpy2-wheel distribution; the module is the same `fasttext` API.
FastTextClassifierFilter._requires_dependencies = ["fasteners"]
model, path = sys.argv[1], sys.argv[2]
docs = [Document(text=json.loads(line)["text"], id=str(i)) for i, line in enumerate(open(path))]
f = FastTextClassifierFilter(model_url=model, keep_labels=[("hq", 0.5)])
f.filter(docs[0])  # loads the model
started = time.process_time()
kept = sum(bool(f.filter(d)) for d in docs)
print(json.dumps({"seconds": time.process_time() - started, "kept": kept}))
"""


def time_datatrove(peer: Path, texts: list[str]) -> float | None:
    import subprocess

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "texts.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
        core = str(min(os.sched_getaffinity(0)))
        proc = subprocess.run(
            ["taskset", "-c", core, str(peer), "-c", DATATROVE_RUN, str(SHIPPED_FASTTEXT), str(path)],
            capture_output=True, text=True,
        )  # fmt: skip
    if proc.returncode != 0:
        print(f"\ndatatrove not timed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])["seconds"]


if __name__ == "__main__":
    main()
