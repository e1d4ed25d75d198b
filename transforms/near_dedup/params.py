"""Parameters of near-duplicate removal (DESIGN.md "Near-duplicate removal"); defaults measured in docs/near_dedup.md."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from transforms.params import KeyRangeError, StageParams

# Banding weights when bands/rows are not given. A verified candidate costs one signature comparison, a missed
# pair costs recall, so with verification the choice leans to recall; without it, datasketch's even weights.
VERIFIED_WEIGHTS = (0.002, 0.998)
UNVERIFIED_WEIGHTS = (0.5, 0.5)


class NearDedupConfig(StageParams):
    """Near-duplicate removal with MinHash and LSH, every candidate pair verified (docs/near_dedup.md)."""

    enabled: bool = True
    """Remove near-duplicates (one per cluster is kept: the smallest doc_id)."""
    threshold: float = Field(default=0.8, gt=0.0, le=1.0)
    """Jaccard similarity of shingle sets at or above which two documents are near-duplicates."""
    ngram: int = Field(default=5, ge=1)
    """Words (or characters) per shingle; a document shorter than this is one shingle."""
    shingle: Literal["word", "char"] = "word"
    """Shingles of words or of characters."""
    num_perm: int = Field(default=256, ge=1, le=1 << 16)
    """Signature length (one-permutation MinHash bins); the verifier's estimate has sd ~ sqrt(J(1-J)/num_perm).
    At most 2^16: a signature costs 4 * num_perm bytes per document, and the bin arithmetic needs < 2^32."""
    bands: int | None = Field(default=None, ge=1)
    """LSH bands; null: chosen from the threshold (minimising weighted false positives + false negatives), as
    datasketch does. bands * rows must not exceed num_perm."""
    rows: int | None = Field(default=None, ge=1)
    """Signature rows per LSH band; null: chosen with bands."""
    verify: Literal["signature", "exact", "none"] = "signature"
    """signature: estimated Jaccard of candidate pairs >= threshold; exact: exact shingle Jaccard; none: trust
    LSH."""
    max_rounds: int = Field(default=16, ge=1, le=256)
    """Rounds of the distributed connected components (graph.py); a random chain of 10^6 documents takes 9-12.
    A run whose graph needs more fails (exit 3) naming this key, never returns a partial partition."""
    seed: int = Field(default=1, ge=0)
    """Seed of the MinHash hash functions (numpy's PCG64, which takes non-negative integers only)."""
    device: str = "cpu"
    """"cpu" (numpy) or "cuda" / "cuda:N" (torch; identical signatures)."""

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
            key = "bands" if self.bands is not None else "rows"
            raise KeyRangeError(
                key,
                f"bands*rows must be <= num_perm: {bands} * {rows} = {bands * rows} exceeds num_perm = {self.num_perm}",
            )
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
