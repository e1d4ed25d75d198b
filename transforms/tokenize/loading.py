"""Find, read and describe a Hugging Face tokenizer.json (local path or any fsspec URL).

The bytes are read once and hashed, so the manifest records exactly the tokenizer that produced the shards;
EOS / BOS ids are resolved here, once, for every backend.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import fsspec
from tokenizers import Tokenizer

from transforms.tokenize.params import TokenizeConfig

DEFAULT_TOKENIZER = Path(__file__).parent / "data" / "default-tokenizer.json"

# Names that conventional tokenizers give their end / start of document tokens, most common first.
EOS_NAMES = ("<|endoftext|>", "<|end_of_text|>", "</s>", "<eos>", "<|eos|>")
BOS_NAMES = ("<|startoftext|>", "<|begin_of_text|>", "<s>", "<bos>", "<|bos|>")


class TokenizerError(ValueError):
    """A tokenizer that cannot be used as configured; the message names the file and what to change."""


@dataclass(frozen=True)
class TokenizerFile:
    """One tokenizer.json as read: where from, its bytes and hash, and its parsed JSON."""

    path: str
    data: bytes
    sha256: str
    spec: dict = field(repr=False)

    def tokenizer(self) -> Tokenizer:
        return Tokenizer.from_str(self.data.decode("utf-8"))


def resolve_path(tokenizer: str) -> str:
    """The configured path, or the shipped default's path for "default"."""
    return str(DEFAULT_TOKENIZER) if tokenizer == "default" else tokenizer


def read_tokenizer_file(tokenizer: str) -> TokenizerFile:
    """Read a tokenizer.json through fsspec (local, s3://, gs://, http(s)://, ...)."""
    path = resolve_path(tokenizer)
    try:
        with fsspec.open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        raise TokenizerError(
            f"tokenizer file not found: {path} (set tokenize.tokenizer to a tokenizer.json path or URL)"
        ) from None
    try:
        spec = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise TokenizerError(f"{path}: not a tokenizer.json (invalid JSON: {err})") from None
    if not isinstance(spec, dict) or "model" not in spec:
        raise TokenizerError(f"{path}: not a tokenizer.json (no 'model' section)")
    return TokenizerFile(path=path, data=data, sha256=hashlib.sha256(data).hexdigest(), spec=spec)


def special_tokens(spec: dict) -> dict[str, int]:
    """{token text: id} of the added tokens marked special."""
    return {t["content"]: int(t["id"]) for t in spec.get("added_tokens") or [] if t.get("special")}


def _find_id(tf: TokenizerFile, tok: Tokenizer, wanted: str | None, names: tuple[str, ...], what: str):
    if wanted is not None:
        token_id = tok.token_to_id(wanted)
        if token_id is None:
            raise TokenizerError(f"{tf.path}: tokenize.{what}_token {wanted!r} is not in the vocabulary")
        return token_id
    specials = special_tokens(tf.spec)
    return next((specials[n] for n in names if n in specials), None)


def eos_bos_ids(tf: TokenizerFile, tok: Tokenizer, config: TokenizeConfig) -> tuple[int | None, int | None]:
    """EOS and BOS ids (None where the tokenizer has none); an error only when the config needs a missing one."""
    eos = _find_id(tf, tok, config.eos_token, EOS_NAMES, "eos")
    bos = _find_id(tf, tok, config.bos_token, BOS_NAMES, "bos")
    for needed, found, what in ((config.add_eos, eos, "eos"), (config.add_bos, bos, "bos")):
        if needed and found is None:
            raise TokenizerError(
                f"{tf.path}: tokenize.add_{what} is true but no {what.upper()} token was found; "
                f"set tokenize.{what}_token to its text, or tokenize.add_{what}=false"
            )
    return eos, bos


def load_tokenizer_info(config: TokenizeConfig) -> dict:
    """What the manifest records about the tokenizer (DESIGN.md "Output")."""
    tf = read_tokenizer_file(config.tokenizer)
    tok = tf.tokenizer()
    eos, bos = eos_bos_ids(tf, tok, config)
    return {
        "path": tf.path,
        "sha256": tf.sha256,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "model": type(tok.model).__name__,
        "eos_id": eos,
        "bos_id": bos,
        "special_ids": special_tokens(tf.spec),
    }
