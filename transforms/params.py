"""Base class for stage parameters: typed, strict (an unknown key is an error that names it), YAML-friendly.

Every numeric key carries its allowed range as a pydantic `Field` constraint (ge/gt/le), checked at load time;
a rule that ties two keys together raises `KeyRangeError` naming the key, so the config loader can say which.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StageParams(BaseModel):
    """A config section. A key's meaning is the docstring under it (pydantic's `use_attribute_docstrings`
    makes it the field's description), which docs/config.md is generated from (etl/report/reference.py)."""

    model_config = ConfigDict(
        extra="forbid", validate_assignment=True, frozen=False, use_attribute_docstrings=True
    )


class KeyRangeError(ValueError):
    """A value out of the range that other keys of its section allow; `key` is the field name within it."""

    def __init__(self, key: str, message: str):
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message
