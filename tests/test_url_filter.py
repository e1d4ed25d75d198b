"""URL blocklists: listed domains and their subdomains are caught, the allowlist wins, records without a usable
URL are left alone, and list files parse as documented."""

from __future__ import annotations

import fsspec
import pyarrow as pa
import pytest

from transforms.url_filter import (
    DEFAULT_BLOCKLIST,
    listed_domain,
    listed_domains,
    load_domains,
    meta_urls,
    url_host,
)

BLOCK = frozenset({"bad.example", "www.tracked.example", "198.51.100.7", "xn--bcher-kva.example"})


def test_load_domains_skips_comments_and_blanks_and_normalises_entries(tmp_path):
    first = tmp_path / "block.txt"
    first.write_text(
        "# a comment line\n\nBad.Example\n*.wild.example\n.dotted.example\ntrailing.example.\n"
        "www.kept.example   # www. is kept\n  spaced.example  \n"
    )
    second = tmp_path / "more.txt"
    second.write_text("bücher.example\nbad.example\n")
    assert load_domains([first, second]) == {
        "bad.example",
        "wild.example",
        "dotted.example",
        "trailing.example",
        "www.kept.example",
        "spaced.example",
        "xn--bcher-kva.example",
    }
    assert load_domains(str(second)) == {"xn--bcher-kva.example", "bad.example"}


def test_load_domains_reads_fsspec_urls():
    with fsspec.open("memory://lists/allow.txt", "wt") as f:
        f.write("good.example\n")
    assert load_domains(["memory://lists/allow.txt"]) == {"good.example"}


def test_a_line_that_is_not_one_domain_is_an_error_naming_file_and_line(tmp_path):
    hosts = tmp_path / "hosts.txt"
    hosts.write_text("ok.example\n0.0.0.0 ads.example\n")
    with pytest.raises(ValueError, match=r"hosts\.txt:2: expected one domain per line"):
        load_domains([hosts])


def test_listed_domains_and_their_subdomains_are_caught():
    cases = {
        "https://bad.example/page": "bad.example",
        "http://shop.bad.example/x?y=1": "bad.example",
        "https://a.b.c.bad.example": "bad.example",
        "HTTPS://User:Pw@Shop.BAD.Example.:8443/path#frag": "bad.example",
        "bad.example/no/scheme": "bad.example",
        "//cdn.bad.example/lib.js": "bad.example",
        "http://www.tracked.example/": "www.tracked.example",
        "http://img.www.tracked.example/": "www.tracked.example",
        "http://198.51.100.7:8080/admin": "198.51.100.7",
        "https://bücher.example/kaufen": "xn--bcher-kva.example",
    }
    assert {url: listed_domain(url, BLOCK) for url in cases} == cases


def test_lookalike_hosts_are_not_caught():
    for url in [
        "https://notbad.example/",  # a suffix of the name, not a parent domain
        "https://bad.example.evil.test/",
        "https://tracked.example/",  # www.tracked.example is listed, not its parent
        "https://example/",
        "http://198.51.100.70/",
        "http://7.100.51.198/",
        "https://good.test/?next=https://bad.example/",  # a listed domain in the query string
    ]:
        assert listed_domain(url, BLOCK) is None, url


def test_allowlist_wins_for_the_host_and_below():
    allow = frozenset({"docs.bad.example", "bad.example"})
    assert listed_domain("https://bad.example/", BLOCK, allow) is None
    assert listed_domain("https://shop.bad.example/", BLOCK, allow) is None
    allow_sub = frozenset({"docs.bad.example"})
    assert listed_domain("https://docs.bad.example/a", BLOCK, allow_sub) is None
    assert listed_domain("https://v2.docs.bad.example/a", BLOCK, allow_sub) is None
    assert listed_domain("https://shop.bad.example/", BLOCK, allow_sub) == "bad.example"


def test_records_without_a_usable_url_are_untouched():
    for url in [
        None,
        "",
        "   ",
        "http://[::1",
        "mailto:someone@bad.example",
        "javascript:alert(1)",
        "http:///path",
    ]:
        assert listed_domain(url, BLOCK) is None, url
        assert url_host(url) is None, url


def test_batch_over_arrow_with_nulls_matches_one_by_one():
    urls = ["https://bad.example", None, "https://ok.test", "http://x.bad.example", "not a url at all", ""]
    expected = ["bad.example", None, None, "bad.example", None, None]
    assert listed_domains(urls, BLOCK) == expected
    assert listed_domains(pa.array(urls, pa.large_string()), BLOCK) == expected
    assert listed_domains(urls, BLOCK, frozenset({"x.bad.example"})) == [
        "bad.example",
        None,
        None,
        None,
        None,
        None,
    ]


def test_the_shipped_default_list_loads_and_says_it_is_only_an_example():
    header = DEFAULT_BLOCKLIST.read_text().splitlines()[0]
    assert header.startswith("#") and "illustrative" in header
    default = load_domains([DEFAULT_BLOCKLIST])
    assert 5 <= len(default) <= 50
    assert listed_domain("https://www.pornhub.com/view", default) == "pornhub.com"
    assert listed_domain("https://en.wikipedia.org/wiki/Blocklist", default) is None


def test_urls_come_from_the_meta_json_field_named_in_the_config():
    meta = [
        '{"url": "https://bad.example/x", "lang": "en"}',
        '{"lang": "en"}',
        None,
        "not json",
        '{"url": null}',
        '{"source url": "https://shop.bad.example"}',
    ]
    assert meta_urls(meta) == ["https://bad.example/x", None, None, None, None, None]
    assert meta_urls(pa.array(meta), "source url")[5] == "https://shop.bad.example"
    assert listed_domains(meta_urls(meta), BLOCK) == ["bad.example", None, None, None, None, None]
    with pytest.raises(ValueError, match="url field"):
        meta_urls(meta, "it's")
