"""A shuffle whose batches go through files: the runner moves (key, (tag, file reference)), not the rows.

Beam's local runner holds every shuffled element in its own memory between two stages (and copies it once
more to hand a stage its groups), so a join that ships a payload per edge held gigabytes there
(docs/benchmarks.md). A producer `spill_keyed`s its items: one Arrow IPC file per call, its batches laid out
key after key, and for each key a reference "URL#first:end" to its run of batches. The consumer reads a
group through `unspilled`, which passes any batch that was not spilled through as it is. One file per call,
not per key: a step with thousands of calls and 64 shards made half a million small files (the 4x run's
survivors spent 37 s opening them). The result does not depend on it: only where the bytes wait.

Meant for runners whose shuffle is memory (the local one). A distributed runner's shuffle spills to disk
itself, and there its many bundles would each write a file.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import apache_beam as beam
import fsspec
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows
from fsspec.implementations.local import LocalFileSystem


def spill(root: str, batches: list[pa.RecordBatch]) -> str:
    """Write batches (one schema) to a new Arrow IPC file under `root`; its URL (all of its batches)."""
    url = f"{root.rstrip('/')}/{uuid.uuid4().hex}.arrow"
    with fsspec.open(url, "wb") as fh, pa.ipc.new_file(fh, batches[0].schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    return url


def _slots(items) -> dict[tuple, list[pa.RecordBatch]]:
    """(key, (tag, batch)) items -> their batches by (key, tag, schema), in first-seen order."""
    slots: dict[tuple, list[pa.RecordBatch]] = {}
    for key, (tag, batch) in items:
        slots.setdefault((key, tag, batch.schema), []).append(batch)
    return slots


def spill_keyed(root: str, items) -> list:
    """(key, (tag, batch)) items -> (key, (tag, reference)), one per key, tag and schema (in practice one
    schema per tag) in first-seen order; the batches go to one file per schema."""
    slots = _slots(items)
    files: dict[pa.Schema, list] = {}  # schema -> [(slot, first, end)], batches in order
    for slot, batches in slots.items():
        runs = files.setdefault(slot[2], [])
        first = runs[-1][2] if runs else 0
        runs.append((slot, first, first + len(batches)))
    laid: dict[tuple, str] = {}
    for runs in files.values():
        url = spill(root, [b for slot, _, _ in runs for b in slots[slot]])
        for slot, first, end in runs:
            laid[slot] = f"{url}#{first}:{end}"
    return [(key, (tag, laid[(key, tag, schema)])) for key, tag, schema in slots]


def shuffled(root: str | None, items) -> list:
    """Keyed items as the next shuffle takes them: spilled under `root` when given, else as they are."""
    items = list(items)
    return spill_keyed(root, items) if root and items else items


def gathered(items) -> list:
    """(key, (tag, batch)) items -> one batch per key, tag and schema, in first-seen order: what `spill_keyed`
    writes, kept in memory (a distributed runner's shuffle, which would carry each sliver as an element)."""
    return [(key, (tag, pa.concat_batches(batches))) for (key, tag, _), batches in _slots(items).items()]


def _read(reference: str):
    url, _, span = reference.partition("#")
    fs, path = fsspec.core.url_to_fs(url)
    with pa.memory_map(path) if isinstance(fs, LocalFileSystem) else fs.open(path, "rb") as fh:
        reader = pa.ipc.open_file(fh)
        first, end = (int(x) for x in span.split(":")) if span else (0, reader.num_record_batches)
        for i in range(first, end):
            yield reader.get_batch(i)


def unspilled(tagged):
    """A group's (tag, batch) values, each spilled reference read back into its batches."""
    for tag, value in tagged:
        if isinstance(value, str):
            for batch in _read(value):
                yield tag, batch
        else:
            yield tag, value


# Batches a buffered spill gathers before it keys them and writes one file.
BUFFER_BYTES = 64 << 20


class BufferedSpill(beam.DoFn):
    """Batches -> `keyed(batch, *args)`'s (key, (tag, batch)) items; with `root`, the batches are first gathered
    (BUFFER_BYTES at a time) into one, keyed together and spilled to one file.

    For a step of the driver that keys many small batches (removal rows by unit, hash rows by range, edges by
    shard): keyed one by one, each made a sliver per key, and the local runner pickled hundreds of thousands
    of them into its shuffle (30 s and 1.3 GB of the driver's at 4x the bench input). Without `root` (a
    distributed runner) each batch is keyed as it comes. `side` names the side inputs that `keyed` takes after
    `args`, which the subclass's `process` passes on."""

    def __init__(self, keyed: Callable, root: str | None, *args):
        self.keyed, self.root, self.args = keyed, root, args

    def start_bundle(self):
        self._batches, self._bytes, self._side = [], 0, ()

    def process(self, batch):
        yield from self._take(batch)

    def _take(self, batch: pa.RecordBatch, side: tuple = ()):
        if not self.root:
            yield from self.keyed(batch, *self.args, *side)
            return
        self._side = side
        self._batches.append(batch)
        self._bytes += batch.nbytes
        if self._bytes >= BUFFER_BYTES:
            yield from self._flush()

    def _flush(self) -> list:
        if not self._batches:
            return []
        by_schema: dict[pa.Schema, list[pa.RecordBatch]] = {}
        for batch in self._batches:  # one schema in practice; batches that differ are keyed apart
            by_schema.setdefault(batch.schema, []).append(batch)
        self._batches, self._bytes = [], 0
        items = [
            item
            for batches in by_schema.values()
            for item in self.keyed(pa.concat_batches(batches), *self.args, *self._side)
        ]
        return shuffled(self.root, items)

    def finish_bundle(self):
        for item in self._flush():
            yield GlobalWindows.windowed_value(item)
