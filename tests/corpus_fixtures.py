"""Builders of small input corpora with planted duplicates and every kind of bad input, shared by tests."""

from __future__ import annotations

import gzip
import json
import unicodedata
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

WORDS = (
    "the of and to in is that for it as with was on be by this are from at or an which have not but "
    "data model corpus token river mountain library garden window music history energy market school "
    "network science theory language village harbor forest summer winter journey engine signal bridge"
).split()


def prose(i: int, n_words: int = 80) -> str:
    """A distinct, deterministic English-like paragraph per i."""
    words = [WORDS[(i * 7 + k * (i % 5 + 3)) % len(WORDS)] for k in range(n_words)]
    sentences = [" ".join(words[j : j + 10]).capitalize() + "." for j in range(0, n_words, 10)]
    return f"Document {i} begins here. " + " ".join(sentences)


def write_mixed_corpus(root: Path) -> dict:
    """Inputs in every format with planted exact duplicates and bad records; returns the expected counts."""
    root.mkdir(parents=True, exist_ok=True)
    expect = {"docs": 0, "dups": 0, "bad": {}}

    def bad(reason: str, source: str, line: int) -> None:
        expect["bad"].setdefault(reason, []).append((source, line))

    # JSONL.gz: 30 docs; doc 3 repeated in NFD form, doc 4 with CRLF line endings.
    lines = [json.dumps({"id": f"g{i:02d}", "text": prose(i)}) for i in range(30)]
    lines.append(json.dumps({"id": "g-dup-nfd", "text": unicodedata.normalize("NFD", prose(3) + " café")}))
    lines[3] = json.dumps({"id": "g03", "text": prose(3) + " café"})
    lines.append(json.dumps({"id": "g-dup-crlf", "text": (prose(4) + "\nsecond line").replace("\n", "\r\n")}))
    lines[4] = json.dumps({"id": "g04", "text": prose(4) + "\nsecond line"})
    gz = root / "a.jsonl.gz"
    with gzip.open(gz, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    expect["docs"] += 32
    expect["dups"] += 2

    # Plain JSONL with every bad-line case between good lines.
    src = root / "b.jsonl"
    rows = [
        json.dumps({"id": "b0", "text": prose(100)}).encode(),
        b'{"id": "b1", "text": "cut off in the mid',  # line 2: truncated JSON
        b'{"id": "b2", "text": "bad \xff\xfe utf8"}',  # line 3: invalid UTF-8
        json.dumps({"id": "b3", "body": "no text"}).encode(),  # line 4: missing text
        json.dumps({"id": "b4", "text": None}).encode(),  # line 5: null text
        json.dumps({"id": "b5", "text": 42}).encode(),  # line 6: non-string text
        b"   ",  # line 7: blank line
        json.dumps({"id": "b7", "text": prose(101)}).encode(),
        json.dumps({"id": "b8", "text": prose(0)}).encode(),  # exact duplicate of g00
    ]
    src.write_bytes(b"\n".join(rows) + b"\n")
    for reason, line in [
        ("invalid_json", 2),
        ("invalid_utf8", 3),
        ("missing_text", 4),
        ("null_text", 5),
        ("non_string_text", 6),
        ("blank_line", 7),
    ]:
        bad(reason, str(src), line)
    expect["docs"] += 3
    expect["dups"] += 1

    # JSONL.zst: 10 docs, one a duplicate of b0.
    zst = root / "c.jsonl.zst"
    body = "".join(json.dumps({"id": f"z{i}", "text": prose(200 + i)}) + "\n" for i in range(9))
    body += json.dumps({"id": "z9", "text": prose(100)}) + "\n"
    zst.write_bytes(zstandard.ZstdCompressor().compress(body.encode()))
    expect["docs"] += 10
    expect["dups"] += 1

    # Parquet: 12 rows, one null text (row 5), one duplicate of z0; extra column kept as meta.
    texts = [prose(300 + i) for i in range(12)]
    texts[4] = None
    texts[7] = prose(200)
    pq.write_table(
        pa.table({"id": [f"p{i:02d}" for i in range(12)], "text": texts, "score": list(range(12))}),
        root / "d.parquet",
    )
    bad("null_text", str(root / "d.parquet"), 5)
    expect["docs"] += 11
    expect["dups"] += 1

    # Text files: one document per file; t2 duplicates t1.
    (root / "notes").mkdir(exist_ok=True)
    (root / "notes" / "t1.txt").write_text(prose(400))
    (root / "notes" / "t2.txt").write_text(prose(400))
    (root / "notes" / "t3.txt").write_text(prose(401))
    expect["docs"] += 3
    expect["dups"] += 1

    # Ids repeat across files in merged corpora: this "g00" is another document than a.jsonl.gz's "g00"
    # (which is removed as a duplicate of "b8") and must be kept.
    (root / "e.jsonl").write_text(json.dumps({"id": "g00", "text": prose(500)}) + "\n")
    expect["docs"] += 1

    # Empty file and a file that claims .gz but is not.
    (root / "empty.jsonl").write_bytes(b"")
    bad("empty_file", str(root / "empty.jsonl"), 0)
    (root / "fake.jsonl.gz").write_text('{"text": "not compressed at all"}\n')
    bad("corrupt_file", str(root / "fake.jsonl.gz"), 1)
    return expect
