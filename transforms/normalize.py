"""Text normalisation every later stage relies on: Unicode NFC, one line ending, no control characters.

Newline and tab stay (they carry structure the quality rules read); every other C0/C1 control and DEL goes.
A document left with no visible text is a reject (`empty_text`), never an empty row downstream.
"""

from __future__ import annotations

import polars as pl
import pyarrow as pa

from transforms.rejects import rejects_from_docs, split_by_mask

STAGE = "normalize"
CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"


def normalize_text(texts: pa.Array) -> pa.Array:
    """NFC, CRLF/CR to LF, control characters removed; vectorised in polars."""
    series = pl.from_arrow(texts)
    out = (
        series.str.normalize("NFC")
        .str.replace_all("\r\n", "\n", literal=True)
        .str.replace_all("\r", "\n", literal=True)
        .str.replace_all(CONTROL_CHARS, "")
    )
    return out.to_arrow().cast(pa.large_string())


def normalize_batch(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(normalised documents, rejects of documents with no visible text left)."""
    idx = batch.schema.get_field_index("text")
    texts = normalize_text(batch.column(idx))
    batch = batch.set_column(idx, batch.schema.field(idx), texts)
    blank = pl.from_arrow(texts).str.strip_chars().str.len_bytes() == 0
    kept, dropped = split_by_mask(batch, blank.to_arrow())
    return kept, rejects_from_docs(dropped, STAGE, "empty_text", "no visible text after normalization")
