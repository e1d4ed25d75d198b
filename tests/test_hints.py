"""Hints where the cause of a loss is clear: the fields found when the text field is missing, the languages
found when language id removes most documents (terminal summary and the report's language section)."""

from __future__ import annotations

import json

from tests.lineage_runs import COMMON, GERMAN, prose

BEAM = ["--", "--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _sets(*keys: str) -> list[str]:
    return [a for k in keys for a in ("--set", k)]


def test_missing_text_names_the_fields_found_and_no_shards_folder(tmp_path, run_cli):
    (tmp_path / "in").mkdir()
    rows = [{"id": i, "content": prose(i), "url": f"u{i}"} for i in range(12)]
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    proc = run_cli(
        "run", "--input", str(tmp_path / "in"), "--output", str(out), *_sets("validation.policy=warn"), *BEAM
    )
    assert proc.returncode in (0, 1), proc.stderr
    hint = next(line for line in proc.stdout.splitlines() if "hint:" in line)
    assert "12 records have no field 'text'" in hint
    assert "content 12" in hint and "url 12" in hint and "input.text_field=content" in hint
    assert "shards/" not in proc.stdout  # nothing kept: no folder to point at


def test_language_id_removing_most_names_the_languages(tmp_path, run_cli):
    (tmp_path / "in").mkdir()
    rows = [{"id": f"de{i}", "text": GERMAN[i % 3] + f" Nummer {i}."} for i in range(9)]
    rows += [{"id": f"en{i}", "text": prose(i)} for i in range(3)]
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "out"
    sets = _sets(*COMMON, "near_dedup.enabled=false", "exact_dedup.enabled=false", "quality.languages=[en]")
    proc = run_cli("run", "--input", str(tmp_path / "in"), "--output", str(out), *sets, *BEAM)
    assert proc.returncode == 0, proc.stderr
    hint = next(line for line in proc.stdout.splitlines() if "language id removed" in line)
    assert "9 of 12" in hint and "de 9" in hint and "quality.languages=[en, de]" in hint
    page = (out / "report" / "index.html").read_text()
    assert 'data-removed-lang="de"' in page


def test_no_hint_when_nothing_is_clearly_wrong(tmp_path, run_cli):
    (tmp_path / "in").mkdir()
    rows = [{"id": f"en{i}", "text": prose(i)} for i in range(6)]
    (tmp_path / "in" / "a.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    sets = _sets(*COMMON, "near_dedup.enabled=false")
    proc = run_cli("run", "--input", str(tmp_path / "in"), "--output", str(tmp_path / "out"), *sets, *BEAM)
    assert proc.returncode == 0, proc.stderr
    assert "hint:" not in proc.stdout and "shards/" in proc.stdout


def test_a_few_bad_lines_without_text_give_no_hint():
    from etl.report.hints import run_hints

    manifest = {
        "counts": {"read": 100, "rejected": {"read": {"missing_text": 2}}, "stages": {}},
        "shards": [1],
    }
    assert run_hints(manifest, None) == []
    manifest["counts"]["rejected"]["read"]["missing_text"] = 40
    assert "40 records have no field 'text'" in run_hints(manifest, None)[0]
