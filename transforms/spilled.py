"""A shuffle whose batches go through files: the runner moves (key, (tag, file URL)), not the rows.

Beam's local runner holds every shuffled element in its own memory between two stages (and copies it once
more to hand a stage its groups), so a join that ships a payload per edge held gigabytes there
(docs/benchmarks.md). A producer `spill`s a key's batches to an Arrow IPC file under a staging URL and emits
its URL instead; the consumer reads groups through `unspilled`, which passes any batch that was not spilled
through as it is. The result does not depend on it: only where the bytes wait.

Meant for runners whose shuffle is memory (the local one). A distributed runner's shuffle spills to disk
itself, and there its many bundles would each write a file per key.
"""

from __future__ import annotations

import uuid

import fsspec
import pyarrow as pa


def spill(root: str, batches: list[pa.RecordBatch]) -> str:
    """Write batches (one schema) to a new Arrow IPC stream file under `root`; its URL."""
    url = f"{root.rstrip('/')}/{uuid.uuid4().hex}.arrow"
    with fsspec.open(url, "wb") as fh, pa.ipc.new_stream(fh, batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return url


def spill_keyed(root: str, items) -> list:
    """(key, (tag, batch)) items -> (key, (tag, URL)): one file per key and tag, in first-seen order."""
    slots: dict[tuple, list[pa.RecordBatch]] = {}
    for key, (tag, batch) in items:
        slots.setdefault((key, tag), []).append(batch)
    return [(key, (tag, spill(root, batches))) for (key, tag), batches in slots.items()]


def unspilled(tagged):
    """A group's (tag, batch) values, each spilled file read back into its batches."""
    for tag, value in tagged:
        if isinstance(value, str):
            with fsspec.open(value, "rb") as fh:
                for batch in pa.ipc.open_stream(fh):
                    yield tag, batch
        else:
            yield tag, value
