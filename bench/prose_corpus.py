"""A bench corpus of English prose found offline, at any size: the machine's HTML manuals and man pages.

There is no web text on this machine, and its prose (the paragraphs of the Rust books and the man pages that
read as sentences, as text by bench/filters.py's converters) is smaller than the 1 GB the pipeline bench wants. So documents
are put together the way a crawl's pages are: each is up to six runs of consecutive paragraphs from random
pages (seeded), of the lognormal lengths bench/filters.py uses. Every paragraph is real text and keeps its
neighbours; no document is an exact or near copy of another (they share a run at most), and the quality
rules keep most of them, which bench/real_corpus.py's code-heavy text does not (it keeps under 1%). Usage:
    python bench/prose_corpus.py --out DIR --mb 1000 [--files 64]
writes DIR/one/corpus.jsonl.gz and DIR/many/part-NNN.jsonl.gz (the same records, in order).
"""

from __future__ import annotations

import random
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from filters import _sources as filters_sources  # noqa: E402
from filters import _texts as filters_text  # noqa: E402
from real_corpus import corpus_main, write_records  # noqa: E402


def _is_prose(paragraph: str) -> bool:
    """Sentences, not a synopsis, an option list or a code sample: ten words or more, nearly all of them
    with a letter, ending like a sentence."""
    words = paragraph.split()
    alpha = sum(any(c.isalpha() for c in w) for w in words)
    lines_ok = all(len(line.strip()) > 4 for line in paragraph.strip().splitlines())  # no "• 2m" debris
    return len(words) >= 10 and alpha >= 0.9 * len(words) and lines_ok and paragraph.rstrip()[-1:] in ".!?"


def paragraphs() -> list[list[str]]:
    """The prose paragraphs of every manual page and man page with any, page by page, in path order."""
    sources = filters_sources()
    pages, seen = [], set()
    for kind in ("html", "man"):
        for path in sources[kind]:
            text = filters_text(kind, path) or ""
            # A paragraph once only: generated man pages (gcloud's thousands) repeat their boilerplate.
            found = [p.strip() for p in text.split("\n\n") if _is_prose(p) and p.strip() not in seen]
            seen.update(found)
            if found:
                pages.append(found)
    if not pages:
        raise SystemExit("no HTML manuals or man pages found on this machine")
    return pages


def documents(total_bytes: int, seed: int = 0) -> Iterator[dict]:
    pages, rng = paragraphs(), random.Random(seed)
    size, n = 0, 0
    while size < total_bytes:
        want, parts, length = int(rng.lognormvariate(8.2, 0.9)), [], 0
        for _ in range(6):
            if length >= want:
                break
            page = pages[rng.randrange(len(pages))]
            at = rng.randrange(len(page))
            while at < len(page) and length < want:
                parts.append(page[at])
                length += len(page[at]) + 2
                at += 1
                if rng.random() < 0.05:  # a run ends: the document goes on elsewhere
                    break
        text = "\n\n".join(parts)
        yield {"id": f"prose-{n:08d}", "text": text}
        size += len(text.encode("utf-8"))
        n += 1


def write(out: Path, mb: float, files: int = 64) -> tuple[Path, Path]:
    """DIR/one/corpus.jsonl.gz and DIR/many/part-NNN.jsonl.gz of MB of prose; cached with a DONE mark."""
    return write_records(out, documents(int(mb * 1e6)), files, int(mb * 1e6))


if __name__ == "__main__":
    corpus_main(write)
