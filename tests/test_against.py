"""`--against`: day 2 deduplicated against what day 1 kept, through the real CLI and pipeline.

A corpus with planted exact and near duplicates is split across two days, with duplicates inside each day and
across them. Day 2 run `--against` day 1 must remove the cross-day duplicates (precision and recall against
brute-force word 5-gram Jaccard >= 0.95), remove nothing of day 1, name the earlier run and document in each
detail, and keep, with day 1, as many documents as one run over both days.
"""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from transforms.near_dedup.normalize import normalize_text

QUIET = ["--set", "quality.enabled=false", "--set", "validation.policy=warn"]
IN_PROCESS = ["--", "--direct_running_mode=in_memory"]
THRESHOLD = 0.8


def _vocab(rng: random.Random, n: int = 3000) -> list[str]:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return sorted({"".join(rng.choice(letters) for _ in range(rng.randint(3, 9))) for _ in range(n)})


def _doc(rng: random.Random, vocab: list[str], words: int = 150) -> str:
    return " ".join(rng.choice(vocab) for _ in range(words)) + "."


def _edit(rng: random.Random, text: str, vocab: list[str], rate: float) -> str:
    words = text.split(" ")
    for i in rng.sample(range(len(words)), max(1, int(len(words) * rate))):
        words[i] = rng.choice(vocab)
    return " ".join(words)


def _write(path: Path, docs: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    rng = random.Random(7)
    vocab = _vocab(rng)
    base = [_doc(rng, vocab) for _ in range(200)]
    day1 = [(f"a{i:03d}", base[i]) for i in range(120)]
    day1 += [(f"a-exact-{i:03d}", base[i]) for i in range(10)]  # inside day 1
    day1 += [(f"a-near-{i:03d}", _edit(rng, base[i], vocab, 0.01)) for i in range(10, 20)]
    day2 = [(f"b{i:03d}", base[i]) for i in range(120, 200)]
    day2 += [(f"b-exact-of-a{i:03d}", base[i]) for i in range(20, 40)]  # across days
    day2 += [(f"b-near-of-a{i:03d}", _edit(rng, base[i], vocab, 0.01)) for i in range(40, 60)]
    day2 += [(f"b-exact-{i:03d}", base[i]) for i in range(120, 130)]  # inside day 2
    day2 += [
        (f"b-half-of-a{i:03d}", " ".join(base[i].split(" ")[:75]) + " " + _doc(rng, vocab, 75))
        for i in range(60, 70)
    ]  # fmt: skip  (hard negatives: half shared)
    root = tmp_path_factory.mktemp("days")
    _write(root / "day1" / "part.jsonl", day1)
    _write(root / "day2" / "part.jsonl", day2)
    return root, dict(day1), dict(day2)


def _shingles(text: str, n: int = 5) -> set[str]:
    words = normalize_text(text).split()
    return {" ".join(words[i : i + n]) for i in range(max(len(words) - n + 1, 1))}


def _jaccard(a: set[str], b: set[str]) -> float:
    return len(a & b) / max(len(a | b), 1)


def _read(out: Path, kind: str, columns: list[str]) -> list[dict]:
    manifest = json.loads((out / "manifest.json").read_text())
    rows = []
    for entry in manifest[kind]:
        rows += pq.read_table(out / entry["path"], columns=columns).to_pylist()
    return rows


def _tree_digest(out: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in out.rglob("*") if p.is_file()):
        h.update(f.relative_to(out).as_posix().encode() + f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def runs(days, tmp_path_factory):
    import subprocess
    import sys

    from tests.conftest import REPO, checkout_env

    root, _, _ = days
    outs = tmp_path_factory.mktemp("runs")

    def cli(*args):
        proc = subprocess.run(
            [sys.executable, "-m", "etl.cli", "run", *args, *QUIET, *IN_PROCESS],
            env=checkout_env(), cwd=REPO, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc

    cli("--input", str(root / "day1"), "--output", str(outs / "day1"))
    before = _tree_digest(outs / "day1")
    day2 = cli("--input", str(root / "day2"), "--output", str(outs / "day2"), "--against", str(outs / "day1"))
    cli("--input", str(root / "day1"), str(root / "day2"), "--output", str(outs / "both"))
    return outs, before, day2.stdout


def test_day1_commits_an_index_of_what_it_kept(runs):
    outs, _, _ = runs
    manifest = json.loads((outs / "day1" / "manifest.json").read_text())
    kept = {r["doc_id"] for r in _read(outs / "day1", "shards", ["doc_id"])}
    kinds = {e["kind"] for e in manifest["index"]}
    assert kinds == {"exact", "minhash"}
    ids = [r["doc_id"] for r in _read(outs / "day1", "index", ["doc_id"])]
    assert set(ids) == kept and len(ids) == 2 * len(kept)  # exact and minhash rows, each doc once
    for entry in manifest["index"]:
        data = (outs / "day1" / entry["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == entry["sha256"] and len(data) == entry["bytes"]


def test_day2_against_day1_removes_cross_day_duplicates_against_brute_force_truth(days, runs):
    _, day1, day2 = days
    outs, _, _ = runs
    kept1 = {r["doc_id"] for r in _read(outs / "day1", "shards", ["doc_id"])}
    sh1 = {d: _shingles(day1[d]) for d in kept1}
    truth = set()
    for d, text in day2.items():
        s = _shingles(text)
        if any(_jaccard(s, t) >= THRESHOLD for t in sh1.values()):
            truth.add(d)
    rejects = _read(outs / "day2", "rejects", ["doc_id", "stage", "reason", "detail"])
    earlier = {r["doc_id"]: r for r in rejects if r["reason"].endswith("_of_earlier")}
    tp = len(set(earlier) & truth)
    assert len(truth) >= 35
    assert tp / max(len(earlier), 1) >= 0.95 and tp / len(truth) >= 0.95, (sorted(set(earlier) ^ truth))[:10]
    day1_url = str(outs / "day1" / "manifest.json")
    for r in earlier.values():
        survivor = r["detail"].removeprefix("duplicate of ").rsplit(" in ", 1)
        assert survivor[1] == day1_url and survivor[0] in kept1, r
        assert r["stage"] == ("exact_dedup" if r["reason"] == "exact_duplicate_of_earlier" else "near_dedup")
    assert {d for d, r in earlier.items() if r["reason"] == "exact_duplicate_of_earlier"} == {
        f"b-exact-of-a{i:03d}" for i in range(20, 40)
    }
    # duplicates inside day 2 are still the ordinary kind
    inside = {r["doc_id"] for r in rejects if r["reason"] == "exact_duplicate"}
    assert inside == {f"b{i:03d}" for i in range(120, 130)}  # "b-exact-120" < "b120": the smaller id survives


def test_day1_is_untouched_and_the_two_days_keep_what_one_run_keeps(runs):
    outs, before, summary = runs
    assert _tree_digest(outs / "day1") == before
    kept = [len(_read(outs / d, "shards", ["doc_id"])) for d in ("day1", "day2", "both")]
    assert kept[0] + kept[1] == kept[2], kept
    manifest = json.loads((outs / "day2" / "manifest.json").read_text())
    day1 = outs / "day1" / "manifest.json"
    assert manifest["parents"] == [
        {
            "url": str(day1),
            "sha256": hashlib.sha256(day1.read_bytes()).hexdigest(),
            "config_hash": json.loads(day1.read_text())["config_hash"],
        }
    ]
    counts = manifest["counts"]
    assert counts["read"] == counts["kept"] + sum(n for r in counts["rejected"].values() for n in r.values())
    assert "exact_duplicate_of_earlier" in summary and "near_duplicate_of_earlier" in summary


def _cli(*args: str):
    import subprocess
    import sys

    from tests.conftest import REPO, checkout_env

    return subprocess.run([sys.executable, "-m", "etl.cli", *args], env=checkout_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_diff_of_day1_and_day2_names_the_parent_and_the_earlier_duplicates(runs):
    outs, _, _ = runs
    proc = _cli("diff", str(outs / "day1"), str(outs / "day2"), "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = json.loads(proc.stdout)
    day2 = json.loads((outs / "day2" / "manifest.json").read_text())
    assert d["lineage"]["b_has_parent_a"] is True
    reasons = {(r["stage"], r["reason"]): r for r in d["counts"]["reasons"]}
    for key in (("exact_dedup", "exact_duplicate_of_earlier"), ("near_dedup", "near_duplicate_of_earlier")):
        assert reasons[key]["b"] == day2["counts"]["rejected"][key[0]][key[1]] > 0 and reasons[key]["a"] == 0
    kept1 = {r["doc_id"] for r in _read(outs / "day1", "shards", ["doc_id"])}
    kept2 = {r["doc_id"] for r in _read(outs / "day2", "shards", ["doc_id"])}
    assert {x["doc_id"] for x in d["documents"]["added"]} == kept2 - kept1
    assert d["shards"]["identical"] is False


def test_history_of_day1_and_day2_in_chromium_shows_the_earlier_duplicate_rate(runs, tmp_path):
    import base64

    from tests.test_report_browser import ARTIFACTS, CHROMIUM, DevTools, requested_urls

    assert CHROMIUM is not None, "no chromium on PATH: run `make browser`"
    outs, _, _ = runs
    proc = _cli("history", str(outs / "day1"), str(outs / "day2"), "--output", str(tmp_path / "page"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    browser = DevTools(tmp_path / "profile")
    try:
        for domain in ("Network", "Page"):
            browser.call(f"{domain}.enable")
        url = (tmp_path / "page" / "index.html").as_uri()
        browser.call("Page.navigate", url=url)
        browser.wait_for("Page.loadEventFired")
        js = """JSON.stringify(Array.from(document.querySelectorAll('svg[data-chart="earlier"] circle[data-series]'))
          .map(c => [c.dataset.series, +c.dataset.version, +c.dataset.value]))"""
        points = json.loads(
            browser.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"]
        )
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "history-against.png").write_bytes(base64.b64decode(shot["data"]))
        requests = requested_urls(browser.events)
    finally:
        browser.close()
    assert requests == [url]
    day2 = json.loads((outs / "day2" / "manifest.json").read_text())
    exact = day2["counts"]["rejected"]["exact_dedup"]["exact_duplicate_of_earlier"]
    near = day2["counts"]["rejected"]["near_dedup"]["near_duplicate_of_earlier"]
    got = {(s, v): value for s, v, value in points}
    assert got[("exact", 0)] == got[("near", 0)] == 0
    assert (got[("exact", 1)], got[("near", 1)]) in (
        (exact, near),
        (exact / day2["counts"]["read"], near / day2["counts"]["read"]),
    )


def test_against_its_own_output_is_refused_and_leaves_it_untouched(days, runs):
    root, _, _ = days
    outs, before, _ = runs
    proc = _cli(
        "run", "--input", str(root / "day1"), "--output", str(outs / "day1"), "--against", str(outs / "day1")
    )
    assert proc.returncode == 2 and "own output" in proc.stderr, proc.stderr[-2000:]
    assert _tree_digest(outs / "day1") == before
