"""Read input files (any fsspec URL) into record batches of documents, and bad input into reject rows.

Nothing is skipped silently: a line that is not a usable document becomes a reject naming file and line, and a
file that cannot be read at all (corrupt archive, unknown format, empty) becomes one reject naming the file.
`read_file` yields ("docs", batch) and ("rejects", batch) pairs in file order, so callers stream.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from transforms.rejects import input_reject
from transforms.schema import DOC_SCHEMA, REJECT_SCHEMA

JSONL_SUFFIXES = (".jsonl", ".json", ".ndjson")
COMPRESSIONS = {".gz": "gzip", ".zst": "zstd", ".zstd": "zstd"}


class InputError(ValueError):
    """Input that names no readable file; the message says which pattern."""


@dataclass(frozen=True)
class InputSpec:
    text_field: str = "text"
    id_field: str | None = "id"
    format: str = "auto"
    batch_rows: int = 4096


def _with_protocol(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if protocol in ("file", "local") else f"{protocol}://{path}"


def expand_inputs(patterns: list[str]) -> list[tuple[str, int]]:
    """Every file matched by the patterns (globs, directories, single files) with its size, sorted, unique."""
    found: dict[str, int] = {}
    for pattern in patterns:
        fs, path = fsspec.core.url_to_fs(pattern)
        matches = fs.glob(path, detail=True) if fsspec.core.has_magic(path) else {}
        if not matches and fs.exists(path):
            matches = {path: fs.info(path)}
        files = {}
        for name, info in matches.items():
            if info.get("type") == "directory":
                for sub, subinfo in fs.find(name, detail=True).items():
                    if not sub.rsplit("/", 1)[-1].startswith("."):
                        files[sub] = subinfo
            else:
                files[name] = info
        if not files:
            raise InputError(f"--input {pattern!r} matches no file")
        for name, info in files.items():
            found[_with_protocol(fs, name)] = int(info.get("size") or 0)
    return sorted(found.items())


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


def _reject_batch(rows: list[dict]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist(rows, schema=REJECT_SCHEMA)


def _doc_batch(rows: dict[str, list]) -> pa.RecordBatch:
    return pa.RecordBatch.from_pydict(rows, schema=DOC_SCHEMA)


def _open_decompressed(raw: io.BufferedIOBase, compression: str | None):
    if compression == "gzip":
        return gzip.GzipFile(fileobj=raw)
    if compression == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
    return raw


# Errors a damaged archive raises mid-stream; the lines read before it stay documents.
ARCHIVE_ERRORS = (gzip.BadGzipFile, EOFError, zlib.error, zstandard.ZstdError, OSError)


def _iter_lines(stream) -> Iterator[bytes]:
    buffered = io.BufferedReader(stream, buffer_size=1 << 20) if not hasattr(stream, "peek") else stream
    yield from buffered


def _parse_json_line(raw: bytes, spec: InputSpec) -> tuple[str | None, str | None, str, str, str | None]:
    """(text, id, meta, reason, detail); reason is "" when the line is a usable document."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        return None, None, "", "invalid_utf8", f"invalid UTF-8 at byte {err.start}: {err.reason}"
    if not line.strip():
        return None, None, "", "blank_line", "empty line"
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        return None, None, "", "invalid_json", f"{err.msg} at column {err.colno}"
    if not isinstance(record, dict):
        return None, None, "", "not_an_object", f"a JSON {type(record).__name__}, not an object"
    if spec.text_field not in record:
        return None, None, "", "missing_text", f"no field {spec.text_field!r}"
    text = record.pop(spec.text_field)
    if text is None:
        return None, None, "", "null_text", f"field {spec.text_field!r} is null"
    if not isinstance(text, str):
        return None, None, "", "non_string_text", f"field {spec.text_field!r} is a {type(text).__name__}"
    doc_id = record.pop(spec.id_field, None) if spec.id_field else None
    meta = json.dumps(record, ensure_ascii=False, separators=(",", ":")) if record else "{}"
    return text, (None if doc_id is None else str(doc_id)), meta, "", None


def _read_jsonl(url: str, stream, spec: InputSpec) -> Iterator[tuple[str, pa.RecordBatch]]:
    docs: dict[str, list] = {name: [] for name in DOC_SCHEMA.names}
    rejects: list[dict] = []
    lineno = 0
    try:
        for raw in _iter_lines(stream):
            lineno += 1
            if lineno == 1 and raw.startswith(b"\xef\xbb\xbf"):
                raw = raw[3:]  # a UTF-8 byte-order mark some exporters write: not part of the JSON
            text, doc_id, meta, reason, detail = _parse_json_line(raw.rstrip(b"\r\n"), spec)
            if reason:
                shown = raw.decode("utf-8", errors="replace").rstrip("\r\n")
                rejects.append(input_reject(url, lineno, reason, f"{url}:{lineno}: {detail}", shown))
                continue
            docs["doc_id"].append(doc_id if doc_id is not None else f"{url}:{lineno}")
            docs["text"].append(text)
            docs["source"].append(url)
            docs["meta"].append(meta)
            docs["line"].append(lineno)
            if len(docs["text"]) >= spec.batch_rows:
                yield "docs", _doc_batch(docs)
                docs = {name: [] for name in DOC_SCHEMA.names}
    except ARCHIVE_ERRORS as err:
        detail = f"{url}: unreadable after line {lineno}: {type(err).__name__}: {err}"
        rejects.append(input_reject(url, lineno + 1, "corrupt_file", detail))
    if docs["text"]:
        yield "docs", _doc_batch(docs)
    if lineno == 0 and not rejects:
        rejects.append(input_reject(url, 0, "empty_file", f"{url}: the file has no lines"))
    if rejects:
        yield "rejects", _reject_batch(rejects)


def _read_text(url: str, stream) -> Iterator[tuple[str, pa.RecordBatch]]:
    try:
        data = stream.read()
    except ARCHIVE_ERRORS as err:
        detail = f"{url}: unreadable: {type(err).__name__}: {err}"
        yield "rejects", _reject_batch([input_reject(url, 0, "corrupt_file", detail)])
        return
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        detail = f"{url}: invalid UTF-8 at byte {err.start}: {err.reason}"
        shown = data.decode("utf-8", errors="replace")
        yield "rejects", _reject_batch([input_reject(url, 0, "invalid_utf8", detail, shown)])
        return
    if not text.strip():
        yield "rejects", _reject_batch([input_reject(url, 0, "empty_file", f"{url}: no text")])
        return
    yield "docs", _doc_batch({"doc_id": [url], "text": [text], "source": [url], "meta": ["{}"], "line": [0]})


def _parquet_batch(url: str, batch: pa.RecordBatch, first_row: int, spec: InputSpec):
    """Documents and rejects of one Parquet record batch; rows are numbered from 1 like lines."""
    n = batch.num_rows
    rows = pa.array(range(first_row, first_row + n), pa.int64())
    frame = pl.from_arrow(batch)
    text = frame.get_column(spec.text_field)
    if text.dtype not in (pl.String,):
        detail = f"{url}: column {spec.text_field!r} is {text.dtype}, not a string"
        return None, [input_reject(url, r, "non_string_text", detail) for r in rows.to_pylist()]
    ids = frame.get_column(spec.id_field).cast(pl.String) if spec.id_field in frame.columns else None
    other = [c for c in frame.columns if c not in (spec.text_field, spec.id_field)]
    meta = (
        frame.select(pl.struct(other).struct.json_encode()).to_series()
        if other
        else pl.repeat("{}", n, eager=True)
    )
    derived = pl.Series([f"{url}:{r}" for r in rows.to_pylist()])
    doc_ids = derived if ids is None else ids.fill_null(derived)
    null_text = text.is_null()
    rejects = [
        input_reject(url, r, "null_text", f"{url}: row {r}: {spec.text_field!r} is null")
        for r in pl.Series(rows.to_pylist()).filter(null_text).to_list()
    ]
    keep = ~null_text
    docs = pa.RecordBatch.from_arrays(
        [
            doc_ids.filter(keep).to_arrow().cast(pa.string()),
            text.filter(keep).to_arrow().cast(pa.large_string()),
            pa.array([url] * int(keep.sum()), pa.string()),
            meta.filter(keep).to_arrow().cast(pa.string()),
            pa.array(pl.Series(rows.to_pylist()).filter(keep).to_list(), pa.int64()),
        ],
        schema=DOC_SCHEMA,
    )
    return docs, rejects


def _read_parquet(url: str, raw, spec: InputSpec) -> Iterator[tuple[str, pa.RecordBatch]]:
    try:
        pfile = pq.ParquetFile(raw)
    except (pa.ArrowInvalid, OSError) as err:
        yield (
            "rejects",
            _reject_batch([input_reject(url, 0, "corrupt_file", f"{url}: not readable Parquet: {err}")]),
        )
        return
    if spec.text_field not in pfile.schema_arrow.names:
        detail = f"{url}: no column {spec.text_field!r} (columns: {', '.join(pfile.schema_arrow.names)})"
        yield "rejects", _reject_batch([input_reject(url, 0, "missing_text", detail)])
        return
    if pfile.metadata.num_rows == 0:
        yield "rejects", _reject_batch([input_reject(url, 0, "empty_file", f"{url}: no rows")])
        return
    first = 1
    try:
        for batch in pfile.iter_batches(batch_size=spec.batch_rows):
            docs, rejects = _parquet_batch(url, batch, first, spec)
            first += batch.num_rows
            if docs is not None and docs.num_rows:
                yield "docs", docs
            if rejects:
                yield "rejects", _reject_batch(rejects)
    except (pa.ArrowInvalid, OSError) as err:
        detail = f"{url}: unreadable after row {first - 1}: {err}"
        yield "rejects", _reject_batch([input_reject(url, first, "corrupt_file", detail)])


def read_file(url: str, spec: InputSpec) -> Iterator[tuple[str, pa.RecordBatch]]:
    """Stream one input file as ("docs" | "rejects", batch) pairs."""
    fmt, compression = detect_format(url, spec.format)
    if fmt is None:
        detail = f"{url}: unknown format (expected .jsonl[.gz|.zst], .parquet or .txt; or set input.format)"
        yield "rejects", _reject_batch([input_reject(url, 0, "unknown_format", detail)])
        return
    if fmt == "parquet" and compression is not None:
        detail = f"{url}: compressed Parquet is not read (Parquet compresses inside the file): decompress it"
        yield "rejects", _reject_batch([input_reject(url, 0, "unknown_format", detail)])
        return
    with fsspec.open(url, "rb") as raw:
        if fmt == "parquet":
            yield from _read_parquet(url, raw, spec)
            return
        stream = _open_decompressed(raw, compression)
        if fmt == "text":
            yield from _read_text(url, stream)
        else:
            yield from _read_jsonl(url, stream, spec)
