"""A configured tokenizer: the chosen backend plus BOS / EOS, behind tiktoken's small API.

`load_encoder(config)` is what the stage calls once per worker and what users call in a notebook:
    enc = load_encoder(TokenizeConfig(tokenizer="s3://bucket/tokenizer.json"))
    enc.encode("Hello"), enc.encode_batch(texts), enc.decode(ids)
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Protocol

import numpy as np

from transforms.tokenize.hf_backend import HFBackend
from transforms.tokenize.loading import TokenizerFile, eos_bos_ids, read_tokenizer_file
from transforms.tokenize.params import TokenizeConfig
from transforms.tokenize.ragged import Ragged, add_special_ids

log = logging.getLogger(__name__)


class Backend(Protocol):
    name: str

    def encode_ragged(self, texts: Sequence[str]) -> Ragged: ...

    def decode(self, ids: Sequence[int] | np.ndarray) -> str: ...


class Encoder:
    """Encodes documents with the configured BOS / EOS around each; decodes ids back to text."""

    def __init__(self, backend: Backend, eos_id: int | None, bos_id: int | None):
        self.backend = backend
        self.eos_id = eos_id
        self.bos_id = bos_id

    def encode_ragged(self, texts: Sequence[str], specials: bool = True) -> Ragged:
        ragged = self.backend.encode_ragged(texts)
        return add_special_ids(ragged, self.bos_id, self.eos_id) if specials else ragged

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_ragged(texts).split()

    def encode(self, text: str) -> np.ndarray:
        return self.encode_ragged([text]).flat

    def encode_stream(self, batches: Iterable[Sequence[str]]) -> Iterator[Ragged]:
        """encode_ragged over many batches, letting a backend work ahead (torch's pre-tokenizer pool)."""
        stream = getattr(self.backend, "encode_stream", None)
        for ragged in stream(batches) if stream else map(self.backend.encode_ragged, batches):
            yield add_special_ids(ragged, self.bos_id, self.eos_id)

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.backend.decode(ids)

    def close(self) -> None:
        """Stop the backend's worker processes, if it has any."""
        close = getattr(self.backend, "close", None)
        if close:
            close()


def make_backend(config: TokenizeConfig, tf: TokenizerFile) -> Backend:
    """The configured backend; `fast` and `torch` fall back to `hf` (with a log line) where not exact.

    `auto` (the default) is `fast`: the fastest exact CPU path (docs/benchmarks.md, issue 9).
    """
    tokenizer = tf.tokenizer()
    if config.backend in ("auto", "fast"):
        from transforms.tokenize.fast_backend import FastBackend, UnsupportedByFast

        try:
            return FastBackend(tokenizer, tf.spec, threads=config.threads)
        except UnsupportedByFast as err:
            log.warning("%s: backend fast cannot encode this tokenizer (%s); using backend hf", tf.path, err)
    if config.backend == "torch":
        from transforms.tokenize.bpe_torch import TorchBPE, UnsupportedTokenizer

        try:
            return TorchBPE(tokenizer, tf.spec, device=config.device, processes=config.pretokenize_processes)
        except UnsupportedTokenizer as err:
            log.warning("%s: backend torch cannot encode this tokenizer (%s); using backend hf", tf.path, err)
    return HFBackend(tokenizer, threads=config.threads)


def load_encoder(config: TokenizeConfig) -> Encoder:
    tf = read_tokenizer_file(config.tokenizer)
    eos, bos = eos_bos_ids(tf, tf.tokenizer(), config)
    return Encoder(
        make_backend(config, tf),
        eos_id=eos if config.add_eos else None,
        bos_id=bos if config.add_bos else None,
    )
