"""Parameters of near-duplicate removal (DESIGN.md "Near-duplicate removal")."""

from __future__ import annotations

from typing import Literal

from transforms.params import StageParams


class NearDedupConfig(StageParams):
    enabled: bool = True
    threshold: float = 0.8
    ngram: int = 5
    shingle: Literal["word", "char"] = "word"
    num_perm: int = 112
    # None: chosen from the threshold (minimising false positives + false negatives), as datasketch does.
    bands: int | None = 14
    rows: int | None = 8
    verify: Literal["signature", "exact", "none"] = "signature"
    seed: int = 1
    device: str = "cpu"
