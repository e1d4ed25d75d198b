"""Typed PII detectors: true cases and near-misses per type, placeholders, counts that reconcile with the
redactions made, overlap priority, and the batch API over lists, Arrow and polars."""

from __future__ import annotations

import numpy as np
import polars as pl
import pyarrow as pa
import pytest

from transforms.quality.pii import PII_TYPES, pii_counts, redact

PLACEHOLDERS = {
    "phones": "<PHONE>",
    "cards": "<CARD>",
    "ibans": "<IBAN>",
    "ssns": "<SSN>",
    "secrets": "<SECRET>",
}

# Built from pieces so that no secret scanner mistakes this file for a leak.
GITHUB = "ghp_" + "a1B2c3D4e5" * 3 + "F6g7H8"
GITHUB_PAT = "github_pat_" + "11ABCDEFG0" * 2 + "hi" + "_" + "Zy9Xw8Vu7T" * 5 + "s6R5q4P3o"
SLACK = "xo" + "xb-" + "123456789012-1234567890123-" + "AbCdEfGhIjKlMnOpQrStUvWx"
PEM = "-----BEGIN " + "RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aozN3tihPmljnnudb9G3HEcM\n"
PEM_BLOCK = PEM + "q6t2bjOeLrN4qTe3oYzxyMMhWM9Xl4aaJ1Jm2bgXgsAOw\n-----END " + "RSA PRIVATE KEY-----"

TRUE_CASES = {
    "phones": [
        "+44 20 7946 0958",
        "+1 (415) 555-0132",
        "+49 (0)30 1234567",
        "+33 1 23 45 67 89",
        "+14155550132",
        "+81-3-1234-5678",
        "(415) 555-0132",
        "415-555-0132",
        "415.555.0132",
        "1-800-555-0199",
    ],
    # Published test numbers: Visa, Mastercard (51-55 and 2-series), Amex, Discover, JCB, Diners Club.
    "cards": [
        "4111 1111 1111 1111",
        "4012-8888-8888-1881",
        "5555555555554444",
        "2223003122003222",
        "3782 822463 10005",
        "6011111111111117",
        "3530111333300000",
        "30569309025904",
    ],
    # Example IBANs from the national banking associations' and the ECBS's documentation.
    "ibans": [
        "DE89 3704 0044 0532 0130 00",
        "GB82 WEST 1234 5698 7654 32",
        "GB82WEST12345698765432",
        "FR14 2004 1010 0505 0001 3M02 606",
        "NL91 ABNA 0417 1643 00",
        "BE68 5390 0754 7034",
        "CH93 0076 2011 6238 5295 7",
        "NO93 8601 1117 947",
    ],
    "ssns": ["536-22-4817", "078-05-1120", "899-99-9999"],
    "secrets": [
        "AKIAIOSFODNN7EXAMPLE",
        "ASIAY34FZKBOKMUTVV7A",
        PEM_BLOCK,
        GITHUB,
        GITHUB_PAT,
        SLACK,
    ],
}

NEAR_MISSES = {
    "phones": [
        "version 1.2.3.4567",
        "on 2024-01-15 at 10:30",
        "host 192.168.100.200",
        "order 4155550132",
        "ref 123-456-7890",  # area code cannot start with 1
        "ref 415-155-0132",  # nor the exchange
        "415 555 0132",  # spaces only: too often a table of numbers
        "+1 2 3 4 5 6 7 8 9 10",
        "scored +5 points, +12.5% growth",
        "ISBN 978-3-16-148410-0",
        "pop. 1,234,567,890",
        "+44 20 7946",  # too few digits
        "+1234 5678 9012 3456",  # too many for E.164
        "lottery +12 34 5 6 7 8 90",  # single digits: a list, not a number
        "415-555.0132",  # mixed separators
    ],
    "cards": [
        "4111 1111 1111 1112",  # fails Luhn
        "1234 5678 9012 3456",
        "00000079927398713",  # passes Luhn (79927398713), but no issuer starts with 0
        "order #7992739871300000",
        "4111 1111 1111 111",  # Visa with 15 digits
        "37000000000007",  # Luhn-valid, but an Amex prefix needs 15 digits
        "41111111111111112222",  # 20 digits: part of a longer number
        "2024-01-15",
        "4111.1111.1111.1111",  # dots: a version or a number, not a card layout
    ],
    "ibans": [
        "DE88 3704 0044 0532 0130 00",  # wrong check digits
        "GB82 WEST 1234 5698 7654 33",  # one character changed
        "DE89 3704 0044 0532 0130",  # too short for Germany
        "NO93 8601 1117 9471",  # Norway's 15 characters end inside a group: a longer code
        "XX89 3704 0044 0532 0130 00",  # no such country
        "de89 3704 0044 0532 0130 00",  # lower case
        "PART AB12 CDEF GHIJ",
    ],
    "ssns": [
        "000-12-3456",
        "666-12-3456",
        "912-34-5678",
        "123-00-4567",
        "123-45-0000",
        "536224817",
        "536-22-48170",
        "2024-01-15",
        "415-555-0132",
        "12-345-6789",
    ],
    "secrets": [
        "The AKIA prefix marks a long-term AWS key.",
        "AKIAIOSFODNN7EXAMPL",  # one character short
        "akiaiosfodnn7example",
        "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----",
        "-----BEGIN " + "PRIVATE KEY----- is how a PEM file starts.\nIt is followed by base64.",
        "ghp_short",
        "ghx_" + "a1B2c3D4e5" * 3 + "F6g7H8",
        "xoxo-hugs-and-kisses-everyone",
        'api_key = "YOUR_API_KEY_HERE_PLEASE"',  # a placeholder: no digits
        'api_key = "aB3"',  # too short
        'tokenizer = "bert-base-uncased-v2x"',  # not a secret's name
        'max_tokens = "1234567890123456"',
        'password = "correct horse battery staple 1"',  # spaces: prose, not a value
        "my api key is in the vault",
    ],
}


@pytest.mark.parametrize("kind", list(TRUE_CASES))
def test_true_cases_are_found_and_redacted_with_the_type_placeholder(kind):
    texts = [f"Contact: {case}. Thanks!" for case in TRUE_CASES[kind]]
    counts = PII_TYPES[kind].count(texts)
    assert counts.tolist() == [1] * len(texts), [
        c for c, n in zip(TRUE_CASES[kind], counts, strict=True) if n != 1
    ]
    new, redacted = PII_TYPES[kind].redact(texts)
    assert new == [f"Contact: {PLACEHOLDERS[kind]}. Thanks!"] * len(texts)
    assert redacted.tolist() == counts.tolist()
    # No other type claims any part of them.
    assert {k: v.sum() for k, v in pii_counts(texts).items() if k != kind} == dict.fromkeys(
        set(PLACEHOLDERS) - {kind}, 0
    )


@pytest.mark.parametrize("kind", list(NEAR_MISSES))
def test_near_misses_are_left_alone(kind):
    texts = [f"Note: {case} here." for case in NEAR_MISSES[kind]]
    found = PII_TYPES[kind].count(texts)
    assert found.tolist() == [0] * len(texts), [t for t, n in zip(texts, found, strict=True) if n]
    assert PII_TYPES[kind].redact(texts)[0] == texts


def test_ordinary_numbers_and_codes_match_no_type():
    texts = [
        "Released 2024-01-15 as version 1.2.3.4567 (build 20240115093000) on host 192.168.100.200.",
        "Order 4155550132 shipped; invoice INV-2024-000123, SKU AB12-CDEF-3456, ISBN 978-3-16-148410-0.",
        "Population 1,234,567,890 grew +12.5% while prices fell -3.4%; score 21-14; call ext. 4412.",
        "The AKIA prefix marks a long-term AWS key; a token is a word piece; keep secrets secret.",
        "Coordinates 48.858370, 2.294481 and 40.7128 N 74.0060 W; pi is 3.14159265358979.",
        "Tracking 1Z999AA10123456784, UUID 123e4567-e89b-12d3-a456-426614174000, hash 5d41402abc4b2a76b9719d911017c592.",
    ]
    for name, found in pii_counts(texts).items():
        assert found.tolist() == [0] * len(texts), (name, [t for t, n in zip(texts, found, strict=True) if n])
    assert redact(texts)[0] == texts


def test_secret_assignments_redact_only_the_value():
    texts = [
        'api_key = "Zx81kLq0vT5sWm2Y"',
        "config: {'client_secret': 'a1b2c3d4e5f6g7h8i9'}",
        "AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'",
        'GITHUB_TOKEN: "t0k3n-with-16-chars-or-more"',
        "token='abcdEFGH12345678'",
    ]
    new, counts = redact(texts, ["secrets"])
    assert new == [
        'api_key = "<SECRET>"',
        "config: {'client_secret': '<SECRET>'}",
        "AWS_SECRET_ACCESS_KEY='<SECRET>'",
        'GITHUB_TOKEN: "<SECRET>"',
        "token='<SECRET>'",
    ]
    assert counts["secrets"].tolist() == [1] * 5


def test_a_card_followed_by_an_expiry_year_is_redacted_without_the_year():
    assert redact(["paid with 4111 1111 1111 1111 2027 ok"], ["cards"])[0] == ["paid with <CARD> 2027 ok"]


def test_an_iban_followed_by_a_word_in_capitals_keeps_the_word():
    assert redact(["BE68 5390 0754 7034 DATA"], ["ibans"])[0] == ["<IBAN> DATA"]


def test_counts_reconcile_with_the_redactions_made():
    texts = [
        "Call +44 20 7946 0958 or 415-555-0132; card 5555555555554444; SSN 536-22-4817.",
        "IBAN DE89370400440532013000, key AKIAIOSFODNN7EXAMPLE and again AKIAIOSFODNN7EXAMPLE.",
        "Nothing to see here: 2024-01-15, v1.2.3.4567.",
        "",
        None,
    ]
    new, counts = redact(texts)
    detected = pii_counts(texts)
    assert all(np.array_equal(counts[k], detected[k]) for k in PLACEHOLDERS) and set(counts) == set(detected)
    for name, placeholder in PLACEHOLDERS.items():
        shown = [t.count(placeholder) if t else 0 for t in new]
        assert shown == counts[name].tolist(), name
    expected = {"phones": [2, 0, 0, 0, 0], "cards": [1, 0, 0, 0, 0], "ssns": [1, 0, 0, 0, 0]}
    expected |= {"ibans": [0, 1, 0, 0, 0], "secrets": [0, 2, 0, 0, 0]}
    assert {k: v.tolist() for k, v in counts.items()} == expected
    assert new[2:] == texts[2:]


def test_overlapping_matches_go_to_the_earlier_type_only():
    text = PEM + "536-22-4817\n-----END " + "RSA PRIVATE KEY-----"
    both = pii_counts([text], ["ssns", "secrets"])
    assert (both["secrets"].tolist(), both["ssns"].tolist()) == ([1], [0])
    assert pii_counts([text], ["ssns"])["ssns"].tolist() == [1]  # alone, the SSN counts
    assert redact([text])[0] == ["<SECRET>"]


def test_batch_api_takes_lists_arrow_and_polars_and_only_the_asked_types():
    texts = ["ssn 536-22-4817, phone (415) 555-0132", None, "plain"]
    for given in (texts, pa.array(texts, pa.large_string()), pa.chunked_array([texts]), pl.Series(texts)):
        counts = pii_counts(given, ["ssns", "phones"])
        assert set(counts) == {"ssns", "phones"}
        assert counts["ssns"].tolist() == [1, 0, 0] and counts["phones"].tolist() == [1, 0, 0]
    new, counts = redact(texts, ["phones"])
    assert new == ["ssn 536-22-4817, phone <PHONE>", None, "plain"]
    with pytest.raises(ValueError, match="unknown PII type 'emails'"):
        pii_counts(texts, ["emails"])


def test_prefilters_never_hide_a_match():
    # The cheap polars test must hold for every text the full pattern matches.
    for kind, cases in TRUE_CASES.items():
        t = PII_TYPES[kind]
        assert pl.Series(cases).str.contains(t.prefilter).all(), kind
        assert all(t.spans(c) for c in cases), kind
