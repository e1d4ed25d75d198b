"""The run report: one self-contained HTML page (inline CSS and SVG, nothing fetched) at ``OUT/report/index.html``.

``render_report`` is pure (data in, HTML out); ``write_report`` loads what it is not given from the output
directory and writes the page; ``serve_report`` serves it on localhost. A run with quality signals gets a
"Signals and thresholds" section (``load_signals_view``, or ``load_signal_files`` for a run's staged files).
"""

from etl.report.files import (
    load_reject_files,
    load_rejects,
    load_signal_files,
    load_signals_view,
    load_stats,
    report_server,
    serve_report,
    write_report,
)
from etl.report.page import render_report

__all__ = [
    "render_report",
    "write_report",
    "serve_report",
    "report_server",
    "load_rejects",
    "load_reject_files",
    "load_stats",
    "load_signal_files",
    "load_signals_view",
]
