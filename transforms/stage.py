"""The shape every map stage has, and the filter that applies a removal map from a shuffle stage.

A `BatchStage` turns one document batch into (kept, rejects). Map stages (normalize, quality, tokenize) are
BatchStages; shuffle stages (exact and near dedup) produce a removal map that `RemovalFilter` applies, so the
text itself never crosses a shuffle. `MapStage` runs any BatchStage as a Beam ParDo with a rejects output.
"""

from __future__ import annotations

from collections.abc import Callable

import apache_beam as beam
import pyarrow as pa

from transforms.rejects import rejects_from_docs, split_by_mask

Batch = pa.RecordBatch


class BatchStage:
    """A named pure step over a batch: `process(batch) -> (kept, rejects)`; `setup()` loads what it needs."""

    name = "stage"

    def setup(self) -> None:
        """Load models or tables once per worker; called before the first batch."""

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        raise NotImplementedError


class FunctionStage(BatchStage):
    def __init__(self, name: str, fn: Callable[[Batch], tuple[Batch, Batch]]):
        self.name, self.fn = name, fn

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        return self.fn(batch)


class RemovalFilter(BatchStage):
    """Drops the documents a removal table names (doc_id, stage, reason, detail, value) into rejects.

    The lookup is a dict built once per worker: a set-membership kernel would rebuild its hash table for every
    batch, which costs O(removals) per batch.
    """

    def __init__(self, name: str, removals: pa.Table | None = None):
        self.name, self.removals = name, removals
        self._rows: dict[str, int] | None = None

    def setup(self) -> None:
        if self._rows is None:
            ids = self.removals.column("doc_id").to_pylist() if self.removals is not None else []
            self._rows = {doc_id: i for i, doc_id in enumerate(ids)}

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        self.setup()
        if not self._rows:
            return batch, rejects_from_docs(batch.slice(0, 0), self.name, "")
        ids = batch.column(batch.schema.get_field_index("doc_id")).to_pylist()
        found = [self._rows.get(doc_id) for doc_id in ids]
        drop = pa.array([r is not None for r in found], pa.bool_())
        kept, dropped = split_by_mask(batch, drop)
        rows = pa.array([r for r in found if r is not None], pa.int64())
        return kept, rejects_from_docs(
            dropped,
            self.name,
            self.removals.column("reason").take(rows).combine_chunks(),
            self.removals.column("detail").take(rows).combine_chunks(),
            self.removals.column("value").take(rows).combine_chunks(),
        )


class _RunStage(beam.DoFn):
    def __init__(self, stage: BatchStage):
        self.stage = stage

    def setup(self):
        self.stage.setup()

    def process(self, batch):
        kept, rejects = self.stage.process(batch)
        if kept.num_rows:
            yield kept
        if rejects.num_rows:
            yield beam.pvalue.TaggedOutput("rejects", rejects)


class MapStage(beam.PTransform):
    """Any BatchStage as a ParDo: returns {"kept": ..., "rejects": ...}."""

    def __init__(self, stage: BatchStage):
        super().__init__(label=f"MapStage({stage.name})")
        self.stage = stage

    def expand(self, batches):
        outputs = batches | beam.ParDo(_RunStage(self.stage)).with_outputs("rejects", main="kept")
        return {"kept": outputs.kept, "rejects": outputs.rejects}
