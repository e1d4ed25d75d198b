"""Trends across dataset versions: one row of figures per run, for the history page (pure, no HTML).

Rates are shares of the documents the run read, so that versions of different sizes compare. Duplicates
against earlier runs are the ``*_of_earlier`` reasons of `--against` (DESIGN.md "Incremental runs and
lineage"); a run made before them simply has none.
"""

from __future__ import annotations

from typing import Any

from etl.lineage.diff import config_diff
from etl.lineage.versions import RunVersion, input_entries, is_parent, replaced_parents
from etl.report.overview import expectation_tally, status_of
from expectations.frames import ordered_stages, stage_counts

EARLIER_REASONS = {"exact": "exact_duplicate_of_earlier", "near": "near_duplicate_of_earlier"}


def _rate(part: int, whole: int) -> float:
    return part / whole if whole else 0.0


def _reasons(manifest: dict) -> dict[str, int]:
    """``stage/reason`` -> documents."""
    rejected = (manifest.get("counts") or {}).get("rejected") or {}
    return {f"{s}/{r}": int(n) for s, reasons in rejected.items() for r, n in reasons.items()}


def _earlier(manifest: dict) -> dict[str, int]:
    """Documents removed as duplicates of an earlier run's, exact and near, whatever stage counted them."""
    rejected = (manifest.get("counts") or {}).get("rejected") or {}
    return {
        kind: sum(int(reasons.get(reason, 0)) for reasons in rejected.values())
        for kind, reason in EARLIER_REASONS.items()
    }


def version_row(run: RunVersion, index: int, earlier: list[RunVersion]) -> dict[str, Any]:
    """The figures of one version; ``earlier`` are the versions before it on the page (for its parents)."""
    m = run.manifest
    counts = m.get("counts") or {}
    read, kept = int(counts.get("read", 0)), int(counts.get("kept", 0))
    validation = m.get("validation")
    met, total = expectation_tally(validation)
    processed, skipped = input_entries(m)
    reasons = _reasons(m)
    dups = _earlier(m)
    return {
        "index": index,
        "label": run.label,
        "run": run.run,
        "root": run.root,
        "created_at": m.get("created_at") or "",
        "config_hash": m.get("config_hash") or "",
        "read": read,
        "kept": kept,
        "tokens": sum(int(s.get("tokens", 0)) for s in m.get("shards") or []),
        "removed_rate": 1.0 - _rate(kept, read) if read else 0.0,
        "stage_rates": {s: _rate(stage_counts(m, s).get("rejected", 0), read) for s in ordered_stages(m)},
        "reasons": reasons,
        "reason_rates": {k: _rate(n, read) for k, n in reasons.items()},
        "earlier": dups,
        "earlier_rates": {k: _rate(n, read) for k, n in dups.items()},
        "languages": dict(run.languages or {}),
        "validation": {"status": status_of(validation), "met": met, "total": total},
        "inputs": len(processed),
        "inputs_skipped": len(skipped),
        "parents": len(m.get("parents") or []),
        "parents_shown": [e.label for e in earlier if is_parent(run, e)],
        "parents_replaced": replaced_parents(run),
    }


def chronological(runs: list[RunVersion]) -> list[RunVersion]:
    """Oldest first by ``created_at`` (ISO 8601 sorts as text); equal times keep the order given."""
    return sorted(runs, key=lambda r: str(r.manifest.get("created_at") or ""))


def history_rows(runs: list[RunVersion]) -> list[dict[str, Any]]:
    """Rows oldest first, each with the config keys that changed since the version before it."""
    ordered = chronological(runs)
    rows = [version_row(run, i, ordered[:i]) for i, run in enumerate(ordered)]
    for row, before, run in zip(rows[1:], ordered, ordered[1:], strict=False):
        c = config_diff(before.manifest.get("config") or {}, run.manifest.get("config") or {})
        row["config_changes"] = sorted([*c["changed"], *c["only_a"], *c["only_b"]])
    if rows:
        rows[0]["config_changes"] = []
    return rows


def series_names(rows: list[dict[str, Any]], field: str, top: int | None = None) -> list[str]:
    """The keys of ``field`` over all rows, the biggest (summed) first; ``top`` keeps that many."""
    totals: dict[str, float] = {}
    for row in rows:
        for key, value in row[field].items():
            totals[key] = totals.get(key, 0) + value
    names = sorted(totals, key=lambda k: (-totals[k], k))
    return names[:top] if top is not None else names


def language_shares(rows: list[dict[str, Any]], top: int = 5) -> dict[str, list[float]]:
    """Per language (the ``top`` biggest, the rest as ``other``), its share of kept documents per version."""
    names = series_names(rows, "languages", top)
    shares: dict[str, list[float]] = {n: [] for n in names}
    rest = []
    for row in rows:
        langs, total = row["languages"], sum(row["languages"].values())
        for n in names:
            shares[n].append(_rate(langs.get(n, 0), total))
        rest.append(_rate(sum(v for k, v in langs.items() if k not in names), total))
    if any(rest):
        shares["other"] = rest
    return shares
