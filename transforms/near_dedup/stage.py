"""NearDedup: the Beam wiring of near-duplicate removal (DESIGN.md "Near-duplicate removal").

docs -> signatures + (bucket, doc) pairs -> shuffle by bucket range -> candidate edges -> verified edges
(two shuffles by node shard) -> connected components in rounds -> one survivor per component -> removal
batches, which the pipeline hands to each work unit (or `NearDedup` applies as a side input). No step holds
the whole graph (graph.py). Every element is an Arrow batch; the DoFns only move batches between the pure
functions of this package.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from etl.local_runner.spilled import BufferedSpill, shuffled, unspilled
from transforms.near_dedup import components, graph
from transforms.near_dedup.hashing import doc_keys
from transforms.near_dedup.lsh import bucket_shards, candidate_pairs
from transforms.near_dedup.minhash import Permutation, band_hashes
from transforms.near_dedup.params import NearDedupConfig
from transforms.near_dedup.shingles import shingle_hashes
from transforms.near_dedup.sketch import batch_signatures, text_column
from transforms.rejects import rejects_from_docs

STAGE = "near_dedup"
REASON = "near_duplicate"
# earlier: the doc is an earlier run's (--against); edges between two earlier docs are never drawn.
BUCKETS = pa.schema([("bucket", pa.uint64()), ("key", pa.uint64()), ("earlier", pa.bool_())])
# An earlier run's kept documents, as the pipeline reads them from its index (etl/store/index.py).
EARLIER = pa.schema(
    [("key", pa.uint64()), ("doc_id", pa.string()), ("parent", pa.int16()), ("signature", pa.large_binary())]
)
PAIRS = pa.schema([("a", pa.uint64()), ("b", pa.uint64())])
DEFAULT_BITS = 4  # 16 shards per shuffle: the pipeline asks for more as the corpus grows


def _units(batch: pa.RecordBatch) -> pa.Array:
    """The work unit of each row (the pipeline's key pass adds it), or -1 outside the pipeline."""
    if "unit" in batch.schema.names:
        return batch.column(batch.schema.get_field_index("unit")).cast(pa.int32())
    return pa.array(np.full(batch.num_rows, -1, np.int32))


def sketch(batch: pa.RecordBatch, config: NearDedupConfig, perm: Permutation, bits: int, by_owner: bool):
    """A doc batch -> (tag, value): "payloads" (signatures, or shingle sets to verify exactly), "nodes" (node
    ids), "buckets" ((shard, (bucket, doc key) pairs), by bucket shard, or by node shard when exact duplicates
    must leave the buckets first: `by_owner`), and "signatures" (key, signature: what the index keeps)."""
    keys = doc_keys(batch)
    texts = text_column(batch)
    sig = batch_signatures(texts, config, perm)
    signatures = components.signature_payloads(keys, sig)
    yield "signatures", signatures
    if config.verify == "exact":
        hashes, doc = shingle_hashes(texts, config.ngram, config.shingle)
        yield "payloads", components.shingle_payloads(keys, hashes, doc)
    else:
        yield "payloads", signatures
    ids = batch.column(batch.schema.get_field_index("doc_id")).cast(pa.string())
    yield (
        "nodes",
        pa.RecordBatch.from_arrays(
            [pa.array(keys, pa.uint64()), ids, _units(batch), pa.array(np.full(len(keys), -1, np.int16))],
            schema=components.NODES,
        ),
    )
    bands, rows = config.bands_rows()
    pairs = bucket_pairs(sig, keys, bands, rows, earlier=False)
    keyed = graph.by_shard(pairs, "key", "want", bits) if by_owner else _by_bucket_shard(pairs, bits)
    for item in keyed:
        yield "buckets", item


class _Sketch(beam.DoFn):
    """Doc batch -> payloads (main), nodes ("nodes") and bucket pairs ("buckets"): `sketch` in Beam."""

    def __init__(self, config: NearDedupConfig, bits: int, by_owner: bool):
        self.config, self.bits, self.by_owner = config, bits, by_owner

    def setup(self):
        self.perm = Permutation.from_seed(self.config.seed)
        self.docs_in = Metrics.counter(STAGE, "docs_in")

    def process(self, batch: pa.RecordBatch):
        if batch.num_rows == 0:
            return
        self.docs_in.inc(batch.num_rows)
        for tag, value in sketch(batch, self.config, self.perm, self.bits, self.by_owner):
            if tag == "payloads":
                yield value
            elif tag != "signatures":
                yield beam.pvalue.TaggedOutput(tag, value)


def bucket_pairs(sig: np.ndarray, keys: np.ndarray, bands: int, rows: int, earlier: bool) -> pa.RecordBatch:
    """(bucket, doc key, earlier) for every band of every signature."""
    return pa.RecordBatch.from_arrays(
        [
            pa.array(band_hashes(sig, bands, rows).ravel()),
            pa.array(np.repeat(keys, bands)),
            pa.array(np.full(len(keys) * bands, earlier)),
        ],
        schema=BUCKETS,
    )


class _SketchEarlier(beam.DoFn):
    """An earlier run's index rows -> payloads, nodes ("nodes") and bucket pairs ("buckets") as for new docs."""

    def __init__(self, config: NearDedupConfig, bits: int):
        self.config, self.bits = config, bits

    def process(self, batch: pa.RecordBatch):
        if batch.num_rows == 0:
            return
        bands, rows = self.config.bands_rows()
        keys = batch.column(0).to_numpy()
        yield pa.RecordBatch.from_arrays([batch.column(0), batch.column(3)], schema=components.PAYLOADS)
        nodes = pa.RecordBatch.from_arrays(
            [batch.column(0), batch.column(1), pa.array(np.full(len(keys), -1, np.int32)), batch.column(2)],
            schema=components.NODES,
        )
        yield beam.pvalue.TaggedOutput("nodes", nodes)
        sig = components.payload_matrix(batch.column(3), self.config.num_perm)
        for keyed in _by_bucket_shard(bucket_pairs(sig, keys, bands, rows, earlier=True), self.bits):
            yield beam.pvalue.TaggedOutput("buckets", keyed)


def _by_bucket_shard(pairs: pa.RecordBatch, bits: int):
    shards = bucket_shards(pairs.column(0).to_numpy(), bits)
    order = np.argsort(shards, kind="stable")
    bounds = np.searchsorted(shards[order], np.arange((1 << bits) + 1))
    for shard in range(1 << bits):
        part = order[bounds[shard] : bounds[shard + 1]]
        if len(part):
            yield shard, ("bucket", pairs.take(pa.array(part)))


def drop_excluded(tagged: list, bits: int, spill_root: str | None) -> list:
    """A node shard's (bucket, doc) pairs without the docs that `exclude` names (the exact duplicates), so
    that the graph is the one over the documents that survive exact dedup; keyed on to the bucket shards.
    [pairs kept, items, group bytes], the items spilled to files under `spill_root` when given."""
    excluded, pairs = [np.zeros(0, np.uint64)], []
    for tag, batch in unspilled(tagged):
        if tag == "node":
            excluded.append(batch.column(batch.schema.get_field_index("key")).to_numpy())
        else:
            pairs.append(batch)
    if not pairs:
        return []
    nbytes = sum(b.nbytes for b in pairs)
    table = pa.Table.from_batches(pairs, BUCKETS)
    keep = ~np.isin(table.column("key").to_numpy(), np.concatenate(excluded))
    out = [
        item
        for batch in table.filter(pa.array(keep)).combine_chunks().to_batches()
        for item in _by_bucket_shard(batch, bits)
    ]
    return [int(keep.sum()), shuffled(spill_root, out), nbytes]


def candidate_edges(tagged: list, bits: int, spill_root: str | None, keyed: bool) -> list:
    """All (bucket, doc) pairs of one bucket shard -> [candidate edges, items, group bytes]: one batch of its
    edges (columns a < b), or, `keyed`, that batch by the shard of `a` (spilled under `spill_root`)."""
    batches = [b for _, b in unspilled(tagged)]
    table = pa.Table.from_batches(batches, BUCKETS)
    keys = table.column("key").to_numpy()
    u, v = candidate_pairs(table.column("bucket").to_numpy(), keys)
    earlier = np.unique(keys[table.column("earlier").to_numpy(zero_copy_only=False)])
    if len(earlier):  # two documents that earlier runs kept: nothing of this run to decide
        keep = ~(np.isin(u, earlier) & np.isin(v, earlier))
        u, v = u[keep], v[keep]
    edges = pa.RecordBatch.from_arrays([pa.array(u, pa.uint64()), pa.array(v, pa.uint64())], schema=PAIRS)
    out = [edges]
    if keyed:
        out = shuffled(spill_root, graph.by_shard(edges, "a", "want", bits))
    return [len(u), out, sum(b.nbytes for b in batches)]


class _DropExcluded(graph.ShardStep):
    label = "near dedup, exact duplicates out of the buckets (shards)"
    work = staticmethod(drop_excluded)


class _CandidateEdges(graph.CountedStep):
    label = "near dedup, candidate pairs from buckets (shards)"
    counter = "candidate_pairs"

    def __init__(self, bits: int, spill_root: str | None, keyed: bool, processes: int):
        super().__init__(processes)
        self.bits, self.spill_root, self.keyed = bits, spill_root, keyed

    def call(self, item) -> tuple:
        return candidate_edges, list(item[1]), self.bits, self.spill_root, self.keyed


def _verified(batch: pa.RecordBatch, threshold: float) -> pa.RecordBatch:
    keep = pc.greater_equal(batch.column(batch.schema.get_field_index("similarity")), threshold)
    kept = batch.filter(keep)
    return pa.RecordBatch.from_arrays([kept.column(0), kept.column(1)], schema=components.EDGES)


def _as_edges(batch: pa.RecordBatch) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([batch.column(0), batch.column(1)], schema=components.EDGES)


class _Split(beam.DoFn):
    """Doc batch + removal table -> kept rows (main) and reject rows ("rejects")."""

    def setup(self):
        self._source = self._index = None
        self.kept = Metrics.counter(STAGE, "kept")
        self.removed = Metrics.counter(STAGE, "removed")

    def _lookup(self, removals: list[pa.RecordBatch]) -> tuple[np.ndarray, pa.Table]:
        """(sorted removed keys, their rows), built once per side-input object (the same for every batch)."""
        if self._index is None or self._source is not removals:
            self._source = removals  # held, so the identity check cannot match a freed and reused object
            table = pa.Table.from_batches(list(removals), components.REMOVALS)
            keys = table.column("key").to_numpy()
            order = np.argsort(keys)
            self._index = (keys[order], table.take(order))
        return self._index

    def process(self, batch: pa.RecordBatch, removals):
        keys, table = self._lookup(removals)
        mine = doc_keys(batch)
        at = np.minimum(np.searchsorted(keys, mine), max(len(keys) - 1, 0))
        hit = keys[at] == mine if len(keys) else np.zeros(len(mine), bool)
        self.kept.inc(int((~hit).sum()))
        self.removed.inc(int(hit.sum()))
        if not hit.all():
            yield batch.filter(pa.array(~hit))
        if hit.any():
            rows = table.take(at[hit])
            detail = pc.binary_join_element_wise("duplicate of ", rows.column("survivor"), "")
            rejects = rejects_from_docs(
                batch.filter(pa.array(hit)), STAGE, REASON, detail=detail, value=rows.column("similarity")
            )
            yield beam.pvalue.TaggedOutput("rejects", rejects)


def _by_node_shard(spill: str | None, bits: int) -> beam.ParDo:
    """Batches with a `key` column -> (node shard, ("node", rows)), gathered first on the local runner so
    that a shard gets one run of rows per file, not a sliver per batch (BufferedSpill)."""
    return beam.ParDo(BufferedSpill(graph.by_shard, spill, "key", "node", bits))


class NearDuplicateIds(beam.PTransform):
    """docs -> removal batches (components.REMOVALS: key, doc_id, survivor, similarity, unit) of every
    near duplicate.

    `exclude`: an optional PCollection of removal batches (a `key` column) of documents to leave out of the
    graph, as if they were not in `docs`: the pipeline's key pass reads each unit once for both dedups.
    `bits`: 2**bits shards for every shuffle after the sketch; more for a bigger corpus, so that a worker holds
    its share. The result does not depend on it.

    Only signatures, ids and keys cross the shuffles; the text stays in `docs`, so a caller that applies
    the removals elsewhere (the pipeline's write pass) never buffers the corpus.
    """

    def __init__(
        self,
        config: NearDedupConfig,
        exclude=None,
        bits: int = DEFAULT_BITS,
        earlier=None,
        spill=None,
        processes: int = 0,
    ):
        super().__init__()
        self.config, self.exclude, self.bits, self.earlier = config, exclude, bits, earlier
        # spill: a URL where the joins' bulk waits in files, not in the runner (the local runner); processes:
        # the heavy steps' work in a pool of that many (etl/local_runner/pool.py; 0: inline).
        self.spill, self.processes = spill, processes

    def expand(self, docs):
        """`docs`: document batches, or a dict of what `sketch` makes of them ("payloads", "nodes",
        "buckets"), when the caller sketched them itself (the pipeline's key pass, in its pool)."""
        config, bits, spill, processes = self.config, self.bits, self.spill, self.processes
        # A dict: payloads and nodes come keyed by node shard, as etl/run/unit_work.key_unit makes them.
        if isinstance(docs, dict):
            buckets, payloads, nodes = docs["buckets"], docs["payloads"], docs["nodes"]
        else:
            sketched = docs | "Sketch" >> beam.ParDo(
                _Sketch(config, bits, self.exclude is not None)
            ).with_outputs("buckets", "nodes", main="payloads")
            buckets = sketched.buckets
            nodes = sketched.nodes | "NodesByShard" >> _by_node_shard(spill, bits)
            payloads = sketched.payloads | "PayloadsByShard" >> _by_node_shard(spill, bits)
        if self.exclude is not None:
            excluded = (
                self.exclude
                | "ExcludedKeys" >> beam.Map(lambda b: b.select(["key"]))
                | "ExcludedByShard" >> _by_node_shard(spill, bits)
            )
            buckets = (
                (excluded, buckets)
                | "FlattenExcluded" >> beam.Flatten()
                | "GroupByOwner" >> beam.GroupByKey()
                | "DropExcluded" >> beam.ParDo(_DropExcluded(bits, spill, processes))
            )
        if self.earlier is not None:  # earlier runs' kept docs join the graph; they are never removed
            old = self.earlier | "SketchEarlier" >> beam.ParDo(_SketchEarlier(config, bits)).with_outputs(
                "buckets", "nodes", main="payloads"
            )
            old_payloads = old.payloads | "EarlierPayloadsByShard" >> _by_node_shard(spill, bits)
            buckets = (buckets, old.buckets) | "WithEarlierBuckets" >> beam.Flatten()
            payloads = (payloads, old_payloads) | "WithEarlierPayloads" >> beam.Flatten()
            old_nodes = old.nodes | "EarlierNodesByShard" >> _by_node_shard(spill, bits)
            nodes = (nodes, old_nodes) | "WithEarlierNodes" >> beam.Flatten()
        verify = config.verify != "none"
        edges = (
            buckets
            | "GroupBuckets" >> beam.GroupByKey()
            | "CandidateEdges" >> beam.ParDo(_CandidateEdges(bits, spill, verify, processes))
        )
        if not verify:
            verified = edges | "TrustCandidates" >> beam.Map(_as_edges)
        else:
            verified = (
                edges
                | "VerifyEdges"
                >> graph.PairSimilarity(
                    payloads, PAIRS, config.verify, bits, spill, processes, keyed_pairs=True
                )
                | "AtThreshold" >> beam.Map(_verified, config.threshold)
            )
        found = verified | "Components" >> graph.ConnectedComponents(
            None, config.max_rounds, spill, processes
        )
        return found["stars"] | "Survivors" >> graph.Survivors(
            nodes, payloads, found["rounds"], config.verify, bits, self.spill, self.processes
        )


class NearDedup(beam.PTransform):
    """Remove near-duplicate documents: one survivor (the smallest doc_id) per cluster, the rest to rejects.

    Returns {"kept": doc batches, "rejects": REJECT_SCHEMA batches}; every input row lands in exactly one.
    """

    def __init__(self, config: NearDedupConfig):
        super().__init__()
        self.config = config

    def expand(self, docs):
        if not self.config.enabled:
            return {"kept": docs, "rejects": docs | "NoRejects" >> beam.FlatMap(lambda _: ())}
        removals = docs | "NearDuplicateIds" >> NearDuplicateIds(self.config)
        split = docs | "Split" >> beam.ParDo(_Split(), removals=beam.pvalue.AsList(removals)).with_outputs(
            "rejects", main="kept"
        )
        return {"kept": split.kept, "rejects": split.rejects}
