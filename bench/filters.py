"""Quality filters: our vectorised rules vs datatrove 0.10.1's Gopher + C4 + FineWeb filters, same documents.

    .venv/bin/python bench/filters.py [--target-mb 30] [--rebuild]

Builds (once, cached in bench/.data/) a corpus from text on this machine: HTML manuals (the Rust book, git),
man pages, Debian docs and changelogs, vim help, package READMEs, Python sources, web pages in 20 languages
(chardet's test set), plus synthetic junk (lorem ipsum, spam, link lists, repeated boilerplate). Then, in one
run: datatrove's chain GopherRepetition -> GopherQuality -> C4Quality -> FineWebQuality in a subprocess of
bench/.venv-peers (datatrove stays out of the project lock), and ours on the same documents with the same
chain (language off, bad words off, c4.remove_lines on, like datatrove's C4 filter). Prints throughput,
per-rule drop counts side by side, and how often the two decide the same.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import html
import json
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data"
PEER_PYTHON = ROOT / "bench" / ".venv-peers" / "bin" / "python"
MAX_DOC_CHARS = 60_000

# ---------------------------------------------------------------- corpus


def _read(path: Path) -> str | None:
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
        return raw.decode("utf-8")
    except (OSError, UnicodeDecodeError, EOFError):
        return None


def _html_to_text(page: str) -> str:
    page = re.sub(r"(?is)<(script|style|svg)\b.*?</\1>", " ", page)
    page = re.sub(r"(?i)<(?:br|/p|/div|/h\d|/li|/tr|/pre|/dt|/dd|/title)\b[^>]*>", "\n", page)
    page = re.sub(r"<[^>]+>", "", page)
    lines = (re.sub(r"[ \t\r\f\v]+", " ", html.unescape(line)).strip() for line in page.split("\n"))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_GROFF_ESCAPES = [  # (pattern, replacement) applied in order; what remains is the text a reader sees
    (r"\\\(bu|\\\[bu\]", "•"),
    (r"\\\(em|\\\(en|\\\[em\]", "—"),
    (r"\\\(aq|\\\[aq\]", "'"),
    (r"\\\((?:lq|rq|dq)", '"'),
    (r"\\[fF](?:\(..|\[[^\]]*\]|.)", ""),
    (r"\\[hvwlLoxNbDZ]'[^']*'", ""),
    (r"\\[*n](?:\(..|\[[^\]]*\]|.)", ""),
    (r"\\s[-+]?\d+", ""),
    (r"\\\(..|\\\[[^\]]*\]", ""),
    (r"\\[ ~0]", " "),
    (r"\\-", "-"),
    (r"\\e", "\\\\"),
    (r"\\[c|^&%:/,)]", ""),
    (r'\\".*', ""),
]


def _man_to_text(source: str) -> str:
    """Crude groff to text: macro lines keep their arguments as text, escapes are dropped."""
    out = []
    for line in source.splitlines():
        if line.startswith(('.\\"', "'\\\"")):
            continue
        if line.startswith("."):
            parts = line.split(None, 1)
            macro = parts[0][1:]
            if macro in ("SH", "SS"):
                out.append("")
            if macro in ("SH", "SS", "B", "I", "BR", "IR", "RB", "BI", "IB", "TP", "IP") and len(parts) > 1:
                line = parts[1].replace('"', "")
            else:
                continue
        for pattern, repl in _GROFF_ESCAPES:
            line = re.sub(pattern, repl, line)
        out.append(line)
    return re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()


def _decode_foreign(path: Path) -> str | None:
    """chardet's test pages: the folder names the encoding (windows-1250-czech, SHIFT_JIS, ...)."""
    name = path.parent.name
    for cut in range(name.count("-") + 1, 0, -1):
        candidate = "-".join(name.split("-")[:cut])
        try:
            codecs.lookup(candidate)
        except LookupError:
            continue
        try:
            return path.read_bytes().decode(candidate)
        except UnicodeDecodeError:
            return None
    return None


def _sources() -> dict[str, list[Path]]:
    books = (
        "book",
        "reference",
        "nomicon",
        "rust-by-example",
        "edition-guide",
        "cargo",
        "rustc",
        "embedded-book",
    )
    rust = [
        p
        for b in books
        for p in sorted(Path("/root/.rustup/toolchains").glob(f"stable-*/share/doc/rust/html/{b}/**/*.html"))
    ]
    return {
        "html": rust + sorted(Path("/usr/share/doc/git").glob("**/*.html")),
        "docs": sorted(Path("/usr/share/doc").glob("**/*.md"))
        + sorted(Path("/usr/share/doc").glob("**/*.txt"))
        + sorted(Path("/usr/share/doc").glob("**/changelog*.gz"))
        + sorted(Path("/usr/share/vim").glob("vim*/doc/*.txt"))
        + sorted(Path(sys.prefix).glob("lib/python3*/site-packages/*.dist-info/METADATA")),
        "man": sorted(Path("/usr/share/man").glob("man[1-8]/*.gz")),
        "foreign": sorted(Path("/usr/share/man").glob("[a-z][a-z]*/man[1-8]/*.gz"))
        + sorted(Path("/usr/lib/google-cloud-sdk/platform/gsutil/third_party/chardet/tests").glob("*/*")),
        "code": sorted(Path(sys.base_prefix).glob("lib/python3.*/*.py")),
    }


def _texts(kind: str, path: Path) -> str | None:
    if kind == "html":
        text = _read(path)
        return _html_to_text(text) if text else None
    if kind == "man" or (kind == "foreign" and path.suffix == ".gz"):
        text = _read(path)
        return _man_to_text(text) if text else None
    if kind == "foreign":
        text = _decode_foreign(path)
        return _html_to_text(text) if text and "<" in text[:2000] else text
    return _read(path)


def _split(text: str, rng: random.Random) -> list[str]:
    """Long texts become several documents, cut at paragraph breaks near a random length."""
    docs, rest = [], text
    while rest:
        size = int(min(MAX_DOC_CHARS, rng.lognormvariate(8.2, 0.9)))
        if len(rest) <= size * 1.5:
            docs.append(rest)
            break
        cut = rest.find("\n\n", size)
        cut = len(rest) if cut < 0 else cut
        docs.append(rest[:cut])
        rest = rest[cut:].lstrip("\n")
    return docs


_WORDS = (
    "the of and to in is that for it as was with be by on not this are from or have an they which".split()
)
_LOREM = (
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore."
)


def _synthetic(rng: random.Random) -> str:
    """One junk page of a random kind; the kinds are what the rules exist to catch, plus borderline ones."""
    words = [rng.choice(_WORDS + ["data", "system", "value", "user", "page", "time"]) for _ in range(400)]
    sentence = lambda k: " ".join(rng.choice(words) for _ in range(k)).capitalize() + "."  # noqa: E731
    kind = rng.randrange(9)
    if kind == 0:
        return "\n".join(_LOREM for _ in range(rng.randint(2, 8))) + "\n" + sentence(60)
    if kind == 1:  # spam: one line over and over
        line = sentence(rng.randint(5, 12))
        return "\n".join(line for _ in range(rng.randint(5, 40)))
    if kind == 2:  # link list / menu
        return "\n".join(
            f"- {rng.choice(words).title()} {rng.choice(words)}" for _ in range(rng.randint(20, 80))
        )
    if kind == 3:  # hashtags
        return " ".join(f"#{rng.choice(words)}" for _ in range(rng.randint(30, 200)))
    if kind == 4:  # teasers ending in ellipses
        return "\n".join(sentence(rng.randint(6, 15))[:-1] + "..." for _ in range(rng.randint(5, 30)))
    if kind == 5:  # javascript and cookie boilerplate around a short text
        return f"var x = {{a: 1}};\nThis site uses cookies. Read our privacy policy.\n{sentence(40)}\n" * 3
    if kind == 6:  # a keyword soup without stop words
        return " ".join(rng.choice(["cheap", "buy", "online", "best", "price", "deal"]) for _ in range(150))
    if kind == 7:  # repeated paragraph with small variations
        para = " ".join(sentence(rng.randint(8, 20)) for _ in range(4))
        return "\n\n".join(para.replace("data", rng.choice(_WORDS)) for _ in range(rng.randint(2, 6)))
    return "\n".join(sentence(rng.randint(4, 25)) for _ in range(rng.randint(5, 60)))  # plain, mostly fine


def build_corpus(target_mb: float, seed: int = 0) -> Path:
    """bench/.data/quality_corpus_<MB>.jsonl: {"id", "kind", "text"} per document, shuffled."""
    out = DATA / f"quality_corpus_{target_mb:g}mb.jsonl"
    if out.exists():
        return out
    rng = random.Random(seed)
    budget = {"html": 0.35, "docs": 0.2, "man": 0.15, "foreign": 0.1, "code": 0.08, "synthetic": 0.12}
    docs: list[dict] = []
    for kind, paths in _sources().items():
        rng.shuffle(paths)
        left = budget[kind] * target_mb * 1e6
        for path in paths:
            text = _texts(kind, path)
            for piece in _split(text, rng) if text else []:
                if left <= 0:
                    break
                docs.append({"kind": kind, "text": piece})
                left -= len(piece.encode())
            if left <= 0:
                break
    left = budget["synthetic"] * target_mb * 1e6
    while left > 0:
        docs.append({"kind": "synthetic", "text": _synthetic(rng)})
        left -= len(docs[-1]["text"].encode())
    rng.shuffle(docs)
    DATA.mkdir(parents=True, exist_ok=True)
    with out.open("w") as f:
        for i, doc in enumerate(docs):
            f.write(json.dumps({"id": f"d{i:07d}", **doc}) + "\n")
    return out


def load_corpus(path: Path) -> list[dict]:
    with path.open() as f:
        return [json.loads(line) for line in f]


# ---------------------------------------------------------------- datatrove (runs in bench/.venv-peers)

# datatrove's reason -> our rule name, per filter of the chain.
DATATROVE_REASONS = {
    "gopher_repetition": {"empty": "empty", **{f"top_{n}_gram": f"top_{n}gram" for n in (2, 3, 4)}}
    | {f"duplicated_{n}_n_grams": f"dup_{n}gram" for n in range(5, 11)}
    | {k: k for k in ("dup_para_frac", "dup_para_char_frac", "dup_line_frac", "dup_line_char_frac")},
    "gopher_quality": {
        "gopher_short_doc": "word_count",
        "gopher_long_doc": "word_count",
        "gopher_below_avg_threshold": "mean_word_length",
        "gopher_above_avg_threshold": "mean_word_length",
        "gopher_too_many_hashes": "hash_ratio",
        "gopher_too_many_ellipsis": "ellipsis_ratio",
        "gopher_too_many_bullets": "bullet_lines",
        "gopher_too_many_end_ellipsis": "ellipsis_lines",
        "gopher_below_alpha_threshold": "alpha_words",
        "gopher_enough_stop_words": "stop_words",
    },
    "c4": {
        "lorem_ipsum": "lorem_ipsum",
        "curly_bracket": "curly_bracket",
        "too_few_sentences": "min_sentences",
    },
    "fineweb": {k: k for k in ("empty", "line_punct_ratio", "short_line_ratio", "char_dup_ratio")}
    | {"list_ratio": "newline_ratio"},
}


def peer_main(corpus: Path, out: Path) -> None:
    """datatrove's chain, one document at a time through each filter's own filter() (its run() adds stats)."""
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    chain = [
        ("gopher_repetition", GopherRepetitionFilter()),
        ("gopher_quality", GopherQualityFilter()),
        ("c4", C4QualityFilter()),
        ("fineweb", FineWebQualityFilter()),
    ]
    warm = Document(text="Warm the tokenizers up. " * 20, id="warm")
    for _, f in chain:
        f.filter(warm)
    docs = [Document(text=d["text"], id=d["id"]) for d in load_corpus(corpus)]
    reasons = []
    wall, cpu = time.perf_counter(), time.process_time()
    for doc in docs:
        reason = None
        for family, f in chain:
            result = f.filter(doc)
            if result is not True:
                ok, why = result if isinstance(result, tuple) else (result, "?")
                if not ok:
                    reason = f"{family}.{DATATROVE_REASONS[family].get(why, why)}"
                    break
        reasons.append(reason)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    out.write_text(json.dumps({"reasons": reasons, "wall": wall, "cpu": cpu}))


def run_datatrove(corpus: Path) -> dict:
    if not PEER_PYTHON.exists():
        sys.exit(
            "bench/.venv-peers is missing: python3 -m venv bench/.venv-peers && "
            "bench/.venv-peers/bin/pip install datatrove==0.10.1 spacy regex"
        )
    out = DATA / "datatrove_decisions.json"
    subprocess.run([str(PEER_PYTHON), __file__, "--peer", str(corpus), str(out)], check=True)
    return json.loads(out.read_text())


# ---------------------------------------------------------------- ours


def run_ours(docs: list[dict], config, batch_rows: int) -> dict:
    import pyarrow as pa

    from transforms.quality import BatchQualityFilter
    from transforms.schema import DOC_SCHEMA

    rows = [
        {"doc_id": d["id"], "text": d["text"], "source": d["kind"], "meta": None, "line": i}
        for i, d in enumerate(docs)
    ]
    batches = [
        pa.RecordBatch.from_pylist(rows[i : i + batch_rows], DOC_SCHEMA)
        for i in range(0, len(rows), batch_rows)
    ]
    quality = BatchQualityFilter(config)
    quality(batches[0].slice(0, 8))  # load models, compile regexes
    reasons: dict[str, str] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    for batch in batches:
        rejects = quality(batch).rejects
        reasons.update(
            zip(rejects.column("doc_id").to_pylist(), rejects.column("reason").to_pylist(), strict=True)
        )
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {"reasons": [reasons.get(d["id"]) for d in docs], "wall": wall, "cpu": cpu}


def comparable_config():
    """Our chain as datatrove's: no language step, no bad words, C4 keeps only its lines."""
    from transforms.quality import QualityConfig

    config = QualityConfig()
    config.language.enabled = False
    config.c4.filter_bad_words = False
    config.c4.remove_lines = True
    return config


# ---------------------------------------------------------------- report


def _throughput_rows(docs: list[dict], runs: dict[str, dict]) -> list[str]:
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    base = runs["datatrove 0.10.1"]
    lines = [
        "| run | docs/s | MB/s | wall s | CPU s | speed-up (wall) | speed-up (CPU) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in runs.items():
        lines.append(
            f"| {name} | {len(docs) / r['wall']:,.0f} | {mb / r['wall']:.2f} | {r['wall']:.1f} | {r['cpu']:.1f} "
            f"| {base['wall'] / r['wall']:.1f}x | {base['cpu'] / r['cpu']:.1f}x |"
        )
    return lines


def _rule_rows(theirs: list, ours: list) -> list[str]:
    counts_t, counts_o = Counter(r for r in theirs if r), Counter(r for r in ours if r)
    same = Counter(t for t, o in zip(theirs, ours, strict=True) if t and t == o)
    lines = ["| rule | datatrove | ours | same documents |", "|---|---:|---:|---:|"]
    for rule in sorted(set(counts_t) | set(counts_o)):
        lines.append(f"| {rule} | {counts_t[rule]} | {counts_o[rule]} | {same[rule]} |")
    lines.append(
        f"| **kept** | {theirs.count(None)} | {ours.count(None)} | "
        f"{sum(t is None and o is None for t, o in zip(theirs, ours, strict=True))} |"
    )
    return lines


def _agreement(theirs: list, ours: list, kinds: list[str]) -> list[str]:
    n = len(theirs)
    same_decision = sum((t is None) == (o is None) for t, o in zip(theirs, ours, strict=True))
    same_reason = sum(t == o for t, o in zip(theirs, ours, strict=True))
    only_ours = Counter(o for t, o in zip(theirs, ours, strict=True) if t is None and o is not None)
    only_theirs = Counter(t for t, o in zip(theirs, ours, strict=True) if t is not None and o is None)
    swapped = Counter(f"{t} -> {o}" for t, o in zip(theirs, ours, strict=True) if t and o and t != o)
    total = Counter(kinds)
    same = Counter(k for k, t, o in zip(kinds, theirs, ours, strict=True) if (t is None) == (o is None))
    return [
        f"- same keep/drop decision: {same_decision}/{n} ({100 * same_decision / n:.2f}%); "
        f"same decision and reason: {same_reason}/{n} ({100 * same_reason / n:.2f}%)",
        f"- dropped by us only: {sum(only_ours.values())} {dict(only_ours.most_common(6))}",
        f"- dropped by datatrove only: {sum(only_theirs.values())} {dict(only_theirs.most_common(6))}",
        f"- both dropped, for different rules: {sum(swapped.values())} {dict(swapped.most_common(4))}",
        "- same keep/drop decision by source: "
        + ", ".join(f"{k} {100 * same[k] / total[k]:.2f}% of {total[k]}" for k in sorted(total)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target-mb", type=float, default=30)
    parser.add_argument("--batch-rows", type=int, default=4096)
    parser.add_argument("--peer", nargs=2, metavar=("CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        return peer_main(Path(args.peer[0]), Path(args.peer[1]))
    sys.path.insert(0, str(ROOT))
    from transforms.quality import QualityConfig

    corpus = build_corpus(args.target_mb)
    docs = load_corpus(corpus)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"corpus: {corpus.relative_to(ROOT)}: {len(docs)} documents, {mb:.1f} MB", flush=True)
    runs = {"datatrove 0.10.1": run_datatrove(corpus)}
    runs["ours, datatrove's chain"] = run_ours(docs, comparable_config(), args.batch_rows)
    runs["ours, default config (+language, bad words)"] = run_ours(docs, QualityConfig(), args.batch_rows)
    theirs, ours = runs["datatrove 0.10.1"]["reasons"], runs["ours, datatrove's chain"]["reasons"]
    print(
        "\n".join(
            [
                "",
                *_throughput_rows(docs, runs),
                "",
                *_rule_rows(theirs, ours),
                "",
                *_agreement(theirs, ours, [d["kind"] for d in docs]),
            ]
        )
    )
    default = Counter(
        (r or "kept").split(".")[0] for r in runs["ours, default config (+language, bad words)"]["reasons"]
    )
    print(f"- default config, documents per family: {dict(default.most_common())}")


if __name__ == "__main__":
    main()
