"""PII in documents: e-mail and public IPv4 redaction (redact_pii), and typed detectors for phone numbers,
payment cards, IBANs, US SSNs and secrets (PII_TYPES, pii_counts, redact), each counted per document.

Private, loopback, link-local, shared (CGNAT), "this network" (0/8) and multicast/reserved addresses are left
alone: they identify nobody. Version strings that look like addresses (1.2.3.4) are
redacted too; that is the usual price of a regex, and the counts make it visible. The typed detectors put
precision first: each match is validated (Luhn, mod 97, issuing rules, layout) before it counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import regex

from transforms.quality.params import PiiParams

EMAIL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*@(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?\.)+[A-Za-z]{2,}"
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"


def _alternatives(values) -> str:
    return "|".join(str(v) for v in sorted(values, reverse=True))


def _public_ipv4() -> str:
    """IPv4 addresses outside 0/8, 10/8, 100.64/10, 127/8, 169.254/16, 172.16/12, 192.168/16, 224/3."""
    plain_first = set(range(1, 224)) - {10, 100, 127, 169, 172, 192}
    heads = [
        rf"(?:{_alternatives(plain_first)})\.{_OCTET}",
        rf"100\.(?:{_alternatives(set(range(256)) - set(range(64, 128)))})",
        rf"169\.(?:{_alternatives(set(range(256)) - {254})})",
        rf"172\.(?:{_alternatives(set(range(256)) - set(range(16, 32)))})",
        rf"192\.(?:{_alternatives(set(range(256)) - {168})})",
    ]
    return rf"\b(?:{'|'.join(heads)})\.{_OCTET}\.{_OCTET}\b"


PUBLIC_IPV4 = _public_ipv4()


def redact_pii(text: pl.Series, params: PiiParams) -> tuple[pl.Series, pl.DataFrame]:
    """(redacted text, counts q_pii_emails and q_pii_ips per document)."""
    counts = {}
    for name, enabled, pattern, replacement in (
        ("q_pii_emails", params.emails, EMAIL, params.email_replacement),
        ("q_pii_ips", params.ip_addresses, PUBLIC_IPV4, params.ip_replacement),
    ):
        found = (
            text.str.count_matches(pattern).to_numpy().astype(np.int64)
            if enabled
            else np.zeros(len(text), np.int64)
        )
        if found.any():
            text = text.str.replace_all(pattern, replacement.replace("$", "$$"))
        counts[name] = found
    return text, pl.DataFrame(counts)


# ---------------------------------------------------------------- typed detectors (phones, cards, ...)
# Each type: `regex` patterns for candidates, a check that validates each match (checksum, layout, context)
# and names the span to redact, and a polars (Rust) prefilter that every match contains. The `regex` module
# scans at hundreds of MB/s only while a pattern is a lookbehind then a literal or a class (no alternation or
# optional group in front: those fall to 3-10 MB/s), hence several simple patterns per type; and it pays
# ~1 us per attempt on digit-dense text, hence the prefilter, so that only documents holding the shape of a
# match reach it. Precision first: a near-miss stays untouched.


Texts = Sequence[str | None] | pa.Array | pa.ChunkedArray | pl.Series


@dataclass(frozen=True)
class PiiType:
    name: str  # the count column is q_pii_<name>
    placeholder: str
    patterns: tuple[regex.Pattern, ...]
    prefilter: str
    check: Callable[[regex.Match], tuple[int, int] | None]

    def spans(self, text: str) -> list[tuple[int, int]]:
        """(start, end) of each validated match in `text`; of overlapping ones, the first and longest."""
        found = [span for p in self.patterns for m in p.finditer(text) if (span := self.check(m)) is not None]
        kept, end = [], -1
        for start, stop in sorted(found, key=lambda span: (span[0], -span[1])):
            if start >= end:
                kept.append((start, stop))
                end = stop
        return kept

    def count(self, texts: Texts) -> np.ndarray:
        """Matches per document."""
        return pii_counts(texts, [self.name])[self.name]

    def redact(self, texts: Texts) -> tuple[list[str | None], np.ndarray]:
        """(texts with each match replaced by the placeholder, matches per document)."""
        new, counts = redact(texts, [self.name])
        return new, counts[self.name]


# Not glued to a word, a number, a path or a sign on the left; no further digit group on the right.
_LEFT = r"(?<![\w+/.,-])"
_RIGHT = r"(?![\w]|[.,/-]?[0-9])"
_DIGITS = regex.compile(r"[0-9]+")


def _compiled(*patterns: str) -> tuple[regex.Pattern, ...]:
    return tuple(regex.compile(p) for p in patterns)


_PHONES = _compiled(
    # +CC then groups, each after one separator or a parenthesised area code / trunk prefix: +49 (0)30 1234567
    _LEFT + r"\+[1-9][0-9]{0,3}+(?:(?:[ .-]|[ .-]?\([0-9]{1,4}+\)[ .-]?)[0-9]{1,8}+){1,6}" + _RIGHT,
    _LEFT + r"\+[1-9][0-9]{9,14}" + _RIGHT,  # +14155550132
    # North American layouts: (415) 555-0132, 415-555-0132, 415.555.0132, 1-800-555-0199
    _LEFT + r"\([2-9][0-9]{2}\) ?[2-9][0-9]{2}[-.][0-9]{4}" + _RIGHT,
    _LEFT + r"[2-9][0-9]{2}(?P<sep>[-.])[2-9][0-9]{2}(?P=sep)[0-9]{4}" + _RIGHT,
    _LEFT + r"1[ .-]\([2-9][0-9]{2}\) ?[2-9][0-9]{2}[-.][0-9]{4}" + _RIGHT,
    _LEFT + r"1(?P<sep>[-.])[2-9][0-9]{2}(?P=sep)[2-9][0-9]{2}(?P=sep)[0-9]{4}" + _RIGHT,
)
# The shapes above without their boundaries: +CC and 9 more phone characters, or a North American layout.
_PHONE_PREFILTER = r"\+[1-9][0-9 ().-]{9}|[2-9][0-9]{2}(?:\) ?|[-.])[2-9][0-9]{2}[-.][0-9]{4}"


def _check_phone(m: regex.Match) -> tuple[int, int] | None:
    if not m.group().startswith("+"):
        return m.span()  # North American: the layout is the check
    text = m.group().replace("(0)", "", 1)  # a trunk prefix is not dialled from abroad
    groups = _DIGITS.findall(text)
    digits = sum(map(len, groups))
    # E.164 allows 15 digits; fewer than 10 is a score or a sum. One single-digit group at most (+33 1 ...).
    if 10 <= digits <= 15 and sum(len(g) == 1 for g in groups) <= 1:
        return m.span()
    return None


_CARDS = _compiled(
    _LEFT + r"[0-9]{13,19}" + _RIGHT,
    _LEFT + r"[0-9]{4}(?P<sep>[ -])[0-9]{3,6}+(?:(?P=sep)[0-9]{3,6}+){1,3}" + _RIGHT,
)
# Issuer ranges (IIN) as (prefix digits, low, high, lengths): Visa; Mastercard; Amex; Discover; JCB; Diners
# Club; UnionPay.
_CARD_BRANDS = (
    (1, 4, 4, (13, 16, 19)),
    (2, 51, 55, (16,)),
    (4, 2221, 2720, (16,)),
    (2, 34, 34, (15,)),
    (2, 37, 37, (15,)),
    (4, 6011, 6011, (16, 17, 18, 19)),
    (3, 644, 649, (16, 17, 18, 19)),
    (2, 65, 65, (16, 17, 18, 19)),
    (4, 3528, 3589, (16, 17, 18, 19)),
    (3, 300, 305, (14, 15, 16, 17, 18, 19)),
    (2, 36, 36, (14, 15, 16, 17, 18, 19)),
    (2, 38, 39, (14, 15, 16, 17, 18, 19)),
    (2, 62, 62, (16, 17, 18, 19)),
)


def _luhn(digits: str) -> bool:
    total = 0
    for i, d in enumerate(reversed(digits)):
        v = int(d) * (2 if i % 2 else 1)
        total += v - 9 if v > 9 else v
    return total % 10 == 0


def _is_card(digits: str) -> bool:
    brand = any(lo <= int(digits[:k]) <= hi and len(digits) in sizes for k, lo, hi, sizes in _CARD_BRANDS)
    return brand and _luhn(digits)


def _check_card(m: regex.Match) -> tuple[int, int] | None:
    # A grouped number may run on into a following number (a card then an expiry year): try the longest
    # run of groups that is a card.
    groups = list(_DIGITS.finditer(m.group()))
    for k in range(len(groups), 0, -1):
        if _is_card("".join(g.group() for g in groups[:k])):
            return m.start(), m.start() + groups[k - 1].end()
    return None


# IBAN length per country (ISO 13616 registry), for the countries most often seen.
_IBAN_LENGTHS = dict(
    AD=24, AE=23, AL=28, AT=20, AZ=28, BA=20, BE=16, BG=22, BH=22, BR=29, CH=21, CR=22, CY=28, CZ=24, DE=22,
    DK=18, DO=28, EE=20, EG=29, ES=24, FI=18, FO=18, FR=27, GB=22, GE=22, GI=23, GL=18, GR=27, GT=28, HR=21,
    HU=28, IE=22, IL=23, IS=26, IT=27, JO=30, KW=30, KZ=20, LB=28, LI=21, LT=20, LU=20, LV=21, MC=27, MD=24,
    ME=22, MK=19, MR=27, MT=31, MU=30, NL=18, NO=15, PK=24, PL=28, PS=29, PT=25, QA=29, RO=24, RS=22, SA=24,
    SE=24, SI=19, SK=24, SM=27, TN=24, TR=26, UA=29, VG=24, XK=20,
)  # fmt: skip
_IBANS = _compiled(r"(?<![\w-])[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?![\w-])")


def _check_iban(m: regex.Match) -> tuple[int, int] | None:
    text = m.group()
    length = _IBAN_LENGTHS.get(text[:2])
    if length is None:
        return None
    # The first `length` characters, which must end where a group does (a trailing word is not part of it).
    seen, end = 0, 0
    while end < len(text) and seen < length:
        seen += text[end] != " "
        end += 1
    if seen < length or (end < len(text) and text[end] != " "):
        return None
    compact = text[:end].replace(" ", "")
    number = "".join(str(int(c, 36)) for c in compact[4:] + compact[:4])
    return (m.start(), m.start() + end) if int(number) % 97 == 1 else None


# AAA-GG-SSSS with dashes; never issued: area 000, 666, 900-999; group 00; serial 0000.
_SSNS = _compiled(r"(?<![\w-])(?!000|666|9)[0-9]{3}-(?!00)[0-9]{2}-(?!0000)[0-9]{4}(?![\w]|-[0-9])")

_SECRET_NAME = r"(?:api[_-]?key|apikey|secret|token|passw(?:or)?d|access[_-]?key|private[_-]?key)"
_SECRETS = _compiled(
    r"(?<![A-Za-z0-9])A[KS]IA[A-Z0-9]{16}(?![A-Za-z0-9])",  # AWS access key id (AKIA..., ASIA...)
    # A PEM private key, to its END line or, without one, to the end of its base64 lines.
    r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY-----"
    r"(?:[\s\S]{0,20000}?-----END[A-Z0-9 ]{0,40}PRIVATE KEY-----|(?:\r?\n[A-Za-z0-9+/=]{16,})+)",
    r"(?<![A-Za-z0-9_])g(?:h[pousr]_[A-Za-z0-9]{36}|ithub_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59})(?![A-Za-z0-9_])",
    r"(?<![A-Za-z0-9])xox[abprs]-[0-9]{6,}-[A-Za-z0-9-]{10,}",  # Slack
    # name = "value": a quoted value of 16+ characters, letters and digits mixed, after a secret-like name
    # (aws_secret_access_key, "apiKey":, token=).
    rf"(?i)(?<![A-Za-z0-9]){_SECRET_NAME}(?:[_.-][A-Za-z0-9]++)*"
    r"""["']?\s*(?::=|=>|:|=)\s*(?P<q>["'])(?P<value>[A-Za-z0-9_+/=.-]{16,256}+)(?P=q)""",
)
# What every match above contains, for polars: literal prefixes, or a name, a separator and 16 characters.
_SECRET_PREFILTER = (
    r"(?:AKIA|ASIA)[A-Z0-9]{16}|PRIVATE KEY-----|gh[pousr]_[A-Za-z0-9]{36}|github_pat_|xox[abprs]-[0-9]"
    rf"""|(?i:{_SECRET_NAME})[A-Za-z0-9_.-]*["']?\s*(?::=|=>|:|=)\s*["'][A-Za-z0-9_+/=.-]{{16}}"""
)


def _check_secret(m: regex.Match) -> tuple[int, int] | None:
    value = m.groupdict().get("value")
    if value is None:
        return m.span()
    # A placeholder (YOUR_API_KEY_HERE) or a plain number has no letter-digit mix.
    mixed = any(c.isdigit() for c in value) and any(c.isalpha() for c in value)
    return m.span("value") if mixed else None


# Resolution order where matches overlap: the most specific first.
PII_TYPES: dict[str, PiiType] = {
    t.name: t
    for t in (
        PiiType("secrets", "<SECRET>", _SECRETS, _SECRET_PREFILTER, _check_secret),
        PiiType("ibans", "<IBAN>", _IBANS, r"[A-Z]{2}[0-9]{2} ?[A-Z0-9]{4} ?[A-Z0-9]{4}", _check_iban),
        PiiType("cards", "<CARD>", _CARDS, r"[0-9]{13}|[0-9]{4}[ -][0-9]{3,6}[ -][0-9]{3}", _check_card),
        PiiType("ssns", "<SSN>", _SSNS, r"[0-9]{3}-[0-9]{2}-[0-9]{4}", lambda m: m.span()),
        PiiType("phones", "<PHONE>", _PHONES, _PHONE_PREFILTER, _check_phone),
    )
}


def pii_counts(texts: Texts, types: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Matches per document for each type (all types by default); the counts that `redact` would make."""
    return _scan(texts, types, rewrite=False)[1]


def redact(
    texts: Texts, types: Sequence[str] | None = None
) -> tuple[list[str | None], dict[str, np.ndarray]]:
    """(texts with every match of `types` replaced by its type's placeholder, replacements per type and
    document). Where matches of two types overlap, the type earlier in PII_TYPES takes the span."""
    return _scan(texts, types, rewrite=True)


def _scan(
    texts: Texts, types: Sequence[str] | None, rewrite: bool
) -> tuple[list[str | None] | None, dict[str, np.ndarray]]:
    chosen = [_pii_type(name) for name in (types if types is not None else PII_TYPES)]
    chosen.sort(key=list(PII_TYPES.values()).index)
    series = _series(texts)
    counts = {t.name: np.zeros(len(series), np.int64) for t in chosen}
    out = series.to_list() if rewrite else None
    maybe = [series.str.contains(t.prefilter).fill_null(False).to_numpy() for t in chosen]
    any_maybe = np.logical_or.reduce(maybe) if maybe else np.zeros(len(series), bool)
    for row in np.flatnonzero(any_maybe):
        text = series[int(row)]
        spans = _resolved(text, [t for t, m in zip(chosen, maybe, strict=True) if m[row]])
        for _, _, t in spans:
            counts[t.name][row] += 1
        if rewrite and spans:
            out[row] = _replaced(text, spans)
    return out, counts


def _resolved(text: str, types: list[PiiType]) -> list[tuple[int, int, PiiType]]:
    """Every type's spans, in priority order, dropping any span that overlaps one already taken."""
    taken: list[tuple[int, int, PiiType]] = []  # sorted by start, never overlapping
    for t in types:
        for start, end in t.spans(text):
            i = bisect.bisect_left(taken, start, key=lambda span: span[0])
            if (i == 0 or taken[i - 1][1] <= start) and (i == len(taken) or end <= taken[i][0]):
                taken.insert(i, (start, end, t))
    return taken


def _replaced(text: str, spans: list[tuple[int, int, PiiType]]) -> str:
    pieces, last = [], 0
    for start, end, t in spans:
        pieces += [text[last:start], t.placeholder]
        last = end
    return "".join([*pieces, text[last:]])


def _pii_type(name: str) -> PiiType:
    if name not in PII_TYPES:
        raise ValueError(f"unknown PII type {name!r}; known: {', '.join(PII_TYPES)}")
    return PII_TYPES[name]


def _series(texts: Texts) -> pl.Series:
    if isinstance(texts, pl.Series):
        return texts.cast(pl.String)
    if isinstance(texts, pa.Array | pa.ChunkedArray):
        return pl.Series(texts.cast(pa.large_string())).cast(pl.String)
    return pl.Series(list(texts), dtype=pl.String)
