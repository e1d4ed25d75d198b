"""The manifest's shard list as `data_files` for Hugging Face `datasets`, so that its Parquet builder reads the
committed shards and nothing else (never a glob over `shards/`, which would also match files of a run in
progress or of an older version):

    from datasets import load_dataset
    from etl.export.hf import data_files
    ds = load_dataset("parquet", data_files=data_files("out/"), split="train")   # doc_id, tokens, ...

The files are checked against the manifest first (sizes and sha256, as `corpus-etl export` does), unless
`verify=False`. Local shards are plain paths; others keep the run's protocol (`s3://...`), which `datasets` reads through fsspec.
"""

from __future__ import annotations

from etl.export.source import open_run, read_verified
from etl.ingest.input_files import is_local_fs


def data_files(
    run: str, *, verify: bool = True, allow_unvalidated: bool = False, storage_options: dict | None = None
) -> list[str]:
    """URLs of RUN's shards in manifest order (RUN: an output folder or its manifest.json, local or a URL)."""
    source = open_run(run, storage_options, allow_unvalidated)
    if verify:
        for shard in source.corpus.shards:
            read_verified(source, shard)
    local = is_local_fs(source.fs)
    return [s.location if local else source.fs.unstrip_protocol(s.location) for s in source.corpus.shards]
