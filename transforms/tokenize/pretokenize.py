"""Normalize and pre-tokenize text on the CPU exactly as the tokenizer.json says, fast.

For the byte-level shapes that real tokenizers use (GPT-2's ByteLevel regex; Split(regex) + ByteLevel, as in
Llama 3 and Qwen) the tokenizer's own regex runs in the `regex` module, about 4x faster than tokenizers'
Oniguruma, and yields raw text pieces whose UTF-8 bytes are the BPE's first symbols. The two engines disagree
only on characters whose Unicode class they see differently (newly encoded scripts); a text holding one is
pre-tokenized by tokenizers itself. Any other pre-tokenizer runs in tokenizers (mapped pieces, one symbol per
character).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import regex

# tokenizers' ByteLevel regex (pre_tokenizers/byte_level.rs), the GPT-2 pattern.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


@functools.cache
def byte_to_char() -> tuple[str, ...]:
    """GPT-2's printable stand-in character for each byte (ByteLevel's `bytes_char`)."""
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    chars, extra = {b: chr(b) for b in printable}, 0
    for b in range(256):
        if b not in chars:
            chars[b] = chr(256 + extra)
            extra += 1
    return tuple(chars[b] for b in range(256))


@functools.cache
def char_to_byte() -> dict[str, int]:
    return {c: b for b, c in enumerate(byte_to_char())}


def to_byte_level(piece: str) -> str:
    """The ByteLevel-mapped form of a raw piece (what the vocabulary spells)."""
    table = byte_to_char()
    return "".join(table[b] for b in piece.encode("utf-8"))


def from_byte_level(piece: str) -> str:
    table = char_to_byte()
    return bytes(table[c] for c in piece).decode("utf-8")


@functools.cache
def uncertain_chars() -> np.ndarray:
    """A bool per code point: does the `regex` module put it in \\p{L} or \\p{N} unlike Python's unicodedata?

    Both follow one Unicode version each, and tokenizers' Oniguruma a third one in between; all three agree
    outside this set (tests/test_tokenize_exactness.py checks every assigned code point against tokenizers;
    a one-off run over all 1.1M found no other difference).
    """
    codes = np.arange(0x110000, dtype=np.uint32)
    codes = codes[(codes < 0xD800) | (codes > 0xDFFF)]
    text = codes.astype("<u4").tobytes().decode("utf-32-le")
    # Every category name is two ASCII letters ("Lu", "Nd", "Cn"): keep the first of each.
    major = np.frombuffer("".join(map(unicodedata.category, text)).encode("ascii"), np.uint8)[::2]
    table = np.zeros(0x110000, bool)
    for cls in ("L", "N"):
        marked = regex.sub(rf"\p{{{cls}}}", "\0", text).encode("utf-32-le")
        in_regex = (np.frombuffer(marked, np.uint32) == 0) & (codes != 0)
        table[codes] |= in_regex != (major == ord(cls))
    return table


def has_uncertain_char(text: str) -> bool:
    if text.isascii():
        return False
    return bool(uncertain_chars()[np.frombuffer(text.encode("utf-32-le"), np.uint32)].any())


def _split_isolated(pattern: regex.Pattern, text: str) -> list[str]:
    """Matches and the text between them, in order (tokenizers' SplitDelimiterBehavior::Isolated)."""
    if not pattern.groups:
        pieces = pattern.findall(text)
        if sum(map(len, pieces)) == len(text):
            return pieces
    pieces, pos = [], 0
    for m in pattern.finditer(text):
        if m.start() > pos:
            pieces.append(text[pos : m.start()])
        if m.end() > m.start():
            pieces.append(m.group())
        pos = m.end()
    if pos < len(text):
        pieces.append(text[pos:])
    return pieces


class PreTokenizer:
    """normalize + pre-tokenize: text -> the pieces the BPE model sees, one word cache key each.

    `byte_level` True: pieces are raw text, their UTF-8 bytes are the first symbols. False: pieces are what
    tokenizers' pre-tokenizer yields, one symbol per character.
    """

    def __init__(self, tokenizer, pattern: str | None = None, add_prefix_space: bool = False):
        self.normalizer = tokenizer.normalizer
        self.hf = tokenizer.pre_tokenizer
        self.pattern = regex.compile(pattern) if pattern is not None else None
        self.add_prefix_space = add_prefix_space
        self.byte_level = pattern is not None
        if self.byte_level:
            uncertain_chars()  # built once per process (~0.5 s): at setup, not in the first batch

    def _hf_pieces(self, text: str) -> list[str]:
        if self.hf is None:
            return [text] if text else []
        return [piece for piece, _ in self.hf.pre_tokenize_str(text) if piece]

    def split(self, text: str) -> list[str]:
        if self.normalizer is not None:
            text = self.normalizer.normalize_str(text)
        if not self.byte_level:
            return self._hf_pieces(text)
        if has_uncertain_char(text):
            return [from_byte_level(p) for p in self._hf_pieces(text)]
        if self.add_prefix_space and text and not text.startswith(" "):
            text = " " + text
        return _split_isolated(self.pattern, text)

    def split_unique(self, texts: Sequence[str]) -> Split:
        """The pieces of a batch, deduplicated: the word cache is then asked once per distinct piece."""
        pieces: list[str] = []
        counts = np.zeros(len(texts), np.int64)
        for i, text in enumerate(texts):
            split = self.split(text)
            counts[i] = len(split)
            pieces += split
        # dict.fromkeys, zip and map run in C: about 3x faster than one setdefault per piece.
        unique = list(dict.fromkeys(pieces))
        index = dict(zip(unique, range(len(unique)), strict=True))
        return Split(unique, np.fromiter(map(index.__getitem__, pieces), np.int64, len(pieces)), counts)


@dataclass(frozen=True)
class Split:
    """A pre-tokenized batch: its distinct pieces, each piece as an index into them, pieces per text."""

    unique: list[str]
    piece_ids: np.ndarray
    counts: np.ndarray


def merge_splits(parts: Sequence[Split]) -> Split:
    """One Split from the Splits of consecutive chunks of a batch."""
    index: dict[str, int] = {}
    piece_ids = []
    for part in parts:
        remap = np.fromiter(
            (index.setdefault(p, len(index)) for p in part.unique), np.int64, len(part.unique)
        )
        piece_ids.append(remap[part.piece_ids])
    empty = np.zeros(0, np.int64)
    return Split(
        list(index),
        np.concatenate(piece_ids) if piece_ids else empty,
        np.concatenate([p.counts for p in parts]) if parts else empty,
    )


def _is_byte_level(step: dict, use_regex: bool) -> bool:
    return step.get("type") == "ByteLevel" and bool(step.get("use_regex", True)) == use_regex


def compile_pre_tokenizer(tokenizer, spec: dict) -> PreTokenizer:
    """The fast regex path for the byte-level shapes we know; tokenizers' own pre-tokenizer otherwise."""
    step = spec.get("pre_tokenizer") or {}
    if _is_byte_level(step, use_regex=True):
        return PreTokenizer(tokenizer, GPT2_PATTERN, bool(step.get("add_prefix_space", False)))
    steps = step.get("pretokenizers") or []
    if step.get("type") == "Sequence" and len(steps) == 2:
        split, last = steps
        regex_pattern = (split.get("pattern") or {}).get("Regex")
        if (
            split.get("type") == "Split"
            and regex_pattern is not None
            and split.get("behavior") == "Isolated"
            and not split.get("invert", False)
            and _is_byte_level(last, use_regex=False)
            and not last.get("add_prefix_space", False)
        ):
            return PreTokenizer(tokenizer, regex_pattern)
    return PreTokenizer(tokenizer)
