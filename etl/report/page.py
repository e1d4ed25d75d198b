"""The page itself: ``render_report`` turns a run's data into one self-contained HTML document."""

from __future__ import annotations

import pyarrow as pa

from etl import __version__
from etl.report.details import (
    config_section,
    duplicates_card,
    expectations_section,
    histograms_section,
    languages_card,
    samples_section,
    shards_section,
)
from etl.report.overview import alert, esc, funnel_section, header, kpis, rejects_section, toc
from etl.report.safety import safety_section
from etl.report.style import CSS
from etl.report.thresholds import SignalsView, signals_section


def render_report(
    manifest: dict,
    rejects: pa.Table | None,
    stats: pa.Table | None,
    validation: dict | None,
    *,
    title: str = "corpus-etl · run report",
    signals: SignalsView | None = None,
) -> str:
    """The complete HTML page. ``stats`` is the statistics of all shards concatenated; ``rejects`` may lack
    ``text`` (samples then say so); ``validation`` is ``etl.validation.validate_outputs``'s result;
    ``signals`` (``etl.report.files.load_signals_view``) adds the "Signals and thresholds" section."""
    if validation is None:
        validation = manifest.get("validation")
    n_shards = len((validation or {}).get("shards") or manifest.get("shards") or [])
    # The run's own time, not the rendering time: a rerun of the same data renders the same page.
    generated = str(manifest.get("created_at") or "")
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Belt and braces for "works offline": the page may not load anything from anywhere.
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        'img-src data:">'
        f"<title>{esc(title)}</title><style>{CSS}</style></head><body>"
        f"{header(manifest, validation, title)}{toc(signals is not None)}<main><div class='wrap'>"
        f"{alert(validation)}{kpis(manifest, validation)}"
        f"<section>{funnel_section(manifest)}</section>"
        f"<div class='grid2' style='margin-top:18px'>{rejects_section(manifest)}"
        f"<div>{languages_card(stats, manifest, rejects)}<div style='height:18px'></div>{duplicates_card(rejects)}</div></div>"
        f"{safety_section(stats, rejects, manifest)}{histograms_section(stats, rejects, manifest)}"
        f"{signals_section(signals)}"
        f"{expectations_section(validation, n_shards)}{shards_section(manifest, validation)}"
        f"{samples_section(rejects, manifest)}{config_section(manifest)}"
        f"</div></main><footer>corpus-etl {__version__} · generated {generated} · "
        "self-contained page: no scripts, fonts or images are fetched</footer></body></html>"
    )
