"""Hostile and damaged input: every bad record is a reject with its line, every bad file one reject, no crash.

Issue 13, "per-record and per-file isolation"; the reasons are listed in docs/failures.md ("Input faults").
"""

from __future__ import annotations

import gzip
import json
import os
import threading

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from etl.ingest.sources import InputSpec, expand_inputs, read_file


def collect(url, spec=None):
    got = {"docs": [], "rejects": []}
    for kind, batch in read_file(str(url), spec or InputSpec()):
        got[kind].extend(batch.to_pylist())
    return got


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in records)


def reasons(got) -> list[tuple[int, str]]:
    return [(r["line"], r["reason"]) for r in got["rejects"]]


@pytest.mark.parametrize(
    "deep", [b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000]
)
def test_a_line_nested_100000_deep_is_an_invalid_json_reject_between_kept_lines(tmp_path, deep):
    path = tmp_path / "deep.jsonl"
    path.write_bytes(jsonl({"text": "before"}, deep, {"text": "after"}))
    got = collect(path)
    assert [d["text"] for d in got["docs"]] == ["before", "after"]
    assert reasons(got) == [(2, "invalid_json")]
    assert got["rejects"][0]["detail"].startswith(f"{path}:2: nested deeper")


def test_a_5000_digit_integer_id_is_kept_as_its_digits_and_as_text_or_meta_it_is_a_reject(tmp_path):
    digits = "9" * 5000
    path = tmp_path / "big.jsonl"
    path.write_bytes(
        jsonl(
            b'{"id": ' + digits.encode() + b', "text": "huge id", "n": 5}',
            b'{"id": "t", "text": ' + digits.encode() + b"}",
            b'{"id": "m", "text": "huge meta", "n": ' + digits.encode() + b"}",
            {"id": "ok", "text": "fine"},
        )
    )
    got = collect(path)
    assert [(d["doc_id"], d["text"], d["meta"]) for d in got["docs"]] == [
        (digits, "huge id", '{"n":5}'),
        ("ok", "fine", "{}"),
    ]
    assert reasons(got) == [(2, "non_string_text"), (3, "invalid_json")]
    assert got["rejects"][0]["detail"] == f"{path}:2: field 'text' is an integer of 5000 digits, not a string"
    assert got["rejects"][1]["detail"].startswith(f"{path}:3: an integer of more than 4300 digits")


def test_lone_surrogates_reject_the_record_in_text_or_id_and_stay_escaped_in_meta(tmp_path):
    path = tmp_path / "surrogates.jsonl"
    path.write_bytes(
        jsonl(
            b'{"text": "bad \\ud800 text"}',
            b'{"id": "\\udfff", "text": "bad id"}',
            b'{"text": "bad meta", "note": "x\\ud800y", "lang": "caf\\u00e9"}',
            b'{"text": "a pair \\ud83d\\ude00 is fine"}',
        )
    )
    got = collect(path)
    assert reasons(got) == [(1, "invalid_unicode"), (2, "invalid_unicode")]
    assert "lone surrogate U+D800 at character 4" in got["rejects"][0]["detail"]
    assert got["rejects"][1]["detail"].startswith(f"{path}:2: field 'id' holds a lone surrogate U+DFFF")
    assert [d["text"] for d in got["docs"]] == ["bad meta", "a pair \U0001f600 is fine"]
    assert json.loads(got["docs"][0]["meta"]) == {"note": "x\ud800y", "lang": "café"}
    pa.array([d["meta"] for d in got["docs"]]).validate(full=True)  # writable: valid UTF-8 throughout


def two_frames(records: int = 1000) -> tuple[bytes, bytes]:
    lines = [
        json.dumps({"id": f"r{i}", "text": f"record {i} " + "lorem ipsum " * (i % 7)}) + "\n"
        for i in range(2 * records)
    ]
    c = zstandard.ZstdCompressor()
    return c.compress("".join(lines[:records]).encode()), c.compress("".join(lines[records:]).encode())


def test_a_zst_whose_second_frame_is_cut_in_half_keeps_the_good_records_and_rejects_the_rest(tmp_path):
    first, second = two_frames()
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(first + second[: len(second) // 2])
    got = collect(path)
    kept = len(got["docs"])
    assert kept >= 1000 and kept < 2000
    assert [d["doc_id"] for d in got["docs"]] == [f"r{i}" for i in range(kept)]
    assert reasons(got) == [
        (kept + 1, "truncated_file")
    ]  # the partial last line is not an invalid_json record
    assert f"truncated after line {kept} (the last good line)" in got["rejects"][0]["detail"]


def test_one_6000_record_zst_frame_cut_mid_block_leaves_no_partial_line_record(tmp_path):
    body = "".join(
        json.dumps({"id": f"r{i}", "text": "lorem ipsum dolor " * (i % 13)}) + "\n" for i in range(6000)
    )
    data = zstandard.ZstdCompressor().compress(body.encode())
    path = tmp_path / "one.jsonl.zst"
    path.write_bytes(data[: len(data) // 2])
    got = collect(path)
    kept = len(got["docs"])
    assert 0 < kept < 6000 and [d["doc_id"] for d in got["docs"]] == [f"r{i}" for i in range(kept)]
    assert reasons(got) == [(kept + 1, "truncated_file")]


def test_a_small_cut_zst_frame_is_truncated_not_empty_and_whole_frames_read_in_full(tmp_path):
    first, second = two_frames(3)
    cut = tmp_path / "small.jsonl.zst"
    cut.write_bytes(first[: len(first) - 4])
    assert reasons(collect(cut)) == [(1, "truncated_file")]
    whole = tmp_path / "whole.jsonl.zst"
    whole.write_bytes(first + second)
    got = collect(whole)
    assert len(got["docs"]) == 6 and got["rejects"] == []
    garbage = tmp_path / "garbage.jsonl.zst"
    garbage.write_bytes(first + b"not a zstd frame at all")
    got = collect(garbage)
    assert len(got["docs"]) == 3 and reasons(got) == [(4, "corrupt_file")]


def test_a_gzip_stream_without_its_trailer_is_a_truncated_file_after_every_line_it_holds(tmp_path):
    body = jsonl(*({"text": f"line {i}"} for i in range(50)))
    path = tmp_path / "notrailer.jsonl.gz"
    path.write_bytes(gzip.compress(body)[:-8])
    got = collect(path)
    assert len(got["docs"]) == 50
    assert reasons(got) == [(51, "truncated_file")]


def test_a_truncated_gzip_mid_line_puts_the_partial_line_in_the_file_reject(tmp_path):
    body = jsonl(*({"text": f"line {i} " + "x" * 300} for i in range(2000)))
    data = gzip.compress(body)
    path = tmp_path / "mid.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    got = collect(path)
    assert [r["reason"] for r in got["rejects"]] == ["truncated_file"]
    assert got["rejects"][0]["line"] == len(got["docs"]) + 1


def test_parquet_with_binary_columns_is_read_with_pyarrow_no_panic(tmp_path):
    path = tmp_path / "binary.parquet"
    table = pa.table(
        {
            "id": pa.array([b"a", b"b", None], pa.binary()),
            "text": ["one", None, "three"],
            "blob": pa.array([b"\xff\x00", b"ok", None], pa.binary()),
        }
    )
    pq.write_table(table, path)
    got = collect(path)
    assert [(d["doc_id"], d["text"], d["line"]) for d in got["docs"]] == [
        ("a", "one", 1),
        (f"{path}:3", "three", 3),
    ]
    assert [json.loads(d["meta"]) for d in got["docs"]] == [{"blob": "base64:/wA="}, {"blob": None}]
    assert reasons(got) == [(2, "null_text")]


def test_parquet_whose_text_column_is_binary_rejects_every_row(tmp_path):
    path = tmp_path / "bintext.parquet"
    pq.write_table(pa.table({"text": pa.array([b"x", b"y"], pa.binary())}), path)
    got = collect(path)
    assert got["docs"] == []
    assert reasons(got) == [(1, "non_string_text"), (2, "non_string_text")]
    assert "column 'text' is binary, not a string" in got["rejects"][0]["detail"]


def test_parquet_with_a_list_id_column_rejects_its_rows_with_their_text(tmp_path):
    path = tmp_path / "listid.parquet"
    pq.write_table(pa.table({"id": [[1, 2], [3]], "text": ["first", "second"]}), path)
    got = collect(path)
    assert got["docs"] == []
    assert [(r["line"], r["reason"], r["text"]) for r in got["rejects"]] == [
        (1, "invalid_id", "first"),
        (2, "invalid_id", "second"),
    ]
    assert "column 'id' is list<element: int64>, not a scalar" in got["rejects"][0]["detail"]


def test_parquet_with_numeric_ids_and_typed_meta_keeps_them_as_strings_and_json(tmp_path):
    import datetime

    path = tmp_path / "typed.parquet"
    day = datetime.date(2024, 5, 1)
    pq.write_table(
        pa.table({"id": [7, 8], "text": ["a", "b"], "day": [day, None], "tags": [["x"], []]}), path
    )
    got = collect(path)
    assert [(d["doc_id"], d["meta"]) for d in got["docs"]] == [
        ("7", '{"day":"2024-05-01","tags":["x"]}'),
        ("8", '{"day":null,"tags":[]}'),
    ]


def faulty_entries(folder) -> dict[str, str]:
    """Every kind of broken input entry in `folder`, by the reject reason it must give."""
    folder.mkdir(exist_ok=True)
    os.symlink(folder / "nowhere.jsonl", folder / "dangling.jsonl")
    os.symlink(folder / "loop.jsonl", folder / "loop.jsonl")
    os.mkfifo(folder / "pipe.jsonl")
    return {
        str(folder / "dangling.jsonl"): "dangling_link",
        str(folder / "loop.jsonl"): "symlink_loop",
        str(folder / "pipe.jsonl"): "special_file",
    }


def read_with_deadline(url: str, seconds: float = 20) -> dict:
    """collect(url) in a thread: a reader that opens a named pipe blocks forever, and the test must say so."""
    result: dict = {}
    worker = threading.Thread(target=lambda: result.update(collect(url)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert not worker.is_alive(), f"reading {url} blocked (a named pipe opened?)"
    return result


def test_special_entries_in_a_folder_are_listed_and_each_is_one_file_reject(tmp_path):
    folder = tmp_path / "in"
    expected = faulty_entries(folder)
    (folder / "a::b.jsonl").write_bytes(jsonl({"id": "colons", "text": "a path, not a URL chain"}))
    os.symlink(folder / "real", folder / "linked")  # a folder reached twice through a link is read once
    (folder / "real").mkdir()
    (folder / "real" / "x.jsonl").write_bytes(jsonl({"text": "x"}))
    os.symlink(folder / "real", folder / "real" / "back")  # a link loop between folders ends the walk
    listed = dict(expand_inputs([str(folder)]))
    assert set(listed) == {*expected, str(folder / "a::b.jsonl"), str(folder / "linked" / "x.jsonl")}
    assert all(listed[name] == 0 for name in expected)
    for url, reason in expected.items():
        got = read_with_deadline(url)
        assert got["docs"] == [] and reasons(got) == [(0, reason)]
        assert got["rejects"][0]["detail"].startswith(url)
    got = collect(folder / "a::b.jsonl")
    assert [d["doc_id"] for d in got["docs"]] == ["colons"] and got["rejects"] == []


def test_special_entries_named_directly_or_by_glob_are_listed_not_refused(tmp_path):
    expected = faulty_entries(tmp_path / "in")
    (tmp_path / "in" / "a::b.jsonl").write_bytes(jsonl({"text": "t"}))
    for url in [*expected, str(tmp_path / "in" / "a::b.jsonl")]:
        assert expand_inputs([url]) == [(url, os.path.getsize(url) if url.endswith("a::b.jsonl") else 0)]
    assert {u for u, _ in expand_inputs([str(tmp_path / "in" / "*.jsonl")])} == {
        *expected,
        str(tmp_path / "in" / "a::b.jsonl"),
    }
    colons = str(tmp_path / "in" / "a::b.jsonl")
    assert expand_inputs([f"file://{colons}"]) == [(colons, os.path.getsize(colons))]


def test_a_folder_given_as_a_file_is_one_unreadable_file_reject(tmp_path):
    (tmp_path / "dir.jsonl").mkdir()
    got = collect(tmp_path / "dir.jsonl")
    assert got["docs"] == [] and reasons(got) == [(0, "unreadable_file")]


def write_fault_corpus(root) -> dict[tuple[str, int], str]:
    """Good files and one of every fault; returns the (source, line) -> reason every reject must have."""
    expect = {(url, 0): reason for url, reason in faulty_entries(root).items()}
    (root / "good.jsonl").write_bytes(
        jsonl(*({"id": f"g{i}", "text": f"good document number {i}"} for i in range(5)))
    )
    (root / "a::b.jsonl").write_bytes(jsonl({"id": "colons", "text": "read as a path"}))
    (root / "hostile.jsonl").write_bytes(
        jsonl(
            {"id": "h1", "text": "kept before the hostile lines"},
            b"[" * 100_000,
            b'{"id": ' + b"9" * 5000 + b', "text": "huge id kept"}',
            b'{"text": ' + b"9" * 5000 + b"}",
            b'{"text": "lone \\ud800 surrogate"}',
            {"id": "h6", "text": "kept after the hostile lines"},
        )
    )
    src = str(root / "hostile.jsonl")
    expect |= {(src, 2): "invalid_json", (src, 4): "non_string_text", (src, 5): "invalid_unicode"}
    first, second = two_frames()
    (root / "cut.jsonl.zst").write_bytes(first + second[: len(second) // 2])
    expect[(str(root / "cut.jsonl.zst"), None)] = "truncated_file"  # line: the first lost one, checked below
    (root / "notrailer.jsonl.gz").write_bytes(
        gzip.compress(jsonl({"text": "all there but the trailer"}))[:-8]
    )
    expect[(str(root / "notrailer.jsonl.gz"), 2)] = "truncated_file"
    pq.write_table(pa.table({"id": [[1], [2]], "text": ["l1", "l2"]}), root / "listid.parquet")
    expect |= {(str(root / "listid.parquet"), r): "invalid_id" for r in (1, 2)}
    pq.write_table(pa.table({"text": pa.array([b"b"], pa.binary())}), root / "bintext.parquet")
    expect[(str(root / "bintext.parquet"), 1)] = "non_string_text"
    pq.write_table(
        pa.table({"text": ["p1", "p2"], "blob": pa.array([b"\x00", b"\xff"], pa.binary())}),
        root / "blob.parquet",
    )
    return expect


def test_the_cli_runs_over_every_input_fault_with_each_one_a_reject_and_the_counts_reconciling(
    tmp_path, run_cli
):
    root = tmp_path / "in"
    expect = write_fault_corpus(root)
    out = tmp_path / "out"
    args = ["run", "--input", str(root), "--output", str(out), "--set", "near_dedup.enabled=false"]
    proc = run_cli(*args, "--set", "quality.enabled=false", timeout=400)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]
    rejects = pq.read_table(sorted((out / "rejects").glob("*.parquet"))).to_pylist()
    got = {(r["source"], r["line"]): r["reason"] for r in rejects if r["stage"] == "read"}
    cut = str(root / "cut.jsonl.zst")
    (cut_line,) = [line for source, line in got if source == cut]
    assert cut_line > 1000
    assert got == {(cut, cut_line) if key == (cut, None) else key: reason for key, reason in expect.items()}
    manifest = json.loads((out / "manifest.json").read_text())
    counts = manifest["counts"]
    rejected = sum(sum(by_reason.values()) for by_reason in counts["rejected"].values())
    assert counts["read"] == counts["kept"] + rejected
    # 5 good + 1 colons + 2 hostile kept + 1 huge id + the cut file's good lines + 2 blob rows
    read_stage = counts["stages"]["read"]
    assert read_stage["out"] == 5 + 1 + 3 + (cut_line - 1) + 1 + 2
    assert read_stage["rejected"] == len(expect)
