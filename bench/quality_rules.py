"""The quality stage per rule family (issue 24): MB of text per CPU-second, on prose and on code.

    .venv/bin/python bench/quality_rules.py [--mb 30] [--peer-mb 1]

Texts (each built once, cached in bench/.data/):
- prose: HTML manuals (the Rust books) then man pages, as text by bench/filters.py's converters, one document
  per page cut at 60,000 characters, in path order. There is no web text on this machine:
  bench/.data/real-1000mb holds its Python sources and docs, and its first 30 MB are 72% Python code.
- code: Python sources under /usr/lib/python3*/, and Python, C/C++ and JavaScript files under .venv's
  site-packages, one document per file cut at 60,000 characters, in a seeded shuffle of the sorted paths.
Both in batches of 4,096 documents or 4 MB of text, whichever comes first (etl/ingest/sources.py).

Each family alone: a fresh DocText per batch and every step of the family on every document, so each family
pays for its own lines and word tokens (the stage shares them and drops failing documents between steps).
The shared tables alone: DocText(...).lines, and .tokens (which builds the lines first). The whole stage:
BatchQualityFilter(QualityConfig()) on the same batches, its CPU time split by family (word tokens apart);
its early exit makes it less than the sum. One process; polars runs on its own thread pool (size printed), so
CPU seconds (time.process_time, all threads) is the figure to compare, wall seconds beside it. Models load and
regexes compile before timing.

datatrove 0.10.1 (where bench/.venv-peers exists, see bench/filters.py): its Gopher repetition, Gopher
quality, C4 and FineWeb filters each alone, and its chain (filters.peer_main), one document at a time, on the
first --peer-mb MB of each text; ours on the same documents beside it (our C4 without bad words, like
datatrove's).
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from filters import DATA, MAX_DOC_CHARS, PEER_PYTHON, ROOT, comparable_config, load_corpus
from filters import _sources as filters_sources
from filters import _texts as filters_text
from filters import peer_main as peer_chain

CODE_SUFFIXES = (".py", ".pyi", ".c", ".h", ".cpp", ".hpp", ".js")
BATCH_ROWS = 4096
PEER_FAMILIES = ("gopher_repetition", "gopher_quality", "c4", "fineweb")

# ---------------------------------------------------------------- texts


def _cached(name: str, mb: float, build: Callable[[int], list[dict]]) -> Path:
    path = DATA / f"quality_rules_{name}_{mb:g}mb.jsonl"
    if not path.exists():
        docs = build(int(mb * 1e6))
        DATA.mkdir(parents=True, exist_ok=True)
        with path.open("w") as f:
            f.writelines(json.dumps(doc) + "\n" for doc in docs)
    return path


def _prose(want: int) -> list[dict]:
    """HTML manuals (the Rust books) then man pages, as text by bench/filters.py's converters, in path order."""
    sources = filters_sources()
    docs, size = [], 0
    for kind in ("html", "man"):
        for path in sources[kind]:
            text = (filters_text(kind, path) or "")[:MAX_DOC_CHARS]
            if text.strip():
                docs.append({"id": str(path), "text": text})
                size += len(text.encode())
                if size >= want:
                    return docs
    return docs


def _code(want: int) -> list[dict]:
    site = ROOT / ".venv" / "lib" / "python3.11" / "site-packages"
    paths = sorted(p for root in sorted(Path("/usr/lib").glob("python3*")) for p in root.rglob("*.py"))
    paths += sorted(p for p in site.rglob("*") if p.suffix in CODE_SUFFIXES)
    random.Random(0).shuffle(paths)
    docs, size = [], 0
    for path in paths:
        try:
            text = path.read_text(encoding="utf-8")[:MAX_DOC_CHARS]
        except (OSError, UnicodeDecodeError):
            continue
        if text.strip() and path.is_file():
            docs.append({"id": str(path), "text": text})
            size += len(text.encode())
            if size >= want:
                break
    return docs


def batches(texts: list[str]) -> list[list[str]]:
    """The pipeline's batches: 4,096 documents or 4 MB of text, whichever comes first."""
    from etl.ingest.sources import BATCH_BYTES

    out, held, size = [], [], 0
    for text in texts:
        held.append(text)
        size += len(text.encode())
        if len(held) >= BATCH_ROWS or size >= BATCH_BYTES:
            out.append(held)
            held, size = [], 0
    return out + [held] if held else out


# ---------------------------------------------------------------- what is timed


def measures() -> dict[str, Callable]:
    """name -> function of one batch's text column; every one builds its own DocText."""
    from transforms.quality.c4 import c4_steps
    from transforms.quality.classifier_params import ClassifierParams
    from transforms.quality.classifiers import score_texts
    from transforms.quality.fineweb import fineweb_steps
    from transforms.quality.gopher_quality import gopher_quality_steps
    from transforms.quality.gopher_repetition import gopher_repetition_steps
    from transforms.quality.language import language_steps
    from transforms.quality.params import PiiDetect, PiiParams, QualityConfig
    from transforms.quality.pii import pii_counts, redact_pii
    from transforms.quality.text_tables import DocText
    from transforms.quality.tiny_models import SHIPPED_FASTTEXT

    config = QualityConfig()
    kinds = PiiDetect().on()
    fasttext = ClassifierParams(name="tiny", type="fasttext", model=str(SHIPPED_FASTTEXT), label="hq")
    return {
        "lines (shared table)": lambda text: DocText(text).lines,
        "lines + word tokens (shared tables)": lambda text: DocText(text).tokens,
        "language (first 2,000 chars, default)": _family(language_steps(config.language, config.languages)),
        "gopher_repetition": _family(gopher_repetition_steps(config.gopher_repetition)),
        "gopher_quality": _family(gopher_quality_steps(config.gopher_quality)),
        "c4 (bad words on, default)": _family(c4_steps(config.c4)),
        "fineweb": _family(fineweb_steps(config.fineweb)),
        f"PII counts ({', '.join(kinds)})": lambda text: pii_counts(text, kinds),
        "PII e-mail + IPv4 (redact_pii)": lambda text: redact_pii(text, PiiParams(enabled=True)),
        "fastText tiny classifier (score_texts)": lambda text: score_texts(fasttext, text),
    }


def _family(steps) -> Callable:
    from transforms.quality.text_tables import DocText

    def run(text):
        docs = DocText(text)  # one per family and batch: the family builds every table it needs
        return [step.compute(docs) for step in steps]

    return run


def _without_bad_words(c4):
    return c4.model_copy(update={"filter_bad_words": False})


def clock(run: Callable, inputs: list) -> tuple[float, float]:
    """(CPU s, wall s) of run over every input, after one call on a few documents (loads, compiles)."""
    run(inputs[0].head(8))
    wall, cpu = time.perf_counter(), time.process_time()
    for text in inputs:
        run(text)
    return time.process_time() - cpu, time.perf_counter() - wall


def text_columns(docs: list[dict]) -> list:
    import polars as pl

    return [pl.Series("text", b, dtype=pl.String) for b in batches([d["text"] for d in docs])]


def whole_stage(docs: list[dict], config) -> dict:
    """BatchQualityFilter on the pipeline's batches, its steps' CPU time summed by family: {"cpu", "wall",
    "parts": {part: CPU s}, "rejected": {family: documents}, "kept": documents}. Word tokens are timed apart,
    where the first step that reads them asks for them (the same work, moved out of that step's time)."""
    import pyarrow as pa

    from transforms.quality import BatchQualityFilter
    from transforms.quality.rules import Step
    from transforms.schema import DOC_SCHEMA

    quality = BatchQualityFilter(config)
    parts: Counter = Counter()
    families = _step_families(config)
    assert len(families) == len(quality.steps), "a family's steps were miscounted"
    quality.steps = [
        Step(_timed(step.compute, family, needs_tokens, parts), step.rules)
        for step, (family, needs_tokens) in zip(quality.steps, families, strict=True)
    ]
    records, start = [], 0
    for texts in batches([d["text"] for d in docs]):
        rows = [
            {"doc_id": d["id"], "text": d["text"], "source": "bench", "meta": None, "line": i}
            for i, d in enumerate(docs[start : start + len(texts)], start)
        ]
        records.append(pa.RecordBatch.from_pylist(rows, DOC_SCHEMA))
        start += len(texts)
    quality(records[0].slice(0, 8))  # load models, compile regexes
    parts.clear()
    rejected: Counter = Counter()
    kept = 0
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in records:
        result = quality(batch)
        kept += result.kept.num_rows
        for reason, n in result.rejected.items():
            rejected[_reason_part(reason)] += n
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    parts["judging, PII counts of kept documents, output"] = cpu - sum(parts.values())
    return {"cpu": cpu, "wall": wall, "parts": dict(parts), "rejected": dict(rejected), "kept": kept}


def _step_families(config) -> list[tuple[str, bool]]:
    """(family, reads word tokens) per step of quality_steps(config), in its order."""
    from transforms.quality.c4 import c4_steps
    from transforms.quality.fineweb import fineweb_steps
    from transforms.quality.gopher_quality import gopher_quality_steps
    from transforms.quality.gopher_repetition import gopher_repetition_steps
    from transforms.quality.language import language_steps
    from transforms.quality.params import FAMILY_ORDER

    steps = {
        "language": language_steps(config.language, config.languages),
        "gopher_repetition": gopher_repetition_steps(config.gopher_repetition),
        "gopher_quality": gopher_quality_steps(config.gopher_quality),
        "c4": c4_steps(config.c4),
        "fineweb": fineweb_steps(config.fineweb),
    }
    out = []
    for family in FAMILY_ORDER:
        if getattr(config, family).enabled:
            # Every step reads word tokens but language's and Gopher repetition's first (lines, paragraphs).
            out += [
                (_part(family, i), family != "language" and (family, i) != ("gopher_repetition", 0))
                for i in range(len(steps[family]))
            ]
    return out + [(f"classifier.{c.name}", False) for c in config.classifiers]


def _part(family: str, step: int) -> str:
    """Gopher repetition in two parts: its first step (duplicate lines, paragraphs), then its n-gram steps."""
    if family != "gopher_repetition":
        return family
    return f"{family} {'lines, paragraphs' if step == 0 else 'n-grams (9 steps)'}"


def _reason_part(reason: str) -> str:
    family, rule = reason.split(".", 1)
    return _part(family, int("gram" in rule)) if family == "gopher_repetition" else family


def _timed(compute: Callable, family: str, needs_tokens: bool, parts: Counter) -> Callable:
    def run(docs):
        if needs_tokens and "tokens" not in docs.__dict__:
            start = time.process_time()
            docs.tokens  # noqa: B018 (a cached property: built here, then read by the step)
            parts["lines + word tokens (first use)"] += time.process_time() - start
        start = time.process_time()
        out = compute(docs)
        parts[family] += time.process_time() - start
        return out

    return run


# ---------------------------------------------------------------- datatrove (runs in bench/.venv-peers)


def peer_main(corpus: Path, out: Path) -> None:
    """datatrove's four filters each alone on every document, then its chain (bench/filters.py's)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    chosen = (GopherRepetitionFilter(), GopherQualityFilter(), C4QualityFilter(), FineWebQualityFilter())
    texts = [d["text"] for d in load_corpus(corpus)]
    timings = {}
    for name, f in zip(PEER_FAMILIES, chosen, strict=True):
        f.filter(Document(text="Warm the tokenizers up. " * 20, id="warm"))
        docs = [Document(text=t, id=str(i)) for i, t in enumerate(texts)]  # C4 rewrites the text it keeps
        wall, cpu = time.perf_counter(), time.process_time()
        for doc in docs:
            f.filter(doc)
        timings[name] = (time.process_time() - cpu, time.perf_counter() - wall)
    chain = out.with_suffix(".chain.json")
    peer_chain(corpus, chain)
    run = json.loads(chain.read_text())
    timings["chain"] = (run["cpu"], run["wall"])
    out.write_text(json.dumps(timings))


def against_datatrove(texts: dict[str, list[dict]], mb: float) -> list[str]:
    """Table rows: datatrove and ours, family by family and the chain, on the first `mb` MB of each text."""
    if not PEER_PYTHON.exists():
        return [
            "datatrove: not available (bench/.venv-peers is absent; bench/filters.py says how to build it)"
        ]
    from transforms.quality.c4 import c4_steps
    from transforms.quality.params import QualityConfig

    ours = measures()
    runs = {
        "gopher_repetition": ours["gopher_repetition"],
        "gopher_quality": ours["gopher_quality"],
        "c4": _family(c4_steps(_without_bad_words(QualityConfig().c4))),
        "fineweb": ours["fineweb"],
    }
    rows = {}
    for label, docs in texts.items():
        sample, size = [], 0
        for doc in docs:
            sample.append(doc)
            size += len(doc["text"].encode())
            if size >= mb * 1e6:
                break
        corpus, out = (
            DATA / f"quality_rules_{label}_peer.jsonl",
            DATA / f"quality_rules_{label}_peer.out.json",
        )
        corpus.write_text("".join(json.dumps(d) + "\n" for d in sample))
        done = subprocess.run([str(PEER_PYTHON), __file__, "--peer", str(corpus), str(out)], timeout=300)
        if done.returncode:
            return [f"datatrove: not available (its run on {label} exited with {done.returncode})"]
        theirs = json.loads(out.read_text())
        columns = text_columns(sample)
        for name, run in runs.items():
            rows.setdefault(name, {})[label] = (size / 1e6, theirs[name], clock(run, columns))
        stage = whole_stage(sample, comparable_config())
        chain = "chain: Gopher rep. -> Gopher quality -> C4 -> FineWeb"
        rows.setdefault(chain, {})[label] = (size / 1e6, theirs["chain"], (stage["cpu"], stage["wall"]))
    lines = [
        "| datatrove 0.10.1 vs ours | text | MB | datatrove MB/CPU-s | ours MB/CPU-s | ours / datatrove (CPU) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for name, by_text in rows.items():
        for label, (size_mb, (t_cpu, _), (o_cpu, _)) in by_text.items():
            lines.append(
                f"| {name} | {label} | {size_mb:.1f} | {size_mb / t_cpu:.2f} | {size_mb / o_cpu:.2f} "
                f"| {t_cpu / o_cpu:.1f}x |"
            )
    return lines + [
        "Families each alone on every document; ours without C4's bad words, as datatrove's C4 filter. The chain"
        " leaves at the first failing filter; ours is bench/filters.py's comparable_config (language and bad"
        " words off, C4 removes lines)."
    ]


# ---------------------------------------------------------------- report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=30, help="MB of each text")
    parser.add_argument("--peer-mb", type=float, default=1, help="MB of each text for datatrove")
    parser.add_argument("--peer", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return peer_main(Path(args.peer[0]), Path(args.peer[1]))
    sys.path.insert(0, str(ROOT))
    import polars as pl

    from transforms.quality import QualityConfig

    texts = {
        "prose": load_corpus(_cached("prose", args.mb, _prose)),
        "code": load_corpus(_cached("code", args.mb, _code)),
    }
    print(
        f"polars {pl.__version__}, thread pool {pl.thread_pool_size()}; CPU s = process CPU time, all threads"
    )
    sizes, results, stages = {}, {}, {}
    for label, docs in texts.items():
        columns = text_columns(docs)
        sizes[label] = sum(len(d["text"].encode()) for d in docs) / 1e6
        print(f"{label}: {len(docs)} documents, {sizes[label]:.1f} MB, {len(columns)} batches", flush=True)
        for name, run in measures().items():
            results.setdefault(name, {})[label] = clock(run, columns)
        stages[label] = whole_stage(docs, QualityConfig())
        row = "whole stage, default config (BatchQualityFilter)"
        results.setdefault(row, {})[label] = (stages[label]["cpu"], stages[label]["wall"])
    print("\n".join(["", *_table(results, sizes), "", *_stage_table(stages, texts), ""]))
    print("\n".join(against_datatrove(texts, args.peer_mb)))


def _table(results: dict[str, dict], sizes: dict[str, float]) -> list[str]:
    head = " | ".join(f"{label} CPU s | {label} MB/CPU-s | {label} MB/wall-s" for label in sizes)
    lines = [f"| measure | {head} |", "|---|" + "---:|" * 3 * len(sizes)]
    for name, by_text in results.items():
        cells = [
            f"{cpu:.2f} | {sizes[label] / cpu:.2f} | {sizes[label] / wall:.2f}"
            for label, (cpu, wall) in by_text.items()
        ]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def _stage_table(stages: dict[str, dict], texts: dict[str, list]) -> list[str]:
    head = " | ".join(f"{label} CPU s | {label} share | {label} docs rejected" for label in stages)
    lines = [f"| whole stage, by part | {head} |", "|---|" + "---:|" * 3 * len(stages)]
    parts = list(dict.fromkeys(p for stage in stages.values() for p in stage["parts"]))
    for part in parts:
        cells = []
        for stage in stages.values():
            cpu = stage["parts"].get(part, 0.0)
            cells.append(f"{cpu:.2f} | {100 * cpu / stage['cpu']:.0f}% | {stage['rejected'].get(part, '')}")
        lines.append(f"| {part} | {' | '.join(cells)} |")
    kept = " | ".join(
        f"{stages[label]['cpu']:.2f} | 100% | kept {stages[label]['kept']} of {len(texts[label])}"
        for label in stages
    )
    return lines + [f"| **total** | {kept} |"]


if __name__ == "__main__":
    main()
