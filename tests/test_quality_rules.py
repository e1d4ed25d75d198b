"""Each rule removes the documents planted for it and keeps the clean ones (issue 4, acceptance 1).

Every case runs the real stage (filter_batch) with only the family under test switched on, so the reason is
the first failing rule of that family in its documented order.
"""

from __future__ import annotations

import pytest

from tests.test_quality_data import CLEAN, FRENCH, GERMAN, LOREM, batch_of, only
from transforms.quality import filter_batch

ROMAN = "I II III IV V VI VII VIII IX X".split()


def reasons(texts: list[str], config) -> list[str | None]:
    """The reject reason of each text, None when kept."""
    result = filter_batch(batch_of(texts), config)
    ids, why = result.rejects.column("doc_id").to_pylist(), result.rejects.column("reason").to_pylist()
    by_id = dict(zip(ids, why, strict=True))
    return [by_id.get(f"d{i}") for i in range(len(texts))]


def lines_of(sentences: list[str]) -> str:
    return "\n".join(sentences)


def unique_sentences(k: int, words_per: int = 9) -> list[str]:
    """k different plain sentences (different numbers of each word) ending in a period."""
    vocab = ["river", "market", "bread", "window", "garden", "teacher", "letter", "bridge", "summer", "music"]
    return [
        "The "
        + " ".join(f"{vocab[(i + j) % len(vocab)]}{ROMAN[j % 10].lower()}" for j in range(words_per))
        + f" {i}."
        for i in range(k)
    ]


def test_clean_documents_pass_every_family():
    for family in ("language", "gopher_repetition", "gopher_quality", "c4", "fineweb"):
        assert reasons(CLEAN, only(family)) == [None] * len(CLEAN), family


# ---------------------------------------------------------------- Gopher repetition

GOPHER_REPETITION_CASES = {
    "gopher_repetition.empty": "",
    "gopher_repetition.dup_para_frac": "\n\n".join([CLEAN[0], CLEAN[0], CLEAN[0], CLEAN[1]]),
    "gopher_repetition.dup_line_frac": lines_of([CLEAN[2].split("\n")[0]] * 5 + unique_sentences(5)),
    "gopher_repetition.top_2gram": lines_of(
        [f"Line {i} says very good, very good, very good." for i in range(30)]
    ),
    # A long stretch repeated once inside one line: no duplicate line or paragraph, no frequent short n-gram.
    "gopher_repetition.dup_5gram": CLEAN[3].replace("\n", " ")
    + " "
    + CLEAN[3].replace("\n", " ")
    + " "
    + CLEAN[1],
}


@pytest.mark.parametrize("reason", sorted(GOPHER_REPETITION_CASES))
def test_gopher_repetition_removes_planted_document(reason):
    planted = GOPHER_REPETITION_CASES[reason]
    assert reasons([planted, *CLEAN], only("gopher_repetition")) == [reason] + [None] * len(CLEAN)


def test_gopher_repetition_thresholds_come_from_config():
    planted = GOPHER_REPETITION_CASES["gopher_repetition.dup_line_frac"]
    assert reasons([planted], only("gopher_repetition", gopher_repetition__dup_line_frac=0.9))[0] != (
        "gopher_repetition.dup_line_frac"
    )


# ---------------------------------------------------------------- Gopher quality

LONG_WORDS = (
    " ".join(["internationalisation", "the", "responsibilities", "of", "characterisation"] * 15) + "."
)
GOPHER_QUALITY_CASES = {
    "gopher_quality.word_count": "Too short to be a page of text.",
    "gopher_quality.mean_word_length": LONG_WORDS,
    "gopher_quality.hash_ratio": CLEAN[0] + "\n" + " ".join(f"#tag{i}" for i in range(40)),
    "gopher_quality.ellipsis_ratio": CLEAN[1].replace(",", "...").replace(".", "..."),
    "gopher_quality.bullet_lines": lines_of([f"• {s}" for s in unique_sentences(12)]),
    "gopher_quality.ellipsis_lines": lines_of([s[:-1] + "..." for s in unique_sentences(12, 14)]),
    "gopher_quality.alpha_words": CLEAN[2] + "\n" + " ".join(str(1000 + i) for i in range(120)),
    "gopher_quality.stop_words": " ".join(
        ["cheap", "flights", "hotel", "deals", "booking", "online", "discount", "travel"] * 10
    ),
}


@pytest.mark.parametrize("reason", sorted(GOPHER_QUALITY_CASES))
def test_gopher_quality_removes_planted_document(reason):
    planted = GOPHER_QUALITY_CASES[reason]
    assert reasons([planted, *CLEAN], only("gopher_quality")) == [reason] + [None] * len(CLEAN)


def test_gopher_quality_rejects_too_long_document():
    too_long = "The cat sat on the mat. " * 20_001  # 120,006 words, each with a letter
    got = filter_batch(batch_of([too_long]), only("gopher_quality")).rejects
    assert got.column("reason").to_pylist() == ["gopher_quality.word_count"]
    assert got.column("detail").to_pylist() == ["word_count=120006 > 100000"]


# ---------------------------------------------------------------- C4

C4_CASES = {
    "c4.lorem_ipsum": CLEAN[0] + "\n" + LOREM,
    "c4.curly_bracket": CLEAN[1] + "\nThe template prints {name} at the top of every page.",
    # Without terminal punctuation C4 keeps no line, so no sentence is left.
    "c4.min_sentences": CLEAN[2].replace(".", ""),
    "c4.bad_words": CLEAN[3] + "\nHe said the whole plan was bullshit and left the room.",
}


@pytest.mark.parametrize("reason", sorted(C4_CASES))
def test_c4_removes_planted_document(reason):
    planted = C4_CASES[reason]
    config = only("c4", c4__filter_bad_words=True)
    assert reasons([planted, *CLEAN], config) == [reason] + [None] * len(CLEAN)


def test_c4_lorem_ipsum_on_a_line_c4_drops_anyway_does_not_reject():
    # C4 judges lorem ipsum on the lines it keeps; a two-word line is dropped before that test.
    assert reasons([CLEAN[0] + "\nLorem ipsum"], only("c4")) == [None]


# ---------------------------------------------------------------- FineWeb

FINEWEB_CASES = {
    "fineweb.empty": "  \n \n\t",
    "fineweb.line_punct_ratio": lines_of([s[:-1] for s in unique_sentences(12)]),
    "fineweb.short_line_ratio": lines_of([f"Item {i} is here." for i in range(20)] + [CLEAN[0]]),
    "fineweb.char_dup_ratio": CLEAN[0] + "\n" + CLEAN[0].split("\n")[1],
    "fineweb.newline_ratio": lines_of(
        [f"Wonderfully_extraordinary{i} marvellously_splendid{i}." for i in range(20)]
    ),
}


@pytest.mark.parametrize("reason", sorted(FINEWEB_CASES))
def test_fineweb_removes_planted_document(reason):
    planted = FINEWEB_CASES[reason]
    assert reasons([planted, *CLEAN], only("fineweb")) == [reason] + [None] * len(CLEAN)


def test_fineweb_line_punct_exclude_zero_keeps_pages_without_any_punctuation():
    planted = FINEWEB_CASES["fineweb.line_punct_ratio"]
    assert reasons([planted], only("fineweb", fineweb__line_punct_exclude_zero=True)) == [None]


# ---------------------------------------------------------------- language


def test_language_removes_other_languages_and_keeps_english():
    got = reasons([FRENCH, GERMAN, *CLEAN], only("language"))
    assert got == ["language.not_allowed", "language.not_allowed"] + [None] * len(CLEAN)


def test_language_allowlist_comes_from_config():
    config = only("language")
    config.languages = ["en", "fr"]
    assert reasons([FRENCH, GERMAN, CLEAN[0]], config) == [None, "language.not_allowed", None]


def test_language_minimum_score_rejects_below_it():
    # The highest minimum a probability allows: documents short of certainty fall under it.
    assert reasons(CLEAN[:2], only("language", language__min_score=1.0)) == ["language.low_score"] * 2
