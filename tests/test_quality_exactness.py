"""The vectorised parts equal their scalar definitions: n-gram repetition, language id, word tokens, classes."""

from __future__ import annotations

from collections import Counter

import numpy as np
import polars as pl
import pytest

from tests.test_quality_data import CLEAN, FRENCH, GERMAN
from transforms.quality import ngrams
from transforms.quality.language import language_metrics
from transforms.quality.params import LanguageParams
from transforms.quality.punctuation import NOT_SYMBOL, TERMINAL
from transforms.quality.text_tables import DocText, Tokens
from transforms.quality.words import ASCII_TOKEN_PATTERN, TOKEN_PATTERN, tokenize


def scan_duplicate_chars(words: list[str], n: int) -> int:
    """Gopher's duplicate n-gram scan written plainly: count and jump n ahead on an n-gram seen before."""
    seen, i, chars = set(), 0, 0
    while i < len(words) - n + 1:
        gram = tuple(words[i : i + n])
        if gram in seen:
            chars += sum(len(w) for w in gram)
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


def top_ngram_chars(words: list[str], n: int) -> int:
    grams = [" ".join(words[i : i + n]) for i in range(len(words) - n + 1)]
    if not grams:
        return 0
    gram, count = Counter(grams).most_common(1)[0]
    return len(gram) * count


def random_documents(
    seed: int, count: int, vocab: tuple[int, int], length: tuple[int, int]
) -> list[list[str]]:
    """Token lists from small vocabularies, with copied stretches: many overlapping repeats."""
    rng = np.random.default_rng(seed)
    docs = []
    for _ in range(count):
        size = int(rng.integers(*vocab))
        words = [
            f"w{int(rng.integers(size))}" * int(rng.integers(1, 3)) for _ in range(int(rng.integers(*length)))
        ]
        for _ in range(int(rng.integers(0, 4))):
            if len(words) > 12:
                a = int(rng.integers(0, len(words) - 10))
                words[a:a] = words[a : a + int(rng.integers(3, 12))]
        docs.append(words)
    return docs


def tokens_of(docs: list[list[str]]) -> Tokens:
    doc = np.concatenate([np.full(len(w), i, dtype=np.int64) for i, w in enumerate(docs)])
    return Tokens(doc=doc, line=doc, text=pl.Series([w for ws in docs for w in ws], dtype=pl.String))


@pytest.mark.parametrize("n", [5, 6, 8, 10])
def test_duplicate_ngram_chars_equal_the_scan(n):
    # Vocabularies of 2-4 words need many rounds (and the scan fallback); larger ones settle at once.
    docs = random_documents(n, 300, vocab=(2, 40), length=(0, 400))
    got = ngrams.dup_ngram_chars(tokens_of(docs), n, len(docs))
    assert got.tolist() == [scan_duplicate_chars(w, n) for w in docs]


def test_ngram_measures_stay_exact_with_false_repeat_candidates(monkeypatch):
    # repeats() may over-approximate the repeated n-grams (a 42-bit prefix compare); take every n-gram.
    monkeypatch.setattr(ngrams, "_maybe_repeated", lambda key: np.ones(len(key), dtype=bool))
    docs = random_documents(7, 200, vocab=(2, 60), length=(0, 150))
    for n in (2, 5):
        got = ngrams.top_ngram_chars(tokens_of(docs), n, len(docs))
        assert got.tolist() == [top_ngram_chars(w, n) for w in docs]
        got = ngrams.dup_ngram_chars(tokens_of(docs), n, len(docs))
        assert got.tolist() == [scan_duplicate_chars(w, n) for w in docs]


@pytest.mark.parametrize("block", [7, 1 << 16])
def test_the_duplicate_scan_is_exact_across_its_blocks_and_documents(monkeypatch, block):
    # Tiny vocabularies never settle in the rounds, so every document ends in the one scan; blocks of 7
    # positions cut it everywhere, documents included (a long one with 20,000 words among short ones).
    monkeypatch.setattr(ngrams, "_SCAN_BLOCK", block)
    docs = random_documents(3, 40, vocab=(2, 4), length=(0, 300))
    docs.insert(17, random_documents(4, 1, vocab=(2, 3), length=(20_000, 20_001))[0])
    for n in (5, 9):
        got = ngrams.dup_ngram_chars(tokens_of(docs), n, len(docs))
        assert got.tolist() == [scan_duplicate_chars(w, n) for w in docs]


@pytest.mark.parametrize("n", [2, 3, 4])
def test_top_ngram_chars_equal_counter_most_common(n):
    docs = random_documents(10 + n, 300, vocab=(2, 40), length=(0, 200))
    got = ngrams.top_ngram_chars(tokens_of(docs), n, len(docs))
    assert got.tolist() == [top_ngram_chars(w, n) for w in docs]


def test_language_equals_py3langid_classify():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    texts = [
        *CLEAN,
        FRENCH,
        GERMAN,
        "",
        "ALL CAPITALS SHOUTING TEXT",
        "日本語の文章です。",
        "\n".join(CLEAN) * 3,
    ]
    got = language_metrics(texts, LanguageParams(max_chars=None))
    for text, (lang, score) in zip(texts, got.iter_rows(), strict=True):
        want_lang, want_score = identifier.classify(text)
        assert lang == want_lang
        assert score == pytest.approx(want_score, abs=1e-5)


def test_language_reads_only_max_chars():
    long_french_tail = CLEAN[0] + "\n" + FRENCH * 20
    got = language_metrics([long_french_tail], LanguageParams(max_chars=len(CLEAN[0])))
    assert got["lang"].to_list() == ["en"]


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        (
            "It's a well-known sentence, isn't it?",
            ["It", "'s", "a", "well", "-", "known", "sentence", ",", "is", "n't", "it", "?"],
        ),
        (
            "Dr. Smith left the U.S. at 3.14 p.m. today.",
            ["Dr.", "Smith", "left", "the", "U.S.", "at", "3.14", "p.m.", "today", "."],
        ),
        (
            "Prices: $5, 1,000 or 5% (see [1]) ...",
            ["Prices", ":", "$", "5", ",", "1,000", "or", "5", "%", "(", "see", "[", "1", "]", ")", "..."],
        ),
        (
            "I cannot go; don't wait for COVID-19 news!!",
            ["I", "can", "not", "go", ";", "do", "n't", "wait", "for", "COVID-19", "news", "!", "!"],
        ),
        (
            "Visit https://example.com/a.b or mail a@b.com.",
            ["Visit", "https://example.com/a.b", "or", "mail", "a@b.com", "."],
        ),
        ("x/y 3-4 10:30 12/05/2020 #tag", ["x", "/", "y", "3", "-", "4", "10:30", "12/05/2020", "#", "tag"]),
    ],
)
def test_tokens_split_like_spacy_english(text, tokens):
    # Expected lists are spaCy 3.8 blank("en") output for these strings (datatrove's English word tokenizer).
    assert tokenize(text) == tokens


def test_ascii_token_pattern_matches_like_the_unicode_one_on_ascii_text():
    texts = [
        *CLEAN,
        "Run `ls -la /proc/` or x->y, a=>b; std::env::args(); 10km 2nd 3-4 +0200 -v",
        "e.g. U.S. a.b.c 'x' ...",
    ]
    lines = pl.Series([line for t in texts for line in t.splitlines()])
    assert (
        lines.str.extract_all(ASCII_TOKEN_PATTERN).to_list() == lines.str.extract_all(TOKEN_PATTERN).to_list()
    )


def test_lines_split_like_python_splitlines():
    texts = ["a\nb\r\nc\rd\u2028e", "x\n", "x\n\n", "\n", "", "no break"]
    doc, lines = DocText(pl.Series(texts)).lines
    got = [[line for d, line in zip(doc, lines.to_list(), strict=True) if d == i] for i in range(len(texts))]
    assert got == [t.splitlines() for t in texts]


def test_character_classes():
    ends = pl.Series([".", "?", "!", "。", "؟", ",", '"', "a"]).str.contains(f"^{TERMINAL}$").to_list()
    assert ends == [True, True, True, True, True, False, False, False]
    words = pl.Series(["word", "...", "#", "•", "—", "1", "«»"]).str.contains(NOT_SYMBOL).to_list()
    assert words == [True, False, False, True, False, True, False]
