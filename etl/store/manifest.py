"""The manifest: the commit point of a run, and the only list of files a reader trusts.

Commit protocol (docs/failures.md): files are staged under OUT/_staging/<run>/ and moved to names that carry
the new version's id (`shards/part-00000-<version>.parquet`), which the committed manifest does not use; then
one atomic write of manifest.json switches readers to the new version; only then are the files that the old
version alone used deleted. Killed at any moment, the output holds the old dataset or the new one, complete.
The version id is a hash of the staged files' contents and the config, so a rerun writes the same names.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import uuid
from collections import Counter
from datetime import UTC, datetime

import fsspec

from etl.ingest.input_files import is_local_fs
from transforms.stage import ORDER

SCHEMA_VERSION = 1
STAGES = ("read", *ORDER)
# Folders of the dataset proper; files in them that the new manifest does not name are the old version's.
DATASET_DIRS = ("shards", "stats", "rejects", "quarantine", "index", "signals")
# Set aside for the test of a kill at a chosen moment of the commit (tests/test_commit_protocol.py).
FAILPOINT_ENV = "CORPUS_ETL_FAILPOINT"


class ReconcileError(RuntimeError):
    """Counts that do not add up: a row was lost or duplicated somewhere; the message names the stage."""


def merge_stage_counts(unit_results: list[dict]) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for result in unit_results:
        for stage, c in result["counts"].items():
            m = merged.setdefault(stage, {"in": 0, "out": 0, "rejected": 0, "in_bytes": 0, "out_bytes": 0})
            for key in ("in", "out", "rejected", "in_bytes", "out_bytes"):
                m[key] += c[key]
            m.setdefault("reasons", Counter()).update(c["reasons"])
    ordered = {s: merged[s] for s in STAGES if s in merged}
    for c in ordered.values():
        c["reasons"] = dict(sorted(c.get("reasons", Counter()).items()))
    return ordered


def reconcile(stages: dict[str, dict], kept: int) -> list[str]:
    """Problems with the counts, empty when `in = out + rejected` holds everywhere and stages chain up."""
    problems = []
    previous_out = None
    for name, c in stages.items():
        if c["in"] != c["out"] + c["rejected"]:
            problems.append(f"stage {name}: in {c['in']} != out {c['out']} + rejected {c['rejected']}")
        if sum(c["reasons"].values()) != c["rejected"]:
            problems.append(f"stage {name}: rejects by reason add up to {sum(c['reasons'].values())}")
        if previous_out is not None and c["in"] > previous_out:
            problems.append(f"stage {name}: in {c['in']} > previous stage's out {previous_out}")
        previous_out = c["out"]
    if stages:
        read = stages["read"]["in"]
        rejected = sum(c["rejected"] for c in stages.values())
        if read != kept + rejected:
            problems.append(f"read {read} != kept {kept} + rejected {rejected}")
        last = list(stages.values())[-1]["out"]
        if last != kept:
            problems.append(f"last stage out {last} != rows in shards {kept}")
    return problems


def count_summary(stages: dict[str, dict], kept: int) -> dict:
    return {
        "read": stages.get("read", {}).get("in", 0),
        "kept": kept,
        "rejected": {s: c["reasons"] for s, c in stages.items() if c["rejected"]},
        "stages": stages,
    }


def version_id(unit_results: list[dict], config_hash: str) -> str:
    """A content id of the run's outputs: equal for reruns, different whenever any staged byte differs."""
    h = hashlib.sha256(config_hash.encode())
    for result in sorted(unit_results, key=lambda r: r["unit"]):
        for kind in ("shards", "stats", "rejects", "signals"):
            for f in result.get(kind, []):
                h.update(f"{kind}:{f['sha256']};".encode())
        for f in result.get("index", []):
            h.update(f"index/{f['kind']}:{f['sha256']};".encode())
    return h.hexdigest()[:12]


def final_names(unit_results: list[dict], version: str) -> dict[str, list[tuple[dict, str]]]:
    """Staged files in (unit, index) order with their final relative names part-NNNNN-<version>.parquet."""
    ordered = sorted(unit_results, key=lambda r: r["unit"])
    names: dict[str, list[tuple[dict, str]]] = {}
    for kind in ("shards", "stats", "rejects", "signals"):
        files = [f for r in ordered for f in r.get(kind, [])]
        names[kind] = [(f, f"{kind}/part-{i:05d}-{version}.parquet") for i, f in enumerate(files)]
    names["index"] = []
    for kind in ("exact", "minhash"):
        files = [f for r in ordered for f in r.get("index", []) if f["kind"] == kind]
        names["index"] += [(f, f"index/{kind}/part-{i:05d}-{version}.parquet") for i, f in enumerate(files)]
    return names


def build_manifest(
    config,
    inputs: list[dict],
    tokenizer: dict,
    counts: dict,
    shards: list[dict],
    rejects: list[dict],
    validation: dict,
    quarantine: list[dict],
    stats: list[dict] = (),
) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "config_hash": config.hash(),
        # {path, bytes, sha256}, and {..., skipped, processed_by} for what --incremental skipped.
        "inputs": list(inputs),
        "tokenizer": tokenizer,
        "counts": counts,
        "shards": shards,
        "quarantine": quarantine,
        "rejects": rejects,
        "stats": list(stats),
        "validation": validation,
    }


def failpoint(name: str) -> None:
    """SIGKILL this process at a named moment of the commit when the test environment asks for it."""
    if os.environ.get(FAILPOINT_ENV) == name:
        os.kill(os.getpid(), signal.SIGKILL)


def _write_manifest(fs, root: str, manifest: dict) -> None:
    """One atomic write: a rename on local disk, a single PUT of the whole object on S3."""
    data = (json.dumps(manifest, indent=2, sort_keys=False) + "\n").encode()
    path = f"{root}/manifest.json"
    if is_local_fs(fs):
        tmp = f"{root}/.manifest.json.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    else:
        fs.pipe_file(path, data)


def _move(fs, root: str, staged: str, rel: str) -> None:
    _, src = fsspec.core.url_to_fs(staged)
    fs.makedirs(f"{root}/{rel.rsplit('/', 1)[0]}", exist_ok=True)
    fs.mv(src, f"{root}/{rel}")


def _remove_unlisted(fs, root: str, folders: tuple[str, ...], keep: set[str]) -> None:
    for sub in folders:
        path = f"{root}/{sub}"
        if fs.exists(path):
            for old in fs.find(path):
                if old not in keep:
                    fs.rm(old)


def commit(out: str, moves: list[tuple[str, str]], manifest: dict, after: list[tuple[str, str]] = ()) -> None:
    """Move the new version's files in beside the old, switch manifest.json, then delete the old version.

    `moves` are (staged URL, final relative path) of the dataset; `after` are files no reader trusts (the
    report, Data Docs), replaced once the switch is made.
    """
    fs, root = fsspec.core.url_to_fs(out)
    root = root.rstrip("/")
    failpoint("commit.before_moves")
    for i, (staged, rel) in enumerate(moves):
        _move(fs, root, staged, rel)
        if i == 0:
            failpoint("commit.mid_moves")
    missing = [rel for _, rel in moves if not fs.exists(f"{root}/{rel}")]
    if missing:
        raise RuntimeError(f"commit: files missing after the move: {missing[:3]}")
    failpoint("commit.before_manifest")
    _write_manifest(fs, root, manifest)
    failpoint("commit.after_manifest")
    keep = {f"{root}/{rel}" for _, rel in moves}
    _remove_unlisted(fs, root, DATASET_DIRS, keep)
    failpoint("commit.after_cleanup")
    extra = {f"{root}/{rel}" for _, rel in after}
    _remove_unlisted(fs, root, ("validation",), extra)
    for staged, rel in after:
        _move(fs, root, staged, rel)
