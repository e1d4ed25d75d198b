"""Parameters of near-duplicate removal (DESIGN.md "Near-duplicate removal"); defaults measured in docs/near_dedup.md."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import field_validator, model_validator

from transforms.params import StageParams

# Banding weights when bands/rows are not given. A verified candidate costs one signature comparison, a missed
# pair costs recall, so with verification the choice leans to recall; without it, datasketch's even weights.
VERIFIED_WEIGHTS = (0.002, 0.998)
UNVERIFIED_WEIGHTS = (0.5, 0.5)


class NearDedupConfig(StageParams):
    enabled: bool = True
    # Jaccard similarity of shingle sets at or above which two documents are near-duplicates.
    threshold: float = 0.8
    ngram: int = 5
    shingle: Literal["word", "char"] = "word"
    # Signature length (one-permutation MinHash bins); the verifier's estimate has sd ~ sqrt(J(1-J)/num_perm).
    num_perm: int = 256
    # None: chosen from the threshold (minimising weighted false positives + false negatives), as datasketch does.
    bands: int | None = None
    rows: int | None = None
    # signature: estimated Jaccard of candidate pairs >= threshold; exact: exact shingle Jaccard; none: trust LSH.
    verify: Literal["signature", "exact", "none"] = "signature"
    seed: int = 1
    # "cpu" (numpy) or "cuda" / "cuda:N" (torch; identical signatures).
    device: str = "cpu"

    @field_validator("threshold")
    @classmethod
    def _threshold_in_unit_interval(cls, v: float) -> float:
        if not 0.0 < v <= 1.0:
            raise ValueError("threshold must be in (0, 1]")
        return v

    @field_validator("ngram", "num_perm")
    @classmethod
    def _positive(cls, v: int) -> int:
        if v < 1:
            raise ValueError("must be at least 1")
        return v

    @field_validator("device")
    @classmethod
    def _known_device(cls, v: str) -> str:
        if not re.fullmatch(r"cpu|cuda(:\d+)?", v):
            raise ValueError("device must be cpu, cuda or cuda:N")
        return v

    @model_validator(mode="after")
    def _bands_fit_signature(self) -> NearDedupConfig:
        bands, rows = self.bands_rows()
        if bands * rows > self.num_perm:
            raise ValueError(f"bands*rows = {bands * rows} exceeds num_perm = {self.num_perm}")
        return self

    def bands_rows(self) -> tuple[int, int]:
        """(bands, rows): as given, the missing one filled from num_perm, or both chosen from the threshold."""
        from transforms.near_dedup.lsh import optimal_bands_rows

        if self.bands is not None and self.rows is not None:
            return self.bands, self.rows
        if self.bands is not None:
            return self.bands, max(self.num_perm // self.bands, 1)
        if self.rows is not None:
            return max(self.num_perm // self.rows, 1), self.rows
        weights = UNVERIFIED_WEIGHTS if self.verify == "none" else VERIFIED_WEIGHTS
        return optimal_bands_rows(self.threshold, self.num_perm, *weights)
