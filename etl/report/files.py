"""Reading a finished run's output for the report, writing ``OUT/report/index.html``, serving it on localhost.

Every path goes through fsspec, so ``OUT`` may be local or ``s3://``. Reject texts are read only for the few
rows the report samples, never for the whole rejects set.
"""

from __future__ import annotations

import http.server
import json
from collections.abc import Callable, Sequence
from typing import Any

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.parquet as pq

from etl.report.figures import sample_rows
from etl.report.page import render_report
from etl.report.signals import read_signal_files, run_config
from etl.report.thresholds import SignalsView, signals_view

REPORT_PATH = "report/index.html"


def _dataset(out_dir: str, folder: str, manifest: dict | None = None) -> pads.Dataset | None:
    """The files of `folder` that the manifest lists (a reader trusts nothing else: during a commit the old
    version's files are still beside the new ones). Outputs from before the manifest listed them: a glob."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    listed = (manifest or {}).get(folder)
    if listed is not None:
        paths = [f"{root}/{entry['path']}" for entry in listed]
    else:
        paths = sorted(fs.glob(f"{root}/{folder}/*.parquet"))
    if not paths:
        return None
    return pads.dataset(paths, filesystem=fs, format="parquet")


def load_stats(out_dir: str, manifest: dict | None = None) -> pa.Table | None:
    """All shards' statistics (``OUT/stats/*.parquet``) as one table; columns missing in a file become null."""
    ds = _dataset(out_dir, "stats", manifest)
    if ds is None:
        return None
    return pa.concat_tables([f.to_table() for f in ds.get_fragments()], promote_options="default")


def load_rejects(out_dir: str, per_reason: int = 3, manifest: dict | None = None) -> pa.Table | None:
    """``OUT/rejects/*.parquet`` without texts, except for the rows the report shows as samples."""
    ds = _dataset(out_dir, "rejects", manifest)
    return None if ds is None else _with_sampled_texts(ds, per_reason)


def load_reject_files(urls: list[str], per_reason: int = 3, preview: int | None = None) -> pa.Table | None:
    """`load_rejects` for a run's own reject files (in staging, before the commit), each sampled text cut to
    `preview` characters when given."""
    if not urls:
        return None
    fs, _ = fsspec.core.url_to_fs(urls[0])
    paths = [fsspec.core.url_to_fs(url)[1] for url in urls]
    return _with_sampled_texts(pads.dataset(paths, filesystem=fs, format="parquet"), per_reason, preview)


def _with_sampled_texts(ds: pads.Dataset, per_reason: int, preview: int | None = None) -> pa.Table:
    """Every row but its text, which is read only for the sampled rows: the rejects of a big run are most
    of its text (1 GB of the driver's and 10 s at 4 GB of input, to show a few samples)."""
    columns = [c for c in ds.schema.names if c != "text"]
    table = ds.to_table(columns=columns)
    if "text" not in ds.schema.names or table.num_rows == 0:
        return table
    picked = sample_rows(table, per_reason)
    texts = ds.take(picked, columns=["text"]).column("text").combine_chunks()
    if preview is not None:
        texts = pc.utf8_slice_codeunits(texts, 0, preview)
    mask = pc.is_in(pa.array(range(table.num_rows)), picked)
    column = pc.replace_with_mask(
        pa.nulls(table.num_rows, pa.large_string()), mask, texts.cast(pa.large_string())
    )
    return table.append_column("text", column)


def _texts(fs, paths: list[str]) -> Callable[[list[str]], dict[str, str]]:
    """doc_id -> text, from the first of these Parquet files that holds the id with a text (ids are read
    first, the texts of the matching rows only)."""

    def find(ids: list[str]) -> dict[str, str]:
        # One file at a time on this thread, not a pyarrow dataset: a dataset over s3fs at the end of a run
        # left threads that aborted the process at exit (see load_reject_files).
        found: dict[str, str] = {}
        for path in paths:
            with fs.open(path, "rb") as fh:
                parquet = pq.ParquetFile(fh)
                if "text" not in parquet.schema_arrow.names:
                    continue
                ids_here = parquet.read(columns=["doc_id"], use_threads=False).column("doc_id")
                rows = pc.indices_nonzero(pc.is_in(ids_here, pa.array(ids)))
                if not len(rows):
                    continue
                hits = parquet.read(columns=["doc_id", "text"], use_threads=False).take(rows)
            for doc_id, text in zip(hits["doc_id"].to_pylist(), hits["text"].to_pylist(), strict=True):
                if text is not None:
                    found.setdefault(doc_id, text)
        return found

    return find


def load_signal_files(
    signal_urls: list[str], stats: pa.Table | None, config: dict, text_urls: Sequence[str] = ()
) -> SignalsView | None:
    """The report's signals section from a run's own files (in staging, before the commit): its signal files,
    its stats, its resolved config and the files to take sample texts from (rejects, shards)."""
    if not signal_urls:
        return None
    fs, _ = fsspec.core.url_to_fs(signal_urls[0])
    local = [fsspec.core.url_to_fs(url)[1] for url in signal_urls]
    tokens = pl.from_arrow(stats.select(["doc_id", "num_tokens"])) if stats is not None else None
    signals = read_signal_files(fs, local, tokens, run_config({"config": config}))
    return signals_view(signals, _texts(fs, [fsspec.core.url_to_fs(url)[1] for url in text_urls]))


def load_signals_view(out_dir: str, manifest: dict, stats: pa.Table | None = None) -> SignalsView | None:
    """The report's signals section from a committed run (None when its manifest lists no signals)."""
    if not manifest.get("signals"):
        return None
    base = out_dir.rstrip("/")

    def listed(kind: str) -> list[str]:
        return [f"{base}/{e['path']}" for e in manifest.get(kind) or []]

    if stats is None:
        stats = load_stats(out_dir, manifest)
    texts = listed("rejects") + listed("shards") + listed("quarantine")
    return load_signal_files(listed("signals"), stats, manifest.get("config") or {}, texts)


def write_report(
    out_dir: str,
    manifest: dict | None = None,
    rejects: pa.Table | None = None,
    stats: pa.Table | None = None,
    validation: dict | None = None,
) -> str:
    """Render the report of the run in ``out_dir`` and write ``OUT/report/index.html``; returns its path.

    Whatever is not passed is read from the output: ``manifest.json`` (and its ``validation``),
    ``rejects/*.parquet``, ``stats/*.parquet``.
    """
    fs, root = fsspec.core.url_to_fs(out_dir)
    root = root.rstrip("/")
    if manifest is None:
        with fs.open(f"{root}/manifest.json", "r") as f:
            manifest = json.load(f)
    if rejects is None:
        rejects = load_rejects(out_dir, manifest=manifest)
    if stats is None:
        stats = load_stats(out_dir, manifest)
    signals = load_signals_view(out_dir, manifest, stats)
    page = render_report(manifest, rejects, stats, validation or manifest.get("validation"), signals=signals)
    fs.makedirs(f"{root}/report", exist_ok=True)
    with fs.open(f"{root}/{REPORT_PATH}", "w", encoding="utf-8") as f:
        f.write(page)
    return f"{out_dir.rstrip('/')}/{REPORT_PATH}"


def report_server(out_dir: str, port: int = 0) -> http.server.ThreadingHTTPServer:
    """An HTTP server on 127.0.0.1 that answers ``/`` with the current ``OUT/report/index.html``."""
    fs, root = fsspec.core.url_to_fs(out_dir)
    page_path = f"{root.rstrip('/')}/{REPORT_PATH}"

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?")[0] not in ("/", "/index.html"):
                self.send_error(404, "only the report lives here: /")
                return
            with fs.open(page_path, "rb") as f:  # read per request: a rebuilt report shows on reload
                body = f.read()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    if not fs.exists(page_path):
        raise FileNotFoundError(f"{out_dir}: no {REPORT_PATH}; build it with `corpus-etl report {out_dir}`")
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)


def serve_report(out_dir: str, port: int = 0) -> None:
    """Serve the report on localhost until interrupted; prints the URL."""
    server = report_server(out_dir, port)
    print(f"report: http://127.0.0.1:{server.server_address[1]}/  (Ctrl-C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
