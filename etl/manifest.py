"""The manifest: the commit point of a run, and the only list of files a reader trusts.

Commit protocol (crash safety): every file is first written under OUT/_staging; at commit the old manifest is
removed (the dataset is now uncommitted), staged files are moved to their final names, files of earlier runs
that the new manifest does not list are deleted, and manifest.json is written last through a temporary name.
A run killed anywhere leaves either the old committed dataset, or no manifest at all, never a mixed one.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import fsspec

from etl.stages import ORDER

SCHEMA_VERSION = 1
STAGES = ("read", *ORDER)
OUTPUT_DIRS = ("shards", "stats", "rejects", "quarantine", "validation")


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


def final_names(unit_results: list[dict]) -> dict[str, list[tuple[dict, str]]]:
    """Staged files in (unit, index) order with their final relative names part-NNNNN.parquet."""
    ordered = sorted(unit_results, key=lambda r: r["unit"])
    names: dict[str, list[tuple[dict, str]]] = {}
    for kind in ("shards", "stats", "rejects"):
        files = [f for r in ordered for f in r[kind]]
        names[kind] = [(f, f"{kind}/part-{i:05d}.parquet") for i, f in enumerate(files)]
    return names


def build_manifest(
    config,
    inputs: list[tuple[str, int]],
    tokenizer: dict,
    counts: dict,
    shards: list[dict],
    rejects: list[dict],
    validation: dict,
    quarantine: list[dict],
) -> dict:
    return {
        "schema_version": SCHEMA_VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "config": config.to_dict(),
        "config_hash": config.hash(),
        "inputs": [{"path": p, "bytes": b} for p, b in inputs],
        "tokenizer": tokenizer,
        "counts": counts,
        "shards": shards,
        "quarantine": quarantine,
        "rejects": rejects,
        "validation": validation,
    }


def _clear_outputs(fs, root: str) -> None:
    """Delete every file an earlier run left in the output folders; the commit then moves the new ones in."""
    for sub in OUTPUT_DIRS:
        path = f"{root}/{sub}"
        if fs.exists(path):
            for old in fs.find(path):
                fs.rm(old)


def commit(out: str, moves: list[tuple[str, str]], manifest: dict) -> None:
    """Move staged files (staged URL, final relative path) into place and write the manifest last."""
    fs, root = fsspec.core.url_to_fs(out)
    root = root.rstrip("/")
    manifest_path = f"{root}/manifest.json"
    if fs.exists(manifest_path):
        fs.rm(manifest_path)
    targets = {f"{root}/{rel}" for _, rel in moves}
    _clear_outputs(fs, root)
    for staged, rel in moves:
        _, src = fsspec.core.url_to_fs(staged)
        fs.makedirs(f"{root}/{rel.rsplit('/', 1)[0]}", exist_ok=True)
        fs.mv(src, f"{root}/{rel}")
    missing = [t for t in targets if not fs.exists(t)]
    if missing:
        raise RuntimeError(f"commit: files missing after the move: {missing[:3]}")
    tmp = f"{root}/.manifest.json.tmp"
    with fs.open(tmp, "w") as fh:
        json.dump(manifest, fh, indent=2, sort_keys=False)
        fh.write("\n")
    fs.mv(tmp, manifest_path)
