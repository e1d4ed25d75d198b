"""Headless Chromium opens the report: the funnel it shows equals the manifest, and nothing leaves the machine.

Chromium is driven over the DevTools protocol (websockets, already in the lock): the Network domain records every
request the page makes, the Runtime domain reads the rendered numbers, the Page domain takes a full-page
screenshot into tests/artifacts/report.png.
"""

from __future__ import annotations

import base64
import itertools
import json
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from etl.config import ValidationConfig
from etl.report import render_report
from etl.validation import validate_outputs
from tests.test_report_data import HOSTILE, make_run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.fixture(autouse=True)
def _chromium_installed():
    # `make test` installs Debian's chromium first; without it this is a failure, never a silent skip.
    assert CHROMIUM is not None, "no chromium on PATH: run `make browser` (apt-get install chromium)"


FUNNEL_JS = """JSON.stringify(Array.from(document.querySelectorAll('[data-stage][data-metric]')).map(
  e => [e.dataset.stage, e.dataset.metric, e.dataset.value, e.textContent]))"""


def requested_urls(events: list[dict]) -> list[str]:
    """The URLs a page asked the network for (an offline page asks only for itself)."""
    return [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]


class DevTools:
    """The few DevTools calls the test needs, on one page target (flattened session)."""

    def __init__(self, profile: Path):
        from websockets.sync.client import connect

        self.proc = subprocess.Popen(
            [
                CHROMIUM,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-default-apps",
                "--no-first-run",
                "--no-default-browser-check",
                # Any name lookup fails: a request that tried to leave would also fail loudly.
                "--host-resolver-rules=MAP * ~NOTFOUND",
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and len(port_file.read_text().splitlines()) >= 2):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.close()
                raise RuntimeError("chromium did not open its DevTools port within 30 s")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        self.ws = connect(f"ws://127.0.0.1:{port}{path}", max_size=None, open_timeout=20)
        self.ids = itertools.count(1)
        self.events: list[dict] = []
        self.session = None
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def call(self, method: str, **params) -> dict:
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params}
        if self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        while True:
            reply = json.loads(self.ws.recv(timeout=30))
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method: str, timeout: float = 30) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(json.loads(self.ws.recv(timeout=deadline - time.monotonic())))
        raise TimeoutError(method)

    def open_page(self, url: str) -> None:
        """Record network, page and console events; load `url` at 1280x900 and wait for its load event."""
        for domain in ("Network", "Page", "Log"):
            self.call(f"{domain}.enable")
        self.call(
            "Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False
        )
        self.call("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def close(self) -> None:
        if getattr(self, "ws", None):
            self.ws.close()
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


class _Links(HTMLParser):
    """Every attribute that could make a browser fetch something, and every CSS url()."""

    def __init__(self):
        super().__init__()
        self.refs: list[str] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("src", "href", "srcset", "action", "poster", "data", "xlink:href") and value:
                self.refs.append(value)


@pytest.fixture(scope="module")
def opened(tmp_path_factory):
    run = make_run(bad_shard=1)
    # real Great Expectations on the real suites; the planted bad shard makes it a warning under policy warn
    validation = validate_outputs(
        run["stats_by_shard"], run["manifest"], ValidationConfig(policy="warn"), None
    )
    page = render_report(run["manifest"], run["rejects"], run["stats"], validation)
    out = tmp_path_factory.mktemp("report")
    (out / "index.html").write_text(page, encoding="utf-8")
    browser = DevTools(out / "profile")
    try:
        url = (out / "index.html").as_uri()
        browser.open_page(url)
        funnel = json.loads(
            browser.call("Runtime.evaluate", expression=FUNNEL_JS, returnByValue=True)["result"]["value"]
        )
        text = browser.call("Runtime.evaluate", expression="document.body.textContent", returnByValue=True)[
            "result"
        ]
        height = browser.call("Page.getLayoutMetrics")["cssContentSize"]["height"]
        shot = browser.call(
            "Page.captureScreenshot",
            format="png",
            captureBeyondViewport=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1},
        )
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "report.png").write_bytes(base64.b64decode(shot["data"]))
        time.sleep(0.2)  # let late events (a stray request, a CSP report) arrive
        browser.call("Runtime.evaluate", expression="1")
        yield {
            "run": run,
            "page": page,
            "url": url,
            "funnel": funnel,
            "text": text["value"],
            "events": browser.events,
        }
    finally:
        browser.close()


def test_report_funnel_in_browser_equals_manifest(opened):
    stages = opened["run"]["manifest"]["counts"]["stages"]
    shown: dict[tuple[str, str], tuple[str, str]] = {}
    for stage, metric, value, text in opened["funnel"]:
        shown[(stage, metric)] = (value, text)
    for stage, counts in stages.items():
        for metric in ("in", "out", "rejected", "in_chars", "out_chars"):
            value, text = shown[(stage, metric)]
            assert int(value) == counts[metric], (stage, metric)
            assert int(text.replace(",", "")) == counts[metric], (stage, metric, text)
    tokens = sum(s["tokens"] for s in opened["run"]["manifest"]["shards"])
    assert int(shown[("tokenize", "out_tokens")][1].replace(",", "")) == tokens


def test_report_page_makes_no_network_request(opened):
    requests = requested_urls(opened["events"])
    assert requests == [opened["url"]]
    failed = [e for e in opened["events"] if e.get("method") == "Network.loadingFailed"]
    assert failed == []
    blocked = [
        e["params"]["entry"]["text"]
        for e in opened["events"]
        if e.get("method") == "Log.entryAdded" and e["params"]["entry"].get("level") in ("error", "warning")
    ]
    assert blocked == []
    links = _Links()
    links.feed(opened["page"])
    assert [r for r in links.refs if not r.startswith("#")] == []
    assert "url(" not in opened["page"]


def test_report_shows_status_escaped_text_and_screenshot(opened):
    text = opened["text"]
    assert "PASSED WITH WARNINGS" in text
    assert (
        "expect_column_min_to_be_between on num_chars in shards/part-00001.parquet: observed 0"
        in " ".join(text.split())
    )
    assert HOSTILE in text  # shown as text, not parsed as markup
    png = (ARTIFACTS / "report.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
