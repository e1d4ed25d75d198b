"""Parameters of the tokenizer stage (DESIGN.md "Tokenization")."""

from __future__ import annotations

from typing import Literal

from transforms.params import StageParams


class TokenizeConfig(StageParams):
    # Path or fsspec URL of a Hugging Face tokenizer.json; "default" is the one shipped with corpus-etl.
    tokenizer: str = "default"
    backend: Literal["hf", "torch"] = "hf"
    device: str = "auto"
    add_eos: bool = True
    add_bos: bool = False
