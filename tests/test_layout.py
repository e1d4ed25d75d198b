"""The tree reads like the flow (docs/architecture.md): no import cycles, parts that only import downwards.

Imports are read from the sources (every `import`, function-local ones included), so a cycle that Python
tolerates at run time because one side imports late is still caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# The parts of etl/ from the top of the flow down; a part may import only parts after it (and transforms/).
PARTS = (
    "etl.cli",
    "etl.run",
    "etl.export",
    "etl.validation",
    "etl.store",
    "etl.lineage",
    "etl.report",
    "etl.reader",
    "etl.ingest",
    "etl.config",
    "transforms",
    "etl.local_runner",
    "etl.logs",
    "etl",
)


def _modules() -> dict[str, Path]:
    found = {}
    for root in ("etl", "transforms"):
        for path in (REPO / root).rglob("*.py"):
            name = ".".join(path.relative_to(REPO).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from pkg import sub` imports the module pkg.sub; `from pkg import name` the package pkg
            names = [
                f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in known else node.module
                for a in node.names
            ]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        out |= {n for n in names if n in known}
    return out


def _part(module: str) -> str:
    return next(p for p in PARTS if module == p or module.startswith(p + "."))


def test_no_module_imports_one_that_imports_it_back():
    known = _modules()
    # A package's __init__ importing its own modules, which Python imports first anyway, is no cycle.
    graph = {
        m: {d for d in _imports(p, known) if not (m == d or m.startswith(d + "."))} for m, p in known.items()
    }
    state: dict[str, int] = {}

    def visit(m: str, trail: list[str]) -> None:
        state[m] = 1
        for dep in sorted(graph[m]):
            if state.get(dep) == 1:
                cycle = trail[trail.index(dep) :] if dep in trail else [dep]
                raise AssertionError("import cycle: " + " -> ".join([*cycle, dep]))
            if dep not in state:
                visit(dep, [*trail, dep])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])


def test_parts_import_only_downwards():
    known = _modules()
    upward = []
    for module, path in known.items():
        here = PARTS.index(_part(module))
        for dep in _imports(path, known):
            there = PARTS.index(_part(dep))
            if there < here and not (dep == "etl" or dep.startswith("etl.__")):
                upward.append(f"{module} imports {dep}")
    assert not upward, "imports from a lower part up to a higher one:\n" + "\n".join(sorted(upward))


def test_etl_top_level_stays_small():
    entries = [p.name for p in (REPO / "etl").iterdir() if p.name != "__pycache__"]
    assert len(entries) <= 14, sorted(entries)
    for package in ("ingest", "run", "store", "local_runner", "reader", "report", "lineage", "export"):
        doc = ast.get_docstring(ast.parse((REPO / "etl" / package / "__init__.py").read_text()))
        opening = (doc or "").strip().split("\n\n")[0].splitlines()
        assert 1 <= len(opening) <= 3, (
            f"etl/{package}/__init__.py: open with the package's job in a few lines"
        )
