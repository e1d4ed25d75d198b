"""Tokenizer stage: Hugging Face tokenizer.json in, `tokens` / `num_tokens` columns out (DESIGN.md "Tokenization").

Backends `fast` (the default: gigatoken, guarded, with `hf` for what it does not encode exactly), `hf`
(tokenizers, all cores) and `torch` (our byte-level BPE, merges on CUDA when present) give the same ids,
token for token. The Beam-facing names load lazily, so that pre-tokenizer worker processes and the
manifest writer do not import Beam.
"""

from importlib import import_module

from transforms.tokenize.loading import DEFAULT_TOKENIZER, TokenizerError, load_tokenizer_info
from transforms.tokenize.params import TokenizeConfig

_LAZY = {
    "Encoder": "transforms.tokenize.encoder",
    "load_encoder": "transforms.tokenize.encoder",
    "Tokenize": "transforms.tokenize.stage",
    "tokenize_batch": "transforms.tokenize.stage",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'transforms.tokenize' has no attribute {name!r}")


__all__ = [
    "DEFAULT_TOKENIZER",
    "Encoder",
    "Tokenize",
    "TokenizeConfig",
    "TokenizerError",
    "load_encoder",
    "load_tokenizer_info",
    "tokenize_batch",
]
