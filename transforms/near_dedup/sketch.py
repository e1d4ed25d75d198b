"""Per-batch sketching: document keys, MinHash signatures and LSH bucket keys for a whole record batch.

The only place that picks the device: numpy on the CPU, torch when `device` names a GPU (same numbers).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from transforms.near_dedup.minhash import Permutation, signatures_from_shingles
from transforms.near_dedup.params import NearDedupConfig
from transforms.near_dedup.shingles import iter_shingle_chunks


def batch_signatures(texts: pa.Array, config: NearDedupConfig, perm: Permutation) -> np.ndarray:
    """(len(texts), num_perm) uint32 signatures, computed chunk by chunk on the configured device."""
    if config.device == "cpu":
        sign = signatures_from_shingles
    else:
        from transforms.near_dedup.minhash_torch import torch_signer

        sign = torch_signer(config.device)
    sig = np.empty((len(texts), config.num_perm), np.uint32)
    for lo, n, hashes, doc in iter_shingle_chunks(texts, config.ngram, config.shingle):
        sig[lo : lo + n] = sign(hashes, doc, n, config.num_perm, perm)
    return sig


def text_column(batch: pa.RecordBatch) -> pa.Array:
    return batch.column(batch.schema.get_field_index("text"))
