"""The text summary of a diff, for people: the headline numbers in a table, then capped lists.

Rendered from the dict ``diff_runs`` returns (the `--json` output), so the two never disagree.
"""

from __future__ import annotations

import json
from typing import Any

LIST_CAP = 10


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v)


def _delta(n: int) -> str:
    return f"{n:+,}" if n else "0"


def _capped(lines: list[str], total: int, cap: int = LIST_CAP) -> list[str]:
    shown = [f"  {line}" for line in lines[:cap]]
    return shown + ([f"  ... and {total - cap:,} more"] if total > cap else [])


def _table(rows: list[tuple[str, int, int, int]], head: str) -> list[str]:
    width = max([len(head)] + [len(r[0]) for r in rows])
    out = [f"  {head:<{width}}  {'A':>10}  {'B':>10}  {'B - A':>9}"]
    out += [f"  {name:<{width}}  {a:>10,}  {b:>10,}  {_delta(d):>9}" for name, a, b, d in rows]
    return out


def _fate(f: dict) -> str:
    if f["status"] == "rejected":
        detail = f" ({f['detail']})" if f.get("detail") else ""
        return f"rejected {f['stage']}/{f['reason']}{detail}"
    return {"quarantined": "quarantined", "not_read": "not read"}[f["status"]]


def _runs(d: dict) -> list[str]:
    lines = []
    for side in ("a", "b"):
        r = d[side]
        lines.append(
            f"{side.upper()}  {r['manifest']}  ({r['created_at']}, config {str(r['config_hash'])[:12]})"
        )
    lin = d["lineage"]
    if lin["b_has_parent_a"] or lin["a_has_parent_b"]:
        child, parent = ("B", "A") if lin["b_has_parent_a"] else ("A", "B")
        if lin.get(f"{child.lower()}_parent_{parent.lower()}_replaced"):
            lines.append(f"   {child} lists {parent}'s folder as a parent, but {parent} has been replaced since: "
                         f"its manifest is not the one {child} was made against")  # fmt: skip
        else:
            lines.append(f"   {child} lists {parent} as a parent")
    for side, urls in (lin.get("replaced_parents") or {}).items():
        for url in urls:
            lines.append(
                f"   {side.upper()}'s parent {url} has been replaced or removed since {side.upper()} was made"
            )
    return lines


def _config(d: dict) -> list[str]:
    c = d["config"]
    if c["same"]:
        return ["config: same" + ("" if d["tokenizer"]["same"] else "; tokenizer differs")]
    lines = [f"config: {len(c['changed']) + len(c['only_a']) + len(c['only_b'])} keys differ"]
    items = [f"{k}: {_value(v['a'])} -> {_value(v['b'])}" for k, v in c["changed"].items()]
    items += [f"{k}: {_value(v)} -> (absent)" for k, v in c["only_a"].items()]
    items += [f"{k}: (absent) -> {_value(v)}" for k, v in c["only_b"].items()]
    if not d["tokenizer"]["same"]:
        items.append(f"tokenizer sha256: {d['tokenizer']['a']} -> {d['tokenizer']['b']}")
    return lines + _capped(items, len(items), cap=2 * LIST_CAP)


def _counts(d: dict) -> list[str]:
    c = d["counts"]
    rows = [(k, v["a"], v["b"], v["delta"]) for k, v in c["totals"].items()]
    rows += [(f"{s} rejected", v["rejected"]["a"], v["rejected"]["b"], v["rejected"]["delta"])
             for s, v in c["stages"].items()]  # fmt: skip
    lines = ["counts:", *_table(rows, "")]
    if c["reasons"]:
        reasons = [(f"{r['stage']}/{r['reason']}", r["a"], r["b"], r["delta"]) for r in c["reasons"]]
        lines += ["rejects by reason:", *_table(reasons, "")]
    return lines


def _documents(d: dict) -> list[str]:
    docs = d["documents"]
    lines = [f"documents: {docs['a']:,} in A, {docs['b']:,} in B, {docs['common']:,} in both; "
             f"{docs['added_count']:,} added, {docs['removed_count']:,} removed"]  # fmt: skip
    if docs["added"]:
        lines.append("added (in B, not in A; what A did with it):")
        items = [f"{r['doc_id']}  {r['source']}  A: {_fate(r['in_a'])}" for r in docs["added"]]
        lines += _capped(items, docs["added_count"])
    if docs["removed"]:
        lines.append("removed (in A, not in B; what B did with it):")
        items = [f"{r['doc_id']}  {r['source']}  B: {_fate(r['in_b'])}" for r in docs["removed"]]
        lines += _capped(items, docs["removed_count"])
    return lines


def _files(d: dict) -> list[str]:
    lines = []
    for kind in ("shards", "rejects"):
        f = d[kind]
        if f["identical"]:
            lines.append(f"{kind}: byte-identical ({f['a']} files, same sha256)")
        else:
            lines.append(
                f"{kind}: differ ({f['a']} in A, {f['b']} in B, {f['same_sha256']} with the same sha256)"
            )
    inputs = d["inputs"]
    for key, label in (("added", "inputs only B read"), ("removed", "inputs only A read"),
                       ("skipped_b", "inputs B skipped")):  # fmt: skip
        if inputs[key]:
            lines.append(f"{label}: {len(inputs[key])}")
            lines += _capped(inputs[key], len(inputs[key]))
    return lines


def render_text(d: dict) -> str:
    """The whole summary, sections in the order a reader asks: which runs, config, counts, docs, files."""
    sections = [_runs(d), _config(d), _counts(d), _documents(d), _files(d)]
    return "\n".join(line for section in sections for line in section) + "\n"
