"""Connected components in rounds that each see only a share of the graph, and one survivor per component.

Each round routes every edge to the node shards of both its ends (a hash of the node, salted by the round).
A shard replaces the edges it holds by the star forest of their local components, each node pointing at the
smallest node of its local component. That keeps every component connected (each edge's ends are joined in its
shard's forest) and joins nothing that was apart. A round in which no shard changed its edges is a fixed point,
and a fixed point is a set of stars around each component's smallest node: a node with two edges in some shard
would have been repointed. So the rounds stop with exactly union-find's partition, and a shard that changed
nothing is the convergence check. A random chain of 10^6 nodes converges in 9 to 12 rounds (16 to 64 shards);
large-star / small-star needs 16 pairs of rounds there (measured in docs/near_dedup.md).

Nodes are doc keys (uint64). "Keep the smallest doc_id" is decided afterwards, per component
(`component_removals`), so the rounds never carry strings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from transforms.near_dedup.hashing import fmix64
from transforms.near_dedup.lsh import unique_pairs
from transforms.near_dedup.minhash import similarity

PAYLOADS = pa.schema([("key", pa.uint64()), ("payload", pa.large_binary())])
# parent: -1 for this run's documents, else the index of the earlier run (--against) the document was kept in.
NODES = pa.schema(
    [("key", pa.uint64()), ("doc_id", pa.string()), ("unit", pa.int32()), ("parent", pa.int16())]
)
EDGES = pa.schema([("u", pa.uint64()), ("v", pa.uint64())])
REMOVALS = pa.schema(
    [
        ("key", pa.uint64()),
        ("doc_id", pa.string()),
        ("survivor", pa.string()),
        ("similarity", pa.float64()),
        ("unit", pa.int32()),
        ("parent", pa.int16()),  # the survivor's: -1 when it is this run's, else the earlier run's index
    ]
)
_MIX = np.uint64(0x9E3779B97F4A7C15)


def node_shards(keys: np.ndarray, bits: int, salt: int = 0) -> np.ndarray:
    """Shard of each node key among 2**bits; another salt gives an independent routing (one per round)."""
    mixed = (keys.astype(np.uint64) ^ np.uint64(salt * 0x5851F42D4C957F2D & (2**64 - 1))) * _MIX
    return (mixed >> np.uint64(64 - bits)).astype(np.int64) if bits else np.zeros(len(keys), np.int64)


def edge_pairs(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct undirected edges as (larger, smaller), self loops dropped."""
    hi, lo = np.maximum(u, v), np.minimum(u, v)
    keep = hi != lo
    return unique_pairs(hi[keep], lo[keep])


def local_stars(u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, bool]:
    """The star forest of the local components of edges (u, v): (leaf, root) pairs, root the smallest node of
    the leaf's component; and whether that differs from the edges given."""
    a, b = edge_pairs(u, v)
    if len(a) == 0:
        return a, b, False
    nodes, index = np.unique(np.concatenate([a, b]), return_inverse=True)
    n = len(a)
    graph = coo_matrix((np.ones(n, np.int8), (index[:n], index[n:])), shape=(len(nodes), len(nodes)))
    _, labels = connected_components(graph, directed=False)
    _, first = np.unique(labels, return_index=True)  # nodes are sorted: a label's first node is its smallest
    roots = nodes[first][labels]
    leaf = roots != nodes
    x, y = unique_pairs(nodes[leaf], roots[leaf])
    changed = len(x) != len(a) or bool((x != a).any() or (y != b).any())
    return x, y, changed


def memberships(leaf: np.ndarray, root: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(member, root) for every node of the final stars, each root listed as a member of itself too."""
    roots = np.unique(root)
    return unique_pairs(np.concatenate([leaf, roots]), np.concatenate([root, roots]))


def component_removals(table: pa.Table) -> pa.Table:
    """Rows (root, member, doc_id, unit, parent) of whole components -> this run's members that are not their
    component's survivor, with the survivor's key, doc_id and parent. The survivor is an earlier run's document
    when the component has one (an earlier document is never removed), else the smallest doc_id, then key."""
    table = table.append_column("new", pc.less(table.column("parent"), 0).cast(pa.int8()))  # earlier first
    order = [("root", "ascending"), ("new", "ascending"), ("doc_id", "ascending"), ("member", "ascending")]
    table = table.sort_by(order)
    root = table.column("root").to_numpy()
    first = np.ones(len(root), bool)
    first[1:] = root[1:] != root[:-1]
    head = np.maximum.accumulate(np.where(first, np.arange(len(root)), 0))
    ours = table.column("parent").to_numpy() < 0
    removed = pa.array(np.flatnonzero(~first & ours))
    at = pa.array(head[removed.to_numpy()])
    return pa.table(
        {
            "key": table.column("member").take(removed),
            "doc_id": table.column("doc_id").take(removed),
            "unit": table.column("unit").take(removed),
            "survivor_key": table.column("member").take(at),
            "survivor": table.column("doc_id").take(at),
            "parent": table.column("parent").take(at),
        }
    )


def lookup(keys_sorted: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """Row of each wanted key in a sorted key array; every wanted key must be there."""
    at = np.searchsorted(keys_sorted, wanted)
    if len(wanted) and (at.max() >= len(keys_sorted) or (keys_sorted[at] != wanted).any()):
        raise RuntimeError("near dedup: an edge names a document that no signature was computed for")
    return at


def distinct_by_key(table: pa.Table) -> tuple[np.ndarray, pa.Table]:
    """(sorted keys, rows in that order), one row per key: a row read twice is one node with one fate."""
    keys = table.column("key").to_numpy()
    uniq, first = np.unique(keys, return_index=True)
    return uniq, table.take(first)


def payload_similarity(a: pa.Array, b: pa.Array, verify: str) -> np.ndarray:
    """Similarity of aligned payload pairs: estimated Jaccard of signatures, or exact Jaccard of shingle sets."""
    if verify == "exact":
        return _set_jaccard(a, b)
    return similarity(_fixed_rows(a), _fixed_rows(b))


def payload_matrix(values: pa.Array, num_perm: int) -> np.ndarray:
    """(n, num_perm) uint32 signatures of signature payloads."""
    return (
        _fixed_rows(values).reshape(len(values), num_perm)
        if len(values)
        else np.zeros((0, num_perm), np.uint32)
    )


def earlier_keys(keys: np.ndarray, parent: int) -> np.ndarray:
    """Node keys for an earlier run's documents: remixed by the parent's index, so that a document read again
    (same doc_id, source and line) is a node of its own, the earlier copy of itself."""
    mixed = keys.astype(np.uint64) ^ np.uint64((parent + 1) * 0xD6E8FEB86659FD93 & (2**64 - 1))
    return fmix64(mixed)


def _fixed_rows(values: pa.Array) -> np.ndarray:
    """(n, width) uint32 view of equal-length binary values (signatures)."""
    values = values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values
    if len(values) == 0:
        return np.zeros((0, 1), np.uint32)
    offsets = np.frombuffer(values.buffers()[1], np.int64)[values.offset : values.offset + len(values) + 1]
    data = np.frombuffer(values.buffers()[2], np.uint8)[offsets[0] : offsets[-1]]
    return data.view(np.uint32).reshape(len(values), -1)


def _set_jaccard(a: pa.Array, b: pa.Array) -> np.ndarray:
    out = np.empty(len(a), np.float64)
    for i, (x, y) in enumerate(zip(a.to_pylist(), b.to_pylist(), strict=True)):
        sa, sb = np.frombuffer(x, np.uint64), np.frombuffer(y, np.uint64)
        inter = len(np.intersect1d(sa, sb, assume_unique=True))
        out[i] = inter / max(len(sa) + len(sb) - inter, 1)
    return out


def signature_payloads(keys: np.ndarray, sig: np.ndarray) -> pa.RecordBatch:
    """Signatures as payloads: each row's uint32 values as one binary value (zero-copy)."""
    width = sig.shape[1] * 4
    offsets = pa.py_buffer((np.arange(len(sig) + 1, dtype=np.int64) * width).tobytes())
    values = pa.Array.from_buffers(pa.large_binary(), len(sig), [None, offsets, pa.py_buffer(sig.tobytes())])
    return pa.RecordBatch.from_arrays([pa.array(keys, pa.uint64()), values], schema=PAYLOADS)


def shingle_payloads(keys: np.ndarray, hashes: np.ndarray, doc: np.ndarray) -> pa.RecordBatch:
    """Sorted unique shingle hashes of each doc (doc: row of each hash) as payloads, for exact verification."""
    order = np.lexsort((hashes, doc))
    hashes, doc = hashes[order], doc[order]
    new = np.ones(len(hashes), bool)
    new[1:] = (hashes[1:] != hashes[:-1]) | (doc[1:] != doc[:-1])
    bounds = np.searchsorted(doc[new], np.arange(len(keys) + 1)).astype(np.int64) * 8
    data = np.ascontiguousarray(hashes[new], np.uint64)
    values = pa.Array.from_buffers(
        pa.large_binary(), len(keys), [None, pa.py_buffer(bounds.tobytes()), pa.py_buffer(data.tobytes())]
    )
    return pa.RecordBatch.from_arrays([pa.array(keys, pa.uint64()), values], schema=PAYLOADS)
