"""The shape every map stage has, and the filter that applies a removal map from a shuffle stage.

A `BatchStage` turns one document batch into (kept, rejects). Map stages (normalize, quality, tokenize) are
BatchStages; shuffle stages (exact and near dedup) produce a removal map that `RemovalFilter` applies, so the
text itself never crosses a shuffle.
"""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from transforms.near_dedup.hashing import doc_keys
from transforms.rejects import rejects_from_docs, split_by_mask

Batch = pa.RecordBatch
# The map and shuffle stages in the order of the flow (DESIGN.md "The flow"); every pass runs a prefix of it.
ORDER = ("normalize", "url_filter", "exact_dedup", "quality", "decontamination", "near_dedup", "tokenize")


class BatchStage:
    """A named pure step over a batch: `process(batch) -> (kept, rejects)`; `setup()` loads what it needs."""

    name = "stage"

    def setup(self) -> None:
        """Load models or tables once per worker; called before the first batch."""

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        raise NotImplementedError

    def side_outputs(self) -> list[tuple[str, Batch]]:
        """(kind, batch) that the last `process` call produced beside kept and rejects (quality's signals)."""
        return []


class FunctionStage(BatchStage):
    def __init__(self, name: str, fn: Callable[[Batch], tuple[Batch, Batch]]):
        self.name, self.fn = name, fn

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        return self.fn(batch)


class RemovalFilter(BatchStage):
    """Drops the rows a removal table names (key, doc_id, stage, reason, detail, value) into rejects.

    Rows are matched on `key`, the 64-bit identity of (doc_id, source, line), not on doc_id: merged corpora
    reuse ids across files, and a duplicate of one file's "1" must not take another file's "1" with it.

    The lookup is a dict built once per table (one work unit's rows): a set-membership kernel would rebuild
    its hash table for every batch, which costs O(removals) per batch.
    """

    def __init__(self, name: str, removals: pa.Table | None = None):
        self.name, self.removals = name, removals
        self._rows: dict[int, int] | None = None

    def use(self, removals: pa.Table | None) -> None:
        """Another removal table (the next work unit's own rows)."""
        self.removals, self._rows = removals, None

    def setup(self) -> None:
        if self._rows is None:
            keys = self.removals.column("key").to_pylist() if self.removals is not None else []
            self._rows = {key: i for i, key in enumerate(keys)}

    def process(self, batch: Batch) -> tuple[Batch, Batch]:
        self.setup()
        if not self._rows:
            return batch, rejects_from_docs(batch.slice(0, 0), self.name, "")
        found = [self._rows.get(key) for key in doc_keys(batch).tolist()]
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
