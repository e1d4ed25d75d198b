"""Base class for stage parameters: typed, strict (an unknown key is an error that names it), YAML-friendly.

Every numeric key carries its allowed range as a pydantic `Field` constraint (ge/gt/le), checked at load time;
a rule that ties two keys together raises `KeyRangeError` naming the key, so the config loader can say which.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageParams(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class KeyRangeError(ValueError):
    """A value out of the range that other keys of its section allow; `key` is the field name within it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message
