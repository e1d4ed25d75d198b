"""Crash safety: the manifest is the commit point. A run killed (SIGKILL) while writing and run again leaves the
same bytes as an uninterrupted run; while it is down, readers see the previous commit or a clear error."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, checkout_env, cli_command, comparable_outputs

# The commit protocol does not depend on the stages: only exact dedup runs (its shuffle feeds the write pass),
# which keeps five runs of a 6 MB corpus short. One work unit per input file.
OVERRIDES = [
    "quality.enabled=false",
    "near_dedup.enabled=false",
    "validation.enabled=false",
    "input.unit_bytes=1",
]


def _set_args() -> list[str]:
    return [arg for item in OVERRIDES for arg in ("--set", item)]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "bench" / "corpus.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = tmp_path_factory.mktemp("corpus")
    bench.write_jsonl_gz(root, target_mb=6, seed=3, files=8)
    return root


def _run(inputs: list[Path], out: Path, overwrite: bool = False) -> None:
    args = ["run", *(a for p in inputs for a in ("--input", str(p))), "--output", str(out), *_set_args()]
    args += ["--overwrite"] if overwrite else []
    proc = subprocess.run(cli_command(*args), env=checkout_env(), cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-4000:]


def _kill_while_writing(inputs: list[Path], out: Path, log: Path, overwrite: bool = False) -> None:
    """Start a run and SIGKILL it in its write pass: two of the eight units written, the others not."""
    args = ["run", *(a for p in inputs for a in ("--input", str(p))), "--output", str(out), *_set_args()]
    args += ["--overwrite"] if overwrite else []
    with log.open("w") as fh:
        proc = subprocess.Popen(
            cli_command(*args), env=checkout_env(), cwd=REPO, stdout=fh, stderr=fh, start_new_session=True
        )
    deadline = time.monotonic() + 180
    while len(list(out.glob("_staging/*/units/*.json"))) < 2:
        assert proc.poll() is None, f"the run ended before staging two units:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, "no two units staged in 180 s"
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL
    staged = len(list(out.glob("_staging/*/units/*.json")))
    assert staged < 8, "the kill came after every unit was written; nothing was interrupted"
    assert any(out.glob("_staging/*/shards/*.parquet"))


@pytest.fixture(scope="module")
def uninterrupted(corpus, tmp_path_factory) -> dict[str, bytes]:
    out = tmp_path_factory.mktemp("uninterrupted") / "out"
    _run([corpus], out)
    return comparable_outputs(out)


def test_killed_run_rerun_equals_uninterrupted_run(corpus, uninterrupted, tmp_path):
    from etl.reader import ManifestError, TokenShardDataset

    out = tmp_path / "out"
    _kill_while_writing([corpus], out, tmp_path / "killed.log")
    assert not (out / "manifest.json").exists()
    with pytest.raises((ManifestError, FileNotFoundError), match="manifest.json"):
        TokenShardDataset(str(out / "manifest.json"), seq_len=8, batch_size=1)

    _run([corpus], out)
    again = comparable_outputs(out)
    assert sorted(again) == sorted(uninterrupted)
    assert len([p for p in again if p.startswith("shards/")]) == 8
    for path, data in uninterrupted.items():
        assert again[path] == data, f"{path} differs from the uninterrupted run"


def test_killed_rerun_keeps_the_previous_commit_readable(corpus, uninterrupted, tmp_path):
    from etl.reader import TokenShardDataset

    out = tmp_path / "out"
    first = sorted(corpus.iterdir())[0]
    _run([first], out)  # the previous commit: one input file
    committed = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    old = json.loads((out / "manifest.json").read_text())

    _kill_while_writing([corpus], out, tmp_path / "killed.log", overwrite=True)
    assert {p: p.read_bytes() for p in committed} == committed  # untouched until the commit
    tokens = sum(s["tokens"] for s in old["shards"])
    ds = TokenShardDataset(
        str(out / "manifest.json"), seq_len=tokens - 1, batch_size=1, lanes=1, shuffle=False, verify="all"
    )
    assert sum(int(b["tokens"].numel()) for b in ds) == tokens

    _run([corpus], out, overwrite=True)  # the rerun replaces the old commit entirely, leftovers included
    assert comparable_outputs(out) == uninterrupted
