"""What the service prints besides its results: the logging set-up (plain lines, or one JSON object per line
with --json-logs for log shippers), the live progress bar of a terminal (live_bar.py) and the one-line errors
of the CLI with their exit codes (errors.py).

Our logger `corpus_etl` and the libraries' loggers get separate levels, so that a run's own progress shows
while Beam's and Great Expectations' routine chatter does not. Libraries' known noise (and every Python warning
raised outside our code) is dropped at any level. While the bar is drawn, log lines print above it.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

from etl.logs.live_bar import LiveBar, install_live_bar, live_bar, stop_live_bar

__all__ = ["JsonFormatter", "LiveBar", "configure_logging", "live_bar", "stop_live_bar"]

OUR_LOGGER = "corpus_etl"
# Our own code: a warning raised from a file under these folders is ours and shows; any other is a library's.
_OUR_CODE = tuple(str(Path(__file__).resolve().parents[2] / d) + os.sep for d in ("etl", "transforms"))
# (logger, start of the message) that say nothing a user can act on, at any level: Beam without its GCP
# extras (also dropped at import, etl/__init__.py); GE's ephemeral docs folder (GE sets that logger to INFO).
_NOISE = (
    ("root", "apitools not found"),
    ("great_expectations.data_context.types.base", "Created temporary directory"),
)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        payload.update(getattr(record, "fields", {}))
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)


class _Quiet(logging.Filter):
    """Drops the libraries' known noise, Python warnings raised outside our code, and, unless `tracebacks`,
    Beam's log of an exception it is about to re-raise (the CLI reports that error in one line)."""

    def __init__(self, tracebacks: bool):
        super().__init__()
        self.tracebacks = tracebacks

    def filter(self, record: logging.LogRecord) -> bool:
        msg = str(record.msg)
        if any(record.name == name and msg.startswith(start) for name, start in _NOISE):
            return False
        if record.name == "py.warnings":  # "path:line: Category: message": ours only
            return str(record.args[0] if record.args else msg).startswith(_OUR_CODE)
        return self.tracebacks or not (record.exc_info and record.name.startswith("apache_beam"))


class _StderrHandler(logging.StreamHandler):
    """Writes to sys.stderr as it is at each line: a live bar redirects it to print above itself."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value) -> None:  # StreamHandler.__init__ sets it; the property always wins
        pass


def configure_logging(
    level: str = "INFO",
    json_logs: bool = False,
    libraries: str = "WARNING",
    bar: bool = False,
    tracebacks: bool = False,
) -> None:
    """Our logger at `level`, every other logger at `libraries`; `bar`: draw `LiveBar` when stderr is a
    terminal (and lines are not JSON); `tracebacks`: keep the libraries' logged tracebacks (-v)."""
    handler = _StderrHandler()
    handler.setFormatter(
        JsonFormatter() if json_logs else logging.Formatter("%(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(_Quiet(tracebacks))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(libraries.upper())
    logging.getLogger(OUR_LOGGER).setLevel(level.upper())
    logging.captureWarnings(True)  # warnings become py.warnings records, which _Quiet sorts
    install_live_bar(bar and not json_logs and sys.stderr.isatty())
