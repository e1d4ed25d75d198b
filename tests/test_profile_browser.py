"""The report's "Signals and thresholds" section of a real annotate run, opened in headless Chromium: a chart
per rule with both curves drawn, the configured threshold marked at the share `corpus-etl profile` computes,
documents near each threshold with their text, and not one request leaving the page. A screenshot of the
section goes to tests/artifacts/signals.png."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.conftest import SAMPLE
from tests.test_profile import _cli
from tests.test_report_browser import ARTIFACTS, CHROMIUM, DevTools, requested_urls

CHARTS_JS = """JSON.stringify(Array.from(document.querySelectorAll('#signals svg[data-rule]')).map(svg => ({
  rule: svg.dataset.rule, op: svg.dataset.op,
  lines: Array.from(svg.querySelectorAll('polyline[data-line]')).map(l => [l.dataset.line,
    +l.dataset.points, l.getBoundingClientRect().width]),
  marker: !!svg.querySelector('line[data-marker="configured"]'),
  configured: Object.fromEntries(Array.from(svg.querySelectorAll('circle[data-configured]')).map(c =>
    [c.dataset.configured, +c.dataset.value]))})))"""
SAMPLES_JS = """JSON.stringify(Array.from(document.querySelectorAll('#signals .sample')).map(s => [s.dataset.sample,
  s.dataset.side, (s.querySelector('pre') || {}).textContent || null]))"""


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    assert CHROMIUM is not None, "no chromium on PATH: run `make browser` (apt-get install chromium)"
    out = tmp_path_factory.mktemp("signals") / "run"
    proc = _cli("run", "--input", str(SAMPLE), "--output", str(out), "--set", "quality.mode=annotate",
                "--set", "near_dedup.enabled=false", "--set", "output.keep_text=true", "-q")  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    rebuilt = _cli("report", str(out))  # the report of a committed run, rebuilt from its files
    assert rebuilt.returncode == 0, rebuilt.stderr[-3000:]
    profile = _cli("profile", str(out), "--json")
    assert profile.returncode == 0, profile.stderr[-3000:]
    browser = DevTools(out / "profile")
    try:
        url = (out / "report" / "index.html").as_uri()
        browser.open_page(url)

        def evaluate(js: str):
            return browser.call("Runtime.evaluate", expression=js, returnByValue=True)["result"]["value"]

        evaluate("document.querySelectorAll('#signals details').forEach(d => d.open = true); true")
        charts, samples = json.loads(evaluate(CHARTS_JS)), json.loads(evaluate(SAMPLES_JS))
        box = json.loads(
            evaluate("JSON.stringify(document.querySelector('#signals').getBoundingClientRect())")
        )
        toc = evaluate("!!document.querySelector('nav.toc a[href=\"#signals\"]')")
        shot = browser.call(
            "Page.captureScreenshot", format="png", captureBeyondViewport=True,
            clip={"x": 0, "y": box["y"], "width": 1280, "height": min(box["height"], 2400), "scale": 1},
        )  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "signals.png").write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # late events (a stray request) arrive
        browser.call("Runtime.evaluate", expression="1")
        yield {
            "out": out,
            "url": url,
            "charts": charts,
            "samples": samples,
            "toc": toc,
            "curves": json.loads(profile.stdout),
            "events": browser.events,
        }
    finally:
        browser.close()


def test_every_rule_with_a_threshold_to_move_has_both_curves_and_the_configured_marker(opened):
    rules = [r for r in opened["curves"]["rules"] if len(r["curve"]) > 1]
    assert len(rules) >= 20
    charts = opened["charts"]
    assert [(c["rule"], c["op"]) for c in charts] == [(r["reason"], r["op"]) for r in rules]
    for chart, rule in zip(charts, rules, strict=True):
        lines = {name: (points, width) for name, points, width in chart["lines"]}
        assert set(lines) == {"docs", "tokens"}, chart
        assert all(points == len(rule["curve"]) and width > 0 for points, width in lines.values()), chart
        assert chart["marker"], chart
        assert chart["configured"]["docs"] == pytest.approx(rule["docs_kept"]), chart
        assert chart["configured"]["tokens"] == pytest.approx(rule["tokens_kept"]), chart
    assert opened["toc"]


def test_documents_near_each_threshold_show_the_start_of_their_text(opened):
    out: Path = opened["out"]
    manifest = json.loads((out / "manifest.json").read_text())
    texts = {}
    for entry in manifest["shards"]:
        table = pq.read_table(out / entry["path"], columns=["doc_id", "text"])
        texts.update(zip(table["doc_id"].to_pylist(), table["text"].to_pylist(), strict=True))
    samples = opened["samples"]
    assert len(samples) >= 2 * len(opened["charts"])  # at least two per chart in this corpus
    for doc_id, side, shown in samples:
        assert side in ("kept", "rejected")
        text = texts[doc_id]  # annotate mode keeps every document, and output.keep_text keeps its text
        assert shown == (text if len(text) <= 200 else text[:200] + "…")


def test_signals_section_makes_no_network_request(opened):
    requests = requested_urls(opened["events"])
    assert requests == [opened["url"]]
    errors = [
        e["params"]["entry"]["text"]
        for e in opened["events"]
        if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning")
    ]
    assert errors == []
    png = (ARTIFACTS / "signals.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000
