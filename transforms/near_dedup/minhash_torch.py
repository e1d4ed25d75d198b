"""The MinHash step on a torch device: the same int64 arithmetic as `minhash`, so signatures are bit-identical.

torch has no uint64 arithmetic; every intermediate of `minhash.permute` stays below 2^63, so int64 gives the
same bits, and right shifts of non-negative values are logical. Shingle hashes (uint64) are reinterpreted as
int64 and their top bits masked explicitly where an arithmetic shift would smear the sign.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from transforms.near_dedup.minhash import EMPTY, MERSENNE_61, Permutation

_P = MERSENNE_61


def _fold(y):
    return (y & _P) + (y >> 61)


def signatures_torch(
    hashes: np.ndarray, doc: np.ndarray, n_docs: int, num_perm: int, perm: Permutation, device: str = "cpu"
) -> np.ndarray:
    """`minhash.signatures_from_shingles` computed with torch on `device`."""
    import torch

    h = torch.from_numpy(np.ascontiguousarray(hashes).view(np.int64)).to(device)
    x = (h >> 3) & ((1 << 61) - 1)  # to_field; the mask undoes the sign smear of the arithmetic shift
    x_hi, x_lo = x >> 31, x & ((1 << 31) - 1)
    high = (x_hi * perm.a_hi) << 1
    mid = x_lo * perm.a_hi + x_hi * perm.a_lo
    mid = (mid >> 30) + ((mid & ((1 << 30) - 1)) << 31)
    low = x_lo * perm.a_lo
    v = _fold(_fold(high + mid) + _fold(low + perm.b))
    v = torch.where(v >= _P, v - _P, v)
    bins = ((v >> 29) * num_perm) >> 32
    values = torch.clamp(v & 0xFFFFFFFF, max=EMPTY - 1)
    flat = torch.from_numpy(np.ascontiguousarray(doc, np.int64)).to(device) * num_perm + bins
    sig = torch.full((n_docs * num_perm,), EMPTY, dtype=torch.int64, device=device)
    sig.scatter_reduce_(0, flat, values, reduce="amin", include_self=True)
    return sig.cpu().numpy().astype(np.uint32).reshape(n_docs, num_perm)


def torch_signer(device: str) -> Callable[..., np.ndarray]:
    """A signer bound to `device`, failing early and clearly when torch cannot use it."""
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(
            f"near_dedup.device={device} but torch sees no CUDA device; set near_dedup.device: cpu"
        )

    def sign(hashes, doc, n_docs, num_perm, perm):
        return signatures_torch(hashes, doc, n_docs, num_perm, perm, device)

    return sign
