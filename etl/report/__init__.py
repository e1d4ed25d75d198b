"""The run report: one self-contained HTML page (inline CSS and SVG, nothing fetched) at ``OUT/report/index.html``.

``render_report`` is pure (data in, HTML out); ``write_report`` loads what it is not given from the output
directory and writes the page; ``serve_report`` serves it on localhost.
"""

from etl.report.files import (
    load_reject_files,
    load_rejects,
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
]
