"""Decontamination, URL rules and PII through the real pipeline: planted benchmark items and listed domains
are rejected with their reasons and nothing else is; PII is counted in stats, redacted only when asked."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

from etl.config import load_config
from etl.lineage import diff_runs, load_run, render_text
from etl.run import run_pipeline
from tests.lineage_runs import prose

BENCH = Path(__file__).resolve().parent.parent / "transforms" / "quality" / "data" / "demo_benchmark.jsonl"
ITEMS = [json.loads(line) for line in BENCH.read_text().splitlines()]
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
# Quality on (it counts PII) with its rules off: prose of random words would trip them at random.
QUIET_RULES = [
    f"quality.{family}.enabled=false"
    for family in ("language", "gopher_repetition", "gopher_quality", "c4", "fineweb")
] + ["quality.languages=[]", "near_dedup.enabled=false", "validation.policy=warn", "output.keep_text=true"]


def _decon(policy: str = "remove") -> list[str]:
    spec = f"{{name: demo, path: '{BENCH}', fields: [question, choices, answer], id_field: id}}"
    return [f"decontamination.benchmarks=[{spec}]", f"decontamination.policy={policy}"]


def _reformatted(text: str) -> str:
    """Other case, whitespace and punctuation: what a scraped copy of a benchmark item looks like."""
    return "  ".join(w.upper() if i % 3 == 0 else w for i, w in enumerate(text.replace(",", " ;").split()))


def _corpus(root: Path) -> dict[str, str]:
    """The corpus, and the reason each planted document must get."""
    q = [item["question"] for item in ITEMS]
    docs = [
        ("whole", q[0], None),
        ("inside", f"{prose(1)} {q[1]} {prose(2)}", None),
        ("reformatted", f"{prose(3)}\n{_reformatted(q[2])}!!", None),
        ("blocked", prose(4), "https://cdn.malware-downloads.example/x"),
        ("blocked-user", prose(5), "http://news.blocked.test/a"),
        ("allowed", prose(6), "https://ok.blocked.test/b"),
        ("phone", f"{prose(7)} Call me at +44 20 7946 0958 tomorrow.", "https://fine.example.org"),
        *((f"clean{i}", prose(10 + i), None) for i in range(8)),
    ]
    root.mkdir(parents=True)
    with open(root / "docs.jsonl", "w") as fh:
        for doc_id, text, url in docs:
            fh.write(json.dumps({"id": doc_id, "text": text, **({"url": url} if url else {})}) + "\n")
    (root.parent / "block.txt").write_text("# ours\nblocked.test\n")
    (root.parent / "allow.txt").write_text("ok.blocked.test\n")
    return {
        "whole": "contaminated",
        "inside": "contaminated",
        "reformatted": "contaminated",
        "blocked": "url_blocklist",
        "blocked-user": "url_blocklist",
    }


def _run(tmp_path: Path, name: str, extra: list[str]) -> Path:
    inputs = tmp_path / "in" / "corpus"
    if not inputs.exists():
        _corpus(inputs)
    lists = [
        f"url_filter.blocklist=[{tmp_path / 'in' / 'block.txt'}]",
        f"url_filter.allowlist=[{tmp_path / 'in' / 'allow.txt'}]",
    ]
    out = tmp_path / name
    run_pipeline([str(inputs)], str(out), load_config(overrides=[*QUIET_RULES, *lists, *extra]), BEAM)
    return out


def _table(out: Path, kind: str):
    manifest = json.loads((out / "manifest.json").read_text())
    return pq.read_table([out / f["path"] for f in manifest[kind]][0]), manifest


def test_planted_items_and_listed_domains_are_rejected_and_nothing_else(tmp_path):
    expected = _corpus(tmp_path / "in" / "corpus")
    out = _run(tmp_path, "out", _decon())
    rejects, manifest = _table(out, "rejects")
    got = {r["doc_id"]: r for r in rejects.to_pylist()}
    assert {k: r["reason"] for k, r in got.items()} == expected
    for doc_id, item in (("whole", ITEMS[0]), ("inside", ITEMS[1]), ("reformatted", ITEMS[2])):
        assert got[doc_id]["stage"] == "decontamination"
        assert got[doc_id]["detail"].startswith(f"demo/{item['id']}: ")
        assert 0 < got[doc_id]["value"] <= 1
    assert "domain malware-downloads.example" in got["blocked"]["detail"]
    assert "domain blocked.test" in got["blocked-user"]["detail"]
    stages = manifest["counts"]["stages"]
    assert stages["decontamination"]["rejected"] == 3 and stages["url_filter"]["rejected"] == 2
    assert manifest["counts"]["read"] == manifest["counts"]["kept"] + len(got)


def test_flag_policy_keeps_the_documents_and_records_the_hit_in_stats(tmp_path):
    out = _run(tmp_path, "flag", _decon("flag"))
    stats, manifest = _table(out, "stats")
    flagged = stats.filter(pc.is_valid(stats.column("q_contamination")))
    assert sorted(flagged.column("doc_id").to_pylist()) == ["inside", "reformatted", "whole"]
    assert "decontamination" not in (manifest["counts"]["rejected"] or {})


def test_pii_is_counted_by_default_and_redaction_off_changes_no_shard_byte(tmp_path):
    default = _run(tmp_path, "default", [])
    stats, _ = _table(default, "stats")
    phones = dict(
        zip(stats.column("doc_id").to_pylist(), stats.column("q_pii_phones").to_pylist(), strict=True)
    )
    assert phones["phone"] == 1 and sum(phones.values()) == 1
    undetected = _run(
        tmp_path,
        "undetected",
        [f"quality.pii.detect.{k}=false" for k in ("phones", "cards", "ibans", "ssns", "secrets")],
    )
    shard = [hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((default / "shards").iterdir())]
    assert shard == [
        hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((undetected / "shards").iterdir())
    ]
    redacted = _run(tmp_path, "redacted", ["quality.pii.redact.phones=true"])
    shards, manifest = _table(redacted, "shards")
    texts = dict(zip(shards.column("doc_id").to_pylist(), shards.column("text").to_pylist(), strict=True))
    assert "<PHONE>" in texts["phone"] and "7946" not in texts["phone"]
    assert sum(t.count("<PHONE>") for t in texts.values()) == 1


def test_diff_counts_the_new_reasons(tmp_path):
    plain = _run(tmp_path, "plain", ["url_filter.enabled=false"])
    decon = _run(tmp_path, "decon", _decon())
    text = render_text(diff_runs(load_run(str(plain)), load_run(str(decon))))
    assert "decontamination/contaminated" in text and "url_filter/url_blocklist" in text
