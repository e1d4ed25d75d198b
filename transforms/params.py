"""Base class for stage parameters: typed, strict (an unknown key is an error that names it), YAML-friendly."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)
