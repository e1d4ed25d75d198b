"""`corpus-etl diff` on real committed runs: every figure of its JSON equals what the run files say, read here
independently (pyarrow and plain Python sets), and a rerun of the same inputs and config is byte-identical."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import fsspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from etl.lineage import diff_runs, load_run
from etl.lineage.diff import flatten, input_diff
from etl.lineage.versions import REJECT_COLUMNS, RunVersion, is_parent
from expectations.frames import STAGE_ORDER as STAGES
from tests.lineage_runs import build_lineage_runs


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    return build_lineage_runs(tmp_path_factory.getbasetemp() / "lineage")


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _rows(out: Path, kind: str, columns: list[str]) -> list[dict]:
    rows = []
    for entry in _manifest(out)[kind]:
        rows += pq.read_table(out / entry["path"], columns=columns).to_pylist()
    return rows


def _kept(out: Path) -> set[tuple[str, str]]:
    return {(r["doc_id"], r["source"]) for r in _rows(out, "shards", ["doc_id", "source"])}


def _fates(out: Path) -> dict[tuple[str, str], dict]:
    """The first reject (flow order) of each document of a run, as the diff names it."""
    rows = _rows(out, "rejects", ["doc_id", "source", "stage", "reason", "detail"])
    rows.sort(key=lambda r: (STAGES.index(r["stage"]), r["reason"]))
    fates: dict[tuple[str, str], dict] = {}
    for r in rows:
        fates.setdefault(
            (r["doc_id"], r["source"]),
            {"status": "rejected", **{k: r[k] for k in ("stage", "reason", "detail")}},
        )
    return fates


def _fate(key: tuple[str, str], fates: dict) -> dict:
    return fates.get(key, {"status": "not_read", "stage": None, "reason": None, "detail": None})


@pytest.fixture(scope="module")
def diff_ab(runs) -> dict:
    return diff_runs(load_run(str(runs["a"])), load_run(str(runs["b"]) + "/manifest.json"))


def test_diff_json_from_the_cli_is_the_diff_with_sorted_keys(runs, run_cli, diff_ab):
    proc = run_cli("diff", str(runs["a"]), f"{runs['b']}/manifest.json", "--json")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout) == diff_ab
    assert proc.stdout == json.dumps(diff_ab, indent=2, sort_keys=True) + "\n"


def test_diff_documents_added_and_removed_equal_the_shards(runs, diff_ab):
    a, b = _kept(runs["a"]), _kept(runs["b"])
    fates_a, fates_b = _fates(runs["a"]), _fates(runs["b"])
    added = [{"doc_id": d, "source": s, "in_a": _fate((d, s), fates_a)} for d, s in sorted(b - a)]
    removed = [{"doc_id": d, "source": s, "in_b": _fate((d, s), fates_b)} for d, s in sorted(a - b)]
    docs = diff_ab["documents"]
    assert docs == {
        "a": len(a), "b": len(b), "common": len(a & b), "added_count": len(added),
        "removed_count": len(removed), "added": added, "removed": removed,
    }  # fmt: skip
    assert added and removed and a & b


def test_diff_names_what_the_other_run_did_with_each_planted_document(runs, diff_ab):
    corpus = runs["corpus"]
    added = {r["doc_id"]: r["in_a"] for r in diff_ab["documents"]["added"]}
    removed = {r["doc_id"]: r["in_b"] for r in diff_ab["documents"]["removed"]}
    # a05 left the input, so its exact duplicate a99, which A rejected, is B's.
    assert added["a99"] == {"status": "rejected", "stage": "exact_dedup", "reason": "exact_duplicate",
                            "detail": "duplicate of a05"}  # fmt: skip
    assert removed["a05"]["status"] == "not_read"
    # 0new has a10's text and a smaller id: B keeps it and rejects A's a10.
    assert added["0new"]["status"] == "not_read"
    assert removed["a10"] == {"status": "rejected", "stage": "exact_dedup", "reason": "exact_duplicate",
                              "detail": "duplicate of 0new"}  # fmt: skip
    assert removed["n01"]["stage"] == "near_dedup" and removed["n01"]["reason"] == "near_duplicate"
    assert {k for k, v in removed.items() if v["status"] == "not_read"} == {
        "a05",
        *(f"b{i:02d}" for i in range(8)),
    }
    assert {f"de{i}" for i in range(3)} <= added.keys()
    assert "fr0" not in added and "fr0" not in removed  # rejected by both
    sources = {r["source"] for r in diff_ab["documents"]["removed"] if r["doc_id"].startswith("b")}
    assert sources == {str(corpus / "b.jsonl")}


def test_diff_counts_are_the_manifests_side_by_side(runs, diff_ab):
    ma, mb = _manifest(runs["a"]), _manifest(runs["b"])
    c = diff_ab["counts"]
    for key, value in (("read", lambda m: m["counts"]["read"]), ("kept", lambda m: m["counts"]["kept"]),
                       ("tokens", lambda m: sum(s["tokens"] for s in m["shards"]))):  # fmt: skip
        assert c["totals"][key] == {"a": value(ma), "b": value(mb), "delta": value(mb) - value(ma)}
    assert list(c["stages"]) == [
        s for s in STAGES if s in ma["counts"]["stages"] or s in mb["counts"]["stages"]
    ]
    for stage, row in c["stages"].items():
        for field in ("in", "out", "rejected"):
            # a disabled stage is absent from its run's counts (A has no near dedup): 0 there
            va, vb = (m["counts"]["stages"].get(stage, {}).get(field, 0) for m in (ma, mb))
            assert row[field] == {"a": va, "b": vb, "delta": vb - va}, (stage, field)
    reasons = {(r["stage"], r["reason"]): (r["a"], r["b"], r["delta"]) for r in c["reasons"]}
    every = {(s, r) for m in (ma, mb) for s, rs in m["counts"]["rejected"].items() for r in rs}
    assert reasons.keys() == every
    for (s, r), (na, nb, delta) in reasons.items():
        assert na == ma["counts"]["rejected"].get(s, {}).get(r, 0)
        assert nb == mb["counts"]["rejected"].get(s, {}).get(r, 0)
        assert delta == nb - na
    assert reasons[("near_dedup", "near_duplicate")][:2] == (0, 1)
    assert reasons[("quality", "language.not_allowed")][:2] == (1, 1)  # fr0, in both


def test_diff_config_names_the_changed_keys(diff_ab, runs):
    config = diff_ab["config"]
    assert config["changed"] == {
        "near_dedup.enabled": {"a": False, "b": True},
        "quality.languages": {"a": ["en"], "b": ["en", "de"]},
    }
    assert config["only_a"] == config["only_b"] == {} and config["same"] is False
    assert config["hash_a"] == _manifest(runs["a"])["config_hash"] != config["hash_b"]
    assert flatten({"x": {"y": 1, "z": {}}, "l": [1]}) == {"x.y": 1, "x.z": {}, "l": [1]}


def test_diff_of_a_rerun_says_byte_identical(runs):
    d = diff_runs(load_run(str(runs["b"])), load_run(str(runs["c"])))
    mb, mc = _manifest(runs["b"]), _manifest(runs["c"])
    assert [s["sha256"] for s in mb["shards"]] == [s["sha256"] for s in mc["shards"]]
    assert d["shards"] == {"identical": True, "a": len(mb["shards"]), "b": len(mc["shards"]),
                           "same_sha256": len(mb["shards"]), "only_a": [], "only_b": []}  # fmt: skip
    assert d["rejects"]["identical"] is True
    assert d["config"]["same"] is True
    assert d["documents"]["added"] == d["documents"]["removed"] == []
    assert d["documents"]["common"] == len(_kept(runs["b"]))
    assert all(row["delta"] == 0 for row in d["counts"]["totals"].values())


def test_diff_shards_of_changed_runs_differ(diff_ab, runs):
    shas_a = {s["sha256"] for s in _manifest(runs["a"])["shards"]}
    shas_b = {s["sha256"] for s in _manifest(runs["b"])["shards"]}
    assert diff_ab["shards"]["identical"] is False
    assert diff_ab["shards"]["same_sha256"] == len(shas_a & shas_b)


def test_diff_text_is_a_compact_summary(runs, run_cli):
    proc = run_cli("diff", str(runs["a"]), str(runs["b"]))
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "config: 2 keys differ" in out
    assert "near_dedup.enabled: false -> true" in out
    assert 'quality.languages: ["en"] -> ["en", "de"]' in out
    removed = len(_kept(runs["a"]) - _kept(runs["b"]))
    assert removed > 10 and f"... and {removed - 10} more" in out
    assert "a10  " in out and "B: rejected exact_dedup/exact_duplicate (duplicate of 0new)" in out
    assert "shards: differ" in out
    same = run_cli("diff", str(runs["b"]), str(runs["c"]))
    assert "shards: byte-identical" in same.stdout and "0 added, 0 removed" in same.stdout


def test_diff_reads_a_run_through_an_fsspec_url(runs, diff_ab):
    fs = fsspec.filesystem("memory")
    for path in runs["b"].rglob("*"):
        if path.is_file():
            fs.pipe(f"/lineage-b/{path.relative_to(runs['b']).as_posix()}", path.read_bytes())
    try:
        d = diff_runs(load_run(str(runs["a"])), load_run("memory://lineage-b"))
    finally:
        fs.rm("/lineage-b", recursive=True)
    for key in ("config", "counts", "documents", "shards", "rejects"):
        assert d[key] == diff_ab[key], key


def test_diff_of_a_folder_without_manifest_is_a_usage_error(runs, run_cli, tmp_path):
    proc = run_cli("diff", str(runs["a"]), str(tmp_path))
    assert proc.returncode == 2
    assert f"{tmp_path}: no manifest.json" in proc.stderr and "Traceback" not in proc.stderr


def test_diff_reads_parents_and_input_hashes_when_the_manifest_has_them(runs, tmp_path):
    """The fields of `--against`/`--incremental`: inputs matched by content hash, skipped inputs, parents."""
    parent = load_run(str(runs["a"]))
    child_dir = tmp_path / "child"
    shutil.copytree(runs["b"], child_dir)
    m = _manifest(child_dir)
    m["parents"] = [{"url": "s3://elsewhere/a", "sha256": parent.manifest_sha256, "config_hash": "x"}]
    m["inputs"] = [{"path": "/new/name/a.jsonl", "bytes": 10, "sha256": "aa"},
                   {"path": "/d/c.jsonl", "bytes": 5, "sha256": "cc"},
                   {"path": "/d/old.jsonl", "bytes": 7, "sha256": "oo", "skipped": True}]  # fmt: skip
    (child_dir / "manifest.json").write_text(json.dumps(m))
    child = load_run(str(child_dir))
    assert is_parent(child, parent) and not is_parent(parent, child)
    before = {"inputs": [{"path": "/d/a.jsonl", "bytes": 10, "sha256": "aa"},
                         {"path": "/d/b.jsonl", "bytes": 9, "sha256": "bb"}]}  # fmt: skip
    assert input_diff(before, m) == {
        "added": ["/d/c.jsonl"], "removed": ["/d/b.jsonl"], "skipped_a": [], "skipped_b": ["/d/old.jsonl"],
    }  # fmt: skip
    d = diff_runs(parent, child)
    assert d["lineage"] == {
        "b_has_parent_a": True,
        "a_has_parent_b": False,
        "b_parent_a_replaced": False,  # B names A by the sha256 A's manifest still has
        "a_parent_b_replaced": False,
        "replaced_parents": {"a": [], "b": []},
    }
    assert d["counts"]["totals"]["inputs_skipped"] == {"a": 0, "b": 1, "delta": 1}


def test_diff_says_quarantined_where_the_other_run_set_the_shard_aside():
    docs = pa.table({"doc_id": ["x", "y", "z"], "source": ["s", "s", "t"]})
    none = pa.table({c: pa.array([], pa.string()) for c in REJECT_COLUMNS})
    rejects = pa.table({"doc_id": ["z", "z"], "source": ["t", "t"], "stage": ["near_dedup", "exact_dedup"],
                        "reason": ["near_duplicate", "exact_duplicate"], "detail": ["of a", "of b"]})  # fmt: skip
    a = RunVersion("a", "/a", {}, "1", docs, docs.slice(0, 0), none)
    b = RunVersion("b", "/b", {}, "2", docs.slice(0, 0), docs.slice(0, 1), rejects)
    removed = {r["doc_id"]: r["in_b"] for r in diff_runs(a, b)["documents"]["removed"]}
    assert removed["x"] == {
        "status": "quarantined",
        "stage": "validation",
        "reason": "quarantined",
        "detail": None,
    }
    assert removed["y"]["status"] == "not_read"
    assert removed["z"] == {
        "status": "rejected",
        "stage": "exact_dedup",
        "reason": "exact_duplicate",
        "detail": "of b",
    }  # the first of its rejects in flow order
