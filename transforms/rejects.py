"""Build reject batches: every row that leaves the main flow goes through here with its stage and reason."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
import pyarrow.compute as pc

from transforms.schema import REJECT_SCHEMA


def rejects_from_docs(
    docs: pa.RecordBatch,
    stage: str,
    reason: str | pa.Array | Sequence[str],
    detail: str | pa.Array | Sequence[str | None] | None = None,
    value: pa.Array | Sequence[float | None] | None = None,
) -> pa.RecordBatch:
    """Turn document rows into reject rows; scalars are broadcast to every row."""
    n = docs.num_rows

    def column(x, typ):
        if x is None:
            return pa.nulls(n, typ)
        if isinstance(x, str):
            return pa.array([x] * n, typ)
        arr = x if isinstance(x, pa.Array) else pa.array(x, typ)
        return arr.cast(typ) if arr.type != typ else arr

    names = docs.schema.names
    line = docs.column(names.index("line")) if "line" in names else pa.nulls(n, pa.int64())
    return pa.RecordBatch.from_arrays(
        [
            docs.column(names.index("doc_id")).cast(pa.string()),
            docs.column(names.index("source")).cast(pa.string()),
            line.cast(pa.int64()),
            pa.array([stage] * n, pa.string()),
            column(reason, pa.string()),
            column(detail, pa.string()),
            column(value, pa.float64()),
            docs.column(names.index("text")).cast(pa.large_string()),
        ],
        schema=REJECT_SCHEMA,
    )


def split_by_mask(
    batch: pa.RecordBatch, drop: pa.Array | Sequence[bool]
) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(kept rows, dropped rows) of `batch` by a boolean drop mask."""
    drop = drop if isinstance(drop, pa.Array) else pa.array(drop, pa.bool_())
    drop = pc.fill_null(drop, False)
    return batch.filter(pc.invert(drop)), batch.filter(drop)


def input_reject(
    source: str,
    line: int | None,
    reason: str,
    detail: str,
    text: str | None = None,
    value: float | None = None,
) -> dict:
    """One reject row for input that never became a document (bad JSON, bad UTF-8, ...)."""
    doc_id = f"{source}:{line}" if line is not None else source
    return {
        "doc_id": doc_id,
        "source": source,
        "line": line,
        "stage": "read",
        "reason": reason,
        "detail": detail,
        "value": value,
        "text": text,
    }


def input_reject_batch(rows: list[dict]) -> pa.RecordBatch:
    """A reject batch of `input_reject` rows."""
    return pa.RecordBatch.from_pylist(rows, schema=REJECT_SCHEMA)
