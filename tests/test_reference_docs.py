"""docs/config.md and docs/reasons.md are generated from the code (etl/report/reference.py) and must be current;
every config key has a meaning; every reject reason the code can give is in the catalogue (transforms/reasons.py).

Reasons are found by reading the sources: the reason argument of the calls that build rejects and rules, values
assigned to names about reasons, and what reason-making functions return. f-strings (`dup_{n}gram`) must match
a family of the catalogue. A run of the sample corpus checks the same from the other side (test_cli_tools.py).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from etl.report.reference import DOCS, WRITE_COMMAND, pages, undocumented_keys
from transforms.reasons import FAMILIES, REASONS, explain, lookup, template_of

REPO = Path(__file__).resolve().parent.parent
# Calls that build a reject or a rule, and the position of their reason argument.
REASON_ARGS = {
    "input_reject": 2,
    "_file_reject": 2,
    "InputFault": 0,
    "rejects_from_docs": 2,
    "rule": 0,
    "Rule": 0,
}
# Reasons are snake_case words, a family's dotted (docs/failures.md); prose (a tokenizer's "BPE dropout") is not.
REASON = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z0-9_{}]+)*$")
# A reason-shaped string in a returned tuple: with an underscore or a dot, so that ("docs", batch) is not one.
REASON_IN_TUPLE = re.compile(r"^[a-z][a-z0-9]*([_.][a-z0-9]+)+$")


@pytest.mark.parametrize("name", ["config.md", "reasons.md"])
def test_generated_reference_page_is_current(name):
    path = DOCS / name
    expected = pages()[path]
    assert path.exists(), f"docs/{name} is missing: run `{WRITE_COMMAND}`"
    assert path.read_text() == expected, f"docs/{name} is stale: run `{WRITE_COMMAND}` and commit it"


def test_every_config_key_has_a_meaning():
    missing = undocumented_keys()
    assert not missing, f"config keys without a meaning: {missing}; add a docstring under each field"


def test_config_reference_names_every_key_with_its_range():
    text = (DOCS / "config.md").read_text()
    assert "| `near_dedup.threshold` | float | `0.8` | (0, 1] |" in text
    assert "| `input.batch_rows` | int | `4096` | >= 1 |" in text
    assert '"fail" \\| "warn" \\| "quarantine"' in text  # Literal choices, the table's pipes escaped


def _strings(node: ast.AST, constants: dict[str, str]) -> tuple[set[str], set[str]]:
    """(reason strings, f-string templates) in an expression: constants, module constants by name, the values
    (not keys) of dicts, both branches of conditionals, the elements of comprehensions and collections."""
    found, templates = set(), set()
    if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value:
        found.add(node.value)
    elif isinstance(node, ast.Name) and node.id in constants:
        found.add(constants[node.id])
    elif isinstance(node, ast.JoinedStr):
        templates.add("".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values))
    elif isinstance(node, ast.Dict):
        for value in node.values:
            f, t = _strings(value, constants)
            found, templates = found | f, templates | t
    else:
        children = {
            ast.IfExp: lambda n: [n.body, n.orelse],
            ast.ListComp: lambda n: [n.elt],
            ast.List: lambda n: n.elts,
            ast.Tuple: lambda n: n.elts,
            ast.Set: lambda n: n.elts,
        }.get(type(node), lambda n: [])(node)
        for child in children:
            f, t = _strings(child, constants)
            found, templates = found | f, templates | t
    return found, templates


def _reason_expressions(tree: ast.Module) -> list[ast.AST]:
    """The expressions of a module that hold reasons (see the module docstring)."""
    exprs: list[ast.AST] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
            if name in REASON_ARGS:
                if len(node.args) > REASON_ARGS[name]:
                    exprs.append(node.args[REASON_ARGS[name]])
                exprs += [k.value for k in node.keywords if k.arg == "reason"]
        elif isinstance(node, ast.Assign | ast.AnnAssign) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any("reason" in getattr(t, "id", "").lower() for t in targets):
                exprs.append(node.value)
        elif isinstance(node, ast.FunctionDef):
            returns = [n.value for n in ast.walk(node) if isinstance(n, ast.Return) and n.value is not None]
            if "reason" in node.name:
                exprs += returns
            # A tuple returned with a reason in it: `return None, None, "", "blank_line", "empty line"`.
            exprs += [e for r in returns if isinstance(r, ast.Tuple) for e in r.elts if _reason_shaped(e)]
    return exprs


def _reason_shaped(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and bool(REASON_IN_TUPLE.match(node.value))
    )


def reasons_in_code() -> tuple[set[str], set[str]]:
    """(reasons, f-string templates) the sources of etl/ and transforms/ can put in a reject's `reason`."""
    found, templates = set(), set()
    for root in ("etl", "transforms"):
        for path in sorted((REPO / root).rglob("*.py")):
            if path.name == "reasons.py" and path.parent.name == "transforms":
                continue
            tree = ast.parse(path.read_text())
            constants = {
                t.id: n.value.value
                for n in tree.body
                if isinstance(n, ast.Assign)
                and isinstance(n.value, ast.Constant)
                and isinstance(n.value.value, str)
                for t in n.targets
                if isinstance(t, ast.Name)
            }
            for expr in _reason_expressions(tree):
                f, t = _strings(expr, constants)
                found, templates = found | f, templates | t
    return {r for r in found if REASON.match(r)}, {t for t in templates if REASON.match(t)}


def test_the_scan_finds_reasons_of_every_kind():
    """The scan is not vacuous: it finds reasons made each way the code makes them."""
    found, templates = reasons_in_code()
    for reason in (
        "blank_line", "invalid_record", "missing_text", "truncated_file", "unreadable_file", "dangling_link",
        "invalid_id", "exact_duplicate", "exact_duplicate_of_earlier", "near_duplicate",
        "near_duplicate_of_earlier", "no_tokens", "empty_text", "language.not_allowed", "c4.min_sentences",
        "fineweb.empty",
    ):  # fmt: skip
        assert reason in found, reason
    assert "gopher_repetition.dup_{}gram" in templates


def test_every_reason_in_the_code_is_in_the_catalogue():
    found, templates = reasons_in_code()
    missing = sorted(r for r in found if lookup(r) is None)
    assert not missing, f"reasons without plain words in transforms/reasons.py: {missing}"
    families = {template_of(f) for f in FAMILIES}
    unknown = sorted(t for t in templates if t not in families)
    assert not unknown, f"reason families (f-strings) not in transforms/reasons.py FAMILIES: {unknown}"


def test_families_fill_in_their_number_or_name():
    assert "5-grams" in explain("gopher_repetition.dup_5gram")
    assert "2-gram" in lookup("gopher_repetition.top_2gram").words
    assert "`edu`" in explain("classifier.edu")
    assert lookup("classifier.edu").stage == "quality"
    assert lookup("gopher_repetition.dup_xgram") is None
    assert lookup("no_such_reason") is None
    assert "Not in this version's catalogue" in explain("no_such_reason")


def test_this_waves_reasons_are_catalogued():
    for reason in ("contaminated", "url_blocklist", "record_too_large"):
        assert reason in REASONS
    assert lookup("classifier.fasttext_edu") is not None
