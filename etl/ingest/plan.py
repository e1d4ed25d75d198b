"""Cut the inputs into work units: the grain of parallelism of the read and write passes (DESIGN.md "Scale").

A unit is a list of file parts of about `unit_bytes` of text. A big plain JSONL file is cut into byte ranges at
line starts (found by one scan for newlines, which also gives each range its exact first line number); a big
Parquet file into runs of row groups (sized by their uncompressed bytes); small files are packed together.
A big compressed stream, which cannot be seeked, is decompressed once into chunks (etl/ingest/chunks.py). Units are a pure function of the inputs and the
config: reruns and other runners cut the same units and write the same shard names.
"""

from __future__ import annotations

from collections.abc import Iterator

from etl.ingest.sources import detect_format
from etl.ingest.units import FilePart, WorkUnit

SCAN_BLOCK = 16 << 20


def _open(url: str):
    from etl.ingest.input_files import open_input

    return open_input(url)


def line_ranges(url: str, size: int, unit_bytes: int) -> list[FilePart]:
    """Byte ranges of about `unit_bytes` that start at line starts, each with the number of its first line."""
    targets = list(range(unit_bytes, size, unit_bytes))
    starts = [(0, 1)]
    newlines = offset = 0
    pending = iter(targets)
    target = next(pending, None)
    with _open(url) as fh:
        while target is not None:
            block = fh.read(SCAN_BLOCK)
            if not block:
                break
            end = offset + len(block)
            while target is not None and target <= end:
                # The first line that starts at or after `target`: one past the next newline at target-1 or later.
                hit = block.find(b"\n", max(target - 1 - offset, 0))
                if hit < 0:
                    break  # the newline is in a later block: keep the target
                cut = offset + hit + 1
                if cut < size and cut > starts[-1][0]:
                    starts.append((cut, 1 + newlines + block.count(b"\n", 0, hit + 1)))
                target = next((t for t in pending if t > cut), None)
            newlines += block.count(b"\n")
            offset = end
    bounds = [s for s, _ in starts] + [size]
    return [
        FilePart(url, "bytes", start, stop, line, stop - start)
        for (start, line), stop in zip(starts, bounds[1:], strict=True)
    ]


def row_group_runs(url: str, unit_bytes: int) -> list[FilePart]:
    """Runs of consecutive row groups of about `unit_bytes` uncompressed, with their first row number."""
    import pyarrow.parquet as pq

    with _open(url) as fh:
        meta = pq.ParquetFile(fh).metadata
    parts: list[FilePart] = []
    first = row = size = 0
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if i > first and size + group.total_byte_size > unit_bytes:
            parts.append(FilePart(url, "row_groups", first, i, row + 1, size))
            row += sum(meta.row_group(g).num_rows for g in range(first, i))
            first, size = i, 0
        size += group.total_byte_size
    if meta.num_row_groups:
        parts.append(FilePart(url, "row_groups", first, meta.num_row_groups, row + 1, size))
    return parts


def is_chunked(url: str, size: int, unit_bytes: int, forced_format: str = "auto") -> bool:
    """Whether a run decompresses this input once into chunks (given a spill folder): a compressed JSONL
    stream of a quarter unit compressed likely holds a unit of text or more, so it is worth cutting."""
    fmt, compression = detect_format(url, forced_format)
    return compression is not None and fmt == "jsonl" and size >= unit_bytes // 4


def file_parts(
    url: str, size: int, unit_bytes: int, forced_format: str = "auto", spill_dir: str | None = None
) -> list[FilePart]:
    """The parts of one input; anything that cannot be cut (text, unreadable, small) is one part. A big
    compressed JSONL stream is decompressed once into `spill_dir` when one is given (etl/ingest/chunks.py)."""
    fmt, compression = detect_format(url, forced_format)
    if compression is not None:
        from etl.ingest.chunks import spill_parts

        if spill_dir and is_chunked(url, size, unit_bytes, forced_format):
            return spill_parts(url, compression, spill_dir, unit_bytes)
        return [FilePart(url, text_bytes=size)]
    if size <= unit_bytes:
        return [FilePart(url, text_bytes=size)]
    try:
        if fmt == "jsonl":
            return line_ranges(url, size, unit_bytes)
        if fmt == "parquet":
            return row_group_runs(url, unit_bytes) or [FilePart(url, text_bytes=size)]
    except Exception:  # noqa: BLE001 - the reader rejects what cannot be opened, naming the file
        return [FilePart(url, text_bytes=size)]
    return [FilePart(url, text_bytes=size)]


def _pack(parts: Iterator[FilePart], unit_bytes: int) -> list[WorkUnit]:
    units: list[WorkUnit] = []
    current: list[FilePart] = []
    size = 0
    for part in parts:
        if current and size + part.text_bytes > unit_bytes:
            units.append(WorkUnit(len(units), tuple(current), size))
            current, size = [], 0
        current.append(part)
        size += part.text_bytes
    if current:
        units.append(WorkUnit(len(units), tuple(current), size))
    return units


def plan_units(
    files: list[tuple[str, int]], unit_bytes: int, forced_format: str = "auto", spill_dir: str | None = None
) -> list[WorkUnit]:
    """Units of every file, in file order. Files are cut on a thread per usable core: decompressing a big
    stream (zlib, zstd) and scanning for newlines release the GIL, and the parts do not depend on the order
    in which files finish."""
    from concurrent.futures import ThreadPoolExecutor

    from etl.local_runner.processes import usable_cores

    def cut(item: tuple[int, tuple[str, int]]) -> list[FilePart]:
        i, (url, size) = item
        return file_parts(url, size, unit_bytes, forced_format, spill_dir and f"{spill_dir}/f{i:05d}")

    with ThreadPoolExecutor(max_workers=min(usable_cores(), max(len(files), 1))) as pool:
        per_file = list(pool.map(cut, enumerate(files)))
    return _pack((p for parts in per_file for p in parts), unit_bytes)
