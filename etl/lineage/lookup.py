"""Looking into one committed run without pyarrow: its rejects by stage, reason and source (`corpus-etl rejects`)
and one document's fate (`corpus-etl show`): kept in which shard and row, or removed by which stage and why.

Only the files the manifest lists are read (a reader trusts nothing else). The reject texts are read for the
rows shown only, never for the whole rejects set: in a big run the rejects hold most of its text.
"""

from __future__ import annotations

import fnmatch
import json
import math
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads

from etl.lineage.versions import MANIFEST, load_run
from transforms.reasons import explain

REJECT_FIELDS = ("doc_id", "source", "line", "stage", "reason", "detail", "value")
SHARD_FIELDS = ("doc_id", "num_tokens", "source", "meta")
PREVIEW_CHARS = 80


@dataclass(frozen=True)
class OpenRun:
    """A committed run's manifest and where its files are."""

    run: str
    fs: object
    root: str  # the output folder's path on `fs`
    manifest: dict

    def dataset(self, kind: str) -> pads.Dataset | None:
        """The Parquet files the manifest lists under `kind` (shards, quarantine, rejects) as one dataset."""
        paths = [f"{self.root}/{entry['path']}" for entry in self.manifest.get(kind) or []]
        return pads.dataset(paths, filesystem=self.fs, format="parquet") if paths else None


def open_run(run: str) -> OpenRun:
    """RUN (a folder or its manifest.json, local or a URL) as a committed run; a RUN that is not one is a
    FileNotFoundError or ValueError naming it (the CLI's exit 2), never a traceback."""
    try:
        version = load_run(run, documents=False)
    except (NotADirectoryError, IsADirectoryError, PermissionError) as err:
        raise ValueError(
            f"{run}: not a run ({err.strerror or err}); name an output folder or its {MANIFEST}"
        ) from None
    manifest = version.manifest
    if not isinstance(manifest, dict) or not isinstance(manifest.get("counts"), dict):
        raise ValueError(f"{run}: its {MANIFEST} is not a corpus-etl manifest (no counts)")
    import fsspec

    fs, root = fsspec.core.url_to_fs(version.root)
    return OpenRun(run, fs, root.rstrip("/"), manifest)


@dataclass
class RejectListing:
    """The rejects of a run that match a filter: counts by reason over all of them, and the first rows."""

    matched: int
    total: int  # rejects in the run
    by_reason: list[tuple[str, int]]  # largest first
    rows: list[dict] = field(default_factory=list)  # REJECT_FIELDS + text (None where not kept)


def reason_matches(reasons: pa.Array, reason: str) -> pa.Array:
    """A reason exactly, or a family by its dotted prefix: `gopher_repetition` matches
    `gopher_repetition.dup_5gram`, while `exact_duplicate` does not match `exact_duplicate_of_earlier`."""
    reason = reason.rstrip(".")
    return pc.or_(pc.equal(reasons, reason), pc.starts_with(reasons, reason + "."))


def source_matches(sources: pa.Array, glob: str) -> pa.Array:
    """A glob (fnmatch) over the whole source or its file name: `*.jsonl.gz` and `web-a*` both work."""
    names = [s for s in pc.unique(sources).to_pylist() if s is not None]
    hits = [
        s for s in names if fnmatch.fnmatchcase(s, glob) or fnmatch.fnmatchcase(s.rsplit("/", 1)[-1], glob)
    ]
    return pc.is_in(sources, pa.array(hits, pa.string()))


def list_rejects(
    run: OpenRun,
    stage: str | None = None,
    reason: str | None = None,
    source: str | None = None,
    limit: int = 20,
) -> RejectListing:
    """The rejects that match every filter given, in file order; `limit` rows of them (0: all)."""
    ds = run.dataset("rejects")
    if ds is None:
        return RejectListing(0, 0, [])
    table = ds.to_table(columns=[c for c in REJECT_FIELDS if c in ds.schema.names])
    mask = pa.array(np.ones(table.num_rows, bool))
    if stage:
        mask = pc.and_(mask, pc.equal(table["stage"], stage))
    if reason:
        mask = pc.and_(mask, reason_matches(table["reason"], reason))
    if source:
        mask = pc.and_(mask, source_matches(table["source"], source))
    picked = np.flatnonzero(pc.fill_null(mask, False).to_numpy(zero_copy_only=False))
    counts = Counter(table["reason"].take(pa.array(picked, pa.int64())).to_pylist())
    shown = picked if limit <= 0 else picked[:limit]
    rows = table.take(pa.array(shown, pa.int64())).to_pylist()
    texts = _texts(ds, shown)
    for row, text in zip(rows, texts, strict=True):
        row["text"] = text
    return RejectListing(len(picked), table.num_rows, counts.most_common(), rows)


def _texts(ds: pads.Dataset, rows: np.ndarray) -> list[str | None]:
    if "text" not in ds.schema.names or len(rows) == 0:
        return [None] * len(rows)
    return ds.take(pa.array(rows, pa.int64()), columns=["text"]).column("text").to_pylist()


def _matching_rows(ds: pads.Dataset, doc_id: str) -> np.ndarray:
    ids = ds.to_table(columns=["doc_id"]).column("doc_id")
    return np.flatnonzero(pc.fill_null(pc.equal(ids, doc_id), False).to_numpy(zero_copy_only=False))


def _kept(run: OpenRun, doc_id: str) -> list[dict]:
    """Where the document sits in the shards (and quarantined shards): file, row, tokens, text if kept."""
    found = []
    for kind in ("shards", "quarantine"):
        for entry in run.manifest.get(kind) or []:
            ds = pads.dataset(f"{run.root}/{entry['path']}", filesystem=run.fs, format="parquet")
            rows = _matching_rows(ds, doc_id)
            if not len(rows):
                continue
            columns = [c for c in (*SHARD_FIELDS, "text") if c in ds.schema.names]
            values = ds.take(pa.array(rows, pa.int64()), columns=columns).to_pylist()
            for row, value in zip(rows, values, strict=True):
                found.append({"kind": kind, "path": entry["path"], "row": int(row), "text": None, **value})
    return found


def document_fate(run: OpenRun, doc_id: str) -> dict:
    """Every place the id occurs: `kept` (shard rows) and `removed` (reject rows, text included).
    An id may occur more than once: ids come from the inputs, which need not keep them unique."""
    removed = []
    ds = run.dataset("rejects")
    if ds is not None:
        rows = _matching_rows(ds, doc_id)
        if len(rows):
            columns = [c for c in (*REJECT_FIELDS, "text") if c in ds.schema.names]
            removed = ds.take(pa.array(rows, pa.int64()), columns=columns).to_pylist()
    return {"doc_id": doc_id, "kept": _kept(run, doc_id), "removed": removed}


def _one_line(text: str | None, width: int) -> str:
    if text is None:
        return "(text not kept)"
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


def _value(value) -> str:
    return "" if value is None else f"{value:.4g}"


def summary_line(listing: RejectListing) -> str:
    """One line: how many rejects match, of how many, by reason."""
    reasons = ", ".join(f"{r} {n}" for r, n in listing.by_reason) or "none"
    return f"{listing.matched} of {listing.total} rejects match: {reasons}"


def _clip_left(text: str, width: int) -> str:
    return text if len(text) <= width else "…" + text[-(width - 1) :]


def render_table(listing: RejectListing) -> str:
    """The matching rows as a fixed-width table, one line each, text shortened to a one-line preview."""
    header = ("doc_id", "source", "line", "stage", "reason", "detail", "value", "text")
    cells = [
        (
            _clip_left(str(r["doc_id"]), 28),
            _clip_left(str(r.get("source") or ""), 32),
            "" if r.get("line") is None else str(r["line"]),
            str(r.get("stage") or ""),
            str(r.get("reason") or ""),
            _one_line(r.get("detail") or "", 40),
            _value(r.get("value")),
            _one_line(r.get("text"), PREVIEW_CHARS),
        )  # fmt: skip
        for r in listing.rows
    ]
    widths = [max(len(row[i]) for row in [header, *cells]) for i in range(len(header) - 1)]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
        for row in [header, *cells]
    ]
    if listing.matched > len(listing.rows):
        lines.append(f"(the first {len(listing.rows)} of {listing.matched}; --limit N shows more, 0 all)")
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _json_safe(value):
    """Strict JSON has no infinity or NaN (a metric can be either): those become the strings Python prints."""
    return str(value) if isinstance(value, float) and not math.isfinite(value) else value


def render_json_lines(listing: RejectListing) -> str:
    """One JSON object per matching row, every field in full."""
    return "".join(
        json.dumps({k: _json_safe(v) for k, v in r.items()}, ensure_ascii=False) + "\n" for r in listing.rows
    )


def render_fate(fate: dict) -> str:
    """One document's fate for people: where it was kept or why it was removed, then its text."""
    out = []
    for k in fate["kept"]:
        where = "kept" if k["kind"] == "shards" else "kept, but quarantined by validation,"
        out.append(f"{fate['doc_id']}: {where} in {k['path']} row {k['row']} ({k.get('num_tokens')} tokens)")
        out.append(f"  source  {k.get('source')}")
        if k.get("meta") not in (None, "{}"):
            out.append(f"  meta    {k['meta']}")
    for r in fate["removed"]:
        out.append(f"{fate['doc_id']}: removed by {r.get('stage')}: {r.get('reason')}")
        out.append(f"  why     {explain(str(r.get('reason')))}")
        out.append(f"  source  {r.get('source')} line {r.get('line')}")
        if r.get("detail"):
            out.append(f"  detail  {r['detail']}")
        if r.get("value") is not None:
            out.append(f"  value   {_value(r['value'])}")
    out += ["", *_text_block(fate)]
    return "\n".join(out) + "\n"


def _text_block(fate: dict) -> list[str]:
    """The text from the shard's `text` column when present, else from the reject, else why there is none."""
    for entry in [*fate["kept"], *fate["removed"]]:
        if entry.get("text") is not None:
            return [f"text ({len(entry['text'])} characters):", entry["text"]]
    if fate["kept"]:
        return ["text: not kept (the shards hold tokens only; output.keep_text: true keeps the text)"]
    return ["text: not kept (the run's rejects hold no text; output.rejects_text: true keeps it)"]
