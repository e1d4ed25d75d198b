"""The one typed config of a run: YAML in, `--set KEY=VALUE` overrides, a canonical hash for the manifest.

Stage sections are defined next to their stage in `transforms/`; this module composes them and owns loading.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from transforms.decontamination_stage import DecontaminationConfig
from transforms.near_dedup.params import NearDedupConfig
from transforms.params import KeyRangeError, StageParams
from transforms.quality.params import QualityConfig
from transforms.tokenize.params import TokenizeConfig
from transforms.url_filter import UrlFilterConfig


class InputConfig(StageParams):
    """How inputs are read and cut into work units."""

    text_field: str = "text"
    """The JSON field (JSONL) or column (Parquet) that holds a document's text."""
    id_field: str | None = "id"
    """The field or column that holds a document's id; where it is null or missing (or this key is null),
    the id is derived from the source and line."""
    format: Literal["auto", "jsonl", "parquet", "text"] = "auto"
    """auto: from the file name (.jsonl/.json[.gz|.zst], .parquet, .txt); or force one format for every file."""
    batch_rows: int = Field(default=4096, ge=1)
    """Documents per record batch, the element that flows between stages (DESIGN.md "The unit of data")."""
    unit_bytes: int = Field(default=32 * 1024 * 1024, gt=0)
    """Text bytes per work unit (read and written by one worker): big files are cut into ranges
    (etl/ingest/plan.py)."""
    max_record_bytes: int = Field(default=64 * 1024 * 1024, ge=1024, le=1 << 30)
    """The largest record (a JSONL line, a text file) read as a document; a longer one is rejected as
    record_too_large with its size, read past without being held (one hostile line must not take a worker)."""


class ExactDedupConfig(StageParams):
    """Removal of documents whose text is identical to another's."""

    enabled: bool = True
    """Remove exact duplicates (one per group is kept: the smallest doc_id)."""


# The levels each codec takes (zstd's and zlib's own ranges); snappy and none have no level.
COMPRESSION_LEVELS = {"zstd": (1, 22), "gzip": (1, 9)}


class OutputConfig(StageParams):
    """The files a run writes: shards, stats and rejects."""

    shard_target_bytes: int = Field(default=128 * 1024 * 1024, gt=0)
    """Bytes of one output shard file to aim at; shards are cut between documents."""
    keep_text: bool = False
    """Shards also carry the normalized `text` column (besides the tokens)."""
    rejects_text: bool = True
    """Rejects carry the text of each removed document (false: ids, reasons and details only)."""
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"
    """The Parquet codec of shards, stats and rejects."""
    compression_level: int | None = 3
    """zstd 1..22, gzip 1..9, null for the codec's default; ignored (any value) under snappy and none, which
    have no levels, so that `--set output.compression=snappy` works without also unsetting the level."""
    row_group_tokens: int = Field(default=4 * 1024 * 1024, gt=0)
    """Tokens per Parquet row group of a shard: a reader's unit of IO is then predictable."""

    @model_validator(mode="after")
    def _level_fits_codec(self) -> OutputConfig:
        span = COMPRESSION_LEVELS.get(self.compression)
        level = self.compression_level
        if span is not None and level is not None and not span[0] <= level <= span[1]:
            raise KeyRangeError(
                "compression_level",
                f"must be in [{span[0]}, {span[1]}] for {self.compression}, or null for its default "
                f"(got {level})",
            )
        return self


class ValidationConfig(StageParams):
    """Great Expectations suites on the shards' statistics and the run's aggregate."""

    enabled: bool = True
    """Run the suites before the commit."""
    policy: Literal["fail", "warn", "quarantine"] = "fail"
    """What a failed suite does: fail (the run exits 1), warn (exit 0, the report says so), quarantine
    (failing shards go to quarantine/, the run passes unless the run-level suite fails)."""
    suites: list[str] = ["shard_stats", "run_aggregate"]
    """Suite names (files in expectations/ without .json) or paths to suite JSON files."""


class IncrementalConfig(StageParams):
    """Runs that continue earlier versions (docs/incremental.md)."""

    against: list[str] = []
    """Earlier runs (output folders or their manifest.json, local or URLs) whose kept documents this run's
    exact and near dedup also match against (CLI --against); an earlier document is never removed."""
    enabled: bool = False
    """Skip inputs whose content hash a parent already processed (CLI --incremental)."""


class Config(StageParams):
    input: InputConfig = InputConfig()
    url_filter: UrlFilterConfig = UrlFilterConfig()
    exact_dedup: ExactDedupConfig = ExactDedupConfig()
    quality: QualityConfig = QualityConfig()
    decontamination: DecontaminationConfig = DecontaminationConfig()
    near_dedup: NearDedupConfig = NearDedupConfig()
    tokenize: TokenizeConfig = TokenizeConfig()
    output: OutputConfig = OutputConfig()
    validation: ValidationConfig = ValidationConfig()
    incremental: IncrementalConfig = IncrementalConfig()

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
    """Set `a.b.c`; a number steps into a list the tree already has (`quality.classifiers.0.threshold`)."""
    parts = key.split(".")
    node: Any = tree
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                where = ".".join(parts[:depth])
                raise ConfigError(
                    f"--set {key}: '{where}' is a list of {len(node)}; '{part}' is not an index"
                )
            part = int(part)
        elif not isinstance(node, dict):
            raise ConfigError(f"--set {key}: '{parts[depth - 1]}' is a value, not a section")
        if last:
            node[part] = value
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            node = node[part]


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
        except IsADirectoryError:
            raise ConfigError(f"--config {path}: is a folder; name a YAML file") from None
        except (PermissionError, UnicodeDecodeError) as err:
            raise ConfigError(f"--config {path}: cannot be read as text ({err})") from None
        except yaml.YAMLError as err:
            raise ConfigError(f"{path}: not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{path}: the top level must be a mapping of sections")
        tree = loaded
    return config_from(tree, overrides, f"{path}" if path else "config")


def config_from(tree: dict, overrides: list[str] | tuple[str, ...] = (), where: str = "config") -> Config:
    """A config tree (a manifest's resolved config, a loaded YAML) with `--set` overrides applied on a copy;
    `where` names the source in errors."""
    tree = copy.deepcopy(tree)
    for item in overrides:
        key, value = parse_override(item)
        _set_dotted(tree, key, value)
    try:
        return Config.model_validate(tree)
    except ValidationError as err:
        problems = "; ".join(_describe(e) for e in err.errors(include_url=False))
        raise ConfigError(f"{where}: {problems}") from None


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested config as dotted keys (``near_dedup.threshold``); lists and empty mappings are values."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, f"{dotted}."))
        else:
            flat[dotted] = value
    return flat


def _describe(error: dict) -> str:
    """One validation error as `dotted.key: what is allowed (got VALUE)`."""
    loc = [str(p) for p in error["loc"]]
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, KeyRangeError):  # a rule across keys of one section: it names its key
        return f"{'.'.join([*loc, cause.key])}: {cause.message}"
    key = ".".join(loc) or "config"
    got = f" (got {error['input']!r})" if "input" in error else ""
    if error["type"] in _BOUND_ERRORS:
        return f"{key}: must be {_range_text(loc)}{got}"
    if error["type"] == "extra_forbidden":
        known = _section_keys(loc[:-1])
        return f"{key}: unknown key" + (f" (known keys: {', '.join(known)})" if known else "")
    return f"{key}: {error['msg']}{got}"


_BOUND_ERRORS = ("greater_than", "greater_than_equal", "less_than", "less_than_equal")


def _section(info) -> type[BaseModel] | None:
    """The model a field holds when it is a config section, else None."""
    kind = info.annotation if info is not None else None
    return kind if isinstance(kind, type) and issubclass(kind, BaseModel) else None


def _field(loc: list[str]):
    """The pydantic FieldInfo at a dotted location of Config, or None where the path leaves the models."""
    model: type[BaseModel] | None = Config
    info = None
    for part in loc:
        if model is None or part not in model.model_fields:
            return None
        info = model.model_fields[part]
        model = _section(info)
    return info


def _section_keys(loc: list[str]) -> list[str]:
    model = _section(_field(loc)) if loc else Config
    return list(model.model_fields) if model is not None else []


def _range_text(loc: list[str]) -> str:
    """`> 0`, `>= 1`, `in [0, 1]`, `in (0, 1]`: the bounds a field's constraints allow."""
    bounds: dict[str, float] = {}
    info = _field(loc)
    for item in info.metadata if info is not None else ():
        for name in ("gt", "ge", "lt", "le"):
            if getattr(item, name, None) is not None:
                bounds[name] = getattr(item, name)
    low = ("(", bounds["gt"]) if "gt" in bounds else ("[", bounds["ge"]) if "ge" in bounds else None
    high = (")", bounds["lt"]) if "lt" in bounds else ("]", bounds["le"]) if "le" in bounds else None
    if low and high:
        return f"in {low[0]}{low[1]:g}, {high[1]:g}{high[0]}"
    if low:
        return f"{'>' if low[0] == '(' else '>='} {low[1]:g}"
    if high:
        return f"{'<' if high[0] == ')' else '<='} {high[1]:g}"
    return "in range"
