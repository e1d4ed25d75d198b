"""Word n-gram repetition (Gopher table A1) over all tokens of a batch at once, with numpy and polars.

An n-gram is the 64-bit polynomial hash of its tokens' hashes, with the document index mixed in, so one key
space serves the whole batch. Only n-grams that occur twice in their document matter, and an n-gram can
only repeat where the (n-1)-grams at its position and the next one both repeat; so the repeated n-grams
are found level by level from the repeated 2-grams, on ever fewer positions (Repeats, cached per Tokens).
Two measures, as datatrove defines them:

- top n-gram: count x length (tokens joined by spaces) of the most frequent n-gram, the earliest one on ties;
- duplicate n-grams: a left-to-right scan that, at a position whose n-gram it has seen at an earlier *visited*
  position, counts the n-gram's characters (tokens joined without spaces) and jumps n tokens ahead.

The scan is sequential, but its result is the unique fixed point of "visited = not inside a jump; a visited
position is a duplicate iff an earlier visited position has its n-gram; the jumps are the greedy chain of
duplicates". We iterate that map, each round vectorised, only on documents that still change; the agreeing
prefix grows by at least one position a round, so it reaches exactly the scan's answer. A document with
repeats needs two rounds (one to move, one to see it stay); long, heavily repetitive ones need many more,
each fixing the next stretch. After _MAX_ROUNDS those run the scan itself, over their repeated n-grams
only (the other positions cannot change its path): measured on the bench corpus, that costs less than
further rounds (a fifth of the repeated positions were left after three rounds, most after two).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from transforms.quality.text_tables import Tokens, per_doc_sum

_PRIME = np.uint64(0x100000001B3)
_DOC_MIX = np.uint64(0x9E3779B97F4A7C15)
_MAX_ROUNDS = 3
_SCAN_BLOCK = 1 << 16


@dataclass
class Repeats:
    """Start positions (token indices, increasing) of the n-grams that occur at least twice in their
    document, and their keys."""

    pos: np.ndarray
    key: np.ndarray


def repeats(tokens: Tokens, n: int) -> Repeats:
    """The repeated n-grams (n >= 2), built from the repeated (n-1)-grams and cached on `tokens`."""
    cache = tokens.__dict__.setdefault("repeats", {})
    if n not in cache:
        with np.errstate(over="ignore"):
            if n == 2:
                pos = np.flatnonzero(tokens.doc[:-1] == tokens.doc[1:])
                key = (tokens.hash[pos] ^ (tokens.doc[pos].astype(np.uint64) * _DOC_MIX)) * _PRIME
                key += tokens.hash[pos + 1]
            else:
                prev = repeats(tokens, n - 1)
                nxt = np.minimum(np.searchsorted(prev.pos, prev.pos + 1), max(len(prev.pos) - 1, 0))
                joins = (prev.pos[nxt] == prev.pos + 1) & (tokens.doc[prev.pos] == tokens.doc[prev.pos[nxt]])
                pos = prev.pos[joins]
                key = prev.key[joins] * _PRIME + tokens.hash[pos + n - 1]
                # Levels are asked for in increasing n; keeping only the last keeps DocText.subset cheap.
                cache.pop(n - 1)
        again = _maybe_repeated(key)
        cache[n] = Repeats(pos[again], key[again])
    return cache[n]


def _maybe_repeated(key: np.ndarray) -> np.ndarray:
    """True for every key that occurs twice, and (rarely) a few that do not: a candidate filter.

    Keys are compared on their high bits, with the entry's index packed into the low bits, so one numpy
    sort of integers (much faster than a hash table or an argsort here) finds equal neighbours and says
    where they came from. Equal keys always share high bits, so no repeat is missed; a false candidate only
    costs a little work, because every later step compares full keys.
    """
    out = np.zeros(len(key), dtype=bool)
    if len(key) < 2:
        return out
    bits = np.uint64(int(len(key)).bit_length())
    low = (np.uint64(1) << bits) - np.uint64(1)
    packed = np.sort((key & ~low) | np.arange(len(key), dtype=np.uint64))
    same = (packed[1:] >> bits) == (packed[:-1] >> bits)
    out[(packed[1:][same] & low).astype(np.int64)] = True
    out[(packed[:-1][same] & low).astype(np.int64)] = True
    return out


def char_spans(tokens: Tokens, starts: np.ndarray, n: int) -> np.ndarray:
    """Characters of the n tokens from each start, not counting separators."""
    cum = tokens.__dict__.get("cum_length")
    if cum is None:
        cum = tokens.__dict__["cum_length"] = np.concatenate([[0], np.cumsum(tokens.length)])
    return cum[starts + n] - cum[starts]


def top_ngram_chars(tokens: Tokens, n: int, n_docs: int) -> np.ndarray:
    """Per document: count x length (joined by spaces) of its most frequent n-gram; 0 with no n-gram."""
    out = np.zeros(n_docs, dtype=np.float64)
    # Without a repeat, the most frequent n-gram is the first one, seen once.
    doc_start = np.searchsorted(tokens.doc, np.arange(n_docs))
    doc_len = np.diff(np.append(doc_start, len(tokens.doc)))
    has = np.flatnonzero(doc_len >= n)
    out[has] = char_spans(tokens, doc_start[has], n) + n - 1
    rep = repeats(tokens, n)
    if len(rep.pos) == 0:
        return out
    keys = pl.Series("k", rep.key)
    count = keys.to_frame().select(pl.len().over("k")).to_series().to_numpy()
    first = keys.is_first_distinct().to_numpy()
    doc = tokens.doc[rep.pos]
    seg_start = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    best = np.maximum.reduceat(count, seg_start)
    best_per_row = np.repeat(best, np.diff(np.append(seg_start, len(doc))))
    # Among the n-grams with the top count, the one seen first (Counter.most_common keeps insertion order);
    # a count of 1 is a false candidate of repeats(), and the first n-gram above already stands for it.
    winner = np.flatnonzero(first & (count == best_per_row) & (count > 1))
    win_doc, win_idx = np.unique(doc[winner], return_index=True)
    pick = winner[win_idx]
    out[win_doc] = count[pick] * (char_spans(tokens, rep.pos[pick], n) + n - 1)
    return out


def dup_ngram_chars(tokens: Tokens, n: int, n_docs: int) -> np.ndarray:
    """Per document: characters (tokens joined without spaces) in duplicated n-grams, by datatrove's scan."""
    # Only repeated n-grams can be duplicates; the others are seen once and never change the scan's path
    # (a jump is measured in positions, which Repeats keeps).
    rep = repeats(tokens, n)
    starts, key = rep.pos, rep.key
    if len(starts) == 0:
        return np.zeros(n_docs, dtype=np.float64)
    doc = tokens.doc[starts]
    taken = np.zeros(len(starts), dtype=bool)
    live = np.arange(len(starts))  # positions of the documents that have not converged yet
    visited = np.ones(len(live), dtype=bool)
    for _ in range(_MAX_ROUNDS):
        s, d = starts[live], doc[live]
        dup = np.zeros(len(live), dtype=bool)
        seen = np.flatnonzero(visited)
        dup[seen] = ~pl.Series(key[live][seen]).is_first_distinct().to_numpy()
        chain = _greedy_chain(s, d, np.flatnonzero(dup), n)
        taken[live] = False
        taken[live[chain]] = True
        now_visited = ~_in_jump(s, chain, n)
        changed = np.zeros(n_docs, dtype=bool)
        changed[d[now_visited != visited]] = True
        if not changed.any():
            break
        still = changed[d]
        live, visited = live[still], now_visited[still]
    else:
        # The documents still changing finish with the scan (see the module docstring), all in one call:
        # `live` holds whole documents in order, keys carry their document, and a jump never reaches past
        # its document's last token, so one scan over them all is each document's own scan.
        taken[live] = scan_duplicates(starts[live], key[live], n)
    return per_doc_sum(doc[taken], n_docs, char_spans(tokens, starts[taken], n))


def scan_duplicates(starts: np.ndarray, keys: np.ndarray, n: int) -> np.ndarray:
    """The scan itself on documents' repeated n-grams (positions and keys, in order): which it counts.

    Keys become dense ids first, so "seen" is one byte per distinct n-gram, and positions go to Python a
    block at a time: a long repetitive document (millions of repeats) would otherwise hold a Python int
    per key in a set and two Python lists of every position, several times its text."""
    ids = pl.Series(keys).rank("dense").to_numpy()  # 1 .. distinct keys
    seen = bytearray(int(ids.max()) + 1 if len(ids) else 0)
    taken = bytearray(len(keys))
    resume = -1  # the scan jumps over positions before this one
    for lo in range(0, len(keys), _SCAN_BLOCK):
        block = zip(starts[lo : lo + _SCAN_BLOCK].tolist(), ids[lo : lo + _SCAN_BLOCK].tolist(), strict=True)
        for i, (start, key) in enumerate(block, lo):
            if start < resume:
                continue
            if seen[key]:
                taken[i] = 1
                resume = start + n
            else:
                seen[key] = 1
    return np.frombuffer(taken, dtype=np.uint8).astype(bool)


def _greedy_chain(starts: np.ndarray, doc: np.ndarray, cand: np.ndarray, n: int) -> np.ndarray:
    """Indices (into starts) the scan would take from candidates `cand`: per document the first candidate,
    then repeatedly the first candidate at least n tokens further. Pointer doubling, O(m log m) time.

    Each doubling is applied as soon as it is made: once the taken set holds every candidate within 2**k
    steps of a chain's start, adding what 2**k more steps reach gives those within 2**(k+1). So only one
    jump table lives at a time (O(m) memory), not all log m of them: on a long document those were most
    of the quality stage's peak."""
    m = len(cand)
    if m == 0:
        return cand
    pos, cdoc = starts[cand], doc[cand]
    jump = np.searchsorted(pos, pos + n)
    jump[(jump < m) & (cdoc[np.minimum(jump, m - 1)] != cdoc)] = m
    jump = np.append(jump, m)  # m is a sink that points to itself
    taken = np.zeros(m + 1, dtype=bool)
    taken[np.flatnonzero(np.r_[True, cdoc[1:] != cdoc[:-1]])] = True
    steps = 1
    while True:
        taken[jump[taken]] = True
        steps *= 2
        if steps >= m + 1 or not (jump < m).any():  # every chain has run out
            break
        jump = jump[jump]
    return cand[taken[:m]]


def _in_jump(starts: np.ndarray, taken: np.ndarray, n: int) -> np.ndarray:
    """Positions the scan jumps over: the n-1 positions after each taken one (never past its document:
    a taken position is a valid start, so the next n-1 starts of its document exist or end the document)."""
    total = len(starts)
    ends = np.searchsorted(starts, starts[taken] + n)
    mark = np.bincount(taken + 1, minlength=total + 2) - np.bincount(ends, minlength=total + 2)
    return np.cumsum(mark[:total]) > 0
