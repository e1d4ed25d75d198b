"""Gopher quality rules (Rae et al. 2021, A.1.1) as datatrove 0.10.1 decides them, on whole columns.

Words are the tokens of transforms.quality.words; a "word" for the count and the mean length is a token
with at least one character that is not punctuation (punctuation.SYMBOL), while the hash, ellipsis and
alphabetic ratios divide by all tokens, and stop words count distinct case-sensitive matches: all as in
datatrove. Lines are Python's splitlines().
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.quality.params import GopherQualityParams
from transforms.quality.punctuation import NOT_SYMBOL
from transforms.quality.rules import Step, StepOutput, all_metrics, rule
from transforms.quality.text_tables import DocText, per_doc_sum, ratio


def _metrics(docs: DocText, stop_words: list[str]) -> pl.DataFrame:
    tokens = docs.tokens
    word = tokens.text.str.contains(NOT_SYMBOL).to_numpy()
    n_words = per_doc_sum(tokens.doc, docs.n, word)
    n_tokens = docs.token_count
    has_alpha = tokens.text.str.contains(r"\p{L}").to_numpy()
    stop = tokens.text.is_in(stop_words).to_numpy()
    # Distinct stop words per document: first occurrence of each (document, stop word).
    stop_idx = np.flatnonzero(stop)
    first_stop = pl.DataFrame({"d": tokens.doc[stop_idx], "w": tokens.text.gather(stop_idx)}).select(
        pl.struct("d", "w").is_first_distinct()
    )
    distinct_stop = per_doc_sum(tokens.doc[stop_idx], docs.n, first_stop.to_series().to_numpy())

    line_doc, lines = docs.lines
    bullet = lines.str.contains(r"^\s*[•\-]").to_numpy()
    ellipsis_end = lines.str.contains(r"(?:\.\.\.|…)\s*$").to_numpy()
    text = docs.text
    hashes = text.str.count_matches("#", literal=True).to_numpy()
    ellipses = (
        text.str.count_matches("...", literal=True).to_numpy()
        + text.str.count_matches("…", literal=True).to_numpy()
    )
    return pl.DataFrame(
        {
            "q_word_count": n_words.astype(np.int64),
            "q_mean_word_length": ratio(per_doc_sum(tokens.doc, docs.n, tokens.length * word), n_words),
            "q_hash_word_ratio": ratio(hashes, n_tokens),
            "q_ellipsis_word_ratio": ratio(ellipses, n_tokens),
            "q_bullet_lines_ratio": ratio(per_doc_sum(line_doc, docs.n, bullet), docs.line_count),
            "q_ellipsis_lines_ratio": ratio(per_doc_sum(line_doc, docs.n, ellipsis_end), docs.line_count),
            "q_alpha_words_ratio": ratio(per_doc_sum(tokens.doc, docs.n, has_alpha), n_tokens),
            "q_stop_words": distinct_stop.astype(np.int64),
        }
    )


def gopher_quality_steps(p: GopherQualityParams) -> list[Step]:
    """One step: all metrics come from the same tokens and lines, so computing them together is cheapest."""
    rules = [
        *rule("gopher_quality.word_count", "q_word_count", "<", p.min_doc_words),
        *rule("gopher_quality.word_count", "q_word_count", ">", p.max_doc_words),
        *rule("gopher_quality.mean_word_length", "q_mean_word_length", "<", p.min_avg_word_length),
        *rule("gopher_quality.mean_word_length", "q_mean_word_length", ">", p.max_avg_word_length),
        *rule("gopher_quality.hash_ratio", "q_hash_word_ratio", ">", p.max_symbol_word_ratio),
        *rule("gopher_quality.ellipsis_ratio", "q_ellipsis_word_ratio", ">", p.max_symbol_word_ratio),
        *rule("gopher_quality.bullet_lines", "q_bullet_lines_ratio", ">", p.max_bullet_lines_ratio),
        *rule("gopher_quality.ellipsis_lines", "q_ellipsis_lines_ratio", ">", p.max_ellipsis_lines_ratio),
        *rule("gopher_quality.alpha_words", "q_alpha_words_ratio", "<", p.min_alpha_words_ratio),
        *rule("gopher_quality.stop_words", "q_stop_words", "<", p.min_stop_words),
    ]
    return [Step(lambda docs: StepOutput(_metrics(docs, p.stop_words)), tuple(rules))]


def gopher_quality_metrics(data, params: GopherQualityParams | None = None) -> pl.DataFrame:
    """All Gopher quality metrics of a batch, a text column or a list of strings, one row per document."""
    return all_metrics(DocText.of(data), gopher_quality_steps(params or GopherQualityParams()))
