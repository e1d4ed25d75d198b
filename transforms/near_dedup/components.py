"""The single global step: verify candidate edges, find connected components, keep one doc per component.

Input: every document's (key, doc_id, signature) and the candidate edges from the bucket shuffle. Memory is
the signature array (num_perm * 4 bytes a doc), the ids and the edges, never the text. Nodes are numbered in
(doc_id, key) order, so "keep the smallest doc_id" is "keep the smallest node" and the result does not depend
on how the input was batched. Where this stops scaling and what replaces it: docs/near_dedup.md.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import numpy as np
import pyarrow as pa
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from transforms.near_dedup.lsh import unique_pairs
from transforms.near_dedup.minhash import pair_similarity

SIGNATURES = pa.schema([("key", pa.uint64()), ("doc_id", pa.string()), ("signature", pa.binary())])
EDGES = pa.schema([("u", pa.uint64()), ("v", pa.uint64())])
SHINGLE_SETS = pa.schema([("key", pa.uint64()), ("shingles", pa.large_list(pa.uint64()))])
REMOVALS = pa.schema(
    [("key", pa.uint64()), ("doc_id", pa.string()), ("survivor", pa.string()), ("similarity", pa.float64())]
)


def signature_batch(keys: np.ndarray, doc_ids: pa.Array, sig: np.ndarray) -> pa.RecordBatch:
    """Signatures as Arrow: each row's uint32 values as one binary value (zero-copy both ways)."""
    width = sig.shape[1] * 4
    offsets = pa.py_buffer((np.arange(len(sig) + 1, dtype=np.int32) * width).tobytes())
    values = pa.Array.from_buffers(pa.binary(), len(sig), [None, offsets, pa.py_buffer(sig.tobytes())])
    return pa.RecordBatch.from_arrays(
        [pa.array(keys, pa.uint64()), doc_ids.cast(pa.string()), values], schema=SIGNATURES
    )


def _signature_matrix(column: pa.ChunkedArray, num_perm: int) -> np.ndarray:
    """(docs, num_perm) uint32 view of a signature column (rows are fixed-width binary values)."""
    rows = [np.zeros(0, np.uint32)]
    for chunk in column.chunks:
        if len(chunk):
            start = int(np.frombuffer(chunk.buffers()[1], np.int32)[chunk.offset]) // 4
            rows.append(np.frombuffer(chunk.buffers()[2], np.uint32)[start : start + len(chunk) * num_perm])
    return np.concatenate(rows).reshape(-1, num_perm)


class Graph:
    """Documents in (doc_id, key) order with their signatures; maps doc keys to node numbers."""

    def __init__(self, signatures: Iterable[pa.RecordBatch], num_perm: int):
        table = pa.Table.from_batches(list(signatures), SIGNATURES)
        table = table.sort_by([("doc_id", "ascending"), ("key", "ascending")])
        keys = table.column("key").to_numpy()
        _, first = np.unique(keys, return_index=True)
        if len(first) < len(
            keys
        ):  # the same (doc_id, source, line) read twice: one node, one fate for both rows
            table = table.take(np.sort(first))
            keys = table.column("key").to_numpy()
        self.doc_ids = table.column("doc_id").combine_chunks()
        self.keys = keys
        self.sig = _signature_matrix(table.column("signature"), num_perm)
        self._by_key = np.argsort(keys, kind="stable")

    def __len__(self) -> int:
        return len(self.keys)

    def nodes(self, keys: np.ndarray) -> np.ndarray:
        """Node number of each doc key (every key must be present)."""
        return self._by_key[np.searchsorted(self.keys, keys, sorter=self._by_key)]


def edge_nodes(graph: Graph, edges: Iterable[pa.RecordBatch]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct candidate edges as node pairs (u < v)."""
    table = pa.Table.from_batches(list(edges), EDGES)
    u = graph.nodes(table.column("u").to_numpy())
    v = graph.nodes(table.column("v").to_numpy())
    return unique_pairs(np.minimum(u, v), np.maximum(u, v))


def exact_jaccard(sets: dict[int, np.ndarray], u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Exact Jaccard of the sorted unique shingle arrays of node pairs."""
    out = np.empty(len(u), np.float64)
    for i, (a, b) in enumerate(zip(u.tolist(), v.tolist(), strict=True)):
        sa, sb = sets[a], sets[b]
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        out[i] = inter / max(len(sa) + len(sb) - inter, 1)
    return out


def shingle_sets(graph: Graph, batches: Iterable[pa.RecordBatch]) -> dict[int, np.ndarray]:
    """Node number -> sorted unique shingle hashes, for the docs that exact verification needs."""
    out: dict[int, np.ndarray] = {}
    for batch in batches:
        nodes = graph.nodes(batch.column(0).to_numpy())
        lists = batch.column(1)
        flat = lists.values.to_numpy()
        offsets = lists.offsets.to_numpy()
        for node, lo, hi in zip(nodes.tolist(), offsets[:-1].tolist(), offsets[1:].tolist(), strict=True):
            out[node] = flat[lo:hi]
    return out


def survivors(n_nodes: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """For each node, the smallest node of its connected component (itself when it has no edge)."""
    graph = coo_matrix((np.ones(len(u), np.int8), (u, v)), shape=(n_nodes, n_nodes)).tocsr()
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)  # nodes are numbered in keep order: first = smallest
    return first[labels]


def resolve(
    graph: Graph,
    u: np.ndarray,
    v: np.ndarray,
    threshold: float,
    verify: Literal["signature", "exact", "none"],
    sets: dict[int, np.ndarray] | None = None,
) -> pa.RecordBatch:
    """Verify candidate edges, cluster, and list the removed docs with their survivor and similarity to it."""
    if verify == "exact":
        keep = exact_jaccard(sets or {}, u, v) >= threshold
    elif verify == "signature":
        keep = pair_similarity(graph.sig, u, v) >= threshold
    else:
        keep = np.ones(len(u), bool)
    survivor = survivors(len(graph), u[keep], v[keep])
    removed = np.flatnonzero(survivor != np.arange(len(graph)))
    if verify == "exact":
        sim = exact_jaccard(sets or {}, removed, survivor[removed])
    else:
        sim = pair_similarity(graph.sig, removed, survivor[removed])
    return pa.RecordBatch.from_arrays(
        [
            pa.array(graph.keys[removed], pa.uint64()),
            graph.doc_ids.take(removed),
            graph.doc_ids.take(survivor[removed]),
            pa.array(sim, pa.float64()),
        ],
        schema=REMOVALS,
    )
