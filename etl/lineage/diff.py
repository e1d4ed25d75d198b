"""What changed between two dataset versions: pure functions from two loaded runs to one diff dict.

The dict is the `--json` output as is (every key always present, lists sorted), and the text summary is
rendered from it (``etl.lineage.diff_text``). A document is *in* a run when a shard of it holds a row with its
``(doc_id, source)``; where the other run does not hold it, the diff says what that run did with it: rejected
(stage, reason, detail of its first reject in flow order), quarantined, or never read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from etl.config import flatten
from etl.lineage.versions import (
    DOC_KEY,
    RunVersion,
    input_entries,
    input_identity,
    is_parent,
    replaced_parent,
    replaced_parents,
)
from expectations.frames import STAGE_ORDER, ordered_stages, stage_counts

STAGE_FIELDS = ("in", "out", "rejected")


def config_diff(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Keys whose values differ (``a`` -> ``b``), and keys that only one config has."""
    fa, fb = flatten(a or {}), flatten(b or {})
    changed = {k: {"a": fa[k], "b": fb[k]} for k in sorted(fa.keys() & fb.keys()) if fa[k] != fb[k]}
    only_a = {k: fa[k] for k in sorted(fa.keys() - fb.keys())}
    only_b = {k: fb[k] for k in sorted(fb.keys() - fa.keys())}
    return {"same": not (changed or only_a or only_b), "changed": changed, "only_a": only_a, "only_b": only_b}


def side_by_side(a: int, b: int) -> dict[str, int]:
    return {"a": int(a), "b": int(b), "delta": int(b) - int(a)}


def totals(manifest: Mapping[str, Any]) -> dict[str, int]:
    counts = manifest.get("counts") or {}
    shards = manifest.get("shards") or []
    processed, skipped = input_entries(dict(manifest))
    return {
        "read": int(counts.get("read", 0)),
        "kept": int(counts.get("kept", 0)),
        "rejected": sum(int(n) for r in (counts.get("rejected") or {}).values() for n in r.values()),
        "tokens": sum(int(s.get("tokens", 0)) for s in shards),
        "shards": len(shards),
        "inputs": len(processed),
        "inputs_skipped": len(skipped),
    }


def _stage_order(stages: list[str]) -> list[str]:
    known = [s for s in STAGE_ORDER if s in stages]
    return known + sorted(s for s in stages if s not in STAGE_ORDER)


def count_diff(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> dict[str, Any]:
    """Totals, per-stage in/out/rejected and per-(stage, reason) counts of both runs with deltas (b - a)."""
    ta, tb = totals(ma), totals(mb)
    stages = _stage_order(list(set(ordered_stages(ma)) | set(ordered_stages(mb))))
    per_stage = {}
    for s in stages:
        ca, cb = stage_counts(ma, s), stage_counts(mb, s)
        per_stage[s] = {f: side_by_side(ca.get(f, 0), cb.get(f, 0)) for f in STAGE_FIELDS}
    ra = (ma.get("counts") or {}).get("rejected") or {}
    rb = (mb.get("counts") or {}).get("rejected") or {}
    reasons = []
    for s in _stage_order(list(ra.keys() | rb.keys())):
        for reason in sorted((ra.get(s) or {}).keys() | (rb.get(s) or {}).keys()):
            n = side_by_side((ra.get(s) or {}).get(reason, 0), (rb.get(s) or {}).get(reason, 0))
            reasons.append({"stage": s, "reason": reason, **n})
    return {"totals": {k: side_by_side(ta[k], tb[k]) for k in ta}, "stages": per_stage, "reasons": reasons}


def _keys(table) -> pl.DataFrame:
    return pl.from_arrow(table.select(list(DOC_KEY))).unique()


def _first_rejects(run: RunVersion) -> pl.DataFrame:
    """One reject per document of ``run``: its first in flow order (a stage a run does not know goes last)."""
    rejects = pl.from_arrow(run.rejects)
    rank = {s: i for i, s in enumerate(STAGE_ORDER)}
    ranked = rejects.with_columns(
        pl.col("stage").replace_strict(rank, default=len(rank), return_dtype=pl.Int32).alias("_rank")
    )
    return ranked.sort(["_rank", "stage", "reason"]).unique(subset=list(DOC_KEY), keep="first").drop("_rank")


def _fates(keys: pl.DataFrame, other: RunVersion) -> list[dict[str, Any]]:
    """Each key with what ``other`` did with that document, sorted by (doc_id, source)."""
    quarantined = _keys(other.quarantined).with_columns(pl.lit(True).alias("_quarantined"))
    joined = keys.join(_first_rejects(other), on=list(DOC_KEY), how="left", nulls_equal=True).join(
        quarantined, on=list(DOC_KEY), how="left", nulls_equal=True
    )
    rows = []
    for r in joined.sort(list(DOC_KEY), nulls_last=True).iter_rows(named=True):
        if r["_quarantined"]:
            fate = {"status": "quarantined", "stage": "validation", "reason": "quarantined", "detail": None}
        elif r["stage"] is not None:
            fate = {"status": "rejected", "stage": r["stage"], "reason": r["reason"], "detail": r["detail"]}
        else:
            fate = {"status": "not_read", "stage": None, "reason": None, "detail": None}
        rows.append({"doc_id": r["doc_id"], "source": r["source"], "other": fate})
    return rows


def document_diff(a: RunVersion, b: RunVersion) -> dict[str, Any]:
    """Documents (distinct doc_id, source) only in b (``added``, with a's fate) and only in a (``removed``)."""
    ka, kb = _keys(a.documents), _keys(b.documents)
    on = list(DOC_KEY)
    added = _fates(kb.join(ka, on=on, how="anti", nulls_equal=True), a)
    removed = _fates(ka.join(kb, on=on, how="anti", nulls_equal=True), b)
    common = kb.join(ka, on=on, how="semi", nulls_equal=True).height
    return {
        "a": ka.height,
        "b": kb.height,
        "common": common,
        "added_count": len(added),
        "removed_count": len(removed),
        "added": [{"doc_id": r["doc_id"], "source": r["source"], "in_a": r["other"]} for r in added],
        "removed": [{"doc_id": r["doc_id"], "source": r["source"], "in_b": r["other"]} for r in removed],
    }


def file_diff(ma: Mapping[str, Any], mb: Mapping[str, Any], kind: str = "shards") -> dict[str, Any]:
    """Whether the listed files of ``kind`` are byte-identical (same sha256, in the same order)."""
    fa, fb = list(ma.get(kind) or []), list(mb.get(kind) or [])
    sa, sb = [f.get("sha256") for f in fa], [f.get("sha256") for f in fb]
    common = set(sa) & set(sb)
    return {
        "identical": sa == sb and None not in sa,
        "a": len(fa),
        "b": len(fb),
        "same_sha256": len(common),
        "only_a": sorted(f["path"] for f in fa if f.get("sha256") not in common),
        "only_b": sorted(f["path"] for f in fb if f.get("sha256") not in common),
    }


def input_diff(ma: Mapping[str, Any], mb: Mapping[str, Any]) -> dict[str, Any]:
    """Inputs only one run processed (by content hash where recorded, else path and size), and skips."""
    pa_, sa = input_entries(dict(ma))
    pb, sb = input_entries(dict(mb))
    ia, ib = {input_identity(e): e for e in pa_}, {input_identity(e): e for e in pb}
    return {
        "added": sorted(str(ib[k].get("path")) for k in ib.keys() - ia.keys()),
        "removed": sorted(str(ia[k].get("path")) for k in ia.keys() - ib.keys()),
        "skipped_a": sorted(str(e.get("path")) for e in sa),
        "skipped_b": sorted(str(e.get("path")) for e in sb),
    }


def describe(run: RunVersion) -> dict[str, Any]:
    m = run.manifest
    return {
        "run": run.run,
        "manifest": run.manifest_url,
        "manifest_sha256": run.manifest_sha256,
        "created_at": m.get("created_at"),
        "config_hash": m.get("config_hash"),
        "parents": sorted(str(p.get("url")) for p in m.get("parents") or []),
    }


def diff_runs(a: RunVersion, b: RunVersion) -> dict[str, Any]:
    """Everything `corpus-etl diff A B` reports; both runs must be loaded with their documents."""
    ma, mb = a.manifest, b.manifest
    ta, tb = (ma.get("tokenizer") or {}).get("sha256"), (mb.get("tokenizer") or {}).get("sha256")
    return {
        "a": describe(a),
        "b": describe(b),
        "lineage": {
            "b_has_parent_a": is_parent(b, a),
            "a_has_parent_b": is_parent(a, b),
            # the child names the other's folder, but the manifest there is no longer the one it recorded
            "b_parent_a_replaced": replaced_parent(b, a),
            "a_parent_b_replaced": replaced_parent(a, b),
            "replaced_parents": {"a": replaced_parents(a), "b": replaced_parents(b)},
        },
        "config": {
            **config_diff(ma.get("config") or {}, mb.get("config") or {}),
            "hash_a": ma.get("config_hash"),
            "hash_b": mb.get("config_hash"),
        },  # fmt: skip
        "tokenizer": {"same": ta == tb, "a": ta, "b": tb},
        "counts": count_diff(ma, mb),
        "documents": document_diff(a, b),
        "shards": file_diff(ma, mb, "shards"),
        "rejects": file_diff(ma, mb, "rejects"),
        "inputs": input_diff(ma, mb),
    }
