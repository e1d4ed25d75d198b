"""Loading a committed run (a dataset version) for `diff` and `history`: its manifest and the few columns of its
files that lineage needs, read through fsspec so that a RUN may be local or a URL (DESIGN.md "The public
interface": RUN is an output folder or its manifest.json).

Only files the manifest lists are read (a reader trusts nothing else), and only the columns asked for: the
shards' ``doc_id`` and ``source``, never their tokens; the rejects without their text.
"""

from __future__ import annotations

import hashlib
import json
import os.path
from dataclasses import dataclass

import fsspec
import pyarrow as pa
import pyarrow.dataset as pads

from etl.ingest.input_files import local_path

MANIFEST = "manifest.json"
DOC_KEY = ("doc_id", "source")
REJECT_COLUMNS = (*DOC_KEY, "stage", "reason", "detail")


@dataclass(frozen=True)
class RunVersion:
    """One committed run. Tables are None when not loaded (``history`` needs no documents)."""

    run: str  # as the user named it
    root: str  # the output folder's URL, no trailing slash
    manifest: dict
    manifest_sha256: str  # of manifest.json's bytes: how a child names its parent (`parents[].sha256`)
    documents: pa.Table | None = None  # doc_id, source of every shard row
    quarantined: pa.Table | None = None  # doc_id, source of rows in quarantined shards
    rejects: pa.Table | None = None  # doc_id, source, stage, reason, detail
    languages: dict[str, int] | None = None  # kept documents per `lang` of the statistics

    @property
    def manifest_url(self) -> str:
        return f"{self.root}/{MANIFEST}"

    @property
    def label(self) -> str:
        """A short name for tables and charts: the output folder's last part."""
        return self.root.rstrip("/").rsplit("/", 1)[-1] or self.root


def run_root(run: str) -> str:
    """The output folder of RUN, which names the folder or its manifest.json."""
    run = run.rstrip("/")
    return run[: -len(MANIFEST) - 1] if run.endswith(f"/{MANIFEST}") or run == MANIFEST else run


def load_run(run: str, *, documents: bool = True, languages: bool = False) -> RunVersion:
    """Read RUN's manifest and, when asked, its documents and rejects (``diff``) or language mix (``history``).

    A RUN without a manifest is not a committed run: FileNotFoundError naming it (the CLI's exit 2).
    """
    root = run_root(run) or "."
    fs, path = fsspec.core.url_to_fs(root)
    path = path.rstrip("/")
    try:
        with fs.open(f"{path}/{MANIFEST}", "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{run}: no {MANIFEST} there; name a committed run's output folder or its manifest"
        ) from None
    except (NotADirectoryError, IsADirectoryError):  # RUN is a file, or RUN/manifest.json a folder
        raise FileNotFoundError(f"{run}: not a run's output folder or its {MANIFEST}") from None
    try:
        manifest = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{root}/{MANIFEST}: not JSON ({err}); is it a corpus-etl manifest?") from None
    loaded = {}
    if documents:
        loaded["documents"] = listed_columns(fs, path, manifest, "shards", DOC_KEY)
        loaded["quarantined"] = listed_columns(fs, path, manifest, "quarantine", DOC_KEY)
        loaded["rejects"] = listed_columns(fs, path, manifest, "rejects", REJECT_COLUMNS)
    if languages:
        loaded["languages"] = language_mix(fs, path, manifest)
    return RunVersion(run, root.rstrip("/"), manifest, hashlib.sha256(raw).hexdigest(), **loaded)


def _empty(columns: tuple[str, ...]) -> pa.Table:
    return pa.table({c: pa.array([], pa.string()) for c in columns})


def listed_columns(fs, root: str, manifest: dict, kind: str, columns: tuple[str, ...]) -> pa.Table:
    """``columns`` of the files the manifest lists under ``kind`` (strings; a column a file lacks is null)."""
    paths = [f"{root}/{entry['path']}" for entry in manifest.get(kind) or []]
    if not paths:
        return _empty(columns)
    dataset = pads.dataset(paths, filesystem=fs, format="parquet")
    present = [c for c in columns if c in dataset.schema.names]
    table = dataset.to_table(columns=present)
    for c in columns:
        if c not in present:
            table = table.append_column(c, pa.nulls(table.num_rows, pa.string()))
    return table.select(list(columns)).cast(pa.schema([(c, pa.string()) for c in columns]))


def language_mix(fs, root: str, manifest: dict) -> dict[str, int]:
    """Kept documents per language from the statistics' ``lang`` column (null counts as ``unknown``); the
    manifest's own ``languages`` counts win where a run records them."""
    recorded = (manifest.get("counts") or {}).get("languages")
    if isinstance(recorded, dict):
        return {str(k): int(v) for k, v in recorded.items()}
    from expectations.frames import language_counts

    stats = listed_columns(fs, root, manifest, "stats", ("lang",))
    if stats.column("lang").null_count == stats.num_rows:  # no language identified (stage off, old run)
        return {}
    return dict(language_counts([stats]).most_common())


def input_entries(manifest: dict) -> tuple[list[dict], list[dict]]:
    """(processed, skipped) inputs: entries of ``inputs`` flagged ``skipped`` (``--incremental``), or a
    ``{files, skipped}`` mapping, are the skipped ones. Older manifests list processed files only."""
    inputs = manifest.get("inputs") or []
    if isinstance(inputs, dict):
        files = inputs.get("files") or inputs.get("processed") or []
        return list(files), list(inputs.get("skipped") or [])
    return [e for e in inputs if not e.get("skipped")], [e for e in inputs if e.get("skipped")]


def input_identity(entry: dict) -> str:
    """What makes two inputs the same file: its content hash when recorded, else its path and size."""
    for key in ("sha256", "content_hash", "hash"):
        if entry.get(key):
            return f"sha256:{entry[key]}"
    return f"{entry.get('path')}#{entry.get('bytes')}"


def is_parent(child: RunVersion, parent: RunVersion) -> bool:
    """Whether ``child`` lists ``parent`` among its ``parents``: by manifest checksum, or by URL when the
    parent has been rewritten since (a rerun into the same output)."""
    names = {parent.root, parent.manifest_url, _plain(parent.root), _plain(parent.manifest_url)}
    for p in child.manifest.get("parents") or []:
        if p.get("sha256") == parent.manifest_sha256:
            return True
        url = str(p.get("url") or "").rstrip("/")
        if url and (url in names or _plain(url) in names):
            return True
    return False


def replaced_parent(child: RunVersion, parent: RunVersion) -> bool:
    """Whether ``child`` names ``parent``'s folder as a parent, but the manifest there is no longer the one whose
    sha256 the child recorded: the version it was deduplicated against has been replaced (``--overwrite``)."""
    names = {parent.root, parent.manifest_url, _plain(parent.root), _plain(parent.manifest_url)}
    for p in child.manifest.get("parents") or []:
        url = str(p.get("url") or "").rstrip("/")
        if url and (url in names or _plain(url) in names) and p.get("sha256") != parent.manifest_sha256:
            return True
    return False


def replaced_parents(child: RunVersion) -> list[str]:
    """The local parents of ``child`` whose manifest has changed or gone since the child recorded its sha256.
    Parents on object storage are compared only when loaded (``replaced_parent``): a page of versions must not
    wait on a store it was not asked to read."""
    replaced = []
    for p in child.manifest.get("parents") or []:
        url = str(p.get("url") or "")
        if not url or not p.get("sha256") or local_path(url) is None:
            continue
        try:
            fs, path = fsspec.core.url_to_fs(f"{run_root(url)}/{MANIFEST}")
            now = hashlib.sha256(fs.cat_file(path)).hexdigest()
        except (OSError, ValueError):  # gone, unreadable: not the version the child names either
            now = None
        if now != p["sha256"]:
            replaced.append(url)
    return replaced


def _plain(url: str) -> str:
    """A local URL as an absolute path (``file:///x`` and ``x`` name the same folder)."""
    local = local_path(url)
    return os.path.abspath(local) if local is not None else url
