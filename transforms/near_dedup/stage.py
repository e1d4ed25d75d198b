"""NearDedup: the Beam wiring of near-duplicate removal (DESIGN.md "Near-duplicate removal").

docs -> signatures + (bucket, doc) pairs -> shuffle by bucket range -> candidate edges -> one global step
(verify, components, survivors) -> a removal table, a side input that splits the docs into kept and rejects.
Every element is an Arrow batch; the DoFns only move batches between the pure functions of this package.
"""

from __future__ import annotations

import logging

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics import Metrics

from transforms.near_dedup import components
from transforms.near_dedup.hashing import doc_keys
from transforms.near_dedup.lsh import SHARD_BITS, bucket_shards, candidate_pairs
from transforms.near_dedup.minhash import Permutation, band_hashes
from transforms.near_dedup.params import NearDedupConfig
from transforms.near_dedup.shingles import shingle_hashes
from transforms.near_dedup.sketch import batch_signatures, text_column
from transforms.rejects import rejects_from_docs

STAGE = "near_dedup"
log = logging.getLogger("corpus_etl")
REASON = "near_duplicate"
BUCKETS = pa.schema([("bucket", pa.uint64()), ("key", pa.uint64())])
_GLOBAL = 0  # the one key of the global step


class _Sketch(beam.DoFn):
    """Doc batch -> its signatures (main) and, per bucket shard, its (bucket, doc key) pairs ("buckets")."""

    def __init__(self, config: NearDedupConfig):
        self.config = config

    def setup(self):
        self.perm = Permutation.from_seed(self.config.seed)
        self.bands, self.rows = self.config.bands_rows()
        self.docs_in = Metrics.counter(STAGE, "docs_in")

    def process(self, batch: pa.RecordBatch):
        if batch.num_rows == 0:
            return
        self.docs_in.inc(batch.num_rows)
        keys = doc_keys(batch)
        sig = batch_signatures(text_column(batch), self.config, self.perm)
        yield components.signature_batch(keys, batch.column(batch.schema.get_field_index("doc_id")), sig)
        buckets = band_hashes(sig, self.bands, self.rows).ravel()
        owners = np.repeat(keys, self.bands)
        shards = bucket_shards(buckets)
        order = np.argsort(shards, kind="stable")
        bounds = np.searchsorted(shards[order], np.arange((1 << SHARD_BITS) + 1))
        for shard in range(1 << SHARD_BITS):
            part = order[bounds[shard] : bounds[shard + 1]]
            if len(part):
                pairs = pa.RecordBatch.from_arrays(
                    [pa.array(buckets[part]), pa.array(owners[part])], schema=BUCKETS
                )
                yield beam.pvalue.TaggedOutput("buckets", (shard, pairs))


class _EdgesOfShard(beam.DoFn):
    """All (bucket, doc) pairs of one shard -> its candidate edges (one batch).

    Documents named by `exclude` (removal batches with a `key` column: the exact duplicates) leave the
    buckets before any edge is drawn, so the graph is the one over the documents that survive exact dedup.
    """

    def setup(self):
        self._source = self._excluded = None

    def _excluded_keys(self, exclude) -> np.ndarray:
        if self._excluded is None or self._source is not exclude:
            self._source = exclude  # held, so the identity check cannot match a freed and reused object
            parts = [b.column(b.schema.get_field_index("key")).to_numpy() for b in exclude or ()]
            self._excluded = np.unique(np.concatenate([np.zeros(0, np.uint64), *parts]))
        return self._excluded

    def process(self, shard_and_pairs, exclude=()):
        _, batches = shard_and_pairs
        table = pa.Table.from_batches(list(batches), BUCKETS)
        buckets, keys = table.column("bucket").to_numpy(), table.column("key").to_numpy()
        excluded = self._excluded_keys(exclude)
        if len(excluded):
            keep = ~np.isin(keys, excluded, assume_unique=False)
            buckets, keys = buckets[keep], keys[keep]
        u, v = candidate_pairs(buckets, keys)
        Metrics.counter(STAGE, "candidate_pairs").inc(len(u))
        yield pa.RecordBatch.from_arrays(
            [pa.array(u, pa.uint64()), pa.array(v, pa.uint64())], schema=components.EDGES
        )


def _candidate_keys(item) -> np.ndarray:
    """Sorted distinct doc keys that appear in any candidate edge (whose shingles exact verification needs)."""
    _, batches = item
    parts = [np.zeros(0, np.uint64)]
    for b in batches:
        parts += [b.column(0).to_numpy(), b.column(1).to_numpy()]
    return np.unique(np.concatenate(parts))


class _ShingleSets(beam.DoFn):
    """Doc batch -> sorted unique shingle hashes of its candidate docs (verify: exact only)."""

    def __init__(self, config: NearDedupConfig):
        self.config = config

    def process(self, batch: pa.RecordBatch, candidates: np.ndarray | None):
        keys = doc_keys(batch)
        rows = np.flatnonzero(np.isin(keys, candidates)) if candidates is not None else []
        if len(rows) == 0:
            return
        hashes, doc = shingle_hashes(text_column(batch).take(rows), self.config.ngram, self.config.shingle)
        order = np.lexsort((hashes, doc))
        hashes, doc = hashes[order], doc[order]
        new = np.ones(len(hashes), bool)
        new[1:] = (hashes[1:] != hashes[:-1]) | (doc[1:] != doc[:-1])
        offsets = np.searchsorted(doc[new], np.arange(len(rows) + 1))
        lists = pa.LargeListArray.from_arrays(
            pa.array(offsets, pa.int64()), pa.array(hashes[new], pa.uint64())
        )
        yield pa.RecordBatch.from_arrays(
            [pa.array(keys[rows], pa.uint64()), lists], schema=components.SHINGLE_SETS
        )


def _resolve(config: NearDedupConfig):
    """The global step as a function of the grouped (kind, batch) elements: one removal table."""

    def run(item, shingle_sets=()) -> pa.RecordBatch:
        _, tagged = item
        parts: dict[str, list[pa.RecordBatch]] = {"sig": [], "edge": []}
        for kind, batch in tagged:
            parts[kind].append(batch)
        graph = components.Graph(parts["sig"], config.num_perm)
        u, v = components.edge_nodes(graph, parts["edge"])
        sets = components.shingle_sets(graph, shingle_sets) if config.verify == "exact" else None
        removals = components.resolve(graph, u, v, config.threshold, config.verify, sets)
        Metrics.counter(STAGE, "verified_removals").inc(removals.num_rows)
        log.info(
            "near dedup: %d documents, %d candidate edges, %d near duplicates",
            len(graph), len(u), removals.num_rows,
        )  # fmt: skip
        return removals

    return run


class _Split(beam.DoFn):
    """Doc batch + removal table -> kept rows (main) and reject rows ("rejects")."""

    def setup(self):
        self._source = self._index = None
        self.kept = Metrics.counter(STAGE, "kept")
        self.removed = Metrics.counter(STAGE, "removed")

    def _lookup(self, removals: pa.RecordBatch | None) -> tuple[np.ndarray, pa.Table]:
        """(sorted removed keys, their rows), built once per side-input object (the same for every batch)."""
        if self._index is None or self._source is not removals:
            self._source = removals  # held, so the identity check cannot match a freed and reused object
            batches = [removals] if removals is not None else []
            table = pa.Table.from_batches(batches, components.REMOVALS)
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


class NearDuplicateIds(beam.PTransform):
    """docs -> one removal table (REMOVALS: key, doc_id, survivor, similarity) of every near-duplicate.

    `exclude`: an optional PCollection of removal batches (a `key` column) of documents to leave out of the
    graph, as if they were not in `docs`: the pipeline's key pass reads each unit once for both dedups.

    Only signatures and bucket keys cross the shuffles; the text stays in `docs`, so a caller that applies
    the table elsewhere (the pipeline's write pass) never buffers the corpus.
    """

    def __init__(self, config: NearDedupConfig, exclude=None):
        super().__init__()
        self.config, self.exclude = config, exclude

    def expand(self, docs):
        sketched = docs | "Sketch" >> beam.ParDo(_Sketch(self.config)).with_outputs(
            "buckets", main="signatures"
        )
        side = {} if self.exclude is None else {"exclude": beam.pvalue.AsList(self.exclude)}
        edges = (
            sketched.buckets
            | "GroupBuckets" >> beam.GroupByKey()
            | "CandidateEdges" >> beam.ParDo(_EdgesOfShard(), **side)
        )
        tagged = [
            sketched.signatures | "TagSignatures" >> beam.Map(lambda b: (_GLOBAL, ("sig", b))),
            edges | "TagEdges" >> beam.Map(lambda b: (_GLOBAL, ("edge", b))),
        ]
        gathered = tagged | "FlattenForResolve" >> beam.Flatten() | "GatherGlobal" >> beam.GroupByKey()
        if self.config.verify != "exact":
            return gathered | "Resolve" >> beam.Map(_resolve(self.config))
        # Shingle sets of candidate docs only, reaching the global step as a side input (a Flatten with
        # the other inputs left the local runner with bundles it never scheduled).
        candidates = (
            edges
            | "KeyEdges" >> beam.Map(lambda b: (_GLOBAL, b))
            | "GroupEdges" >> beam.GroupByKey()
            | "CandidateKeys" >> beam.Map(_candidate_keys)
        )
        sets = docs | "ShingleSets" >> beam.ParDo(
            _ShingleSets(self.config), candidates=beam.pvalue.AsSingleton(candidates, default_value=None)
        )
        return gathered | "Resolve" >> beam.Map(_resolve(self.config), beam.pvalue.AsList(sets))


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
        split = docs | "Split" >> beam.ParDo(
            _Split(), removals=beam.pvalue.AsSingleton(removals, default_value=None)
        ).with_outputs("rejects", main="kept")
        return {"kept": split.kept, "rejects": split.rejects}
