"""Read input files (local paths or fsspec URLs) into record batches of documents, and bad input into reject rows.

Nothing is skipped silently and no input aborts a run: a line that is not a usable document becomes a reject
naming file and line, and a file that cannot be read to its end (corrupt or truncated archive, unknown format,
empty, a special file, a dangling link) becomes one reject naming the file and its last good line.
`read_file` yields ("docs", batch) and ("rejects", batch) pairs in file order, so callers stream.
Reasons are listed in docs/failures.md ("Input faults").
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pyarrow as pa

from etl.ingest.input_files import InputError, InputFault, expand_inputs, open_input
from etl.ingest.parquet_input import read_parquet, too_large_reject
from etl.ingest.streams import (
    STREAM_ERRORS,
    OversizedLine,
    bounded_lines,
    fault_reason,
    open_decompressed,
    stream_fault,
)
from transforms.rejects import input_reject, input_reject_batch
from transforms.schema import BATCH_BYTES, DOC_SCHEMA

__all__ = ["InputError", "InputSpec", "detect_format", "expand_inputs", "read_file", "read_part"]

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}
# Errors that parsing one record can raise on hostile data; any of them rejects that record, never the run.
RECORD_ERRORS = (ValueError, TypeError, RecursionError, UnicodeError, OverflowError)
# A \u escape of a UTF-16 surrogate: the only way JSON on valid UTF-8 gives a string UTF-8 cannot encode.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


@dataclass(frozen=True)
class InputSpec:
    text_field: str = "text"
    id_field: str | None = "id"
    format: str = "auto"
    batch_rows: int = 4096
    max_record_bytes: int | None = None  # a longer line or text file is rejected as record_too_large


def detect_format(url: str, forced: str = "auto") -> tuple[str | None, str | None]:
    """(format, compression) from the file name; format None when it cannot be told."""
    name = url.lower()
    compression = None
    for suffix, comp in COMPRESSIONS.items():
        if name.endswith(suffix):
            compression, name = comp, name[: -len(suffix)]
    if forced != "auto":
        return forced, compression
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl", compression
    if name.endswith(".parquet"):
        return "parquet", compression
    if name.endswith((".txt", ".text", ".md")):
        return "text", compression
    return None, compression


def _doc_batch(rows: dict[str, list]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(rows, schema=DOC_SCHEMA)


def _file_reject(url: str, line: int, reason: str, detail: str) -> tuple[str, pa.RecordBatch]:
    return "rejects", input_reject_batch([input_reject(url, line, reason, detail)])


class HugeInt:
    """A JSON integer with more digits than Python converts (sys.get_int_max_str_digits), kept as its digits."""

    __slots__ = ("digits",)

    def __init__(self, digits: str) -> None:
        self.digits = digits

    def __str__(self) -> str:
        return self.digits


def _parse_int(digits: str) -> int | HugeInt:
    try:
        return int(digits)
    except ValueError:
        return HugeInt(digits)


def _decode_json(line: str) -> tuple[object, str | None]:
    """(record, None) or (None, why the line is not JSON we can hold)."""
    try:
        return json.loads(line), None
    except json.JSONDecodeError as err:
        return None, f"{err.msg} at column {err.colno}"
    except RecursionError:
        return None, f"nested deeper than the parser's limit ({sys.getrecursionlimit()} levels)"
    except ValueError:
        pass  # an integer over the digit limit: parse again keeping such integers as digits
    try:
        return json.loads(line, parse_int=_parse_int), None
    except (ValueError, RecursionError) as err:
        return None, f"{type(err).__name__}: {err}"


def _unencodable(value: str, name: str) -> str | None:
    """Why `value` cannot be written as UTF-8 (a lone surrogate), None when it can."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return f"field {name!r} holds a lone surrogate U+{ord(value[err.start]):04X} at character {err.start}"
    return None


def _meta_json(record: dict, ascii_only: bool) -> tuple[str | None, str | None]:
    if not record:
        return "{}", None
    try:
        return json.dumps(record, ensure_ascii=ascii_only, separators=(",", ":")), None
    except TypeError:
        limit = sys.get_int_max_str_digits()
        return (
            None,
            f"an integer of more than {limit} digits outside the id field (Python's conversion limit)",
        )
    except RecursionError:
        return None, "fields nested too deep to write as meta"


def _parse_json_line(raw: bytes, spec: InputSpec) -> tuple[str | None, str | None, str, str, str | None]:
    """(text, id, meta, reason, detail); reason is "" when the line is a usable document."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, None, "", "invalid_utf8", f"invalid UTF-8 at byte {err.start}: {err.reason}"
    if not line.strip():
        return None, None, "", "blank_line", "empty line"
    record, problem = _decode_json(line)
    if problem:
        return None, None, "", "invalid_json", problem
    if not isinstance(record, dict):
        return None, None, "", "not_an_object", f"a JSON {type(record).__name__}, not an object"
    if spec.text_field not in record:
        fields = ", ".join(sorted(str(k) for k in record)[:12]) or "none"
        return None, None, "", "missing_text", f"no field {spec.text_field!r} (fields: {fields})"
    text = record.pop(spec.text_field)
    if text is None:
        return None, None, "", "null_text", f"field {spec.text_field!r} is null"
    if not isinstance(text, str):
        kind = (
            f"an integer of {len(text.digits)} digits"
            if isinstance(text, HugeInt)
            else f"a {type(text).__name__}"
        )
        return None, None, "", "non_string_text", f"field {spec.text_field!r} is {kind}, not a string"
    doc_id = record.pop(spec.id_field, None) if spec.id_field else None
    doc_id = None if doc_id is None else str(doc_id)
    escaped = b"\\u" in raw and _SURROGATE_ESCAPE.search(raw) is not None
    if escaped:
        bad = _unencodable(text, spec.text_field) or (doc_id and _unencodable(doc_id, spec.id_field))
        if bad:
            return None, None, "", "invalid_unicode", bad
    # Escaped surrogates elsewhere stay escaped in meta (valid JSON and UTF-8); otherwise meta keeps its text.
    meta, problem = _meta_json(record, ascii_only=escaped)
    if problem:
        return None, None, "", "invalid_json", problem
    return text, doc_id, meta, "", None


def _parse_guarded(raw: bytes, spec: InputSpec) -> tuple[str | None, str | None, str, str, str | None]:
    """`_parse_json_line`, with any error that hostile data raises while parsing made a record reject."""
    try:
        return _parse_json_line(raw, spec)
    except RECORD_ERRORS as err:
        return None, None, "", "invalid_record", f"{type(err).__name__}: {err}"


def _stream_fault(url: str, lineno: int, err: BaseException) -> dict:
    """The one reject of a file whose stream failed after `lineno` lines; its line is the first one lost."""
    return input_reject(url, lineno + 1, *stream_fault(url, lineno, err))


def _preview(head: bytes) -> str:
    return head.decode("utf-8", errors="replace")


def _read_jsonl(
    url: str, stream, spec: InputSpec, first_line: int = 1
) -> Iterator[tuple[str, pa.RecordBatch]]:
    docs: dict[str, list] = {name: [] for name in DOC_SCHEMA.names}
    rejects: list[dict] = []
    lineno = first_line - 1
    held = 0
    try:
        # A damaged stream raises before handing back its partial last line, which so stays in the file reject.
        for raw in bounded_lines(stream, spec.max_record_bytes):
            lineno += 1
            if isinstance(raw, OversizedLine):
                rejects.append(
                    too_large_reject(url, lineno, raw.size, _preview(raw.head), spec.max_record_bytes)
                )
                continue
            held += len(raw)
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark some exporters write: not part of the JSON
            text, doc_id, meta, reason, detail = _parse_guarded(raw.rstrip(b"\r\n"), spec)
            if reason:
                shown = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                rejects.append(input_reject(url, lineno, reason, f"{url}:{lineno}: {detail}", shown))
                continue
            docs["doc_id"].append(doc_id if doc_id is not None else f"{url}:{lineno}")
            docs["text"].append(text)
            docs["source"].append(url)
            docs["meta"].append(meta)
            docs["line"].append(lineno)
            if len(docs["text"]) >= spec.batch_rows or held >= BATCH_BYTES:
                yield "docs", _doc_batch(docs)
                docs = {name: [] for name in DOC_SCHEMA.names}
                held = 0
    except STREAM_ERRORS as err:
        rejects.append(_stream_fault(url, lineno, err))
    if docs["text"]:
        yield "docs", _doc_batch(docs)
    if (
        lineno == 0 and not rejects
    ):  # a part of a file after its first always holds lines (etl/ingest/plan.py)
        rejects.append(input_reject(url, 0, "empty_file", f"{url}: the file has no lines"))
    if rejects:
        yield "rejects", input_reject_batch(rejects)


def _read_text(url: str, stream, limit: int | None = None) -> Iterator[tuple[str, pa.RecordBatch]]:
    try:
        data = stream.read(-1 if limit is None else limit + 1)
        if limit is not None and len(data) > limit:
            size, head = len(data), data[:4096]
            del data
            while more := stream.read(1 << 20):
                size += len(more)
            yield "rejects", input_reject_batch([too_large_reject(url, 0, size, _preview(head), limit)])
            return
    except STREAM_ERRORS as err:
        yield _file_reject(url, 0, fault_reason(err), f"{url}: unreadable: {type(err).__name__}: {err}")
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        detail = f"{url}: invalid UTF-8 at byte {err.start}: {err.reason}"
        shown = data.decode("utf-8", errors="replace")
        yield "rejects", input_reject_batch([input_reject(url, 0, "invalid_utf8", detail, shown)])
        return
    if not text.strip():
        yield _file_reject(url, 0, "empty_file", f"{url}: no text")
        return
    yield "docs", _doc_batch({"doc_id": [url], "text": [text], "source": [url], "meta": ["{}"], "line": [0]})


def read_file(url: str, spec: InputSpec) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Stream one input file as ("docs" | "rejects", batch) pairs; a file that cannot be opened is one reject."""
    try:
        raw = open_input(url)  # first: a pipe or a dangling link is that, whatever its name says
    except InputFault as fault:
        yield _file_reject(url, 0, fault.reason, fault.detail)
        return
    with raw:
        fmt, compression = detect_format(url, spec.format)
        if fmt is None:
            detail = (
                f"{url}: unknown format (expected .jsonl[.gz|.zst], .parquet or .txt; or set input.format)"
            )
            yield _file_reject(url, 0, "unknown_format", detail)
        elif fmt == "parquet" and compression is not None:
            detail = (
                f"{url}: compressed Parquet is not read (Parquet compresses inside the file): decompress it"
            )
            yield _file_reject(url, 0, "unknown_format", detail)
        elif fmt == "parquet":
            yield from read_parquet(url, raw, spec)
        elif fmt == "text":
            yield from _read_text(url, open_decompressed(raw, compression), spec.max_record_bytes)
        else:
            yield from _read_jsonl(url, open_decompressed(raw, compression), spec)


class _ByteRange(io.RawIOBase):
    """Bytes [start, stop) of an open file: a part of a plain JSONL file, which holds whole lines only."""

    def __init__(self, raw, start: int, stop: int) -> None:
        super().__init__()
        raw.seek(start)
        self._raw, self._left = raw, stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._left <= 0:
            return 0
        view = memoryview(buffer)[: self._left]
        n = self._raw.readinto(view) or 0
        self._left -= n
        return n


def read_part(part, spec: InputSpec) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Stream one work-unit part (etl/ingest/plan.py FilePart): a whole file, a byte range of lines, or row groups.

    Line and row numbers continue from the part's `first_line`, so rejects name the same line as a whole-file
    read; only the part that starts the file reports what concerns the whole file (a missing column).
    """
    if part.kind == "file":
        yield from read_file(part.url, spec)
        return
    if part.kind == "fault":
        yield _file_reject(part.url, part.first_line, *part.fault)
        return
    try:
        raw = open_input(part.path or part.url)
    except InputFault as fault:
        if part.start == 0:
            yield _file_reject(part.url, 0, fault.reason, fault.detail)
        return
    with raw:
        if part.kind == "bytes":
            lines = io.BufferedReader(_ByteRange(raw, part.start, part.stop), buffer_size=1 << 20)
            yield from _read_jsonl(part.url, lines, spec, part.first_line)
        else:
            groups = range(part.start, part.stop)
            yield from read_parquet(part.url, raw, spec, groups, part.first_line)
