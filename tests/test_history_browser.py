"""`corpus-etl history` on real committed runs, opened in headless Chromium: a row per version with the
manifests' figures, the trend charts drawn with the same numbers, links that reach each run's report, and not
one request leaving the page. A full-page screenshot goes to tests/artifacts/history.png."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from etl.lineage import history_rows, render_history
from etl.lineage.versions import RunVersion
from tests.lineage_runs import build_lineage_runs
from tests.test_report_browser import ARTIFACTS, CHROMIUM, DevTools, requested_urls

ROWS_JS = """JSON.stringify(Array.from(document.querySelectorAll('#versions tr[data-version]')).map(tr => {
  const row = {version: tr.dataset.version};
  tr.querySelectorAll('[data-field]').forEach(td => { row[td.dataset.field] = td.dataset.value; });
  const a = tr.querySelector('a[data-report-link]');
  row.href = a ? a.href : null; row.label = tr.querySelector('.vlabel').textContent;
  return row; }))"""
POINTS_JS = """JSON.stringify(Array.from(document.querySelectorAll('svg[data-chart]')).map(svg => [svg.dataset.chart,
  Array.from(svg.querySelectorAll('circle[data-series]')).map(c => [c.dataset.series, +c.dataset.version,
  +c.dataset.value, c.getBoundingClientRect().width > 0])]))"""


def _manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def opened(tmp_path_factory, run_cli_module):
    assert CHROMIUM is not None, "no chromium on PATH: run `make browser` (apt-get install chromium)"
    runs = build_lineage_runs(tmp_path_factory.getbasetemp() / "lineage")
    page_dir = tmp_path_factory.mktemp("history")
    # Given out of order: the page puts versions oldest first.
    proc = run_cli_module("history", str(runs["c"]), str(runs["a"]), f"{runs['b']}/manifest.json",
                          "--output", str(page_dir))  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == f"history: {page_dir}/index.html"
    browser = DevTools(page_dir / "profile")
    try:
        url = (page_dir / "index.html").as_uri()
        browser.open_page(url)

        def evaluate(js: str):
            return browser.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"]

        rows, points = json.loads(evaluate(ROWS_JS)), dict(json.loads(evaluate(POINTS_JS)))
        height = browser.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
        shot = browser.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                            clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1})  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "history.png").write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # let late events (a stray request, a CSP report) arrive
        evaluate("1")
        yield {"runs": runs, "url": url, "rows": rows, "points": points, "events": browser.events}
    finally:
        browser.close()


@pytest.fixture(scope="module")
def run_cli_module():
    import subprocess

    from tests.conftest import REPO, checkout_env, cli_command

    def run(*args: str):
        return subprocess.run(cli_command(*args), env=checkout_env(), cwd=REPO, capture_output=True, text=True,
                              timeout=300)  # fmt: skip

    return run


def test_history_has_a_row_per_version_oldest_first_with_the_manifests_figures(opened):
    runs = opened["runs"]
    ordered = [runs[k] for k in "abc"]
    assert [r["version"] for r in opened["rows"]] == ["0", "1", "2"]
    for row, out in zip(opened["rows"], ordered, strict=True):
        m = _manifest(out)
        assert row["label"].startswith(out.name)
        assert int(row["read"]) == m["counts"]["read"]
        assert int(row["kept"]) == m["counts"]["kept"]
        assert int(row["tokens"]) == sum(s["tokens"] for s in m["shards"])
        assert float(row["removed_rate"]) == pytest.approx(1 - m["counts"]["kept"] / m["counts"]["read"])
        assert row["validation"] == m["validation"]["status"]
        assert int(row["inputs"]) == len(m["inputs"])
    changed = [row["config_changes"] for row in opened["rows"]]
    assert changed == ["", "near_dedup.enabled,quality.languages", ""]  # C reruns B
    assert int(opened["rows"][0]["earlier"]) == 0


def test_history_links_each_version_to_its_report(opened):
    for row, key in zip(opened["rows"], "abc", strict=True):
        target = Path(unquote(urlparse(row["href"]).path))
        assert target == opened["runs"][key] / "report" / "index.html"
        assert target.is_file()


def test_history_charts_draw_the_manifests_numbers(opened):
    points, runs = opened["points"], opened["runs"]
    assert set(points) == {"documents", "tokens", "removal", "earlier", "languages", "expectations"}
    manifests = [_manifest(runs[k]) for k in "abc"]

    def series(chart: str, name: str) -> list[float]:
        found = sorted((v, value) for s, v, value, _ in points[chart] if s == name)
        return [value for _, value in found]

    assert series("documents", "kept") == [m["counts"]["kept"] for m in manifests]
    assert series("documents", "read") == [m["counts"]["read"] for m in manifests]
    assert series("tokens", "tokens") == [sum(s["tokens"] for s in m["shards"]) for m in manifests]
    near = [
        m["counts"]["stages"].get("near_dedup", {}).get("rejected", 0) / m["counts"]["read"]
        for m in manifests
    ]
    assert series("removal", "near_dedup") == pytest.approx(near)
    assert series("earlier", "exact") == series("earlier", "near") == [0, 0, 0]
    german = series("languages", "de")
    assert german[0] == 0 and german[1] == german[2] > 0  # German allowed from version B on
    assert all(visible for chart in points.values() for *_, visible in chart)


def test_history_page_makes_no_network_request(opened):
    requests = requested_urls(opened["events"])
    assert requests == [opened["url"]]
    assert [e for e in opened["events"] if e.get("method") == "Network.loadingFailed"] == []


def _version(name: str, created: str, counts: dict, parents: list | None = None, sha: str = "") -> RunVersion:
    manifest = {"created_at": created, "config": {"near_dedup": {"threshold": 0.8}}, "counts": counts,
                "shards": [{"tokens": 10 * counts["kept"]}], "parents": parents or []}  # fmt: skip
    return RunVersion(name, f"/runs/{name}", manifest, sha, languages={"en": counts["kept"]})


def test_history_rows_carry_duplicates_of_earlier_runs_and_parents():
    """The reasons of `--against` become duplicate rates, and a parent on the page is named."""
    day1 = _version("day1", "2026-01-01T00:00:00+00:00", {"read": 100, "kept": 90, "rejected": {}}, sha="s1")
    day2 = _version("day2", "2026-01-02T00:00:00+00:00", {
        "read": 200, "kept": 150, "rejected": {
            "exact_dedup": {"exact_duplicate": 10, "exact_duplicate_of_earlier": 20},
            "near_dedup": {"near_duplicate_of_earlier": 20}}},
        parents=[{"url": "s3://b/day1", "sha256": "s1", "config_hash": "h"}])  # fmt: skip
    rows = history_rows([day2, day1])
    assert [r["label"] for r in rows] == ["day1", "day2"]
    assert rows[1]["earlier"] == {"exact": 20, "near": 20}
    assert rows[1]["earlier_rates"] == {"exact": 0.1, "near": 0.1}
    assert rows[1]["parents_shown"] == ["day1"] and rows[0]["parents_shown"] == []
    assert rows[1]["stage_rates"] == {}  # no per-stage counts in these manifests: nothing invented
    page = render_history(rows)
    assert 'data-series="exact" data-version="1" data-value="0.1"' in page
    assert '<td data-field="parents">day1</td>' in page
