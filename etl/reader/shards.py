"""What the reader may read: the shards a manifest lists, checked against it, and their units (row groups).

The manifest is the only list a reader trusts: shards under its `quarantine` key, or files it does not name,
are never opened, and a shard is found by the path the manifest gives, never by a file-name pattern. The
manifest is checked against itself at load (a shard listed twice, `counts.kept` against the shards' rows);
sizes, row counts and token counts against the Parquet footers; sha256 checksums of whole files when asked
(`verify`). A listed shard that is not on storage raises `ShardMissingError`, naming it.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from fsspec.implementations.local import LocalFileSystem

SCHEMA_VERSION = 1
TOKENS = "tokens"
_HASH_CHUNK = 8 << 20

Verify = Literal["rank", "all", "none"]


class ManifestError(ValueError):
    """A manifest or shard the reader must not use; the message names the file and what to do."""


class ShardMissingError(ManifestError):
    """A shard the manifest lists is not on storage (deleted, moved, or the run's files were half restored).

    Only a message, like every exception here, so that it survives the trip from a dataloader worker.
    """


@contextmanager
def missing_as_manifest_error(shard: Shard) -> Iterator[None]:
    """Around any IO on a shard: a missing file becomes ShardMissingError naming it."""
    try:
        yield
    except FileNotFoundError as err:
        raise ShardMissingError(
            f"{shard.path}: listed in the manifest but not on storage ({shard.location}); the output changed "
            "after the run committed: rerun the pipeline into it, or restore the file"
        ) from err


@dataclass(frozen=True)
class Shard:
    path: str  # as the manifest names it, relative to the manifest's folder
    location: str  # filesystem path (no protocol) for the manifest's filesystem
    rows: int
    tokens: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Corpus:
    """A loaded manifest: its shards, tokenizer block, and a key that changes whenever the shard list does."""

    url: str
    shards: tuple[Shard, ...]
    tokenizer: dict[str, Any]
    key: str


@dataclass(frozen=True)
class Units:
    """The corpus' (shard, row group) units in manifest order; unit id = position in these arrays."""

    shard: np.ndarray
    row_group: np.ndarray
    rows: np.ndarray
    tokens: np.ndarray


def open_filesystem(url: str, storage_options: dict | None) -> tuple[fsspec.AbstractFileSystem, str]:
    return fsspec.core.url_to_fs(url, **(storage_options or {}))


def load_corpus(url: str, fs: fsspec.AbstractFileSystem, path: str, allow_unvalidated: bool) -> Corpus:
    if not fs.exists(path):
        raise ManifestError(
            f"{url}: no manifest.json: the run has not committed (still running, failed or killed)"
        )
    with fs.open(path, "rb") as fh:
        try:
            manifest = json.load(fh)
        except json.JSONDecodeError as err:
            raise ManifestError(f"{url}: not valid JSON ({err}); is the run committed?") from err
    if manifest.get("schema_version") != SCHEMA_VERSION:
        raise ManifestError(
            f"{url}: schema_version {manifest.get('schema_version')!r}, this reader reads {SCHEMA_VERSION}"
        )
    if not allow_unvalidated and not (manifest.get("validation") or {}).get("success", False):
        raise ManifestError(
            f"{url}: validation did not pass (see its 'validation' block and the run's report); "
            "pass allow_unvalidated=True to read it anyway"
        )
    root = posixpath.dirname(path)
    quarantined = {q if isinstance(q, str) else q.get("path") for q in manifest.get("quarantine") or []}
    shards = []
    for i, entry in enumerate(manifest.get("shards") or []):
        rel = entry.get("path", "")
        parts = rel.split("/")
        if not rel or rel.startswith("/") or "://" in rel or ".." in parts:
            raise ManifestError(f"{url}: shards[{i}].path {rel!r} is not a path inside the output folder")
        if rel in quarantined:
            raise ManifestError(
                f"{url}: {rel} is listed both as a shard and as quarantined; rerun the pipeline"
            )
        try:
            shards.append(
                Shard(rel, posixpath.join(root, rel), int(entry["rows"]), int(entry["tokens"]),
                      int(entry["bytes"]), str(entry["sha256"]).lower())
            )  # fmt: skip
        except (KeyError, TypeError, ValueError) as err:
            raise ManifestError(f"{url}: shards[{i}] lacks rows/tokens/bytes/sha256 ({err!r})") from err
    if not shards:
        raise ManifestError(f"{url}: lists no shards")
    check_counts(url, manifest, shards)
    listing = [[s.path, s.sha256, s.rows, s.tokens] for s in shards]
    key = hashlib.sha256(json.dumps(listing, separators=(",", ":")).encode()).hexdigest()
    return Corpus(url=url, shards=tuple(shards), tokenizer=manifest.get("tokenizer") or {}, key=key)


def check_counts(url: str, manifest: dict, shards: list[Shard]) -> None:
    """Refuse a manifest that disagrees with itself: a shard listed twice, or counts that its shards do not add up to.

    `counts.kept` counts every row the run wrote, quarantined shards included; the last stage's `out` is the same
    number. A manifest without counts (hand-made) is only checked for duplicates.
    """
    seen: set[str] = set()
    for shard in shards:
        if shard.path in seen:
            raise ManifestError(
                f"{url}: shard {shard.path} is listed twice under 'shards'; rerun the pipeline"
            )
        seen.add(shard.path)
    counts = manifest.get("counts") or {}
    if "kept" not in counts:
        return
    quarantine = manifest.get("quarantine") or []
    if not all(isinstance(q, dict) and "rows" in q for q in quarantine):
        return  # an older manifest that lists quarantined paths only: their rows are not known here
    rows = sum(s.rows for s in shards) + sum(int(q["rows"]) for q in quarantine)
    if counts["kept"] != rows:
        raise ManifestError(
            f"{url}: counts.kept is {counts['kept']}, but its shards (and quarantined shards) hold {rows} rows; "
            "the manifest does not describe its files: rerun the pipeline"
        )
    stages = counts.get("stages") or {}
    if stages:
        last, c = list(stages.items())[-1]
        if c.get("out") != rows:
            raise ManifestError(
                f"{url}: counts.stages.{last}.out is {c.get('out')}, but the shards hold {rows} rows; "
                "rerun the pipeline"
            )


def _sha256(fs: fsspec.AbstractFileSystem, shard: Shard) -> str:
    digest = hashlib.sha256()
    with missing_as_manifest_error(shard), fs.open(shard.location, "rb") as fh:
        while chunk := fh.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksums(fs: fsspec.AbstractFileSystem, shards: list[Shard], threads: int) -> None:
    """Hash whole files; raise naming every shard whose bytes differ from the manifest."""
    with ThreadPoolExecutor(max(1, threads)) as pool:
        digests = list(pool.map(lambda s: _sha256(fs, s), shards))
    bad = [s.path for s, d in zip(shards, digests, strict=True) if d != s.sha256]
    if bad:
        raise ManifestError(
            f"sha256 differs from the manifest for {len(bad)} shard(s): {bad[:5]}; the files changed after "
            "the run committed: rerun the pipeline into this output, or restore the files"
        )


VERIFY_MODES = ("rank", "all", "none")


def check_verify(verify: str) -> None:
    if verify not in VERIFY_MODES:
        raise ValueError(f"verify must be 'rank', 'all' or 'none', got {verify!r}")


def open_parquet(fs: fsspec.AbstractFileSystem, location: str) -> pq.ParquetFile:
    if isinstance(fs, LocalFileSystem):
        return pq.ParquetFile(location, memory_map=True)  # pyarrow's own IO: no Python file object, no copy
    return pq.ParquetFile(fs.open(location, "rb"), pre_buffer=True)


def open_shard(fs: fsspec.AbstractFileSystem, shard: Shard) -> pq.ParquetFile:
    """The shard's Parquet file; ShardMissingError when it is gone, ManifestError when it is not Parquet."""
    with missing_as_manifest_error(shard):
        try:
            return open_parquet(fs, shard.location)
        except FileNotFoundError:
            raise
        except (pa.ArrowException, OSError) as err:
            raise ManifestError(
                f"{shard.path}: not a readable Parquet file ({err}); rerun the pipeline"
            ) from err


def _footer_units(fs: fsspec.AbstractFileSystem, shard: Shard) -> list[tuple[int, int]]:
    """(rows, tokens) per row group, from the footer; checked against the manifest."""
    with missing_as_manifest_error(shard):
        size = fs.size(shard.location)
    if size != shard.bytes:
        raise ManifestError(f"{shard.path}: {size} bytes on storage, the manifest says {shard.bytes}")
    with open_shard(fs, shard) as pf:
        return _row_group_tokens(pf, shard)


def _row_group_tokens(pf: pq.ParquetFile, shard: Shard) -> list[tuple[int, int]]:
    md = pf.metadata
    field = pf.schema_arrow.field(TOKENS) if TOKENS in pf.schema_arrow.names else None
    if field is None or not (
        (pa.types.is_list(field.type) or pa.types.is_large_list(field.type))
        and pa.types.is_integer(field.type.value_type)
    ):
        raise ManifestError(f"{shard.path}: needs a column 'tokens' of list<uint32>, has {pf.schema_arrow}")
    if md.num_rows != shard.rows:
        raise ManifestError(f"{shard.path}: {md.num_rows} rows, the manifest says {shard.rows}")
    leaf = next(i for i in range(md.num_columns) if md.schema.column(i).path.split(".")[0] == TOKENS)
    groups = []
    for g in range(md.num_row_groups):
        stats = md.row_group(g).column(leaf).statistics
        # Statistics' num_values counts non-null leaf values: exactly the tokens (empty lists count none).
        groups.append((md.row_group(g).num_rows, stats.num_values if stats is not None else -1))
    if sum(t for _, t in groups) != shard.tokens or any(t < 0 for _, t in groups):
        # No (or unusual) statistics: count from the num_tokens column, which is small.
        if "num_tokens" not in pf.schema_arrow.names:
            raise ManifestError(f"{shard.path}: no token statistics in the footer and no num_tokens column")
        groups = [
            (md.row_group(g).num_rows, pc.sum(pf.read_row_group(g, columns=["num_tokens"])[0]).as_py() or 0)
            for g in range(md.num_row_groups)
        ]
    if sum(t for _, t in groups) != shard.tokens:
        raise ManifestError(
            f"{shard.path}: {sum(t for _, t in groups)} tokens in the file, the manifest says {shard.tokens}"
        )
    return groups


def scan_units(fs: fsspec.AbstractFileSystem, shards: tuple[Shard, ...], threads: int) -> Units:
    with ThreadPoolExecutor(max(1, threads)) as pool:
        per_shard = list(pool.map(lambda s: _footer_units(fs, s), shards))
    rows = [(i, g, r, t) for i, groups in enumerate(per_shard) for g, (r, t) in enumerate(groups) if t > 0]
    table = np.array(rows, dtype=np.int64).reshape(-1, 4)
    return Units(shard=table[:, 0], row_group=table[:, 1], rows=table[:, 2], tokens=table[:, 3])


def default_threads() -> int:
    return min(16, (os.cpu_count() or 1) * 4)
