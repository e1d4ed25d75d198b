"""Decompress input streams and tell a stream that was cut short from a complete one.

zstandard's `stream_reader` returns end-of-file on a truncated frame without raising, which loses the tail of a
file silently; `ZstdFrames` decodes frame by frame and raises `TruncatedStream` when the last frame did not end.
gzip raises EOFError on a stream without its trailer by itself. `fast=True` reads gzip through ISA-L
(`isal.igzip`, 3.5x faster here: the planner decompresses a big `.gz` on one core before the passes start,
etl/ingest/chunks.py); on a damaged stream it raises before handing over the last block that decoded, so a caller
that must keep every line before the damage reads such a file again with the standard module. `fault_reason` maps the errors a damaged stream
raises mid-read to the reject reason of its file.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import zstandard
from isal import igzip, isal_zlib

# Compressed bytes fed to the decoder per step: bounds the memory one step of decompression takes.
ZSTD_READ_BYTES = 1 << 17


class TruncatedStream(EOFError):
    """A compressed stream whose last frame ends early: the data after the last complete line is lost."""


class ZstdFrames(io.RawIOBase):
    """Raw reader of the concatenated zstd frames of `raw`; raises TruncatedStream at the end of a cut frame."""

    def __init__(self, raw: io.BufferedIOBase) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._frame = None  # the decoder of the frame being read; None between frames
        self._frames = 0
        self._out = memoryview(b"")
        self._error: zstandard.ZstdError | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self._out:
            if not self._decode_more():
                return 0
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n

    def _decode_more(self) -> bool:
        """Decode the next block of input; False at a clean end (after a complete frame or of an empty file)."""
        if self._error is not None:
            raise self._error
        data = self._raw.read(ZSTD_READ_BYTES)
        if not data:
            if self._frame is not None:
                raise TruncatedStream(f"zstd frame {self._frames + 1} ends early: the file is truncated")
            return False
        chunks = []
        try:
            while data:
                if self._frame is None:
                    self._frame = self._dctx.decompressobj()
                chunks.append(self._frame.decompress(data))
                if self._frame.eof:
                    data = self._frame.unused_data
                    self._frame = None
                    self._frames += 1
                else:
                    data = b""
        except zstandard.ZstdError as err:
            # Hand out what decoded before the damage first; the error comes with the next read.
            self._error = zstandard.ZstdError(f"after frame {self._frames}: {err}")
        self._out = memoryview(b"".join(chunks))
        return True


def open_decompressed(raw, compression: str | None, fast: bool = False):
    """A binary stream of the decompressed bytes, which raises on damage instead of ending early."""
    if compression == "gzip":
        return igzip.IGzipFile(fileobj=raw) if fast else gzip.GzipFile(fileobj=raw)
    if compression == "zstd":
        return io.BufferedReader(ZstdFrames(raw), buffer_size=1 << 20)
    # Object-store files iterate line by line through small reads; a large buffer keeps that fast.
    return raw if hasattr(raw, "peek") else io.BufferedReader(raw, buffer_size=1 << 20)


# Errors a damaged or unreadable stream raises mid-read; the lines read before it stay documents.
STREAM_ERRORS = (EOFError, zlib.error, isal_zlib.error, zstandard.ZstdError, OSError)


def fault_reason(err: BaseException) -> str:
    """The reject reason of a file whose stream raised `err` (one of STREAM_ERRORS)."""
    if isinstance(err, EOFError):
        return "truncated_file"  # gzip without its trailer, a zstd frame cut short
    if isinstance(err, gzip.BadGzipFile | zlib.error | isal_zlib.error | zstandard.ZstdError):
        return "corrupt_file"
    return "unreadable_file"  # an I/O error of the file system or the object store


def stream_fault(url: str, lineno: int, err: BaseException) -> tuple[str, str]:
    """(reason, detail) of the one reject of a file whose stream failed after `lineno` good lines."""
    reason = fault_reason(err)
    what = "truncated" if reason == "truncated_file" else "unreadable"
    detail = (
        f"{url}: {what} after line {lineno} (the last good line); the rest of the file is lost: "
        f"{type(err).__name__}: {err}"
    )
    return reason, detail


# What an over-long line is read past in, and how much of its head a reject keeps as a preview.
SKIP_STEP = 1 << 20
HEAD_BYTES = 4096


@dataclass(frozen=True)
class OversizedLine:
    """A line longer than the record limit, read past without being held: its size and its first bytes."""

    size: int  # bytes of the line, its line end excluded
    head: bytes


def bounded_lines(stream, limit: int | None) -> Iterator[bytes | OversizedLine]:
    """The lines of a binary stream, as iteration gives them, except that a line over `limit` bytes comes
    as an OversizedLine: one hostile record of a gigabyte costs a megabyte of memory, not a gigabyte."""
    if limit is None:
        yield from stream
        return
    readline = stream.readline
    while line := readline(limit + 1):
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        size, head, ended = len(line), line[:HEAD_BYTES], False
        del line
        while not ended and (more := readline(SKIP_STEP)):
            size += len(more)
            ended = more.endswith(b"\n")
        yield OversizedLine(size - ended, head)
