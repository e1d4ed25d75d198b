"""Text normalisation for shingling: lowercase, accents folded, digits to 0, punctuation and symbols out.

`normalize_text` is the definition (Python, any Unicode). The word shingler runs the same rules on the raw
UTF-8 bytes with numpy for plain ASCII words and sends only the other words (accents, curly quotes, inner
punctuation) through `normalize_text`, so both paths give the same words.
"""

from __future__ import annotations

import unicodedata

import numpy as np


class _CharRules(dict):
    """str.translate table filled on first sight of each code point (the Unicode range is too big to build)."""

    def __missing__(self, cp: int) -> str | None:
        cat = unicodedata.category(chr(cp))
        if (
            cat in ("Mn", "Me", "Cf") or cat[0] in "PS"
        ):  # accents (after NFKD), format chars, punctuation, symbols
            out = None
        elif cat == "Nd":
            out = "0"
        elif cat[0] == "Z" or cat == "Cc":
            out = " "
        else:
            out = chr(cp)
        self[cp] = out
        return out


_RULES = _CharRules()


def normalize_text(text: str) -> str:
    """The normalised form of `text`: words separated by single spaces, no leading or trailing space."""
    folded = unicodedata.normalize("NFKD", text.lower())
    return " ".join(folded.translate(_RULES).split())


def normalized_words(raw: bytes) -> list[bytes]:
    """The normalised words of one whitespace-free run of UTF-8 bytes (may be none, or several)."""
    return [w.encode() for w in normalize_text(raw.decode("utf-8", errors="replace")).split(" ") if w]


# The ASCII fast path: C-speed bytes.translate lowercases, maps digits to "0" and deletes ASCII punctuation and
# symbols (all of Unicode's P* and S* below 0x80), exactly what normalize_text does to those bytes. Bytes of
# multi-byte characters pass through untouched for the slow path.
_ASCII_PUNCT = bytes(c for c in range(0x21, 0x7F) if not chr(c).isalnum())
_ASCII_MAP = bytes.maketrans(
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", b"abcdefghijklmnopqrstuvwxyz" + b"0" * 10
)


def fold_ascii(raw: bytes | memoryview) -> bytes:
    """UTF-8 text with its ASCII letters lowercased, ASCII digits zeroed and ASCII punctuation deleted."""
    return bytes(raw).translate(_ASCII_MAP, _ASCII_PUNCT)


def ascii_separator(b: np.ndarray) -> np.ndarray:
    """ASCII whitespace and control characters end a word."""
    return (b <= 0x20) | (b == 0x7F)
