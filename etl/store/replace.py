"""A committed version is never replaced silently (DESIGN.md "This wave's contracts").

A rerun of the same inputs (by content hash) and config into a committed output is an idempotent rerun and
leaves the manifest byte-identical (its `created_at` included), so a child that names it as a parent by sha256
still finds it. Anything else would replace a dataset that other runs and trainers may name: refused (exit 2)
with what differs, unless the user asks for it with `--overwrite`.
"""

from __future__ import annotations

import json
import re

import fsspec

from etl.lineage.diff import config_diff

SHOWN = 4  # differences named in the one-line refusal; the rest are counted
_VERSION = re.compile(r"part-\d+-([0-9a-f]{12})\.parquet$")


class VersionConflict(ValueError):
    """The output holds a committed version of other inputs or config (a usage error: exit 2)."""


def committed_manifest(out: str) -> dict | None:
    """The manifest committed at `out`, None when there is none yet."""
    fs, root = fsspec.core.url_to_fs(out)
    path = f"{root.rstrip('/')}/manifest.json"
    if not fs.exists(path):
        return None
    with fs.open(path, "rb") as fh:
        return json.loads(fh.read())


def version_of(manifest: dict) -> str:
    """A version's id, as its files carry it (`part-NNNNN-<version>.parquet`); "empty" when it has none."""
    for kind in ("shards", "quarantine", "rejects", "stats"):
        for entry in manifest.get(kind) or []:
            if m := _VERSION.search(str(entry.get("path", ""))):
                return m.group(1)
    return "empty"


def _inputs_key(entries: list[dict]) -> dict[str, tuple]:
    return {str(e.get("path")): (e.get("bytes"), e.get("sha256"), bool(e.get("skipped"))) for e in entries}


def differences(old: dict, config: dict, config_hash: str, inputs: list[dict]) -> list[str]:
    """What makes this run other than the committed one: config keys, then input files."""
    found = []
    if old.get("config_hash") != config_hash:
        d = config_diff(old.get("config") or {}, config)
        keys = [*d["changed"], *d["only_a"], *d["only_b"]]
        found += [f"config {k}" for k in sorted(keys)] or ["config (same keys, other hash)"]
    was, now = _inputs_key(old.get("inputs") or []), _inputs_key(inputs)
    found += [f"input {p} is new" for p in sorted(now.keys() - was.keys())]
    found += [f"input {p} is gone" for p in sorted(was.keys() - now.keys())]
    found += [f"input {p} changed" for p in sorted(now.keys() & was.keys()) if now[p] != was[p]]
    return found


def check_replacement(
    old: dict | None, out: str, config: dict, config_hash: str, inputs: list[dict], overwrite: bool
) -> dict | None:
    """None for a new output or an idempotent rerun; the committed version's summary when `overwrite` lets
    this run replace it; VersionConflict naming what differs otherwise. `old`: `committed_manifest(out)`."""
    if old is None:
        return None
    found = differences(old, config, config_hash, inputs)
    if not found:
        return None
    summary = {
        "version": version_of(old),
        "created_at": old.get("created_at"),
        "kept": (old.get("counts") or {}).get("kept", 0),
        "differences": found,
    }
    if overwrite:
        return summary
    more = f" and {len(found) - SHOWN} more" if len(found) > SHOWN else ""
    raise VersionConflict(
        f"--output {out} holds version {summary['version']} ({summary['kept']} documents, "
        f"{summary['created_at']}) of other inputs or config: {', '.join(found[:SHOWN])}{more}; "
        "rerun with --overwrite to replace it, or name another --output"
    )


def keep_created_at(old: dict | None, draft: dict) -> None:
    """An idempotent rerun keeps the committed `created_at`, so its manifest stays byte-identical."""
    if old is None or "created_at" not in old:
        return
    new = json.loads(json.dumps(draft))  # as it will be read back: lists, not tuples
    if {k: v for k, v in old.items() if k != "created_at"} == {
        k: v for k, v in new.items() if k != "created_at"
    }:
        draft["created_at"] = old["created_at"]
