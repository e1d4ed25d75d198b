"""Quality verdicts recorded once and replayed: the rules run in the near-dedup key pass, not again at write.

The quality stage is a function of each document alone, so its outcome for a row can be recorded by row key
(the 64-bit identity of doc_id, source, line) and replayed on any batch holding that row: rejected rows get
their reason, detail and value back, kept rows their `q_*` metrics and `lang`, in the stage's own column order.
Replay gives the batches the stage itself would give (tests/test_quality_verdicts.py). A stage that edits text
(c4.remove_lines, pii) is not recorded: its text would have to travel too, so it simply runs again.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from transforms.near_dedup.hashing import doc_keys
from transforms.quality.params import QualityConfig
from transforms.quality.stage import SIGNAL_KEYS, STAGE
from transforms.rejects import rejects_from_docs

VERDICT_COLUMNS = ("key", "rejected", "reason", "detail", "value")


def recordable(config: QualityConfig) -> bool:
    """Whether the stage leaves the text as it is, so that a verdict is all it produces."""
    return (
        config.enabled
        and not config.c4.remove_lines
        and not config.pii.enabled
        and not config.pii.redact.on()
    )


def record(
    batch: pa.RecordBatch,
    kept: pa.RecordBatch,
    rejects: pa.RecordBatch,
    signals: pa.RecordBatch | None = None,
) -> pa.RecordBatch:
    """One verdict row per row of `batch`: key, rejected flag, the reject's reason/detail/value, and the
    columns the stage added to kept rows (null for rejected rows). With the stage's signals, the reason is
    the first failing rule's even where the document stays (annotate mode), and the added columns hold every
    row's signals, plus num_bytes."""
    added = [n for n in kept.schema.names if n not in batch.schema.names]
    if kept.schema.names != [n for n in batch.schema.names if n in kept.schema.names] + added:
        raise ValueError("quality verdicts: the stage reordered or replaced input columns; not recordable")
    keys = doc_keys(batch)
    rejected_at = {k: i for i, k in enumerate(doc_keys(rejects).tolist())} if rejects.num_rows else {}
    reject_rows = pa.array([rejected_at.get(k) for k in keys.tolist()], pa.int64())
    reason = rejects.column(rejects.schema.get_field_index("reason")).take(reject_rows)
    if signals is not None:
        reason = signals.column(signals.schema.get_field_index("reason"))
    arrays = [
        pa.array(keys, pa.uint64()),
        pc.is_valid(reject_rows),
        reason,
        *(rejects.column(rejects.schema.get_field_index(c)).take(reject_rows) for c in ("detail", "value")),
    ]
    if signals is not None:  # row i of the signals is row i of the batch
        names = [*VERDICT_COLUMNS, "num_bytes", *added]
        arrays += [signals.column(signals.schema.get_field_index(n)) for n in names[len(VERDICT_COLUMNS) :]]
        return pa.RecordBatch.from_arrays(arrays, names=names)
    kept_at = {k: i for i, k in enumerate(doc_keys(kept).tolist())}
    kept_rows = pa.array([kept_at.get(k) for k in keys.tolist()], pa.int64())
    arrays += [kept.column(kept.schema.get_field_index(n)).take(kept_rows) for n in added]
    return pa.RecordBatch.from_arrays(arrays, names=[*VERDICT_COLUMNS, *added])


class Verdicts:
    """The recorded verdicts of one work unit, looked up by row key."""

    def __init__(self, table: pa.Table):
        self.table = table.combine_chunks()
        keys = self.table.column("key").to_numpy()
        self._order = np.argsort(keys, kind="stable")
        self._keys = keys[self._order]
        self.has_signals = "num_bytes" in self.table.column_names
        self.added = [n for n in self.table.column_names if n not in (*VERDICT_COLUMNS, "num_bytes")]

    def _rows(self, batch: pa.RecordBatch) -> np.ndarray:
        keys = doc_keys(batch)
        at = np.searchsorted(self._keys, keys)
        at = np.minimum(at, max(len(self._keys) - 1, 0))
        if len(keys) and (len(self._keys) == 0 or not np.array_equal(self._keys[at], keys)):
            raise RuntimeError(
                "quality verdicts: a row reached the write pass that the key pass never judged"
            )
        return self._order[at]

    def replay(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch, pa.RecordBatch | None]:
        """(kept rows with the stage's columns, reject rows, signals or None): what the stage gives for
        `batch`."""
        rows = pa.array(self._rows(batch), pa.int64())
        verdicts = self.table.take(rows)
        rejected = verdicts.column("rejected").combine_chunks()
        gone = batch.filter(rejected)
        rejects = rejects_from_docs(
            gone,
            STAGE,
            reason=pc.filter(verdicts.column("reason"), rejected).combine_chunks(),
            detail=pc.filter(verdicts.column("detail"), rejected).combine_chunks(),
            value=pc.filter(verdicts.column("value"), rejected).combine_chunks(),
        )
        keep = pc.invert(rejected)
        docs = batch.filter(keep)
        names = [n for n in docs.schema.names if n not in self.added]
        arrays = [docs.column(docs.schema.get_field_index(n)) for n in names]
        for name in self.added:
            names.append(name)
            arrays.append(pc.filter(verdicts.column(name), keep).combine_chunks())
        kept = pa.RecordBatch.from_arrays(arrays, names=names)
        return kept, rejects, self._signals(batch, verdicts) if self.has_signals else None

    def _signals(self, batch: pa.RecordBatch, verdicts: pa.Table) -> pa.RecordBatch:
        names = [*SIGNAL_KEYS, *self.added]
        arrays = [batch.column(batch.schema.get_field_index(c)) for c in SIGNAL_KEYS[:3]]
        arrays += [verdicts.column(c).combine_chunks() for c in names[3:]]
        return pa.RecordBatch.from_arrays(arrays, names=names)
