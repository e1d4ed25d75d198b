"""What planning hands to the passes: a work unit and the file parts it reads (DESIGN.md "Scale").

Kept apart from the planner so that the modules that make parts (plan, chunks) and the ones that read them
(sources, the run's passes) share the types without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FilePart:
    """A part of one input: the whole file, a byte range [start, stop) of whole lines, or row groups."""

    url: str
    kind: str = "file"  # "file" | "bytes" | "row_groups" | "fault"
    start: int = 0  # byte offset of the first line, or index of the first row group
    stop: int = -1  # exclusive byte offset or row group index; -1: to the end
    first_line: int = 1  # number of the part's first line (or Parquet row) in the file, from 1
    text_bytes: int = 0
    path: str = (
        ""  # where the part's bytes are when not in `url`: a decompressed chunk (etl/ingest/chunks.py)
    )
    fault: tuple[str, str] | None = None  # kind "fault": (reason, detail) of the file's one reject


@dataclass(frozen=True)
class WorkUnit:
    index: int
    parts: tuple[FilePart, ...]
    bytes: int

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.url for p in self.parts))
