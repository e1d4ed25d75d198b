"""URL rules: a document whose URL's host is a blocklisted domain, or a subdomain of one, is rejected, naming
the listed domain; an allowlisted host or parent wins over any block. Lists are files of domains (the user's,
e.g. UT1's, and the small default in quality/data), local or fsspec URLs. No URL, or an unparsable one: kept.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from urllib.parse import urlsplit

import fsspec
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from transforms.params import StageParams
from transforms.rejects import rejects_from_docs, split_by_mask
from transforms.stage import BatchStage

DEFAULT_BLOCKLIST = Path(__file__).parent / "quality" / "data" / "url_blocklist_default.txt"
# A scheme without `//` (mailto:, javascript:, data:) names no host; `host:8080/...` is a host and a port.
_OPAQUE_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?![0-9])")


def load_domains(paths_or_urls: str | Iterable[str]) -> frozenset[str]:
    """Every domain in the files: one per line, `#` starts a comment, blank lines skipped; lowercased, a
    leading `*.` and trailing dots dropped (`www.` is kept: it lists that host and its subdomains only)."""
    paths = [paths_or_urls] if isinstance(paths_or_urls, str) else list(paths_or_urls)
    domains: set[str] = set()
    for path in paths:
        with fsspec.open(str(path), "rt", encoding="utf-8", compression="infer") as f:
            for line_number, line in enumerate(f, start=1):
                entry = line.split("#", 1)[0].strip()
                if not entry:
                    continue
                domain = _domain(entry.removeprefix("*.").lstrip("."))
                if not domain or any(c.isspace() or c in "/:@?" for c in domain):
                    raise ValueError(
                        f"{path}:{line_number}: expected one domain per line, got {line.strip()!r}"
                    )
                domains.add(domain)
    return frozenset(domains)


def _domain(name: str) -> str:
    """Lowercase, no trailing dot, internationalised names in their ASCII (punycode) form."""
    name = name.strip().lower().rstrip(".")
    try:
        return name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:  # not a valid IDN: compare it as written
        return name


def url_host(url: str | None) -> str | None:
    """The host of a URL (with or without a scheme), normalised like list entries; None when there is none."""
    if not url or not url.strip():
        return None
    url = url.strip()
    if "://" not in url and not url.startswith("//"):
        if _OPAQUE_SCHEME.match(url):
            return None
        url = "//" + url  # a bare domain or domain/path
    try:
        host = urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced IPv6 bracket
        return None
    return _domain(host) if host else None


def _suffixes(host: str) -> list[str]:
    """The host and each parent domain, most specific first; an IP address is only itself."""
    try:
        ipaddress.ip_address(host)
        return [host]
    except ValueError:
        labels = host.split(".")
        return [".".join(labels[i:]) for i in range(len(labels)) if labels[i]]


def listed_domain(
    url: str | None, blocklist: frozenset[str], allowlist: frozenset[str] = frozenset()
) -> str | None:
    """The blocklisted domain that the URL's host is or lies under (the most specific one), or None: also when
    the host or one of its parents is allowlisted, and when there is no URL or it cannot be parsed."""
    host = url_host(url)
    return _listed_host(host, blocklist, allowlist) if host else None


def _listed_host(host: str, blocklist: frozenset[str], allowlist: frozenset[str]) -> str | None:
    suffixes = _suffixes(host)
    if any(s in allowlist for s in suffixes):
        return None
    return next((s for s in suffixes if s in blocklist), None)


def listed_domains(
    urls: Sequence[str | None] | pa.Array | pa.ChunkedArray,
    blocklist: frozenset[str],
    allowlist: frozenset[str] = frozenset(),
) -> list[str | None]:
    """listed_domain for each URL of a batch; each distinct host is looked up once."""
    if isinstance(urls, pa.Array | pa.ChunkedArray):
        urls = urls.to_pylist()
    verdicts: dict[str, str | None] = {}
    out: list[str | None] = []
    for url in urls:
        host = url_host(url)
        if host is not None and host not in verdicts:
            verdicts[host] = _listed_host(host, blocklist, allowlist)
        out.append(verdicts[host] if host is not None else None)
    return out


def meta_urls(
    meta: Sequence[str | None] | pa.Array | pa.ChunkedArray, field: str = "url"
) -> list[str | None]:
    """The top-level `field` of each document's `meta` JSON (the input's other fields), or None where the
    field, the meta or its JSON is missing. Non-string values come back as their JSON text."""
    if not field or any(c in field for c in "'\\"):
        raise ValueError(f"url field {field!r}: must be a non-empty name without quotes or backslashes")
    if isinstance(meta, pa.Array | pa.ChunkedArray):
        if not pc.any(pc.match_substring(meta, f'"{field}"')).as_py():  # most corpora: no URL field at all
            return [None] * len(meta)
        column = pl.from_arrow(meta)
    else:
        column = pl.Series(list(meta))
    return column.cast(pl.String).str.json_path_match(f"$['{field}']").to_list()


class UrlFilterConfig(StageParams):
    """Domain rules on the URL in each record's metadata (datatrove's URLFilter, RedPajama-V2's UT1 signal)."""

    enabled: bool = True
    """Reject records whose URL's host is a blocklisted domain or a subdomain of one."""
    field: str = "url"
    """The input field (kept in `meta`) that holds the record's URL; records without it are never touched."""
    blocklist: list[str] = []
    """Files of domains to block, one per line (`#` comments), local or fsspec URLs: the user's own lists."""
    default_blocklist: bool = True
    """Also block the small illustrative list shipped with the project (transforms/quality/data)."""
    allowlist: list[str] = []
    """Files of domains that are never blocked: an allowlisted host or parent domain wins over any block."""


class UrlFilterStage(BatchStage):
    """The url_filter stage: `url_blocklist` rejects naming the listed domain; lists load once per worker."""

    name = "url_filter"

    def __init__(self, config: UrlFilterConfig):
        self.config = config
        self._lists: tuple[frozenset[str], frozenset[str]] | None = None

    def setup(self) -> None:
        if self._lists is None:
            files = [
                *self.config.blocklist,
                *([str(DEFAULT_BLOCKLIST)] if self.config.default_blocklist else []),
            ]
            self._lists = load_domains(files), load_domains(self.config.allowlist)

    def process(self, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, pa.RecordBatch]:
        self.setup()
        blocklist, allowlist = self._lists
        urls = meta_urls(batch.column("meta"), self.config.field) if batch.num_rows else []
        listed = listed_domains(urls, blocklist, allowlist)
        if not any(listed):  # the common case: no copy of the batch's text
            return batch, rejects_from_docs(batch.slice(0, 0), self.name, "url_blocklist")
        drop = pa.array([d is not None for d in listed], pa.bool_())
        kept, dropped = split_by_mask(batch, drop)
        details = [f"{u}: domain {d} is on the blocklist" for u, d in zip(urls, listed, strict=True) if d]
        return kept, rejects_from_docs(dropped, self.name, "url_blocklist", details)
