"""The columns that pass between stages, and small helpers every stage uses on them.

Documents travel as ``pa.RecordBatch`` with at least DOC_SCHEMA's columns; stages may add columns but never drop
a row silently: a row leaves the flow only as a reject (``transforms.rejects``).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

DOC_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string(), nullable=False),
        pa.field("text", pa.large_string(), nullable=False),
        pa.field("source", pa.string(), nullable=False),
        pa.field("meta", pa.string()),
        # 1-based line (JSONL) or row (Parquet) number in `source`; 0 for whole-file text documents.
        pa.field("line", pa.int64()),
    ]
)

REJECT_SCHEMA = pa.schema(
    [
        pa.field("doc_id", pa.string()),
        pa.field("source", pa.string()),
        pa.field("line", pa.int64()),
        pa.field("stage", pa.string()),
        pa.field("reason", pa.string()),
        pa.field("detail", pa.string()),
        # The number behind the decision (a metric value, a similarity), null where there is none.
        pa.field("value", pa.float64()),
        pa.field("text", pa.large_string()),
    ]
)

# Columns a training shard carries (DESIGN.md "Output"); `text` only with output.keep_text.
SHARD_COLUMNS = ("doc_id", "tokens", "num_tokens", "source", "meta")


def text_bytes(batch: pa.RecordBatch) -> int:
    """UTF-8 bytes of the text column, read off the Arrow offsets (no copy)."""
    col = batch.column(batch.schema.get_field_index("text"))
    if len(col) == 0:
        return 0
    offsets = np.frombuffer(
        col.buffers()[1], dtype=np.int64 if pa.types.is_large_string(col.type) else np.int32
    )
    return int(offsets[col.offset + len(col)] - offsets[col.offset])


# A batch ends at `batch_rows` documents or at this much text (JSON for JSONL), whichever comes first: every
# stage holds a few times its batch's text, so 4,096 long documents (30 MB) would cost a worker a gigabyte.
BATCH_BYTES = 4 << 20


def byte_slices(batch: pa.RecordBatch, limit: int) -> list[pa.RecordBatch]:
    """Consecutive slices of `batch` of at most `limit` text bytes each (a longer document makes its own)."""
    if text_bytes(batch) <= limit:
        return [batch]
    text = batch.column(batch.schema.get_field_index("text"))
    ends = np.cumsum(pc.binary_length(text).to_numpy(zero_copy_only=False).astype(np.int64))
    slices, start = [], 0
    while start < batch.num_rows:
        base = int(ends[start - 1]) if start else 0
        end = max(start + 1, int(np.searchsorted(ends, base + limit, side="right")))
        slices.append(batch.slice(start, end - start))
        start = end
    return slices
