"""The reference pages generated from the code: `docs/config.md` from the config model, `docs/reasons.md` from
the reasons catalogue (transforms/reasons.py). Generated, so they cannot drift from what a run accepts and
writes; `tests/test_reference_docs.py` fails when a committed page is stale or a key has no meaning.

    python -m etl.report.reference --write    # regenerate both pages
    python -m etl.report.reference            # check them: exit 1 naming the stale ones
"""

from __future__ import annotations

import argparse
import json
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from etl.config import Config
from transforms.quality.params import FAMILY_ORDER
from transforms.reasons import FAMILIES, REASONS, Reason
from transforms.stage import ORDER

DOCS = Path(__file__).resolve().parents[2] / "docs"
WRITE_COMMAND = "python -m etl.report.reference --write"
_BOUNDS = (("gt", ">"), ("ge", ">="), ("lt", "<"), ("le", "<="))


@dataclass(frozen=True)
class KeyDoc:
    key: str  # dotted, `[]` for the items of a list of sections
    type: str
    default: str
    allowed: str
    meaning: str


def _section(annotation) -> type[BaseModel] | None:
    """The model of a section key (`Model` or `list[Model]`), None for a plain value."""
    for kind in (annotation, *typing.get_args(annotation)):
        if isinstance(kind, type) and issubclass(kind, BaseModel):
            return kind
    return None


def _type_name(annotation) -> str:
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Literal:
        return " | ".join(json.dumps(a) for a in args)
    if origin in (typing.Union, types.UnionType):
        names = [_type_name(a) for a in args if a is not type(None)]
        return " | ".join(names) + (" or null" if type(None) in args else "")
    if origin in (list, tuple, set, dict):
        return f"{origin.__name__}[{', '.join(_type_name(a) for a in args)}]"
    return getattr(annotation, "__name__", str(annotation))


def _default(info) -> str:
    if info.default is PydanticUndefined and info.default_factory is None:
        return "required"
    value = info.default_factory() if info.default is PydanticUndefined else info.default
    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1 << 20 and value % 1024 == 0:
        return f"`{value}` ({value / (1 << 20):g} MiB)"
    return f"`{json.dumps(value)}`"


def _number(v) -> str:
    return f"{v:,}".replace(",", "_") if isinstance(v, int) and abs(v) >= 10_000 else f"{v:g}"


def _allowed(info) -> str:
    """The range the field's constraints allow, in the notation of the config errors (`>= 1`, `in (0, 1]`)."""
    bounds = {n: getattr(m, n) for m in info.metadata for n, _ in _BOUNDS if getattr(m, n, None) is not None}
    low = next(((n, bounds[n]) for n in ("gt", "ge") if n in bounds), None)
    high = next(((n, bounds[n]) for n in ("lt", "le") if n in bounds), None)
    if low and high:
        left, right = "(" if low[0] == "gt" else "[", ")" if high[0] == "lt" else "]"
        return f"{left}{_number(low[1])}, {_number(high[1])}{right}"
    parts = [f"{dict(_BOUNDS)[b[0]]} {_number(b[1])}" for b in (low, high) if b]
    lengths = [m for m in info.metadata if getattr(m, "min_length", None) is not None]
    parts += [f"at least {m.min_length} item(s)" for m in lengths]
    return ", ".join(parts)


def config_keys(model: type[BaseModel] = Config, prefix: str = "") -> Iterator[KeyDoc | tuple[str, str]]:
    """Every key of the config in model order: a (section, its docstring) pair before a section's keys."""
    for name, info in model.model_fields.items():
        key = f"{prefix}{name}"
        section = _section(info.annotation)
        if section is not None:
            many = typing.get_origin(info.annotation) is list
            words = info.description or (section.__doc__ or "").strip()
            yield key, " ".join(words.split()) + (" A list; each item has the keys below." if many else "")
            yield from config_keys(section, f"{key}[]." if many else f"{key}.")
            continue
        meaning = " ".join((info.description or "").split())
        yield KeyDoc(key, _type_name(info.annotation), _default(info), _allowed(info), meaning)


def undocumented_keys() -> list[str]:
    """Keys and sections without a meaning (a docstring under the field, or `Field(description=...)`)."""
    missing = []
    for item in config_keys():
        if isinstance(item, KeyDoc) and not item.meaning:
            missing.append(item.key)
        elif isinstance(item, tuple) and not item[1]:
            missing.append(item[0])
    return missing


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_config() -> str:
    lines = [
        "# Config reference",
        "",
        f"Generated from the config model (`etl/config.py`, `transforms/*/params.py`) by `{WRITE_COMMAND}`;",
        "do not edit by hand. Keys go in a YAML file (`--config FILE.yaml`) as nested sections, or one at a time",
        "as `--set section.key=VALUE` (VALUE read as YAML). `corpus-etl config` prints the resolved config.",
        "An unknown key, or a value outside its range, is exit 2 naming the key. null switches a rule off where",
        "the type allows it.",
    ]
    for item in config_keys():
        if isinstance(item, tuple):
            key, words = item
            lines += ["", f"## `{key}`", "", words, "", "| key | type | default | allowed | meaning |"]
            lines.append("|---|---|---|---|---|")
            continue
        lines.append(
            f"| `{item.key}` | {_cell(item.type)} | {_cell(item.default)} | {item.allowed} | {_cell(item.meaning)} |"
        )
    return "\n".join(lines) + "\n"


def _catalogue_order(item: tuple[str, Reason]) -> tuple[int, int, str]:
    """Stages in the order of the flow (then the others); quality reasons by family in the order they decide."""
    reason, entry = item
    flow = ("read", *ORDER)
    stage = flow.index(entry.stage) if entry.stage in flow else len(flow)
    family = reason.split(".", 1)[0]
    rank = FAMILY_ORDER.index(family) if family in FAMILY_ORDER else len(FAMILY_ORDER)
    return stage, rank, "" if stage < len(flow) else entry.stage


def render_reasons() -> str:
    lines = [
        "# Reject reasons",
        "",
        f"Generated from `transforms/reasons.py` by `{WRITE_COMMAND}`; do not edit by hand.",
        "The same words appear beside each reason in the report.",
        "",
        "Every row that leaves the flow is a row of `rejects/` with its `stage`, `reason`, `detail` (the facts",
        "behind the decision: for a quality rule `metric=value op threshold`, for a duplicate the doc_id it",
        "duplicates) and `value` (the metric or similarity). A document is rejected by the first quality rule it",
        f"fails, families in the order {', '.join(FAMILY_ORDER)}. `corpus-etl rejects RUN --reason R` lists",
        "them (a prefix such as `gopher_repetition` takes the whole family); `corpus-etl show RUN DOC_ID` follows",
        "one document. Reasons written with `{n}` or `{name}` are families: `gopher_repetition.dup_5gram` is",
        "`gopher_repetition.dup_{n}gram` with n = 5.",
    ]
    entries = sorted([*REASONS.items(), *FAMILIES.items()], key=_catalogue_order)
    stage = None
    for reason, entry in entries:
        if entry.stage != stage:
            stage = entry.stage
            lines += ["", f"## {stage}", "", "| reason | what it means |", "|---|---|"]
        lines.append(f"| `{reason}` | {_cell(entry.words)} |")
    return "\n".join(lines) + "\n"


def pages() -> dict[Path, str]:
    """Each generated page and the text it must hold."""
    return {DOCS / "config.md": render_config(), DOCS / "reasons.md": render_reasons()}


def stale_pages() -> list[Path]:
    """The pages whose committed text differs from what the code generates now."""
    return [p for p, text in pages().items() if not p.exists() or p.read_text() != text]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m etl.report.reference", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--write", action="store_true", help="regenerate docs/config.md and docs/reasons.md")
    args = parser.parse_args(argv)
    missing = undocumented_keys()
    if missing:
        print(
            f"config keys without a meaning (add a docstring under each): {', '.join(missing)}",
            file=sys.stderr,
        )
        return 1
    if args.write:
        for path, text in pages().items():
            path.write_text(text)
            print(f"wrote {path}")
        return 0
    stale = stale_pages()
    for path in stale:
        print(f"{path}: stale; run `{WRITE_COMMAND}`", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
