"""Generate test and bench corpora from real English text found offline (Python's pydoc topics).

Documents are paragraphs of real prose recombined by a seeded RNG, so they read like documentation pages and pass
the quality rules; a known share are exact duplicates (some differing only in Unicode form or line endings) and
edited near-duplicates. Usage:
    python bench/corpus.py --out DIR --mb 200          # JSONL.gz files of about 200 MB of text in total
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import re
import unicodedata
from pathlib import Path

CODE_MARKS = "\"*()[]{}=:;>`_'"


def paragraphs() -> list[str]:
    import pydoc_data.topics as topics

    out = []
    for body in topics.topics.values():
        for para in re.split(r"\n\s*\n", body):
            words = para.split()
            code_marks = sum(para.count(c) for c in CODE_MARKS)
            # Prose, not code samples: the corpora should look like the web text the quality rules expect.
            if len(words) >= 12 and sum(w.isalpha() for w in words) > 0.8 * len(words) and code_marks < 3:
                out.append(" ".join(words))
    return out


def make_doc(rng: random.Random, pool: list[str], min_words: int = 120) -> str:
    parts, words = [], 0
    for para in rng.sample(pool, len(pool)):  # no paragraph twice in one document
        parts.append(para)
        words += para.count(" ") + 1
        if words >= min_words:
            break
    return "\n\n".join(parts)


def edit_words(rng: random.Random, text: str, rate: float, vocab: list[str]) -> str:
    """Replace, delete or insert about `rate` of the words: the edits a scraped page gets between copies."""
    words = text.split(" ")
    out = []
    for w in words:
        r = rng.random()
        if r < rate / 3:
            continue
        if r < 2 * rate / 3:
            out.append(rng.choice(vocab))
            continue
        out.append(w)
        if r < rate:
            out.append(rng.choice(vocab))
    return " ".join(out)


def variant_of(text: str, rng: random.Random) -> str:
    """An exact duplicate after normalisation: decomposed accents or CRLF line endings."""
    if rng.random() < 0.5:
        return unicodedata.normalize("NFD", text)
    return text.replace("\n", "\r\n")


def generate(n_docs: int, seed: int = 0, dup_rate: float = 0.1, near_rate: float = 0.1):
    """Yield (doc_id, text) with planted exact and near duplicates."""
    rng = random.Random(seed)
    pool = paragraphs()
    vocab = sorted({w for p in pool for w in p.split(" ") if w.isalpha()})
    made: list[str] = []
    for i in range(n_docs):
        r = rng.random()
        if made and r < dup_rate:
            text = variant_of(rng.choice(made[-1000:]), rng)
        elif made and r < dup_rate + near_rate:
            text = edit_words(rng, rng.choice(made[-1000:]), rng.uniform(0.002, 0.03), vocab)
        else:
            text = make_doc(rng, pool, rng.randint(80, 600))
            text = f"{rng.choice(vocab).title()} {i}: " + text
            made.append(text)
        yield f"doc-{seed}-{i:08d}", text


def write_jsonl_gz(out: Path, target_mb: float, seed: int = 0, files: int = 8) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"part-{i:03d}.jsonl.gz" for i in range(files)]
    handles = [gzip.open(p, "wt", encoding="utf-8", compresslevel=1) for p in paths]
    written, target = 0, target_mb * 1e6
    for i, (doc_id, text) in enumerate(generate(10**9, seed)):
        handles[i % files].write(
            json.dumps({"id": doc_id, "text": text, "url": f"https://example.org/{i}"}) + "\n"
        )
        written += len(text.encode())
        if written >= target:
            break
    for h in handles:
        h.close()
    return paths


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", required=True)
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--files", type=int, default=8)
    a = ap.parse_args()
    paths = write_jsonl_gz(Path(a.out), a.mb, a.seed, a.files)
    print(f"wrote {len(paths)} files under {a.out}")


if __name__ == "__main__":
    main()
