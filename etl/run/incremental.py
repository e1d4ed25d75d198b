"""`--incremental`: which inputs this run processes and which it skips because a parent already processed them.

Inputs are identified by the SHA-256 of their bytes (etl/ingest/input_hashes.py), never by path: a file renamed or
copied into a new folder is the same input, a file rewritten in place is a new one. A parent "has processed" an
input when its manifest lists it as processed, or lists it as skipped (then one of that parent's own parents
processed it): so a chain of runs, each against the one before, never processes a file twice. An input whose
bytes could not be read (no hash) is always processed: the reader rejects it and says why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from etl.lineage.versions import input_entries

log = logging.getLogger("corpus_etl")


@dataclass(frozen=True)
class InputSelection:
    """The run's inputs split into those it processes and those it skips; `hashes` covers both."""

    processed: list[tuple[str, int]]  # (url, bytes), in listing order: what plan_units gets
    skipped: list[tuple[str, int]]
    hashes: dict[str, str | None]  # url -> sha256 (None: unreadable)
    processed_by: dict[str, str]  # skipped url -> manifest URL of the run that processed its bytes

    @property
    def skipped_bytes(self) -> int:
        return sum(b for _, b in self.skipped)

    def entries(self) -> list[dict]:
        """The manifest's `inputs`, sorted by path: processed files, and skipped ones flagged as such."""
        skipped = {url for url, _ in self.skipped}
        out = []
        for url, size in sorted(self.processed + self.skipped):
            entry = {"path": url, "bytes": size, "sha256": self.hashes.get(url)}
            if url in skipped:
                entry.update(skipped=True, processed_by=self.processed_by[url])
            out.append(entry)
        return out


def processed_inputs(parents: list) -> dict[str, str]:
    """{sha256: manifest URL of the run that processed it} over every parent (`etl.store.parents.Parent`).

    A parent's own processed inputs name that parent; the inputs it skipped name the run it recorded as
    their processor. The first parent (in --against order) that knows a hash wins, so the result is stable.
    """
    seen: dict[str, str] = {}
    for parent in parents:
        processed, skipped = input_entries(parent.manifest)
        for entry in processed:
            if entry.get("sha256"):
                seen.setdefault(entry["sha256"], parent.url)
        for entry in skipped:
            if entry.get("sha256"):
                seen.setdefault(entry["sha256"], entry.get("processed_by") or parent.url)
    return seen


def select_inputs(
    files: list[tuple[str, int]], hashes: dict[str, str | None], already: dict[str, str]
) -> InputSelection:
    """Split `files` by whether their hash is in `already` (from `processed_inputs`; empty: process all)."""
    processed, skipped, by = [], [], {}
    for url, size in files:
        sha = hashes.get(url)
        if sha is not None and sha in already:
            skipped.append((url, size))
            by[url] = already[sha]
        else:
            processed.append((url, size))
    return InputSelection(processed, skipped, dict(hashes), by)


def choose_inputs(files: list[tuple[str, int]], config, parents: list) -> InputSelection:
    """Hash every input; with `incremental.enabled`, skip those whose bytes a parent already processed."""
    from etl.ingest.input_hashes import input_hashes

    hashes = input_hashes([url for url, _ in files])
    if config.incremental.enabled and not parents:
        log.warning("--incremental without --against: no earlier run to skip inputs of; processing all")
    already = processed_inputs(parents) if config.incremental.enabled else {}
    selection = select_inputs(files, hashes, already)
    if selection.skipped:
        log.info(
            "incremental: %d of %d inputs skipped (already processed by %s)",
            len(selection.skipped), len(files), ", ".join(sorted(set(selection.processed_by.values()))),
        )  # fmt: skip
    return selection


def empty_stage_counts(config) -> dict[str, dict]:
    """Zero counts for every stage the config enables: the counts of a run with nothing left to process."""
    from etl.run.stages import build_chain

    names = ["read", *(stage.name for stage in build_chain(config, "tokenize"))]
    return {
        n: {"in": 0, "out": 0, "rejected": 0, "in_bytes": 0, "out_bytes": 0, "reasons": {}} for n in names
    }


def nothing_to_validate(policy: str) -> dict:
    """The validation result of a run that processed no input: not run, and not a failure.

    The run suite asks for at least one document read and kept, which is right for a run over inputs and
    wrong for an incremental run that found nothing new; the result says so instead of failing it.
    """
    return {
        "success": True, "expectations_passed": True, "status": "skipped", "policy": policy,
        "reason": "no input left to process: every input was already processed by a parent",
        "suites": {}, "shards": {}, "failures": [], "warnings": [], "quarantine": [],
    }  # fmt: skip
