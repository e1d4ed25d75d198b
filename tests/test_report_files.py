"""The report from a run's output directory: reading it back, writing OUT/report/index.html, serving it."""

from __future__ import annotations

import json
import threading
import urllib.request
from html import escape

import pyarrow.parquet as pq

from etl.report import load_reject_files, load_rejects, render_report, report_server, write_report
from etl.report.figures import reject_samples
from tests.test_report_data import HOSTILE, make_run


def _write_out(tmp_path, run) -> None:
    (tmp_path / "stats").mkdir()
    for path, table in run["stats_by_shard"].items():
        pq.write_table(table, tmp_path / "stats" / path.split("/")[-1])
    (tmp_path / "rejects").mkdir()
    half = run["rejects"].num_rows // 2
    pq.write_table(run["rejects"].slice(0, half), tmp_path / "rejects" / "part-00000.parquet")
    pq.write_table(run["rejects"].slice(half), tmp_path / "rejects" / "part-00001.parquet")
    manifest = {
        **run["manifest"],
        "validation": {"success": True, "status": "pass", "policy": "fail", "suites": {}},
    }
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))


def test_write_report_reads_the_output_and_reject_texts_only_for_samples(tmp_path):
    run = make_run()
    _write_out(tmp_path, run)
    rejects = load_rejects(str(tmp_path))
    assert rejects.num_rows == run["rejects"].num_rows
    texts = [t for t in rejects.column("text").to_pylist() if t is not None]
    assert 0 < len(texts) <= 3 * 10  # three samples per (stage, reason), nothing more
    path = write_report(str(tmp_path))
    page = (tmp_path / "report" / "index.html").read_text()
    assert path.endswith("report/index.html")
    assert escape(HOSTILE) in page and HOSTILE not in page
    assert 'data-stage="quality" data-metric="out" data-value="1393"' in page
    assert 'data-status="pass"' in page


def test_a_runs_reject_files_give_the_samples_of_all_texts_cut_to_a_preview(tmp_path):
    run = make_run()
    _write_out(tmp_path, run)
    urls = sorted(str(p) for p in (tmp_path / "rejects").iterdir())
    loaded = load_reject_files(urls, preview=7)
    everything = run["rejects"]  # the same rows, every text whole
    assert loaded.num_rows == everything.num_rows
    assert loaded.column("doc_id").to_pylist() == everything.column("doc_id").to_pylist()
    expected = {
        key: [(r["doc_id"], r["text"][:7]) for r in rows] for key, rows in reject_samples(everything).items()
    }
    got = {key: [(r["doc_id"], r["text"]) for r in rows] for key, rows in reject_samples(loaded).items()}
    assert got == expected and got
    assert sum(t is not None for t in loaded.column("text").to_pylist()) == sum(map(len, got.values()))
    assert load_reject_files([]) is None


def test_report_server_serves_the_page_on_localhost(tmp_path):
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / "index.html").write_text("<!DOCTYPE html><p>report</p>")
    server = report_server(str(tmp_path))
    host, port = server.server_address[:2]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        assert host == "127.0.0.1"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=10) as reply:
            assert reply.read() == b"<!DOCTYPE html><p>report</p>"
    finally:
        server.shutdown()
        server.server_close()


def test_render_report_tolerates_a_bare_manifest_with_byte_counts():
    stage = {"in": 3, "out": 3, "rejected": 0, "in_bytes": 30, "out_bytes": 30, "reasons": {}}
    manifest = {
        "counts": {"read": 3, "kept": 3, "rejected": {}, "stages": {"read": stage}},
        "config": {"x": "<b>"},
    }
    page = render_report(manifest, None, None, None)
    assert page.startswith("<!DOCTYPE html>") and "NOT VALIDATED" in page and "&lt;b&gt;" in page
    assert 'data-stage="read" data-metric="out_bytes" data-value="30"' in page  # text measured in bytes
