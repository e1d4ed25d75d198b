"""Refuse a run whose output overlaps its inputs (exit 2), before anything is read or written.

An output inside an input folder would be read back as input by the next run (its shards, rejects and report
becoming documents), and an input inside the output would be deleted by the commit. The check works on the
patterns as given, not only on what they match today, so the first run into a fresh output is refused the same
way as the rerun that would find the output's files: the answer never depends on what earlier runs left.
"""

from __future__ import annotations

import fnmatch
import os

import fsspec

from etl.ingest.input_files import local_path
from etl.ingest.sources import InputError

# Names of the kinds of file a run writes into its output, to test whether a glob could match one.
OUTPUT_FILES = (
    "manifest.json",
    "shards/part-00000-0.parquet",
    "rejects/part-00000-0.parquet",
    "report/index.html",
    "_staging/run/units/u00000.json",
    "_lease.json",
)


def _normal(url: str) -> str:
    """A comparable form: an absolute real path locally, `proto://bucket/key` otherwise; no trailing slash."""
    path = local_path(url)
    if path is None:
        proto, rest = url.split("://", 1)
        return f"{proto}://{rest.strip('/')}"
    return os.path.realpath(os.path.abspath(path))


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _ancestors(path: str, stop: str) -> list[str]:
    """`path` and its parents down to, but not including, `stop`."""
    found = []
    while _within(path, stop) and path != stop:
        found.append(path)
        path = path.rsplit("/", 1)[0]
    return found


def check_inputs_outside_output(patterns: list[str], output: str, files: list[str] = ()) -> None:
    """Raise InputError when a pattern could read the output, names something inside it, or matched a file
    inside it (`files`, the expanded inputs)."""
    out = _normal(output)
    for pattern in patterns:
        given = _normal(pattern)
        if not fsspec.core.has_magic(pattern):
            if _within(given, out):
                raise InputError(f"--input {pattern!r} lies inside --output {output!r}: use another output")
            if _within(out, given):
                raise InputError(
                    f"--output {output!r} lies inside --input {pattern!r}: its files would be read back as "
                    "input by the next run; put the output outside the input folder"
                )
            continue
        cut = min(i for i, ch in enumerate(given) if ch in "*?[")
        prefix = given[:cut].rsplit("/", 1)[0] or "/"
        if _within(prefix, out):
            raise InputError(f"--input {pattern!r} lies inside --output {output!r}: use another output")
        # fnmatch's * also crosses "/": a conservative test of whether the glob could reach the output.
        reachable = _ancestors(out, prefix) + [f"{out}/{name}" for name in OUTPUT_FILES]
        if any(fnmatch.fnmatchcase(a, given) for a in reachable):
            raise InputError(
                f"--input {pattern!r} matches --output {output!r} or a folder holding it: its files would "
                "be read back as input; put the output outside what the pattern matches"
            )
    inside = [f for f in files if _within(_normal(f), out)]
    if inside:
        raise InputError(f"input {inside[0]!r} lies inside --output {output!r}: use another output")
