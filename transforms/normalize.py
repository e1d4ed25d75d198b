"""Text normalisation every later stage relies on: Unicode NFC, one line ending, no control characters.

Newline and tab stay (they carry structure the quality rules read); every other C0/C1 control and DEL goes.
A document left with no visible text is a reject (`empty_text`), never an empty row downstream.
"""

from __future__ import annotations

import unicodedata

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from transforms.rejects import rejects_from_docs, split_by_mask

STAGE = "normalize"
CONTROL_CHARS = r"[\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"
DIRTY = r"[\r\x00-\x08\x0B\x0C\x0E-\x1F\x7F-\x9F]"  # rows with a CR or a control character


def nfc(texts: pa.Array) -> pa.Array:
    """NFC of the non-ASCII rows only (ASCII is already NFC), through CPython's unicodedata: its quick check
    returns a normalized string as it is, about 100x faster than polars' `str.normalize` on real text."""
    non_ascii = pc.invert(pc.string_is_ascii(texts))
    if not pc.any(non_ascii).as_py():
        return texts
    rows = pc.filter(texts, non_ascii).to_pylist()
    fixed = pa.array([unicodedata.normalize("NFC", t) for t in rows], pa.large_string())
    return pc.replace_with_mask(texts, non_ascii, fixed)


def _line_ends_and_controls(texts: pa.Array) -> pa.Array:
    """CRLF/CR to LF and control characters removed, on the rows that have any (few in real text)."""
    dirty = pc.match_substring_regex(texts, DIRTY)
    if not pc.any(dirty).as_py():
        return texts
    fixed = (
        pl.from_arrow(pc.filter(texts, dirty))
        .str.replace_all("\r\n", "\n", literal=True)
        .str.replace_all("\r", "\n", literal=True)
        .str.replace_all(CONTROL_CHARS, "")
    )
    return pc.replace_with_mask(texts, dirty, fixed.to_arrow().cast(pa.large_string()))


def normalize_text(texts: pa.Array) -> pa.Array:
    """NFC, CRLF/CR to LF, control characters removed; each step only on the rows that need it."""
    texts = texts.cast(pa.large_string())
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    return _line_ends_and_controls(nfc(texts))


def normalize_batch(batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(normalised documents, rejects of documents with no visible text left)."""
    idx = batch.schema.get_field_index("text")
    texts = normalize_text(batch.column(idx))
    batch = batch.set_column(idx, batch.schema.field(idx), texts)
    blank = pl.from_arrow(texts).str.strip_chars().str.len_bytes() == 0
    kept, dropped = split_by_mask(batch, blank.to_arrow())
    return kept, rejects_from_docs(dropped, STAGE, "empty_text", "no visible text after normalization")
