"""The README's code runs as written (issue 19): every ```bash and ```python block, in order, in one fresh folder
whose `data/` is the bundled sample corpus, each block seeing what the blocks before it wrote.

`.venv/bin/corpus-etl` there is this checkout's CLI under this interpreter. A block is skipped only when the
line before it says why (`<!-- not run: REASON -->`), and those stay few.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE, checkout_env

README = REPO / "README.md"
NOT_RUN = re.compile(r"^<!-- not run: (.+) -->$")
FENCE = re.compile(r"^```(\w*)$")
MAX_NOT_RUN = 3


@dataclass(frozen=True)
class Block:
    line: int  # of the opening fence, 1-based
    lang: str
    code: str
    not_run: str | None  # the reason given, when marked


def readme_blocks(text: str) -> list[Block]:
    """The fenced blocks of a Markdown text, each with the not-run reason of the line before it."""
    blocks, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        end = next(j for j in range(i + 1, len(lines)) if lines[j].startswith("```"))
        marker = NOT_RUN.match(lines[i - 1]) if i else None
        blocks.append(Block(i + 1, opening[1], "\n".join(lines[i + 1 : end]), marker[1] if marker else None))
        i = end + 1
    return blocks


def _runnable(blocks: list[Block]) -> list[Block]:
    return [b for b in blocks if b.lang in ("bash", "python") and b.not_run is None]


def test_readme_blocks_are_runnable_unless_marked_and_few_are_marked():
    blocks = readme_blocks(README.read_text())
    marked = [b for b in blocks if b.not_run]
    assert 0 < len(marked) <= MAX_NOT_RUN, [(b.line, b.not_run) for b in marked]
    runnable = _runnable(blocks)
    assert {b.lang for b in runnable} == {"bash", "python"}
    for block in runnable:
        if block.lang == "bash":
            assert "corpus-etl" in block.code, (
                f"README.md:{block.line}: a shell block that runs no corpus-etl"
            )
    assert all(b.lang in ("bash", "python", "") for b in blocks), "a block in another language is never run"


def _workspace(root: Path) -> dict[str, str]:
    """`data/` (the sample corpus) and `.venv/bin/{corpus-etl,python}` (this checkout, this interpreter)."""
    shutil.copytree(SAMPLE, root / "data")
    bin_dir = root / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    for name, argv in (("corpus-etl", f'"{sys.executable}" -m etl.cli'), ("python", f'"{sys.executable}"')):
        (bin_dir / name).write_text(f'#!/bin/sh\nexec {argv} "$@"\n')
        (bin_dir / name).chmod(0o755)
    return checkout_env()


def test_readme_snippets_run_as_written(tmp_path):
    env = _workspace(tmp_path)
    for block in _runnable(readme_blocks(README.read_text())):
        argv = (
            ["bash", "-euo", "pipefail", "-c", block.code]
            if block.lang == "bash"
            else [sys.executable, "-c", block.code]
        )
        proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, (
            f"README.md:{block.line} ({block.lang}) exited {proc.returncode}:\n{block.code}\n"
            f"--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}"
        )
    # What the snippets say they write is there.
    for version in ("2026-06-01", "2026-06-02", "2026-06-03"):
        assert (tmp_path / "out" / version / "manifest.json").is_file(), version
    assert (tmp_path / "history" / "index.html").is_file()
    assert json.loads((tmp_path / "diff.json").read_text())
    rows = [json.loads(line) for line in (tmp_path / "quality.jsonl").read_text().splitlines()]
    assert rows and all(r["stage"] == "quality" and "/web-" in r["source"] for r in rows)
    later = json.loads((tmp_path / "out" / "2026-06-03" / "manifest.json").read_text())
    assert any(i.get("skipped") for i in later["inputs"]), "--incremental skipped what 2026-06-01 processed"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("a\n```bash\nx\n```\n", [Block(2, "bash", "x", None)]),
        ("<!-- not run: needs s3 -->\n```bash\nx\ny\n```\n", [Block(2, "bash", "x\ny", "needs s3")]),
        ("```\ntree\n```\n```python\np\n```\n", [Block(1, "", "tree", None), Block(4, "python", "p", None)]),
    ],
)
def test_readme_blocks_are_parsed_with_their_marks(text, expected):
    assert readme_blocks(text) == expected
