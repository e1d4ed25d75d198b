"""Deterministic documents that exercise every path of a byte-level BPE, for exactness tests and benchmarks.

English prose with contractions, Python source, CJK, emoji sequences, combining marks and other scripts,
long and exotic whitespace runs, very long words, control and unassigned characters, and special-token text.
The same (size, seed) gives the same documents on any machine with the same Python version.
"""

from __future__ import annotations

import inspect
import json
import random
import string
import textwrap

WORDS = (
    "the of and to in a is that for it as was with be by on not he I this are or his from at which but have an "
    "they you were her she there one all we their been has would when if so no will can more my out up time "
    "about other into than them only some could these two may first then do any like new now people very well "
    "data model token training corpus pipeline shard manifest document quality filter language English text "
    "because through during without between however although whether government university Mississippi "
    "naïve café résumé façade coöperate Zürich São Paulo Ærøskøbing Straße ﬁnance ＡＢＣ"
).split() + ["don't", "it's", "we'll", "they're", "I'm", "I'd", "you've", "DON'T", "IT'S", "We'Ll", "it’s"]
MODULES = (json, textwrap, string, random, inspect)

# (first, last) code point ranges per script family.
CJK = (
    (0x4E00, 0x9FFF),
    (0x3041, 0x3096),
    (0x30A1, 0x30FA),
    (0xAC00, 0xD7A3),
    (0x3000, 0x303F),
    (0xFF01, 0xFF5E),
)
EMOJI = ((0x1F300, 0x1F64F), (0x1F680, 0x1F6FF), (0x1F900, 0x1F9FF), (0x2600, 0x27BF))
SCRIPTS = (
    (0x0900, 0x097F),
    (0x0600, 0x06FF),
    (0x0590, 0x05FF),
    (0x0E00, 0x0E7F),
    (0x0400, 0x04FF),
    (0x0370, 0x03FF),
)
SPACES = " \t\n\r\x0b\x0c\xa0\u1680\u2000\u2003\u2009\u200a\u2028\u2029\u202f\u205f\u3000\x85\u200b\ufeff"
ODD = ("<|endoftext|>", "<|startoftext|>", "<s>", "'s", "'S", "''ll", "x'", "\ufffd", "\x00", "\x1f", "\x7f")


def _char(rng: random.Random, ranges: tuple[tuple[int, int], ...]) -> str:
    lo, hi = rng.choice(ranges)
    return chr(rng.randint(lo, hi))


def prose(rng: random.Random) -> str:
    out = []
    for _ in range(rng.randint(5, 60)):
        words = [rng.choice(WORDS) for _ in range(rng.randint(3, 25))]
        if rng.random() < 0.3:
            words.insert(
                rng.randrange(len(words)), rng.choice(["1999", "3.14159", "1,234,567", "42nd", "10^9"])
            )
        out.append(" ".join(words).capitalize() + rng.choice([".", "!", "?", "...", ";", ":", ' "quoted."']))
    return " ".join(out) + rng.choice(["", "\n", "\n\n"])


def code(rng: random.Random) -> str:
    source = inspect.getsource(rng.choice(MODULES))
    start = rng.randrange(len(source))
    return source[start : start + rng.randint(200, 6000)]


def cjk(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(5, 80)):
        parts.append("".join(_char(rng, CJK) for _ in range(rng.randint(1, 40))))
        parts.append(rng.choice(["", "，", "。", " ", " GPU ", "2024年", "\n"]))
    return "".join(parts)


def emoji(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(5, 120)):
        e = _char(rng, EMOJI)
        e += rng.choice(["", "", "\ufe0f", chr(rng.randint(0x1F3FB, 0x1F3FF)), "\u200d" + _char(rng, EMOJI)])
        flag = chr(rng.randint(0x1F1E6, 0x1F1FF)) + chr(rng.randint(0x1F1E6, 0x1F1FF))
        parts.append(
            rng.choice([e, e, flag, "1\ufe0f\u20e3", rng.choice(WORDS)]) + rng.choice(["", " ", "  "])
        )
    return "".join(parts)


def marks(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(10, 150)):
        if rng.random() < 0.5:
            base = rng.choice(string.ascii_letters)
            parts.append(base + "".join(chr(rng.randint(0x300, 0x36F)) for _ in range(rng.randint(1, 6))))
        else:
            parts.append("".join(_char(rng, SCRIPTS) for _ in range(rng.randint(1, 12))))
        parts.append(rng.choice([" ", "", " ", ", "]))
    return "".join(parts)


def whitespace(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(5, 60)):
        run = "".join(rng.choice(SPACES) for _ in range(rng.randint(1, 8)))
        if rng.random() < 0.3:
            run = rng.choice([" ", "\t", "\n", "\r\n", "\u3000"]) * rng.randint(2, 3000)
        parts.append(run + rng.choice(WORDS + ["", "", "1", "!", "'s"]))
    return "".join(parts)


def long_words(rng: random.Random) -> str:
    n = rng.choice([50, 300, 1000, 4000, 12000])
    word = rng.choice(
        [
            lambda: "".join(rng.choice(string.ascii_lowercase) for _ in range(n)),
            lambda: rng.choice("ab-=_!0 ") * n,
            lambda: "".join(rng.choice(string.digits) for _ in range(n)),
            lambda: "".join(rng.choice(string.ascii_letters + string.digits + "+/") for _ in range(n)),
            lambda: "".join(_char(rng, CJK[:1]) for _ in range(n // 10)),
            lambda: "https://example.com/" + "/".join(rng.choice(WORDS) for _ in range(n // 8)),
        ]
    )()
    return rng.choice(WORDS) + " " + word + rng.choice(["", " end", ".\n"])


def odd(rng: random.Random) -> str:
    parts = []
    for _ in range(rng.randint(10, 200)):
        c = chr(rng.randint(0, 0x10FFFF))
        c = "\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c
        parts.append(rng.choice([c, c, rng.choice(ODD), rng.choice(WORDS), " ", chr(rng.randint(0, 0x24F))]))
    return "".join(parts)


KINDS = (prose, prose, code, code, cjk, emoji, marks, whitespace, long_words, odd)


def document(rng: random.Random) -> str:
    """One document: usually one kind of text, sometimes several kinds glued together."""
    kinds = [rng.choice(KINDS) for _ in range(1 if rng.random() < 0.7 else rng.randint(2, 4))]
    return "".join(kind(rng) for kind in kinds)


def varied_documents(total_bytes: int, seed: int = 0) -> list[str]:
    """Documents until their UTF-8 size reaches `total_bytes`."""
    rng, docs, size = random.Random(seed), [], 0
    while size < total_bytes:
        doc = document(rng)
        docs.append(doc)
        size += len(doc.encode("utf-8"))
    return docs
