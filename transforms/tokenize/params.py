"""Parameters of the tokenizer stage (DESIGN.md "Tokenization")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from transforms.params import StageParams


class TokenizeConfig(StageParams):
    """The tokenizer and the backend that runs it (every backend gives the same ids)."""

    tokenizer: str = "default"
    """Path or fsspec URL of a Hugging Face tokenizer.json; "default" is the one shipped with corpus-etl."""
    backend: Literal["auto", "fast", "hf", "torch"] = "auto"
    """auto (= fast): the fastest exact CPU path. fast: gigatoken, with the documents and tokenizer shapes it
    does not encode exactly sent to hf; hf: the `tokenizers` library (Rust, all cores); torch: our
    byte-level BPE, merges on CUDA when present."""
    device: str = "auto"
    """torch backend only: "auto" (cuda when available, else cpu), "cpu", "cuda", "cuda:1", ..."""
    add_eos: bool = True
    """Append the EOS token to every document (documents are packed end to end at read time)."""
    add_bos: bool = False
    """Prepend the BOS token to every document."""
    eos_token: str | None = None
    """Token text of EOS; null = found by name among the tokenizer's special tokens (<|endoftext|>, </s>,
    <|end_of_text|>, <eos>)."""
    bos_token: str | None = None
    """Token text of BOS; null = found by name among the tokenizer's special tokens (<|startoftext|>, <s>,
    <|begin_of_text|>, <bos>)."""
    threads: int = Field(default=0, ge=0)
    """Threads of the fast and hf backends; 0 = every core this worker may use (its CPU affinity / cgroup
    quota)."""
    pretokenize_processes: int = Field(default=0, ge=0)
    """torch backend: processes that pre-tokenize in parallel (its CPU half); 0 = in the worker itself."""
