"""`corpus-etl export`: a committed run's shards in the format a trainer already reads.

    from etl.export import export_run
    receipt = export_run("out/", "megatron", "exports/megatron/")   # or "mds", "litdata"

Every format gets the same documents in the same order (shards in manifest order, rows in file order), each
document's tokens exactly as the shards hold them (EOS between documents when the run added it; nothing
added, nothing removed), read from bytes whose sha256 matched the manifest (`etl.export.source`). What each
format keeps of the rest (doc ids, sources, meta) is in its module and in docs/training.md. The writers
use numpy alone: no trainer's package is needed to export. The export folder must be new or empty, and
`corpus-etl-export.json` is written last: which run (manifest URL and sha256), format, dtype, EOS id,
documents, tokens and files.
"""

from __future__ import annotations

from datetime import UTC, datetime

from etl.export.litdata import LitDataWriter
from etl.export.mds import MDSWriter
from etl.export.megatron import MegatronWriter
from etl.export.source import open_run, run_batches
from etl.export.target import RECEIPT, open_target

WRITERS = {w.format: w for w in (MegatronWriter, MDSWriter, LitDataWriter)}
FORMATS = tuple(WRITERS)


def export_run(
    run: str,
    fmt: str,
    output: str,
    *,
    allow_unvalidated: bool = False,
    storage_options: dict | None = None,
    part_bytes: int | None = None,
) -> dict:
    """Write RUN's shards into `output` in format `fmt`; returns the receipt (also written as RECEIPT).

    `part_bytes` is the target size of one MDS shard or litdata chunk (default each project's own, 64 MiB).

    ManifestError (a ValueError) when the manifest or a shard is not what the run committed; ValueError when
    `output` is a file or not empty. Both are the CLI's exit 2.
    """
    if fmt not in WRITERS:
        raise ValueError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    source = open_run(run, storage_options, allow_unvalidated)
    target = open_target(output, storage_options)
    writer = WRITERS[fmt](target, source.vocab_size, part_bytes)
    documents = tokens = 0
    try:
        for batch in run_batches(source):
            writer.add(batch)
            documents += len(batch)
            tokens += int(batch.offsets[-1])
        files = writer.finish()
    except BaseException:
        writer.abort()
        target.clear()
        raise
    receipt = {
        "format": fmt,
        "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "source": {"manifest": source.manifest_url, "sha256": source.manifest_sha256},
        "dtype": writer.dtype.name,
        "eos_id": source.eos_id,
        "vocab_size": source.vocab_size,
        "documents": documents - writer.skipped_empty,
        "tokens": tokens,
        "skipped_empty_documents": writer.skipped_empty,
        "keeps": list(writer.keeps),
        "drops": list(writer.drops),
        "files": files,
    }
    target.write_json(RECEIPT, receipt)
    return receipt


__all__ = ["FORMATS", "export_run"]
