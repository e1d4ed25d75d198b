"""A shuffle whose batches go through files: the runner moves (key, (tag, file URL)), not the rows.

Beam's local runner holds every shuffled element in its own memory between two stages (and copies it once
more to hand a stage its groups), so a join that ships a payload per edge held gigabytes there
(docs/benchmarks.md). `SpillToFiles` writes each key's batches to Arrow IPC files under a staging URL (a few
MB a file) and emits their URLs instead; the consumer reads them back with `unspilled`, which passes any
batch that was not spilled through as it is. The result does not depend on it: only where the bytes wait.

Meant for runners whose shuffle is memory (the local one). A distributed runner's shuffle spills to disk
itself, and there its many bundles would each write a file per key.
"""

from __future__ import annotations

import uuid

import apache_beam as beam
import fsspec
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows

FLUSH_BYTES = 8 << 20  # one key's batches are written once this much is waiting
HELD_BYTES = 64 << 20  # and every key's once this much is, in all


class SpillToFiles(beam.DoFn):
    """(key, (tag, batch)) -> (key, (tag, URL)) of an Arrow IPC stream file under `root` holding the batches."""

    def __init__(self, root: str):
        self.root = root.rstrip("/")

    def start_bundle(self):
        self._waiting: dict[tuple, list[pa.RecordBatch]] = {}
        self._sizes: dict[tuple, int] = {}

    def process(self, item):
        key, (tag, batch) = item
        slot = (key, tag)
        self._waiting.setdefault(slot, []).append(batch)
        self._sizes[slot] = self._sizes.get(slot, 0) + batch.nbytes
        if self._sizes[slot] >= FLUSH_BYTES:
            yield self._flush(slot)
        if sum(self._sizes.values()) >= HELD_BYTES:
            for slot in list(self._waiting):
                yield self._flush(slot)

    def finish_bundle(self):
        for slot in list(self._waiting):
            yield GlobalWindows.windowed_value(self._flush(slot))

    def _flush(self, slot: tuple):
        batches = self._waiting.pop(slot)
        del self._sizes[slot]
        url = f"{self.root}/{uuid.uuid4().hex}.arrow"
        with fsspec.open(url, "wb") as fh, pa.ipc.new_stream(fh, batches[0].schema) as writer:
            for batch in batches:
                writer.write_batch(batch)
        key, tag = slot
        return key, (tag, url)


def unspilled(tagged):
    """A group's (tag, batch) values, each spilled file read back into its batches."""
    for tag, value in tagged:
        if isinstance(value, str):
            with fsspec.open(value, "rb") as fh:
                for batch in pa.ipc.open_stream(fh):
                    yield tag, batch
        else:
            yield tag, value
