"""A bench corpus of real text found offline: the machine's Python sources and docs, man pages, Debian docs.

Documents are files cut at line ends into pieces of at most 16 KB, in sorted path order, so the corpus is the
same on every machine with the same packages. When the text found is smaller than the target, it is used again
with a few words of each document changed (a seeded edit per copy): no copy is an exact duplicate, so exact
dedup does not make the bench cheaper than real data. Usage:
    python bench/real_corpus.py --out DIR --mb 1000 [--files 64]
writes DIR/one/corpus.jsonl.gz (one file) and DIR/many/part-NNN.jsonl.gz (the same records, in order).
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import sysconfig
from collections.abc import Iterator
from pathlib import Path

DOC_CHARS = 16_000
SUFFIXES = (".py", ".pyi", ".txt", ".md", ".rst", ".html", ".h", ".c")


def _roots() -> list[Path]:
    paths = sysconfig.get_paths()
    return [Path(paths["stdlib"]), Path(paths["purelib"]), Path("/usr/share/man"), Path("/usr/share/doc")]


def _read(path: Path) -> str | None:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    text = data.decode("utf-8", errors="replace")
    return text if text.strip() else None


def _wanted(path: Path) -> bool:
    name = path.name.removesuffix(".gz")
    in_man = "/usr/share/man/" in str(path)
    return path.is_file() and not path.is_symlink() and (in_man or name.endswith(SUFFIXES))


def source_documents() -> Iterator[tuple[str, str]]:
    """(id, text) of every piece of every wanted file, in sorted order."""
    for root in _roots():
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            if not _wanted(path) or (text := _read(path)) is None:
                continue
            lines = text.splitlines(keepends=True)
            piece, size, k = [], 0, 0
            for line in lines + [None]:
                if line is None or (size + len(line) > DOC_CHARS and piece):
                    yield f"{path}#{k}", "".join(piece)
                    piece, size, k = [], 0, k + 1
                if line is not None:
                    piece.append(line)
                    size += len(line)


def _edited(text: str, rng: random.Random) -> str:
    words = text.split(" ")
    for _ in range(max(1, len(words) // 200)):
        i = rng.randrange(len(words))
        words[i] = words[i][::-1] or "x"
    return " ".join(words)


def documents(total_bytes: int) -> Iterator[dict]:
    size, copy = 0, 0
    while size < total_bytes:
        rng = random.Random(copy)
        found = False
        for doc_id, text in source_documents():
            found = True
            text = text if copy == 0 else _edited(text, rng)
            yield {"id": f"{doc_id}@{copy}", "text": text}
            size += len(text.encode("utf-8"))
            if size >= total_bytes:
                return
        if not found:
            raise SystemExit("no text found under " + ", ".join(map(str, _roots())))
        copy += 1


def write(out: Path, mb: float, files: int = 64) -> tuple[Path, Path]:
    """DIR/one/corpus.jsonl.gz and DIR/many/part-NNN.jsonl.gz with the same records; cached with a DONE mark."""
    return write_records(out, documents(int(mb * 1e6)), files, int(mb * 1e6))


def write_records(out: Path, docs: Iterator[dict], files: int, total: int) -> tuple[Path, Path]:
    """`docs` into DIR/one/corpus.jsonl.gz and, cut by text bytes into `files` parts, DIR/many/part-NNN;
    nothing is written when DIR/DONE says an earlier call finished."""
    one, many = out / "one", out / "many"
    if (out / "DONE").exists():
        return one, many
    one.mkdir(parents=True, exist_ok=True)
    many.mkdir(parents=True, exist_ok=True)
    written, records, part = 0, 0, -1
    sink = None
    with gzip.open(one / "corpus.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) as whole:
        for doc in docs:
            if written >= (part + 1) * total / files and part < files - 1:  # the next of the 64 files
                if sink is not None:
                    sink.close()
                part += 1
                sink = gzip.open(many / f"part-{part:03d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1)
            line = json.dumps(doc, ensure_ascii=False) + "\n"
            whole.write(line)
            sink.write(line)
            written += len(doc["text"].encode("utf-8"))
            records += 1
    sink.close()
    (out / "DONE").write_text(f"{records} records, {written} text bytes\n")
    return one, many


def corpus_main(write_corpus) -> None:
    """The command line of a corpus builder: --out DIR --mb MB [--files N]; prints the two folders."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--mb", type=float, default=1000)
    ap.add_argument("--files", type=int, default=64)
    a = ap.parse_args()
    print(*write_corpus(a.out, a.mb, a.files))


def main() -> None:
    corpus_main(write)


if __name__ == "__main__":
    main()
