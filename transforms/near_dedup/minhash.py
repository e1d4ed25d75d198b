"""MinHash signatures of a whole batch at once: one-permutation hashing over (a*x + b) mod (2^61 - 1).

Each shingle hash x is mapped once through the seeded permutation h = (a*x + b) mod p; the top bits of h pick
one of `num_perm` bins and the low 32 bits are the value; a bin keeps the minimum value of its shingles
(one-permutation MinHash, Li, Owen & Zhang 2012). k independent permutations cost k multiply-mods per
shingle and capped throughput near datasketch's; one costs a single multiply-mod and gives the same estimator
(matching bins / bins non-empty in either doc). Empty bins stay EMPTY in the stored signature (the estimator
needs them) and are filled by rotation only for banding (`densify`). All arithmetic stays below 2^63 so that the
torch path (`minhash_torch`) is bit-for-bit the same in int64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from transforms.near_dedup.hashing import GOLDEN, U64, fmix64

MERSENNE_61 = (1 << 61) - 1
EMPTY = 0xFFFFFFFF  # a bin no shingle fell into; real values are capped at EMPTY - 1
_P = U64(MERSENNE_61)
_LOW31, _LOW30 = U64((1 << 31) - 1), U64((1 << 30) - 1)
_ROTATE = np.uint32(0x9E3779B1)  # rotation densification: value + distance * this (mod 2^32)
_BAND_MUL = U64(0xFF51AFD7ED558CCD)


@dataclass(frozen=True)
class Permutation:
    """The seeded map x -> (a*x + b) mod (2^61 - 1), with `a` pre-split into 31-bit halves."""

    a: int
    b: int

    @classmethod
    def from_seed(cls, seed: int) -> Permutation:
        rng = np.random.Generator(np.random.PCG64(seed))
        return cls(int(rng.integers(1, MERSENNE_61)), int(rng.integers(0, MERSENNE_61)))

    @property
    def a_hi(self) -> int:
        return self.a >> 31

    @property
    def a_lo(self) -> int:
        return self.a & ((1 << 31) - 1)


def _fold(y: np.ndarray) -> np.ndarray:
    """y mod p up to one extra p (result < 2^61 + 8), for y < 2^63: p = 2^61 - 1 so 2^61 = 1 (mod p)."""
    return (y & _P) + (y >> U64(61))


def to_field(hashes: np.ndarray) -> np.ndarray:
    """The permutation's input: the top 61 bits of each shingle hash (x < 2^61; x = p, odds 2^-61, acts as 0)."""
    return hashes >> U64(3)


def permute(x: np.ndarray, perm: Permutation) -> np.ndarray:
    """(a*x + b) mod p for any x < 2^61, exact: 31-bit halves keep every product below 2^62."""
    x_hi, x_lo = x >> U64(31), x & _LOW31
    a_hi, a_lo = U64(perm.a_hi), U64(perm.a_lo)
    high = (x_hi * a_hi) << U64(1)  # a_hi*x_hi*2^62 and 2^62 = 2 (mod p)
    mid = x_lo * a_hi + x_hi * a_lo  # times 2^31: split at bit 30 so that the 2^61 part folds to 1
    mid = (mid >> U64(30)) + ((mid & _LOW30) << U64(31))
    low = x_lo * a_lo
    h = _fold(_fold(high + mid) + _fold(low + U64(perm.b)))
    return np.minimum(h, h - _P)  # h < p + 8 here: subtract p where that does not wrap


def bins_and_values(h: np.ndarray, num_perm: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin (from the top 32 bits of the 61-bit value) and 32-bit value (its low bits, capped below EMPTY)."""
    bins = ((h >> U64(29)) * U64(num_perm)) >> U64(32)
    values = np.minimum(h & U64(0xFFFFFFFF), U64(EMPTY - 1)).astype(np.uint32)
    return bins.astype(np.int64), values


def signatures_from_shingles(
    hashes: np.ndarray, doc: np.ndarray, n_docs: int, num_perm: int, perm: Permutation
) -> np.ndarray:
    """(n_docs, num_perm) uint32 one-permutation MinHash of the shingles `hashes` of docs `doc`."""
    bins, values = bins_and_values(permute(to_field(hashes), perm), num_perm)
    sig = np.full(n_docs * num_perm, EMPTY, np.uint32)
    np.minimum.at(sig, doc * num_perm + bins, values)
    return sig.reshape(n_docs, num_perm)


def densify(sig: np.ndarray) -> np.ndarray:
    """Fill each EMPTY bin from the next non-empty bin to its right (circularly), shifted by the distance.

    Rotation densification (Shrivastava & Li 2014): two docs with the same shingles fill the same way, so
    banding sees equal rows; without it every short doc would share its all-EMPTY bands with every other.
    """
    empty = sig == EMPTY
    if not empty.any():
        return sig
    n, k = sig.shape
    small = np.int16 if 2 * k < 2**15 else np.int32  # column numbers: narrow ints halve the passes' bytes
    col = np.where(empty, small(2 * k), np.arange(k, dtype=small))
    nearest = np.minimum.accumulate(col[:, ::-1], axis=1)[:, ::-1]  # next filled bin at or after j
    # None after j: the row's first filled bin, one turn later (every row has one: every doc has a shingle).
    nearest = np.where(nearest == 2 * k, nearest[:, :1] + small(k), nearest)
    source = np.where(nearest >= k, nearest - small(k), nearest).astype(np.int64)
    source += (np.arange(n, dtype=np.int64) * k)[:, None]
    filled = sig.ravel()[source] + (nearest - np.arange(k, dtype=small)).astype(np.uint32) * _ROTATE
    return np.where(empty, filled, sig)


def band_hashes(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """(n_docs, bands) uint64 bucket keys: each band's `rows` densified values hashed with the band index."""
    dense = np.ascontiguousarray(densify(sig)[:, : bands * rows])
    if rows % 2 == 0:  # two uint32 values per uint64 word: half the passes
        dense, rows = dense.view(np.uint64), rows // 2
    dense = dense.reshape(len(sig), bands, rows)
    h = dense[:, :, 0].astype(np.uint64)
    for r in range(1, rows):
        h *= _BAND_MUL
        h += dense[:, :, r]
    h ^= (np.arange(bands, dtype=np.uint64) + U64(1)) * GOLDEN
    return fmix64(h)


def similarity(sig_a: np.ndarray, sig_b: np.ndarray, chunk: int = 4096) -> np.ndarray:
    """Estimated Jaccard of row pairs: matching bins / bins non-empty in either (Li, Owen & Zhang's estimator).

    Bins empty in both carry no information; for docs with fewer shingles than bins this is close to exact.
    """
    out = np.empty(len(sig_a), np.float64)
    for lo in range(0, len(sig_a), chunk):
        a, b = sig_a[lo : lo + chunk], sig_b[lo : lo + chunk]
        filled_a, filled_b = a != EMPTY, b != EMPTY
        match = ((a == b) & filled_a).sum(axis=1)
        union = (filled_a | filled_b).sum(axis=1)
        out[lo : lo + chunk] = match / np.maximum(union, 1)
    return out


def pair_similarity(sig: np.ndarray, u: np.ndarray, v: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """similarity(sig[u], sig[v]), gathering rows a chunk of pairs at a time: the whole gather would take
    2 * num_perm * 4 bytes per candidate edge (gigabytes for a few million edges)."""
    out = np.empty(len(u), np.float64)
    for lo in range(0, len(u), chunk):
        out[lo : lo + chunk] = similarity(sig[u[lo : lo + chunk]], sig[v[lo : lo + chunk]])
    return out
