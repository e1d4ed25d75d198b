"""The work of one unit in each pass, as plain functions: what a pool worker (etl/local_runner/processes.py) runs.

`key_unit` reads a unit once for both dedups and returns what their shuffles carry (hash rows, MinHash
payloads, nodes and bucket pairs), never the text; `write_unit` streams a unit through the whole chain into
its shards, stats, rejects and index files under staging and returns the unit's result. The models a pass
needs (tokenizer, quality word lists) load once per process and are kept for its next units.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa

from etl.ingest.sources import InputSpec
from etl.ingest.units import WorkUnit
from etl.local_runner.pool import in_worker, release_memory
from etl.run.flow import Tally, stream_unit
from etl.run.stages import (
    RecordedQuality,
    build_chain,
    decontamination_stage,
    quality_stage,
    verdicts_path,
)
from etl.store.index import IndexWriter, signatures_path, write_signatures
from etl.store.shard_writer import UnitWriter
from transforms.schema import text_bytes
from transforms.stage import RemovalFilter

# What a unit's work imports in a pool worker (both passes), for a pool warmed before the first unit.
MODULES = (
    "etl.run.unit_work",
    "transforms.exact_dedup",
    "transforms.near_dedup.stage",
    "transforms.quality.verdicts",
    "transforms.tokenize",
)


@dataclass(frozen=True, eq=False)
class KeyJob:
    config: object
    staging: str
    exact: bool
    near: bool
    bits: int  # shard bits of the near-dedup shuffles
    by_owner: bool  # near dedup's bucket pairs go to their node's shard first (exact duplicates leave there)
    spill: str | None = None  # near dedup's payloads and bucket pairs wait in files under this URL

    def key(self) -> tuple:
        return ("keys", self.config.hash(), self.staging, self.exact, self.near, self.bits, self.by_owner)


@dataclass(frozen=True, eq=False)
class WriteJob:
    config: object
    staging: str

    def key(self) -> tuple:
        return ("write", self.config.hash(), self.staging)


def input_spec(config) -> InputSpec:
    c = config.input
    return InputSpec(
        text_field=c.text_field,
        id_field=c.id_field,
        format=c.format,
        batch_rows=c.batch_rows,
        max_record_bytes=c.max_record_bytes,
    )


def records_verdicts(config) -> bool:
    """Whether the key pass judges quality (for near dedup) and the write pass may replay its verdicts."""
    from transforms.quality.verdicts import recordable

    return config.near_dedup.enabled and recordable(config.quality)


def with_unit(batch: pa.RecordBatch, unit: int) -> pa.RecordBatch:
    """The batch with the unit it was read in, which every removal row carries back to its unit."""
    return batch.append_column("unit", pa.array(np.full(batch.num_rows, unit, np.int32)))


# One process's loaded chains, by job: a pool worker keeps them for every unit it is given (the two of the
# latest run: a long-lived process runs many).
_loaded: dict = {}


def _remember(key: tuple, chain):
    while len(_loaded) >= 2:
        _loaded.pop(next(iter(_loaded)))
    _loaded[key] = chain
    return chain


class _KeyChain:
    def __init__(self, job: KeyJob):
        from transforms.near_dedup.minhash import Permutation

        config = job.config
        # Up to exact dedup: a record the URL rules drop must not be an exact duplicate's survivor.
        self.normalize = build_chain(config, "url_filter")
        self.quality = None
        if job.near and config.quality.enabled:
            self.quality = quality_stage(config.quality)
            self.quality.setup()
        # Near dedup's graph is over the documents that pass every stage before it, decontamination too.
        self.decontamination = None
        if job.near and config.decontamination.enabled:
            self.decontamination = decontamination_stage(config.decontamination)
            self.decontamination.setup()
        self.perm = Permutation.from_seed(config.near_dedup.seed) if job.near else None
        self.record = records_verdicts(config)


def key_unit(job: KeyJob, unit: WorkUnit) -> dict:
    """{"outputs": [(tag, value)] in emission order, "docs_in": docs sketched, "unit", "input_bytes",
    "seconds", "docs_read" and "text_bytes" (for the progress of the pass)} for a unit.

    Tags: "exact" (exact dedup's hash rows), and near dedup's "nodes" and "payloads" (keyed by node shard) and
    "buckets" (keyed by shard): per tag, one spilled file with a run of batches per shard when the job says
    where, else one batch per shard.
    The unit's quality verdicts and MinHash signatures are written under staging for the write pass.
    """
    from etl.local_runner.spilled import gathered, spill_keyed
    from transforms.exact_dedup import hash_keys
    from transforms.near_dedup.graph import by_shard
    from transforms.near_dedup.stage import sketch
    from transforms.quality.verdicts import record

    started = time.time()
    chain = _loaded.get(job.key()) or _remember(job.key(), _KeyChain(job))
    outputs: list[tuple[str, object]] = []
    verdicts, signatures, sketched = [], [], 0
    docs_read = read_bytes = 0
    keyed: dict[str, list] = {"payloads": [], "nodes": [], "buckets": []}
    for kind, batch in stream_unit(unit, input_spec(job.config), chain.normalize):
        if kind != "docs":
            continue
        docs_read, read_bytes = docs_read + batch.num_rows, read_bytes + text_bytes(batch)
        batch = with_unit(batch, unit.index)
        if job.exact:
            outputs.append(("exact", hash_keys(batch)))
        if not job.near:
            continue
        if chain.quality is not None:
            kept, rejects = chain.quality.process(batch)
            if chain.record:
                signals = dict(chain.quality.side_outputs()).get("signals")
                verdicts.append(record(batch, kept, rejects, signals))
            batch = kept
        if chain.decontamination is not None and batch.num_rows:
            batch, _ = chain.decontamination.process(batch)
        if batch.num_rows == 0:
            continue
        sketched += batch.num_rows
        for tag, value in sketch(batch, job.config.near_dedup, chain.perm, job.bits, job.by_owner):
            if tag == "signatures":
                signatures.append(value)
            elif tag in ("payloads", "nodes"):
                keyed[tag].extend(by_shard(value, "key", "node", job.bits))
            elif tag == "buckets":
                keyed["buckets"].append(value)
            else:
                outputs.append((tag, value))
    for tag, items in keyed.items():  # one file per unit and tag, not a batch per batch of documents
        outputs.extend(
            (tag, item) for item in (spill_keyed(job.spill, items) if job.spill else gathered(items))
        )
    if chain.record and verdicts:  # a unit with no documents: the write pass asks for no verdicts
        _write_parquet(verdicts_path(job.staging, unit.index), verdicts)
    if signatures:
        write_signatures(signatures_path(job.staging, unit.index), signatures)
    if in_worker():  # the driver's heap is the runner's: freeing it per unit costs more than it gives
        release_memory()
    return {
        "unit": unit.index,
        "input_bytes": unit.bytes,
        "outputs": outputs,
        "docs_in": sketched,
        "docs_read": docs_read,
        "text_bytes": read_bytes,
        "seconds": time.time() - started,
    }


def _write_parquet(path: str, batches: list[pa.RecordBatch]) -> None:
    import pyarrow.parquet as pq

    with fsspec.open(path, "wb") as fh:
        pq.write_table(pa.Table.from_batches(batches), fh, compression="zstd")


def _write_chain(job: WriteJob) -> list:
    chain = _loaded.get(job.key())
    if chain is None:
        recorded = job.staging if records_verdicts(job.config) else None
        if recorded:  # the key pass is over: its models (language id, classifiers) are not needed again
            from transforms.quality import release_models

            for key in [k for k, loaded in _loaded.items() if isinstance(loaded, _KeyChain)]:
                del _loaded[key]
            release_models()
        chain = build_chain(job.config, "tokenize", recorded_quality=recorded)
        for stage in chain:
            stage.setup()
        _remember(job.key(), chain)
    return chain


def removal_tables(removals: list) -> dict[str, pa.Table]:
    """(dedup stage, removal batch or its spilled file) items -> one table per stage that has rows."""
    from etl.local_runner.spilled import unspilled
    from transforms.exact_dedup import REMOVAL_SCHEMA

    parts: dict[str, list[pa.RecordBatch]] = {}
    for stage, batch in unspilled(removals):
        parts.setdefault(stage, []).append(batch)
    return {stage: pa.Table.from_batches(batches, REMOVAL_SCHEMA) for stage, batches in parts.items()}


def write_unit(job: WriteJob, unit: WorkUnit, removals: list) -> dict:
    """Write one unit's files under staging, its removal rows read here (`removal_tables`: in the worker, not
    the driver); returns its result (also saved as staging/units/uNNNNN.json) and what the driver shows:
    kept documents and text bytes, seconds."""
    started = time.time()
    removals = removal_tables(removals)
    chain = _write_chain(job)
    for stage in chain:
        if isinstance(stage, RecordedQuality):
            stage.for_unit(unit.index)
        elif isinstance(stage, RemovalFilter):
            stage.use(removals.get(stage.name))
    tally = Tally()
    writer = UnitWriter(job.staging, unit.index, job.config.output)
    index = IndexWriter(job.staging, unit.index, job.config)
    kept_docs = kept_bytes = 0
    for kind, batch in stream_unit(unit, input_spec(job.config), chain, tally):
        if kind == "docs":
            writer.add_docs(batch)
            index.add(batch)
            kept_docs += batch.num_rows
            kept_bytes += text_bytes(batch)
        elif kind == "signals":
            writer.add_signals(batch)
        else:
            writer.add_rejects(batch)
    outputs = writer.close()
    result = {
        "unit": unit.index,
        "files": list(unit.files),
        "counts": tally.to_dict(),
        "shards": [vars(f) for f in outputs.shards],
        "stats": [vars(f) for f in outputs.stats],
        "rejects": [vars(f) for f in outputs.rejects],
        "signals": [vars(f) for f in outputs.signals],
        "index": index.close(),
    }
    with fsspec.open(unit_result_path(job.staging, unit.index), "w") as fh:
        json.dump(result, fh, sort_keys=True)
    if in_worker():
        release_memory()
    return {
        "result": result,
        "kept_docs": kept_docs,
        "kept_bytes": kept_bytes,
        "seconds": time.time() - started,
    }


def unit_result_path(staging: str, unit: int) -> str:
    return f"{staging}/units/u{unit:05d}.json"
