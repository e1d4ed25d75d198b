"""The one typed config of a run: YAML in, `--set KEY=VALUE` overrides, a canonical hash for the manifest.

Stage sections are defined next to their stage in `transforms/`; this module composes them and owns loading.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from transforms.near_dedup.params import NearDedupConfig
from transforms.params import StageParams
from transforms.quality.params import QualityConfig
from transforms.tokenize.params import TokenizeConfig


class InputConfig(StageParams):
    text_field: str = "text"
    id_field: str | None = "id"
    # auto: from the file name (.jsonl/.json[.gz|.zst], .parquet, .txt); or force one format for every file.
    format: Literal["auto", "jsonl", "parquet", "text"] = "auto"
    batch_rows: int = 4096
    # Input bytes per work unit (a unit is read and written by one worker; files are never split).
    unit_bytes: int = 32 * 1024 * 1024


class ExactDedupConfig(StageParams):
    enabled: bool = True


class OutputConfig(StageParams):
    shard_target_bytes: int = 128 * 1024 * 1024
    keep_text: bool = False
    rejects_text: bool = True
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    compression_level: int | None = 3
    # Rows of a Parquet row group are sized in tokens so that a reader's unit of IO is predictable.
    row_group_tokens: int = 4 * 1024 * 1024


class ValidationConfig(StageParams):
    enabled: bool = True
    policy: Literal["fail", "warn", "quarantine"] = "fail"
    # Suite names (files in expectations/ without .json) or paths to suite JSON files.
    suites: list[str] = ["shard_stats", "run_aggregate"]


class Config(StageParams):
    input: InputConfig = InputConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    quality: QualityConfig = QualityConfig()
    near_dedup: NearDedupConfig = NearDedupConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    output: OutputConfig = OutputConfig()
    validation: ValidationConfig = ValidationConfig()

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def hash(self) -> str:
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)


class ConfigError(ValueError):
    """A config file or override that cannot be used; the message names the key or file."""


def _set_dotted(tree: dict, key: str, value: Any) -> None:
    parts = key.split(".")
    node = tree
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"--set {key}: '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def parse_override(item: str) -> tuple[str, Any]:
    """`a.b=VALUE` with VALUE read as YAML (so 0.7 is a float, true a bool, [en, de] a list)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. near_dedup.threshold=0.7")
    key, raw = item.split("=", 1)
    key = key.strip()
    if not key:
        raise ConfigError(f"--set {item!r}: empty key")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    return key, value


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    tree: dict = {}
    if path is not None:
        path = Path(path)
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file not found: {path}") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = loaded
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(tree, key, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        where = f"{path}" if path else "config"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in err.errors(include_url=False)
        )
        raise ConfigError(f"{where}: {problems}") from None
