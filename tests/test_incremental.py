"""`--incremental`: inputs identified by the SHA-256 of their bytes, and skipped when a parent processed them.

The pure parts first (hashing local, special and S3 entries; choosing what to skip). Then acceptance 2 of issue
11 on real runs: a folder grows from day 1 to day 2 (a new file, a renamed copy of a day-1 file, a day-1 file
rewritten in place); day 2 runs `--against day1 --incremental`; rerunning day 2 into a new output, against
both runs or against day 2 alone, processes nothing: an empty version, committed, exit 0, counts that say so.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from etl.config import load_config
from etl.ingest import input_hashes
from etl.ingest.input_hashes import file_sha256
from etl.ingest.input_hashes import input_hashes as hash_all
from etl.lineage.versions import RunVersion
from etl.run import run_pipeline
from etl.run.incremental import processed_inputs, select_inputs
from etl.store.parents import Parent
from tests.conftest import comparable_outputs
from tests.lineage_runs import COMMON, prose

BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_input_hash_is_the_sha256_of_the_stored_bytes_read_in_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(input_hashes, "CHUNK_BYTES", 7)  # many reads per file: the stream, not one read
    files = {}
    for i, data in enumerate([b"", b"x", os.urandom(1000), b'{"text": "a"}\n' * 50]):
        path = tmp_path / f"f{i}.jsonl"
        path.write_bytes(data)
        files[str(path)] = _sha(data)
    assert hash_all(list(files), threads=3) == files
    gz = tmp_path / "g.jsonl.gz"
    gz.write_bytes(b"\x1f\x8b not really gzip")  # stored bytes are hashed, never decompressed
    assert file_sha256(str(gz)) == _sha(gz.read_bytes())


def test_entries_that_cannot_be_read_have_no_hash_and_never_block(tmp_path):
    os.mkfifo(tmp_path / "pipe.jsonl")  # opening a pipe for reading would block without a writer
    (tmp_path / "dangling.jsonl").symlink_to(tmp_path / "gone.jsonl")
    (tmp_path / "ok.jsonl").write_bytes(b"{}\n")
    urls = [str(tmp_path / n) for n in ("pipe.jsonl", "dangling.jsonl", "ok.jsonl")]
    got: dict = {}
    worker = threading.Thread(target=lambda: got.update(hash_all(urls)), daemon=True)
    worker.start()
    worker.join(timeout=20)
    assert not worker.is_alive(), "hashing blocked on a special file"
    assert got == {urls[0]: None, urls[1]: None, urls[2]: _sha(b"{}\n")}


def test_input_hashes_of_s3_objects_stream_through_fsspec(s3_client):
    s3_client.create_bucket(Bucket="raw")
    blobs = {f"day/{i}.jsonl": os.urandom(3000 + i) for i in range(4)}
    for key, data in blobs.items():
        s3_client.put_object(Bucket="raw", Key=key, Body=data)
    urls = {f"s3://raw/{k}": _sha(v) for k, v in blobs.items()}
    assert hash_all(list(urls)) == urls
    assert file_sha256("s3://raw/day/missing.jsonl") is None


def _parent(index: int, url: str, inputs: list[dict]) -> Parent:
    root = url.rsplit("/manifest.json", 1)[0]
    return Parent(index, RunVersion(url, root, {"inputs": inputs, "config_hash": "c"}, f"sha{index}"))


def test_a_parent_processed_its_own_inputs_and_what_it_skipped_was_processed_by_its_processor():
    day1 = _parent(0, "/runs/d1/manifest.json", [{"path": "/in/a", "bytes": 1, "sha256": "A"}])
    day2 = _parent(
        1,
        "/runs/d2/manifest.json",
        [
            {"path": "/in/a", "bytes": 1, "sha256": "A", "skipped": True, "processed_by": day1.url},
            {"path": "/in/b", "bytes": 1, "sha256": "B"},
            {"path": "/in/pipe", "bytes": 0, "sha256": None},  # unreadable: identifies nothing
        ],
    )
    assert processed_inputs([day2]) == {"A": day1.url, "B": day2.url}
    assert processed_inputs([day1, day2]) == {"A": day1.url, "B": day2.url}
    assert processed_inputs([]) == {}


def test_inputs_are_skipped_by_content_not_by_path():
    files = [("/in/new", 3), ("/in/renamed-copy", 5), ("/in/rewritten", 9), ("/in/pipe", 0)]
    hashes = {"/in/new": "N", "/in/renamed-copy": "A", "/in/rewritten": "B2", "/in/pipe": None}
    already = {"A": "/runs/d1/manifest.json", "B": "/runs/d1/manifest.json"}
    sel = select_inputs(files, hashes, already)
    assert sel.processed == [("/in/new", 3), ("/in/rewritten", 9), ("/in/pipe", 0)]
    assert sel.skipped == [("/in/renamed-copy", 5)] and sel.skipped_bytes == 5
    entries = {e["path"]: e for e in sel.entries()}
    assert [e["path"] for e in sel.entries()] == sorted(entries)
    assert entries["/in/renamed-copy"] == {
        "path": "/in/renamed-copy", "bytes": 5, "sha256": "A",
        "skipped": True, "processed_by": "/runs/d1/manifest.json",
    }  # fmt: skip
    assert entries["/in/pipe"] == {"path": "/in/pipe", "bytes": 0, "sha256": None}
    assert select_inputs(files, hashes, {}).processed == files


# --- acceptance 2 on real runs -------------------------------------------------------------------------


def _write(path: Path, docs: list[tuple[str, str]]) -> None:
    path.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in docs))


def _config(*against: Path):
    extra = [f"incremental.against=[{', '.join(map(str, against))}]", "incremental.enabled=true"]
    return load_config(overrides=[*COMMON, *(extra if against else [])])


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


def _sources(out: Path, kind: str) -> set[str]:
    files = sorted((out / kind).glob("*.parquet")) if (out / kind).exists() else []
    return {s for f in files for s in pq.read_table(f, columns=["source"]).column("source").to_pylist()}


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("incremental")
    folder = base / "raw"
    folder.mkdir()
    day1_docs = {
        "a.jsonl": [(f"a{i}", prose(i)) for i in range(8)],
        "b.jsonl": [(f"b{i}", prose(100 + i)) for i in range(8)],
    }
    for name, docs in day1_docs.items():
        _write(folder / name, docs)
    run_pipeline([str(folder)], str(base / "day1"), _config(), BEAM)
    day1_bytes = {n: (folder / n).read_bytes() for n in day1_docs}
    # The folder grows: a new file, a renamed copy of a.jsonl, b.jsonl rewritten with two more documents.
    _write(folder / "c.jsonl", [(f"c{i}", prose(200 + i)) for i in range(6)])
    shutil.copyfile(folder / "a.jsonl", folder / "a-copy.jsonl")
    _write(folder / "b.jsonl", [*day1_docs["b.jsonl"], ("b8", prose(108)), ("b9", prose(109))])
    day2 = run_pipeline([str(folder)], str(base / "day2"), _config(base / "day1"), BEAM)
    return {"base": base, "folder": folder, "day1_bytes": day1_bytes, "day2": day2}


def test_day2_processes_only_inputs_whose_bytes_no_parent_processed(days):
    base, folder = days["base"], days["folder"]
    m = days["day2"].manifest
    day1_url = f"{base / 'day1'}/manifest.json"
    by_path = {Path(e["path"]).name: e for e in m["inputs"]}
    assert set(by_path) == {"a.jsonl", "a-copy.jsonl", "b.jsonl", "c.jsonl"}
    for name in ("a.jsonl", "a-copy.jsonl"):  # a-copy: another path, the same bytes as day 1's a.jsonl
        assert by_path[name]["skipped"] is True and by_path[name]["processed_by"] == day1_url
        assert by_path[name]["sha256"] == _sha(days["day1_bytes"]["a.jsonl"])
    for name in ("b.jsonl", "c.jsonl"):  # b.jsonl rewritten in place: new bytes, a new input
        assert "skipped" not in by_path[name]
        assert by_path[name]["sha256"] == _sha((folder / name).read_bytes())
        assert by_path[name]["bytes"] == (folder / name).stat().st_size
    assert m["run"]["skipped_inputs"] == 2 and m["run"]["input_files"] == 2
    assert m["run"]["skipped_bytes"] == 2 * len(days["day1_bytes"]["a.jsonl"])
    assert m["counts"]["read"] == 10 + 6  # b.jsonl's ten documents and c.jsonl's six, nothing of a.jsonl
    read = _sources(base / "day2", "shards") | _sources(base / "day2", "rejects")
    assert read == {str(folder / "b.jsonl"), str(folder / "c.jsonl")}
    # b.jsonl's eight day-1 documents were kept by day 1: duplicates of earlier, its two new ones kept.
    assert m["counts"]["rejected"]["exact_dedup"] == {"exact_duplicate_of_earlier": 8}
    assert m["counts"]["kept"] == 8 and m["parents"][0]["url"] == day1_url


def test_rerunning_day2_into_a_new_output_processes_nothing_and_commits_an_empty_version(days, run_cli):
    base, folder = days["base"], days["folder"]
    out = base / "day2-again"
    proc = run_cli(
        "run", "--input", str(folder), "--output", str(out), *[a for s in COMMON for a in ("--set", s)],
        "--against", str(base / "day1"), str(base / "day2"), "--incremental",
        "--", *BEAM,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    m = _manifest(out)
    assert all(e["skipped"] for e in m["inputs"]) and len(m["inputs"]) == 4
    processed_by = {Path(e["path"]).name: e["processed_by"] for e in m["inputs"]}
    assert processed_by == {
        "a.jsonl": f"{base / 'day1'}/manifest.json", "a-copy.jsonl": f"{base / 'day1'}/manifest.json",
        "b.jsonl": f"{base / 'day2'}/manifest.json", "c.jsonl": f"{base / 'day2'}/manifest.json",
    }  # fmt: skip
    assert m["run"]["skipped_inputs"] == 4 and m["run"]["input_files"] == 0 and m["run"]["work_units"] == 0
    assert m["counts"]["read"] == m["counts"]["kept"] == 0 and m["counts"]["rejected"] == {}
    assert all(c["in"] == c["out"] == c["rejected"] == 0 for c in m["counts"]["stages"].values())
    assert m["shards"] == m["rejects"] == m["stats"] == m["index"] == []
    assert m["validation"]["success"] is True and m["validation"]["status"] == "skipped"
    assert [p["url"] for p in m["parents"]] == [f"{base / d}/manifest.json" for d in ("day1", "day2")]
    assert sorted(p.name for p in out.iterdir()) == ["manifest.json", "report"]  # nothing but the version
    assert (out / "report" / "index.html").stat().st_size > 0
    assert "4 inputs skipped" in proc.stdout and str(base / "day2") in proc.stdout, proc.stdout
    assert "0 processed" in proc.stdout and "kept 0 documents" in proc.stdout


def test_a_chain_of_runs_never_processes_an_input_twice(days):
    """Against day 2 alone: day 2 recorded what it skipped (processed by day 1), so that is skipped too."""
    base, folder = days["base"], days["folder"]
    (folder / "d.jsonl").write_text(json.dumps({"id": "d0", "text": prose(300)}) + "\n")
    try:
        m = run_pipeline([str(folder)], str(base / "day3"), _config(base / "day2"), BEAM).manifest
    finally:
        (folder / "d.jsonl").unlink()
    processed = [Path(e["path"]).name for e in m["inputs"] if not e.get("skipped")]
    assert processed == ["d.jsonl"] and m["counts"]["read"] == 1 and m["counts"]["kept"] == 1
    skipped = {Path(e["path"]).name: e["processed_by"] for e in m["inputs"] if e.get("skipped")}
    assert skipped["a.jsonl"] == skipped["a-copy.jsonl"] == f"{base / 'day1'}/manifest.json"
    assert skipped["b.jsonl"] == skipped["c.jsonl"] == f"{base / 'day2'}/manifest.json"


def test_an_incremental_rerun_into_the_same_output_is_byte_identical(days):
    base, folder = days["base"], days["folder"]
    before = _version_files(base / "day2")
    assert any(p.startswith("index/") for p in before) and "manifest.json" in before
    run_pipeline([str(folder)], str(base / "day2"), _config(base / "day1"), BEAM)
    assert _version_files(base / "day2") == before


def _version_files(out: Path) -> dict[str, bytes]:
    """The version's files, manifest without created_at; GE's Data Docs pages stamp their own render time."""
    files = comparable_outputs(out)
    return {p: data for p, data in files.items() if not p.startswith("validation/data_docs/")}
