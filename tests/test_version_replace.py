"""A committed version is never replaced silently: same inputs and config rerun byte-identical, anything else
is refused (exit 2) unless --overwrite, and a child whose parent was replaced says so in `diff` and `history`."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from etl.config import load_config
from etl.lineage import diff_runs, load_run, render_text, write_history
from etl.run import run_pipeline
from etl.store.replace import VersionConflict
from tests.corpus_fixtures import prose

FAST = [
    "quality.enabled=false",
    "near_dedup.enabled=false",
    "validation.enabled=false",
]
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _corpus(root: Path, n: int, start: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"id": f"d{i:03d}", "text": prose(i, 40 + i % 30)}) for i in range(start, start + n)]
    (root / "part.jsonl").write_text("\n".join(lines) + "\n")
    return root


def _run(inputs: Path, out: Path, extra: list[str] = (), overwrite: bool = False, against: list[str] = ()):
    overrides = [*FAST, *extra, *(f"incremental.against=[{a}]" for a in against)]
    return run_pipeline([str(inputs)], str(out), load_config(overrides=overrides), BEAM, overwrite=overwrite)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tree(out: Path) -> dict[str, str]:
    return {str(p.relative_to(out)): _sha(p) for p in sorted(out.rglob("*")) if p.is_file()}


def test_rerun_of_same_inputs_and_config_keeps_the_manifest_byte_identical(tmp_path):
    inputs = _corpus(tmp_path / "in", 30)
    out = tmp_path / "out"
    first = _run(inputs, out)
    before = _sha(out / "manifest.json")
    second = _run(inputs, out)
    assert second.replaced is None and first.replaced is None
    assert _sha(out / "manifest.json") == before  # created_at kept: a child's recorded sha256 still holds


@pytest.mark.parametrize("change", ["config", "inputs"])
def test_other_inputs_or_config_are_refused_and_leave_the_version_untouched(tmp_path, change):
    inputs = _corpus(tmp_path / "in", 30)
    out = tmp_path / "out"
    _run(inputs, out)
    before = _tree(out)
    with pytest.raises(VersionConflict) as err:
        if change == "config":
            _run(inputs, out, ["tokenize.add_bos=true"])
        else:
            _run(_corpus(tmp_path / "other", 10, start=500), out)
    message = str(err.value)
    assert "--overwrite" in message and "\n" not in message
    assert ("config tokenize.add_bos" in message) if change == "config" else ("is new" in message)
    assert _tree(out) == before  # nothing written, no staging left behind


def test_cli_refuses_with_exit_2_and_overwrite_replaces_naming_both_versions(tmp_path, run_cli):
    inputs = _corpus(tmp_path / "in", 30)
    other = _corpus(tmp_path / "other", 12, start=700)
    out = tmp_path / "out"
    sets = [a for s in FAST for a in ("--set", s)]
    assert run_cli("run", "--input", str(inputs), "--output", str(out), *sets, "--", *BEAM).returncode == 0
    old = json.loads((out / "manifest.json").read_text())
    refused = run_cli("run", "--input", str(other), "--output", str(out), *sets, "--", *BEAM)
    assert refused.returncode == 2, refused.stderr
    assert f"--output {out}" in refused.stderr and "--overwrite" in refused.stderr
    assert json.loads((out / "manifest.json").read_text()) == old
    replaced = run_cli("run", "--input", str(other), "--output", str(out), *sets, "--overwrite", "--", *BEAM)
    assert replaced.returncode == 0, replaced.stderr
    new = json.loads((out / "manifest.json").read_text())
    assert new["counts"]["kept"] == 12 and old["counts"]["kept"] == 30
    old_version = old["shards"][0]["path"].rsplit("-", 1)[1][:12]
    new_version = new["shards"][0]["path"].rsplit("-", 1)[1][:12]
    line = next(x for x in replaced.stdout.splitlines() if "replaced version" in x)
    assert old_version in line and new_version in line and "30 documents" in line


def test_diff_and_history_name_a_parent_replaced_since(tmp_path):
    parent_out, child_out = tmp_path / "parent", tmp_path / "child"
    _run(_corpus(tmp_path / "in", 20), parent_out)
    _run(_corpus(tmp_path / "more", 10, start=300), child_out, against=[str(parent_out)])
    clean = render_text(diff_runs(load_run(str(parent_out)), load_run(str(child_out))))
    assert "B lists A as a parent" in clean and "replaced" not in clean
    _run(_corpus(tmp_path / "again", 8, start=900), parent_out, overwrite=True)
    text = render_text(diff_runs(load_run(str(parent_out)), load_run(str(child_out))))
    assert "B lists A as a parent" not in text
    assert "A has been replaced since" in text
    page = Path(write_history([str(parent_out), str(child_out)], str(tmp_path / "hist"))).read_text()
    assert "1 replaced since" in page
