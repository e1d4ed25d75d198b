"""Where an export writes: a folder (local or an fsspec URL) that is new or empty, and the token dtype it uses.

An export never mixes with other files: a folder that already holds anything is refused (exit 2), so a
trainer pointed at it reads this export alone. Each format writes its data files first and its index last
(Megatron's `.idx`, the `index.json` of MDS and litdata), and `corpus-etl-export.json` after everything: a
folder without that file is an export that did not finish. An export that fails (a shard whose checksum
differs) removes what it wrote.
"""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass

import fsspec
import numpy as np

RECEIPT = "corpus-etl-export.json"


@dataclass(frozen=True)
class Target:
    fs: fsspec.AbstractFileSystem
    root: str  # filesystem path (no protocol) of the export folder
    url: str  # as the user named it

    def path(self, name: str) -> str:
        return posixpath.join(self.root, name)

    def open(self, name: str):
        return self.fs.open(self.path(name), "wb")

    def clear(self) -> None:
        """Remove what an export that failed wrote: the folder held nothing before it began."""
        for path in self.fs.ls(self.root, detail=False):
            self.fs.rm(path, recursive=True)

    def write_json(self, name: str, obj: dict) -> None:
        with self.open(name) as fh:
            fh.write(json.dumps(obj, indent=1, sort_keys=True).encode())


def open_target(output: str, storage_options: dict | None = None) -> Target:
    """The export folder, made if missing; ValueError (exit 2) when it is a file or already holds files."""
    fs, root = fsspec.core.url_to_fs(output, **(storage_options or {}))
    root = root.rstrip("/") or "/"
    if fs.exists(root):
        if not fs.isdir(root):
            raise ValueError(f"--output {output}: is an existing file; name a new or empty folder")
        if fs.ls(root, detail=False):
            raise ValueError(
                f"--output {output}: already holds files; an export goes into a new or empty folder"
            )
    fs.makedirs(root, exist_ok=True)
    return Target(fs, root, output)


def token_dtype(vocab_size: int | None) -> np.dtype:
    """uint16 when every id of the vocabulary fits (the common case up to 64k tokens), else uint32."""
    return np.dtype(np.uint16) if vocab_size is not None and vocab_size <= 1 << 16 else np.dtype(np.uint32)


def cast_tokens(tokens: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """`tokens` as `dtype`, refusing an id that does not fit rather than wrapping it."""
    if tokens.size and int(tokens.max()) > np.iinfo(dtype).max:
        raise ValueError(
            f"token id {int(tokens.max())} does not fit {dtype.name}: the manifest's tokenizer.vocab_size is "
            "smaller than the ids in the shards; rerun the pipeline"
        )
    return tokens.astype(dtype, copy=False)
