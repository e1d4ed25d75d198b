"""Shingles: the normalised word (or character) n-grams of each document, as 64-bit hashes.

A document shorter than n tokens (an empty one included) becomes one shingle of all its tokens, so every
document gets at least one shingle and is deduplicated like the rest. Work runs over chunks of ~256 KiB of
text so that numpy's temporaries stay in cache; the hashes do not depend on the chunking.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import numpy as np
import pyarrow as pa

from transforms.near_dedup.hashing import U64, binary_spans, fmix64, hash_strings, span_hashes
from transforms.near_dedup.normalize import ascii_separator, fold_ascii, normalize_text, normalized_words

CHUNK_BYTES = 256 * 1024
_NGRAM_MUL = U64(0xD6E8FEB86659FD93)  # odd: the n-gram hash is a polynomial in its token hashes
_COUNT_MUL = U64(0xA0761D6478BD642F)
# Token hashes of the non-ASCII / inner-punctuation runs seen so far, by the hash of their raw bytes. The same
# few thousand such runs (quoted words, "don't", accented names) recur in every batch.
_SLOW_WORDS: dict[int, np.ndarray] = {}
_SLOW_WORDS_MAX = 500_000

Chunk = tuple[int, int, np.ndarray, np.ndarray]  # (first doc, docs in chunk, shingle hashes, doc of each)


def _word_bounds(b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end of every run of non-separator bytes (documents are joined with a space)."""
    word = np.zeros(len(b) + 2, bool)
    word[1:-1] = ~ascii_separator(b)
    edges = np.flatnonzero(word[1:] != word[:-1])
    return edges[0::2], edges[1::2]


def _slow_word_tokens(b: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(token count of each run, their tokens in order) for runs that need full Unicode normalisation.

    Python sees each distinct run once per chunk (a cache keyed by the hash of its raw bytes answers most);
    the per-occurrence work is vectorised.
    """
    raw = span_hashes(b, starts, ends - starts)
    keys, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
    found = []
    for key, at in zip(keys.tolist(), first.tolist(), strict=True):
        tokens = _SLOW_WORDS.get(key)
        if tokens is None:
            if len(_SLOW_WORDS) >= _SLOW_WORDS_MAX:
                _SLOW_WORDS.clear()
            tokens = _SLOW_WORDS[key] = hash_strings(normalized_words(b[starts[at] : ends[at]].tobytes()))
        found.append(tokens)
    key_counts = np.fromiter(map(len, found), np.int64, count=len(found))
    key_first = np.cumsum(key_counts) - key_counts
    flat = np.concatenate(found) if found else np.zeros(0, np.uint64)
    counts = key_counts[inverse]
    within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
    return counts, flat[np.repeat(key_first[inverse], counts) + within]


def _word_tokens(b: np.ndarray, doc_starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(token hashes, doc of each token) of one folded chunk (see `fold_ascii`) plus 8 padding bytes."""
    starts, ends = _word_bounds(b[:-8])
    slow = np.zeros(len(starts), bool)  # words with a byte of a multi-byte character: few, found sparsely
    slow[np.searchsorted(starts, np.flatnonzero(b >= 0x80), side="right") - 1] = True
    slow_idx = np.flatnonzero(slow)
    # Hash every run as it stands (cheaper than masking out the few slow ones), then put the slow ones right.
    tokens = span_hashes(b, starts, ends - starts)
    counts, slow_tokens = _slow_word_tokens(b, starts[slow_idx], ends[slow_idx])
    words_per_doc = np.diff(np.searchsorted(starts, doc_starts), append=len(starts))
    word_doc = np.repeat(np.arange(len(doc_starts)), words_per_doc)
    if (counts == 1).all():  # the usual case: each slow run is one word once normalised
        tokens[slow_idx] = slow_tokens
        return tokens, word_doc
    per_word = np.ones(len(starts), np.int64)
    per_word[slow_idx] = counts
    at = np.cumsum(per_word) - per_word
    out = np.empty(int(per_word.sum()), np.uint64)
    fast = per_word == 1
    fast[slow_idx] = False
    out[at[fast]] = tokens[fast]
    out[np.repeat(at[slow_idx] - (np.cumsum(counts) - counts), counts) + np.arange(len(slow_tokens))] = (
        slow_tokens
    )
    return out, np.repeat(word_doc, per_word)


def _char_tokens(texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
    """(code points of each normalised text, doc of each); the slow path, used only for shingle: char."""
    points = [
        np.frombuffer(normalize_text(t or "").encode("utf-32-le"), np.uint32) for t in texts.to_pylist()
    ]
    counts = np.fromiter(map(len, points), np.int64, count=len(points))
    tokens = np.concatenate(points).astype(np.uint64) if points else np.zeros(0, np.uint64)
    return tokens, np.repeat(np.arange(len(points)), counts)


def ngram_hashes(
    tokens: np.ndarray, token_doc: np.ndarray, n_docs: int, n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(hash of each n-gram of consecutive tokens within a document, its doc); short docs give one each."""
    per_doc = np.bincount(token_doc, minlength=n_docs)
    m = max(len(tokens) - n + 1, 0)
    grams = tokens[:m].copy()
    for j in range(1, n):
        grams *= _NGRAM_MUL
        grams += tokens[j : j + m]
    whole = token_doc[:m] == token_doc[n - 1 : n - 1 + m]
    grams, gram_doc = grams[whole], token_doc[:m][whole]
    grams ^= U64(n * int(_COUNT_MUL) % (1 << 64))
    short = np.flatnonzero(per_doc < n)
    first = np.cumsum(per_doc) - per_doc
    tail = np.zeros(len(short), np.uint64)
    for j in range(n - 1):  # Horner over the <n tokens of each short doc
        has = per_doc[short] > j
        tail[has] = tail[has] * _NGRAM_MUL + tokens[first[short[has]] + j]
    tail ^= per_doc[short].astype(np.uint64) * _COUNT_MUL
    return fmix64(np.concatenate([grams, tail])), np.concatenate([gram_doc, short])


def iter_shingle_chunks(
    texts: pa.Array, ngram: int, shingle: Literal["word", "char"] = "word", chunk_bytes: int = CHUNK_BYTES
) -> Iterator[Chunk]:
    """Shingle hashes of `texts`, a few hundred KiB of text at a time: (first doc, docs, hashes, doc of each)."""
    if shingle == "char":
        for lo in range(0, len(texts), 512):
            part = texts.slice(lo, 512)
            tokens, token_doc = _char_tokens(part)
            yield (lo, len(part), *ngram_hashes(tokens, token_doc, len(part), ngram))
        return
    data, starts, lengths = binary_spans(texts)
    ends = starts + lengths
    lo = 0
    while lo < len(texts):
        hi = max(int(np.searchsorted(ends, starts[lo] + chunk_bytes, side="right")), lo + 1)
        parts = [
            fold_ascii(data[s:e]) for s, e in zip(starts[lo:hi].tolist(), ends[lo:hi].tolist(), strict=True)
        ]
        chunk = np.frombuffer(b" ".join(parts) + bytes(8), np.uint8)
        sizes = np.fromiter(map(len, parts), np.int64, count=len(parts)) + 1
        doc_starts = np.cumsum(sizes) - sizes
        tokens, token_doc = _word_tokens(chunk, doc_starts)
        yield (lo, hi - lo, *ngram_hashes(tokens, token_doc, hi - lo, ngram))
        lo = hi


def shingle_hashes(
    texts: pa.Array, ngram: int, shingle: Literal["word", "char"] = "word"
) -> tuple[np.ndarray, np.ndarray]:
    """All shingle hashes of `texts` and the row each belongs to (for exact verification and tests)."""
    hashes, docs = [np.zeros(0, np.uint64)], [np.zeros(0, np.int64)]
    for lo, _, h, d in iter_shingle_chunks(texts, ngram, shingle):
        hashes.append(h)
        docs.append(d + lo)
    return np.concatenate(hashes), np.concatenate(docs)
