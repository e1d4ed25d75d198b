"""Read one Parquet input into document batches and reject rows, with pyarrow only.

Rows are numbered from 1 like lines. A text column that is not a string rejects every row; an id column that
cannot be a string (lists, structs, invalid UTF-8 bytes) rejects its rows as `invalid_id`; other columns become
the JSON `meta`. polars is not used here: on some column types (binary) it panics with an error that derives
from BaseException, which no reader should have to catch.
"""

from __future__ import annotations

import base64
import datetime
import json
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.rejects import input_reject, input_reject_batch
from transforms.schema import BATCH_BYTES, DOC_SCHEMA, byte_slices

PARQUET_ERRORS = (pa.ArrowException, OSError, EOFError)


def _is_text(typ: pa.DataType) -> bool:
    return pa.types.is_string(typ) or pa.types.is_large_string(typ) or pa.types.is_string_view(typ)


def _castable_id(typ: pa.DataType) -> bool:
    """Types whose values have one obvious string form; binary is tried (it must be UTF-8)."""
    checks = (
        _is_text,
        pa.types.is_integer,
        pa.types.is_floating,
        pa.types.is_boolean,
        pa.types.is_decimal,
        pa.types.is_temporal,
        pa.types.is_binary,
        pa.types.is_large_binary,
        pa.types.is_fixed_size_binary,
    )
    return any(check(typ) for check in checks)


def _json_value(value):
    """JSON form of the values pyarrow gives that json cannot write (bytes, dates, decimals, durations)."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            return "base64:" + base64.b64encode(value).decode("ascii")
    if isinstance(value, datetime.date | datetime.time | datetime.datetime):
        return value.isoformat()
    return str(value)  # Decimal, timedelta and any other scalar pyarrow hands back: its exact text


def _meta_json(batch: pa.RecordBatch, columns: list[str]) -> list[str]:
    if not columns:
        return ["{}"] * batch.num_rows
    values = [batch.column(name).to_pylist() for name in columns]
    dump = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=_json_value).encode
    return [dump(dict(zip(columns, row, strict=True))) for row in zip(*values, strict=True)]


def _doc_ids(url: str, batch: pa.RecordBatch, rows: list[int], spec) -> tuple[list[str], str | None]:
    """(doc ids, None) or (derived ids, why the id column is unusable): null ids are derived from url:row."""
    derived = [f"{url}:{r}" for r in rows]
    if not spec.id_field or spec.id_field not in batch.schema.names:
        return derived, None
    col = batch.column(spec.id_field)
    if not _castable_id(col.type):
        return derived, f"column {spec.id_field!r} is {col.type}, not a scalar"
    try:
        ids = pc.cast(col, pa.string()).to_pylist()
    except pa.ArrowInvalid as err:
        return derived, f"column {spec.id_field!r} ({col.type}) has no string form: {err}"
    return [d if i is None else i for i, d in zip(ids, derived, strict=True)], None


def _parquet_batch(url: str, batch: pa.RecordBatch, first_row: int, spec):
    """(documents or None, reject rows) of one record batch."""
    rows = list(range(first_row, first_row + batch.num_rows))
    text = batch.column(spec.text_field)
    if pa.types.is_dictionary(text.type) and _is_text(text.type.value_type):
        text = text.cast(text.type.value_type)
    if not _is_text(text.type):
        detail = f"column {spec.text_field!r} is {text.type}, not a string"
        return None, [input_reject(url, r, "non_string_text", f"{url}: row {r}: {detail}") for r in rows]
    ids, bad_id = _doc_ids(url, batch, rows, spec)
    if bad_id:
        texts = text.to_pylist()
        rejects = [
            input_reject(url, r, "invalid_id", f"{url}: row {r}: {bad_id}", t)
            for r, t in zip(rows, texts, strict=True)
        ]
        return None, rejects
    null = text.is_null().to_pylist()
    rejects = [
        input_reject(url, r, "null_text", f"{url}: row {r}: {spec.text_field!r} is null")
        for r, is_null in zip(rows, null, strict=True)
        if is_null
    ]
    drop = null
    limit = getattr(spec, "max_record_bytes", None)
    if limit is not None:
        sizes = pc.binary_length(text).to_pylist()
        big = [s is not None and s > limit for s in sizes]
        if any(big):
            rejects += [
                too_large_reject(url, r, size, t[:4096], limit)
                for r, size, t, b in zip(rows, sizes, text.to_pylist(), big, strict=True)
                if b
            ]
            drop = [n or b for n, b in zip(null, big, strict=True)]
    keep = pa.array([not d for d in drop], pa.bool_())
    kept = batch.filter(keep)
    other = [c for c in batch.schema.names if c not in (spec.text_field, spec.id_field)]
    docs = pa.RecordBatch.from_arrays(
        [
            pa.array([i for i, d in zip(ids, drop, strict=True) if not d], pa.string()),
            text.filter(keep).cast(pa.large_string()),
            pa.array([url] * kept.num_rows, pa.string()),
            pa.array(_meta_json(kept, other), pa.string()),
            pa.array([r for r, d in zip(rows, drop, strict=True) if not d], pa.int64()),
        ],
        schema=DOC_SCHEMA,
    )
    return docs, rejects


def too_large_reject(url: str, line: int, size: int, preview: str, limit: int) -> dict:
    """The reject of a record over input.max_record_bytes: its size as value, its first bytes as preview."""
    detail = f"{url}:{line}: a record of {size} bytes, over input.max_record_bytes ({limit})"
    return input_reject(url, line, "record_too_large", detail, preview, value=float(size))


def _file_reject(url: str, line: int, reason: str, detail: str) -> tuple[str, pa.RecordBatch]:
    return "rejects", input_reject_batch([input_reject(url, line, reason, detail)])


def read_parquet(
    url: str, raw, spec, row_groups: range | None = None, first_row: int = 1
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """("docs" | "rejects", batch) pairs of one Parquet file, or of a run of its row groups (a work-unit part,
    numbered from `first_row`); damage mid-file keeps the rows before it. What concerns the whole file is
    reported by the part that starts it only."""
    whole_file = first_row == 1
    try:
        pfile = pq.ParquetFile(raw)
        names = pfile.schema_arrow.names
        num_rows = pfile.metadata.num_rows
    except PARQUET_ERRORS as err:
        if whole_file:
            detail = f"{url}: not readable Parquet: {type(err).__name__}: {err}"
            yield _file_reject(url, 0, "corrupt_file", detail)
        return
    if spec.text_field not in names:
        if whole_file:
            detail = f"{url}: no column {spec.text_field!r} (columns: {', '.join(names)})"
            yield _file_reject(url, 0, "missing_text", detail)
        return
    if num_rows == 0:
        yield _file_reject(url, 0, "empty_file", f"{url}: no rows")
        return
    first = first_row
    try:
        for batch in pfile.iter_batches(batch_size=spec.batch_rows, row_groups=row_groups):
            docs, rejects = _parquet_batch(url, batch, first, spec)
            first += batch.num_rows
            if docs is not None and docs.num_rows:
                # At most BATCH_BYTES of text per batch, as JSONL: row groups of long documents would
                # otherwise put hundreds of MB in one batch, and every stage holds a few times its batch.
                for part in byte_slices(docs, BATCH_BYTES):
                    yield "docs", part
            if rejects:
                yield "rejects", input_reject_batch(rejects)
    except PARQUET_ERRORS as err:
        detail = f"{url}: unreadable after row {first - 1} (the last good row): {type(err).__name__}: {err}"
        yield _file_reject(url, first, "corrupt_file", detail)
