"""Parameters of the tokenizer stage (DESIGN.md "Tokenization")."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from transforms.params import StageParams


class TokenizeConfig(StageParams):
    # Path or fsspec URL of a Hugging Face tokenizer.json; "default" is the one shipped with corpus-etl.
    tokenizer: str = "default"
    # auto (= fast): the fastest exact CPU path. fast: gigatoken, with the documents and tokenizer shapes it
    # does not encode exactly sent to hf; hf: the `tokenizers` library (Rust, all cores); torch: our
    # byte-level BPE, merges on CUDA when present.
    backend: Literal["auto", "fast", "hf", "torch"] = "auto"
    # torch backend only: "auto" (cuda when available, else cpu), "cpu", "cuda", "cuda:1", ...
    device: str = "auto"
    add_eos: bool = True
    add_bos: bool = False
    # Token text of EOS / BOS; null = found by name among the tokenizer's special tokens
    # (<|endoftext|>, </s>, <|end_of_text|>, <eos> / <|startoftext|>, <s>, <|begin_of_text|>, <bos>).
    eos_token: str | None = None
    bos_token: str | None = None
    # Threads of the fast and hf backends; 0 = every core this worker may use (its CPU affinity / cgroup quota).
    threads: int = Field(default=0, ge=0)
    # torch backend: processes that pre-tokenize in parallel (its CPU half); 0 = in the worker itself.
    pretokenize_processes: int = Field(default=0, ge=0)
