"""Write the Parquet files of one work unit: token shards, their stats frames, and rejects.

Files stream to any fsspec URL through a hashing wrapper, so the sha256 in the manifest is of the bytes written
(no second read). Row groups are sized in tokens; a shard rolls over once it passes `shard_target_bytes`.
Names are a pure function of (unit, index): reruns write the same files with the same bytes.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from transforms.schema import REJECT_SCHEMA, SHARD_COLUMNS

STATS_EXCLUDE = {"text", "tokens", "meta", "source", "line"}


class HashingFile(io.RawIOBase):
    """A write-only stream that hashes and counts what passes through to the underlying file."""

    def __init__(self, url: str):
        super().__init__()
        self._file = fsspec.open(url, "wb").open()
        self.sha256 = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        view = memoryview(data)
        self.sha256.update(view)
        self.size += view.nbytes
        self._file.write(view)
        return view.nbytes

    def tell(self) -> int:
        return self.size

    def close(self) -> None:
        if not self.closed:
            self._file.close()
        super().close()


@dataclass
class WrittenFile:
    path: str
    rows: int
    bytes: int
    sha256: str
    tokens: int = 0


def _writer_options(compression: str, level: int | None) -> dict:
    codec = None if compression == "none" else compression
    return {
        "compression": codec,
        "compression_level": level if codec in ("zstd", "gzip") else None,
        # Stable bytes across runs: no writer-dependent statistics beyond the defaults.
        "write_statistics": True,
    }


class _RollingParquet:
    """Parquet files `<prefix>-NNN.parquet` of roughly `target_bytes`, row groups flushed at `group_weight`."""

    def __init__(self, prefix: str, schema: pa.Schema, target_bytes: int, group_weight: int, options: dict):
        self.prefix, self.schema, self.options = prefix, schema, options
        self.target_bytes, self.group_weight = target_bytes, group_weight
        self.files: list[WrittenFile] = []
        self._sink: HashingFile | None = None
        self._writer: pq.ParquetWriter | None = None
        self._pending: list[pa.RecordBatch] = []
        self._pending_weight = 0
        self._rows = self._tokens = 0

    def add(self, batch: pa.RecordBatch, weight: int, tokens: int = 0) -> None:
        if batch.num_rows == 0:
            return
        self._pending.append(batch.select(self.schema.names).cast(self.schema))
        self._pending_weight += weight
        self._rows += batch.num_rows
        self._tokens += tokens
        if self._pending_weight >= self.group_weight:
            self._flush_group()

    def _flush_group(self) -> None:
        if not self._pending:
            return
        if self._writer is None:
            self._sink = HashingFile(f"{self.prefix}-{len(self.files):03d}.parquet")
            self._writer = pq.ParquetWriter(self._sink, self.schema, **self.options)
        table = pa.Table.from_batches(self._pending, self.schema)
        self._writer.write_table(table, row_group_size=max(table.num_rows, 1))
        self._pending, self._pending_weight = [], 0
        if self._sink.size >= self.target_bytes:
            self._close_file()

    def _close_file(self) -> None:
        self._writer.close()
        self._sink.close()
        path = f"{self.prefix}-{len(self.files):03d}.parquet"
        self.files.append(
            WrittenFile(path, self._rows, self._sink.size, self._sink.sha256.hexdigest(), self._tokens)
        )
        self._writer = self._sink = None
        self._rows = self._tokens = 0

    def close(self) -> list[WrittenFile]:
        self._flush_group()
        if self._writer is not None:
            self._close_file()
        return self.files


@dataclass
class UnitOutputs:
    shards: list[WrittenFile] = field(default_factory=list)
    stats: list[WrittenFile] = field(default_factory=list)
    rejects: list[WrittenFile] = field(default_factory=list)
    signals: list[WrittenFile] = field(default_factory=list)


def shard_schema(keep_text: bool) -> pa.Schema:
    fields = [
        pa.field("doc_id", pa.string()),
        pa.field("tokens", pa.list_(pa.uint32())),
        pa.field("num_tokens", pa.int64()),
        pa.field("source", pa.string()),
        pa.field("meta", pa.string()),
    ]
    assert tuple(f.name for f in fields) == SHARD_COLUMNS
    if keep_text:
        fields.append(pa.field("text", pa.large_string()))
    return pa.schema(fields)


def stats_schema(batch: pa.RecordBatch) -> pa.Schema:
    """doc_id plus every numeric or `lang` column the stages added: the frame validation and the report read."""
    fields = [pa.field("doc_id", pa.string())]
    for f in batch.schema:
        if f.name in STATS_EXCLUDE or f.name == "doc_id":
            continue
        if pa.types.is_integer(f.type) or pa.types.is_floating(f.type) or pa.types.is_boolean(f.type):
            fields.append(f)
        elif f.name == "lang":
            fields.append(pa.field("lang", pa.string()))
    return pa.schema(fields)


class UnitWriter:
    """Everything one work unit writes under `staging`; shards and their stats roll over together."""

    def __init__(self, staging: str, unit: int, output_config):
        self.staging, self.unit, self.cfg = staging.rstrip("/"), unit, output_config
        self.options = _writer_options(output_config.compression, output_config.compression_level)
        self._shards: _RollingParquet | None = None
        self._stats: _RollingParquet | None = None
        self._signals: _RollingParquet | None = None
        reject_schema = REJECT_SCHEMA if output_config.rejects_text else REJECT_SCHEMA.remove(7)
        self._rejects = _RollingParquet(
            f"{self.staging}/rejects/u{unit:05d}",
            reject_schema,
            output_config.shard_target_bytes,
            1 << 16,
            self.options,
        )

    def add_docs(self, batch: pa.RecordBatch) -> None:
        """Documents with `tokens` and `num_tokens`; stats columns are taken from the first batch's schema."""
        if batch.num_rows == 0:
            return
        if "num_chars" not in batch.schema.names:
            text = batch.column(batch.schema.get_field_index("text"))
            batch = batch.append_column("num_chars", pc.utf8_length(text).cast(pa.int64()))
        if self._shards is None:
            target = self.cfg.shard_target_bytes
            self._shards = _RollingParquet(
                f"{self.staging}/shards/u{self.unit:05d}", shard_schema(self.cfg.keep_text), target,
                self.cfg.row_group_tokens, self.options,
            )  # fmt: skip
            self._stats = _RollingParquet(
                f"{self.staging}/stats/u{self.unit:05d}", stats_schema(batch), 1 << 62, 1 << 62, self.options
            )
        tokens = int(pc.sum(batch.column(batch.schema.get_field_index("num_tokens"))).as_py() or 0)
        before = len(self._shards.files)
        self._shards.add(batch, weight=tokens, tokens=tokens)
        self._stats.add(batch, weight=0)
        if len(self._shards.files) != before:
            # The shard just closed: close its stats file too, so shard k and stats k hold the same rows.
            self._stats._flush_group()
            self._stats._close_file()

    def add_rejects(self, batch: pa.RecordBatch) -> None:
        self._rejects.add(batch, weight=batch.num_rows)

    def add_signals(self, batch: pa.RecordBatch) -> None:
        """Quality's signals rows; the columns are the first batch's (every batch of a run has the same)."""
        if self._signals is None:
            self._signals = _RollingParquet(
                f"{self.staging}/signals/u{self.unit:05d}", batch.schema, self.cfg.shard_target_bytes,
                1 << 16, self.options,
            )  # fmt: skip
        self._signals.add(batch, weight=batch.num_rows)

    def close(self) -> UnitOutputs:
        out = UnitOutputs(rejects=self._rejects.close())
        if self._signals is not None:
            out.signals = self._signals.close()
        if self._shards is not None:
            out.shards = self._shards.close()
            self._stats._flush_group()
            if self._stats._writer is not None:
                self._stats._close_file()
            out.stats = self._stats.files
        return out
