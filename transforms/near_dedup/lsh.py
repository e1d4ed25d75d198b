"""Locality-sensitive hashing: choose bands x rows, and turn buckets of documents into candidate edges.

Two documents whose signatures agree on every row of some band land in the same bucket and become a
candidate pair; verification (`components`) then decides. Because candidates are verified, the banding can be
loose (favour recall) without paying in precision.
"""

from __future__ import annotations

import functools

import numpy as np

# Within a bucket (sorted by doc key) each doc is paired with the next BUCKET_WINDOW docs: all pairs for buckets
# of up to 33 docs, a band of the clique for larger ones (their members are near-identical, so the band keeps
# them connected without the quadratic pair count of a big boilerplate bucket).
BUCKET_WINDOW = 32


def _collision_probability(s: np.ndarray, bands: np.ndarray, rows: np.ndarray) -> np.ndarray:
    return 1.0 - (1.0 - s[None, :] ** rows[:, None]) ** bands[:, None]


@functools.lru_cache(maxsize=64)
def optimal_bands_rows(
    threshold: float, num_perm: int, false_positive_weight: float, false_negative_weight: float
) -> tuple[int, int]:
    """(bands, rows) with bands*rows <= num_perm minimising weighted FP and FN areas (datasketch's rule).

    FP area: probability of becoming a candidate integrated over similarity below the threshold; FN area:
    probability of being missed integrated above it. Same integrals as datasketch's `_optimal_param`, on a grid.
    """
    pairs = np.array(
        [(b, r) for b in range(1, num_perm + 1) for r in range(1, num_perm // b + 1)], np.float64
    )
    bands, rows = pairs[:, 0], pairs[:, 1]
    below = np.linspace(0.0, threshold, 401)
    above = np.linspace(threshold, 1.0, 401)
    fp = np.trapezoid(_collision_probability(below, bands, rows), below, axis=1)
    fn = np.trapezoid(1.0 - _collision_probability(above, bands, rows), above, axis=1)
    best = int(np.argmin(false_positive_weight * fp + false_negative_weight * fn))
    return int(bands[best]), int(rows[best])


def bucket_shards(buckets: np.ndarray, bits: int) -> np.ndarray:
    """Shuffle key of each bucket among 2**bits: its top bits (bucket hashes are uniform)."""
    if bits == 0:
        return np.zeros(len(buckets), np.int64)
    return (buckets >> np.uint64(64 - bits)).astype(np.int64)


def unique_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (u, v) pairs, sorted by u then v."""
    if len(u) == 0:
        return u, v
    order = np.lexsort((v, u))
    u, v = u[order], v[order]
    new = np.ones(len(u), bool)
    new[1:] = (u[1:] != u[:-1]) | (v[1:] != v[:-1])
    return u[new], v[new]


def candidate_pairs(
    buckets: np.ndarray, keys: np.ndarray, window: int = BUCKET_WINDOW
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate edges (u < v, distinct) from (bucket, doc key) pairs: docs sharing a bucket, see BUCKET_WINDOW."""
    order = np.lexsort((keys, buckets))
    buckets, keys = buckets[order], keys[order]
    us, vs = [keys[:0]], [keys[:0]]
    for d in range(1, window + 1):
        same = np.flatnonzero((buckets[d:] == buckets[:-d]) & (keys[d:] != keys[:-d]))
        if len(same) == 0 and not (buckets[d:] == buckets[:-d]).any():
            break
        us.append(keys[same])
        vs.append(keys[same + d])
    return unique_pairs(np.concatenate(us), np.concatenate(vs))
