"""The content hash of every input file: what identifies an input across runs (`--incremental`, `diff`).

Each file's bytes (as stored: a .gz is hashed compressed) stream through SHA-256 in the driver, a few files at
once on a thread pool: the work is reading (local disk or S3) and hashlib releases the GIL on large updates.
A file opened by the same safe opener as the reader (`open_input`), so a named pipe never blocks the driver;
an entry that cannot be read has no hash (None), and the reader rejects it as usual.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor

from etl.ingest.input_files import InputFault, open_input

CHUNK_BYTES = 4 << 20  # large reads: few round trips on S3, and hashlib drops the GIL above 2 KiB
DEFAULT_THREADS = 8  # I/O-bound: more threads than the 2 cores keep S3 reads in flight


def file_sha256(url: str) -> str | None:
    """The hex SHA-256 of one input's bytes, None when the entry cannot be opened or read to its end."""
    digest = hashlib.sha256()
    try:
        with open_input(url) as fh:
            while chunk := fh.read(CHUNK_BYTES):
                digest.update(chunk)
    except (InputFault, OSError):
        return None  # the reader turns this entry into a reject naming why
    return digest.hexdigest()


def input_hashes(urls: list[str], threads: int = DEFAULT_THREADS) -> dict[str, str | None]:
    """{url: sha256 or None} for every listed input, hashed `threads` files at a time."""
    if not urls:
        return {}
    with ThreadPoolExecutor(max_workers=max(1, min(threads, len(urls))), thread_name_prefix="sha256") as pool:
        return dict(zip(urls, pool.map(file_sha256, urls), strict=True))
