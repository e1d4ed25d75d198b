"""Hints where the cause of a loss is clear from the run's own rejects: the fields a file has when its text
field is missing, the languages that language id removed. The terminal summary prints them and the report's
language section shows the removed languages, so that a user never has to open the rejects to find out.
"""

from __future__ import annotations

import re
from collections import Counter

import fsspec
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

HINTED = ("missing_text", "language.not_allowed")
# Details of our own making: "no field 'text' (fields: content, url)" and "lang=de not in ['en']".
_FIELDS = re.compile(r"\((?:fields|columns): ([^)]*)\)")
_LANG = re.compile(r"^lang=(\S+) not in")
SHOWN = 6  # languages or fields named in one hint
MOST = 0.5  # language id "removed most" above this share of the quality stage's input
MANY = 0.1  # records without text: a hint above this share of the records read (a few are just bad lines)


def hinted_rejects(root: str, manifest: dict) -> pa.Table | None:
    """reason and detail of the rejects a hint is made of, read from the run's reject files (no text). One
    file at a time on this thread: at the very end of a run, no reader thread may outlive it."""
    tables = []
    for entry in manifest.get("rejects") or []:
        with fsspec.open(f"{root.rstrip('/')}/{entry['path']}", "rb") as fh:
            table = pq.ParquetFile(fh).read(columns=["reason", "detail"], use_threads=False)
        tables.append(table.filter(pc.is_in(table.column("reason"), pa.array(HINTED))))
    return pa.concat_tables(tables) if tables else None


def _details(rejects: pa.Table | None, reason: str) -> list[str]:
    if rejects is None or rejects.num_rows == 0:
        return []
    picked = rejects.filter(pc.equal(rejects.column("reason"), reason))
    return [d for d in picked.column("detail").to_pylist() if d]


def removed_languages(rejects: pa.Table | None) -> Counter:
    """Documents removed as language.not_allowed, per detected language."""
    return Counter(m.group(1) for d in _details(rejects, "language.not_allowed") if (m := _LANG.match(d)))


def missing_text_fields(rejects: pa.Table | None) -> Counter:
    """How many records without the text field had each of their fields."""
    found: Counter = Counter()
    for d in _details(rejects, "missing_text"):
        if m := _FIELDS.search(d):
            found.update(f.strip() for f in m.group(1).split(",") if f.strip())
    return found


def _named(counts: Counter) -> str:
    shown = ", ".join(f"{k} {n}" for k, n in counts.most_common(SHOWN))
    return shown + (f", {len(counts) - SHOWN} more" if len(counts) > SHOWN else "")


def run_hints(manifest: dict, rejects: pa.Table | None) -> list[str]:
    """One line per clear cause of a loss, for the terminal summary."""
    hints = []
    config = manifest.get("config") or {}
    rejected = (manifest.get("counts") or {}).get("rejected") or {}
    missing = (rejected.get("read") or {}).get("missing_text", 0)
    if missing > MANY * ((manifest.get("counts") or {}).get("read") or 0):
        field = (config.get("input") or {}).get("text_field", "text")
        fields = missing_text_fields(rejects)
        id_field = (config.get("input") or {}).get("id_field")
        textish = [f for f, _ in fields.most_common() if f not in (field, id_field)]
        advice = f"; set input.text_field={textish[0]} if that holds the text" if textish else ""
        hints.append(f"{missing} records have no field {field!r}; their fields: {_named(fields)}{advice}")
    quality = ((manifest.get("counts") or {}).get("stages") or {}).get("quality") or {}
    langs = removed_languages(rejects)
    removed = sum(langs.values())
    if quality.get("in") and removed > MOST * quality["in"]:
        allowed = (config.get("quality") or {}).get("languages") or []
        wanted = ", ".join([*allowed, *(k for k, _ in langs.most_common(3))])
        hints.append(
            f"language id removed {removed} of {quality['in']} documents as not in quality.languages "
            f"{allowed}: {_named(langs)}; to keep them, set quality.languages=[{wanted}]"
        )
    if not manifest.get("shards") and (manifest.get("counts") or {}).get("read"):
        hints.append("no document was kept, so no shard was written: see the rejects above and in the report")
    return hints
