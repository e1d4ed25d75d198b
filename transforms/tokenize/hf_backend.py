"""Backend `hf`: the `tokenizers` library (Rust), batched, parallel over documents on every allowed core.

Document text is encoded as text: a document that spells a special token (`<|endoftext|>`) gets the ids of
those characters, never the special id, so no document can forge an EOS or BOS. Specials are added by the stage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
from tokenizers import Tokenizer

from transforms.tokenize.ragged import Ragged


def set_threads(threads: int) -> None:
    """Size the Rust thread pool; it reads RAYON_NUM_THREADS once, at the first parallel call of the process.

    0 leaves rayon's default, which is every core this process may use (affinity and cgroup quota).
    """
    if threads > 0:
        os.environ["RAYON_NUM_THREADS"] = str(threads)


class HFBackend:
    """encode / encode_batch / decode over a `tokenizers.Tokenizer`."""

    name = "hf"

    def __init__(self, tokenizer: Tokenizer, threads: int = 0):
        set_threads(threads)
        self.tokenizer = tokenizer
        self.tokenizer.encode_special_tokens = True

    def encode_ragged(self, texts: Sequence[str]) -> Ragged:
        encodings = self.tokenizer.encode_batch_fast(list(texts), add_special_tokens=False)
        return Ragged.from_lists([e.ids for e in encodings])

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_ragged(texts).split()

    def encode(self, text: str) -> np.ndarray:
        return np.asarray(self.tokenizer.encode(text, add_special_tokens=False).ids, np.uint32)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)
