"""Parameters of the heuristic quality filters; one block per rule family (DESIGN.md "The public interface")."""

from __future__ import annotations

from transforms.params import StageParams


class QualityConfig(StageParams):
    enabled: bool = True
    languages: list[str] = ["en"]
