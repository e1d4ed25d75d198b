"""Decontamination cost: index build, its memory and pickle time, and matching throughput over synthetic prose.

    .venv/bin/python bench/decontamination_speed.py [--ngrams 1000000] [--mb 50] [--non-ascii 0.1]

Benchmark items are random 60-word questions plus 4-to-12-word choice lists (short whole fields, from 5 words, are
indexed too), written to a temporary JSONL and loaded with load_benchmark_ngrams. The corpus is Zipf-distributed
words with punctuation, a share of its documents with accented words (the non-ASCII path), and one planted item
per 1,000 documents, which must all be found. One process, one thread; the one-off Unicode table is timed
apart, and CPU seconds are printed beside wall seconds, which a busy machine inflates.
"""

from __future__ import annotations

import argparse
import json
import pickle
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from transforms.decontamination import BenchmarkSpec, contamination, load_benchmark_ngrams

QUESTION_WORDS = 60
NGRAM = 13


def vocabulary(size: int, rng: random.Random) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return ["".join(rng.choices(letters, k=rng.randint(2, 10))) for _ in range(size)]


def write_benchmark(path: Path, ngrams: int, vocab: list[str], rng: random.Random) -> list[str]:
    """Items whose questions give QUESTION_WORDS - NGRAM + 1 n-grams each; returns the questions."""
    items = max(1, ngrams // (QUESTION_WORDS - NGRAM + 2))  # + 1 for the choices' whole-field n-gram
    questions = []
    with path.open("w") as f:
        for i in range(items):
            question = " ".join(rng.choices(vocab, k=QUESTION_WORDS))
            choices = [" ".join(rng.choices(vocab, k=rng.randint(1, 3))) for _ in range(4)]
            f.write(json.dumps({"id": f"item-{i}", "question": question, "choices": choices}) + "\n")
            questions.append(question)
    return questions


def corpus(mb: float, vocab: list[str], questions: list[str], non_ascii: float, seed: int):
    """(documents, indices of planted documents)."""
    rng = np.random.default_rng(seed)
    words = np.array(vocab, dtype=object)
    accented = np.array([w.replace("e", "é").replace("o", "ö") for w in vocab], dtype=object)
    cdf = np.cumsum(1.0 / np.arange(1, len(vocab) + 1))
    cdf /= cdf[-1]
    punct = np.array(["", "", "", ",", ".", "\n"], dtype=object)
    docs, planted, size = [], [], 0
    while size < mb * 1e6:
        ids = np.searchsorted(cdf, rng.random(int(rng.integers(100, 1200))))
        picked = words[ids]
        if rng.random() < non_ascii:
            picked[::7] = accented[ids[::7]]
        text = " ".join(picked + punct[rng.integers(0, len(punct), len(ids))])
        if len(docs) % 1000 == 999:
            text += " " + questions[int(rng.integers(len(questions)))].upper() + " "
            planted.append(len(docs))
        docs.append(text)
        size += len(text.encode())
    return docs, planted


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--ngrams", type=int, default=1_000_000)
    parser.add_argument("--mb", type=float, default=50)
    parser.add_argument("--non-ascii", type=float, default=0.1, help="share of documents with accents")
    args = parser.parse_args()
    rng = random.Random(0)
    vocab = vocabulary(50_000, rng)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        questions = write_benchmark(path, args.ngrams, vocab, rng)
        start = time.perf_counter()
        spec = BenchmarkSpec(name="synthetic", path=str(path), fields=["question", "choices"], id_field="id")
        index = load_benchmark_ngrams([spec], n=NGRAM)
        build = time.perf_counter() - start
    start = time.perf_counter()
    blob = pickle.dumps(index, protocol=pickle.HIGHEST_PROTOCOL)
    dump = time.perf_counter() - start
    start = time.perf_counter()
    pickle.loads(blob)
    load = time.perf_counter() - start

    docs, planted = corpus(args.mb, vocab, questions, args.non_ascii, seed=1)
    start = time.perf_counter()
    contamination(["warm-up: the Unicode table (é), built once per process"], index)
    warm = time.perf_counter() - start
    mb = sum(len(d.encode()) for d in docs) / 1e6
    start, cpu = time.perf_counter(), time.process_time()
    hits = contamination(docs, index)
    match, match_cpu = time.perf_counter() - start, time.process_time() - cpu
    found = [i for i, h in enumerate(hits) if h is not None]

    print("| figure | value |\n|---|---|")
    print(f"| benchmark items | {len(questions):,} |")
    print(f"| index n-grams (item, hash) | {len(index.hashes):,} |")
    print(f"| short whole fields (heads) | {len(index.heads):,} |")
    print(f"| index build s (read + hash) | {build:.2f} |")
    print(f"| index memory MB | {index.nbytes / 1e6:.1f} |")
    print(f"| pickle MB / dump s / load s | {len(blob) / 1e6:.1f} / {dump:.3f} / {load:.3f} |")
    print(f"| corpus MB / documents | {mb:.1f} / {len(docs):,} |")
    print(f"| first call (Unicode table, once per process) s | {warm:.2f} |")
    print(f"| matching wall s / MB/s | {match:.2f} / {mb / match:.1f} |")
    print(f"| matching CPU s / MB per CPU s | {match_cpu:.2f} / {mb / match_cpu:.1f} |")
    print(f"| planted found / hits total | {len(set(planted) & set(found))}/{len(planted)} / {len(found)} |")


if __name__ == "__main__":
    main()
