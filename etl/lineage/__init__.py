"""Lineage: dataset versions compared (`corpus-etl diff`) and followed over time (`corpus-etl history`).

``load_run`` reads a committed run (folder or manifest, local or URL); ``diff_runs`` and ``history_rows`` are
pure over loaded runs; ``render_text`` and ``render_history`` turn their results into text and HTML.
"""

from etl.lineage.diff import diff_runs
from etl.lineage.diff_text import render_text
from etl.lineage.history import history_rows
from etl.lineage.history_page import render_history, write_history
from etl.lineage.versions import RunVersion, load_run

__all__ = [
    "RunVersion",
    "load_run",
    "diff_runs",
    "render_text",
    "history_rows",
    "render_history",
    "write_history",
]
