"""Cut a compressed JSONL stream into work units: decompress it once into plain chunks of whole lines.

A `.gz` or `.zst` stream cannot be seeked, so one big compressed file would be one unit on one worker, read
three times (the two key passes and the write pass). Instead the planner streams it once into
`OUT/_staging/<run>/spill/` as chunks of about `unit_bytes` that end at line ends, each a `bytes` part with its
exact first line number and the original file as its source; every pass then reads the chunks in parallel.
Damage mid-stream (a truncated frame, a gzip stream without its trailer) keeps the complete lines before it and
becomes a `fault` part: the one reject of the file, naming its last good line. Memory: one read block.
"""

from __future__ import annotations

import queue
import threading

import fsspec

from etl.ingest.input_files import InputFault, open_input
from etl.ingest.streams import STREAM_ERRORS, open_decompressed, stream_fault
from etl.ingest.units import FilePart

READ_BLOCK = 8 << 20
# Chunks are never smaller than this, whatever `unit_bytes` says: a unit per line would cost more than it gives.
MIN_CHUNK_BYTES = 1 << 20
# A line still without its end after this many bytes is written out in pieces: a chunk holds it whole on disk,
# and the reader rejects it as record_too_large without holding it (if the stream then fails mid-line, that
# partial line is read as one more line, before the file's fault reject).
LONG_LINE_BYTES = 16 << 20


def _fault(url: str, lineno: int, err: BaseException) -> FilePart:
    return FilePart(url, "fault", first_line=lineno + 1, fault=stream_fault(url, lineno, err))


class _Chunks:
    """Writes whole lines into numbered chunk files as they come, and remembers each one as a part.

    A chunk ends with the first line end at or past `chunk_bytes`: chunks of whole lines, about equal in size.
    The bytes go from the decompressed block to the file without being joined or copied."""

    def __init__(self, url: str, folder: str, chunk_bytes: int):
        self.url, self.folder, self.chunk_bytes = url, folder.rstrip("/"), chunk_bytes
        self.parts: list[FilePart] = []
        self.lines = 0  # line ends written, in every chunk so far
        self._fh = None
        self._size = 0
        self._first = 1

    def add(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        """Append data[start:end]; once a line ends at or past the chunk size there, the chunk is done."""
        end = len(data) if end is None else end
        view = memoryview(data)
        while start < end:
            if self._fh is None:
                self._open()
            at = start + max(self.chunk_bytes - 1 - self._size, 0)
            cut = data.find(b"\n", at, end) if at < end else -1
            stop = end if cut < 0 else cut + 1
            self._fh.write(view[start:stop])
            self.lines += data.count(b"\n", start, stop)
            self._size += stop - start
            start = stop
            if cut >= 0:
                self._close()

    def flush(self) -> None:
        if self._fh is not None:
            self._close()

    def _open(self) -> None:
        self._path = f"{self.folder}/c{len(self.parts):05d}.jsonl"
        self._fh = fsspec.open(self._path, "wb").open()
        self._size, self._first = 0, self.lines + 1

    def _close(self) -> None:
        self._fh.close()
        self._fh = None
        self.parts.append(
            FilePart(self.url, "bytes", 0, self._size, self._first, self._size, path=self._path)
        )


def _read_ahead(stream, depth: int = 4):
    """The stream's decode steps (`read1`), decompressed on a thread a few blocks ahead of their writing:
    zlib, ISA-L and zstd release the GIL, so decompression and the chunk writes overlap. An error of the
    stream comes out of the iteration, after the blocks that decoded before it."""
    blocks: queue.Queue = queue.Queue(depth)
    stopped = threading.Event()  # the reader went away (an error of its own): the thread stops too

    def hand_over(item) -> None:
        while not stopped.is_set():
            try:
                blocks.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def run() -> None:
        try:
            while not stopped.is_set() and (block := stream.read1(READ_BLOCK)):
                hand_over(block)
            hand_over(None)
        except BaseException as err:  # handed to the reader, which raises it
            hand_over(err)

    thread = threading.Thread(target=run, daemon=True, name="spill-read-ahead")
    thread.start()
    try:
        while (item := blocks.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stopped.set()
        thread.join()  # before the caller closes the stream the thread reads


def spill_parts(
    url: str, compression: str, folder: str, unit_bytes: int, fast: bool = True
) -> list[FilePart]:
    """The parts of a compressed JSONL file, decompressed into `folder`; [whole file] when it has no lines
    or cannot be opened (the reader then rejects it as it would any file). A damaged gzip stream is read
    again with the standard module (`fast=False`), which hands over every line before the damage."""
    chunks = _Chunks(url, folder, max(unit_bytes, MIN_CHUNK_BYTES))
    tail = b""
    try:
        with open_input(url) as raw:
            stream = open_decompressed(raw, compression, fast=fast)
            # read1: what one decode step gives, so that a stream that fails hands over its data first. A
            # partial last line waits in `tail` until its line end comes: a chunk only ever holds whole lines.
            for block in _read_ahead(stream):
                cut = block.rfind(b"\n") + 1
                if not cut:
                    tail += block
                    if len(tail) >= LONG_LINE_BYTES:  # a hostile line goes to disk as it comes, not held
                        chunks.add(tail)
                        tail = b""
                    continue
                if tail:
                    chunks.add(tail)
                chunks.add(block, 0, cut)
                tail = block[cut:]
    except InputFault:
        return [FilePart(url)]
    except STREAM_ERRORS as err:
        chunks.flush()
        if fast and compression == "gzip":
            return spill_parts(url, compression, folder, unit_bytes, fast=False)
        return [*chunks.parts, _fault(url, chunks.lines, err)]
    if tail:
        chunks.add(tail + b"\n")  # the last line had no newline: it is still a line of the file
    chunks.flush()
    return chunks.parts or [FilePart(url)]
