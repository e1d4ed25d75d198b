"""Cut a compressed JSONL stream into work units: decompress it once into plain chunks of whole lines.

A `.gz` or `.zst` stream cannot be seeked, so one big compressed file would be one unit on one worker, read
three times (the two key passes and the write pass). Instead the planner streams it once into
`OUT/_staging/<run>/spill/` as chunks of about `unit_bytes` that end at line ends, each a `bytes` part with its
exact first line number and the original file as its source; every pass then reads the chunks in parallel.
Damage mid-stream (a truncated frame, a gzip stream without its trailer) keeps the complete lines before it and
becomes a `fault` part: the one reject of the file, naming its last good line. Memory: one read block.
"""

from __future__ import annotations

import fsspec

from etl.input_files import InputFault, open_input
from etl.plan import FilePart
from etl.streams import STREAM_ERRORS, open_decompressed, stream_fault

READ_BLOCK = 8 << 20
# Chunks are never smaller than this, whatever `unit_bytes` says: a unit per line would cost more than it gives.
MIN_CHUNK_BYTES = 1 << 20


def _fault(url: str, lineno: int, err: BaseException) -> FilePart:
    return FilePart(url, "fault", first_line=lineno + 1, fault=stream_fault(url, lineno, err))


class _Chunks:
    """Writes whole lines into numbered chunk files and remembers each one as a part."""

    def __init__(self, url: str, folder: str, chunk_bytes: int):
        self.url, self.folder, self.chunk_bytes = url, folder.rstrip("/"), chunk_bytes
        self.parts: list[FilePart] = []
        self.lines = 0
        self._buffer: list[bytes] = []
        self._size = 0

    def add(self, whole_lines: bytes) -> None:
        self._buffer.append(whole_lines)
        self._size += len(whole_lines)
        while self._size >= self.chunk_bytes:
            data = b"".join(self._buffer)
            # The chunk ends with the line that crosses chunk_bytes: chunks of whole lines, about equal in size.
            cut = data.find(b"\n", self.chunk_bytes - 1) + 1 or len(data)
            self._write(data[:cut])
            self._buffer, self._size = [data[cut:]], len(data) - cut

    def flush(self) -> None:
        if self._size:
            self._write(b"".join(self._buffer))
        self._buffer, self._size = [], 0

    def _write(self, data: bytes) -> None:
        path = f"{self.folder}/c{len(self.parts):05d}.jsonl"
        with fsspec.open(path, "wb") as fh:
            fh.write(data)
        first = self.lines + 1
        self.lines += data.count(b"\n")
        self.parts.append(FilePart(self.url, "bytes", 0, len(data), first, len(data), path=path))


def spill_parts(url: str, compression: str, folder: str, unit_bytes: int) -> list[FilePart]:
    """The parts of a compressed JSONL file, decompressed into `folder`; [whole file] when it has no lines
    or cannot be opened (the reader then rejects it as it would any file)."""
    chunks = _Chunks(url, folder, max(unit_bytes, MIN_CHUNK_BYTES))
    tail = b""
    try:
        with open_input(url) as raw:
            stream = open_decompressed(raw, compression)
            # read1: what one decode step gives, so that a stream that fails hands over its data first.
            while block := stream.read1(READ_BLOCK):
                data = tail + block
                cut = data.rfind(b"\n") + 1
                tail = data[cut:]
                if cut:
                    chunks.add(data[:cut])
    except InputFault:
        return [FilePart(url)]
    except STREAM_ERRORS as err:
        chunks.flush()
        return [*chunks.parts, _fault(url, chunks.lines, err)]
    if tail:
        chunks.add(tail + b"\n")  # the last line had no newline: it is still a line of the file
    chunks.flush()
    return chunks.parts or [FilePart(url)]
