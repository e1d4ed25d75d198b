"""Gopher repetition removal (Rae et al. 2021, table A1) as datatrove 0.10.1 decides it, on whole columns.

Paragraphs are the stripped text split at runs of 2+ newlines, lines the text split at runs of newlines;
a duplicate is any later copy of an earlier piece of the same document, and character fractions divide by
the whole text's characters. N-gram measures are in transforms.quality.ngrams. Each n-gram size is its own
step, so a document that already failed (say, on its top 2-gram) costs nothing in the longer n-grams.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.quality import ngrams
from transforms.quality.params import GopherRepetitionParams
from transforms.quality.rules import Step, StepOutput, all_metrics, rule
from transforms.quality.text_tables import DocText, duplicate_pieces, per_doc_sum, ratio, split_explode

TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def _duplicate_fractions(docs: DocText, normal: pl.Series, sep: str, name: str) -> dict[str, np.ndarray]:
    doc, pieces = split_explode(normal, sep)
    repeat, length = duplicate_pieces(doc, pieces)
    return {
        f"q_dup_{name}_frac": ratio(per_doc_sum(doc, docs.n, repeat), per_doc_sum(doc, docs.n)),
        f"q_dup_{name}_char_frac": ratio(per_doc_sum(doc, docs.n, length * repeat), docs.char_count),
    }


def _piece_metrics(docs: DocText) -> pl.DataFrame:
    paragraphs = docs.text.str.strip_chars().str.replace_all(r"\n{2,}", "\n\n")
    lines = docs.text.str.replace_all(r"\n+", "\n")
    return pl.DataFrame(
        {
            "q_char_count": docs.char_count,
            **_duplicate_fractions(docs, paragraphs, "\n\n", "para"),
            **_duplicate_fractions(docs, lines, "\n", "line"),
        }
    )


def _top_ngram(n: int):
    def compute(docs: DocText) -> StepOutput:
        chars = ngrams.top_ngram_chars(docs.tokens, n, docs.n)
        return StepOutput(pl.DataFrame({f"q_top_{n}gram_char_frac": ratio(chars, docs.char_count)}))

    return compute


def _dup_ngram(n: int):
    def compute(docs: DocText) -> StepOutput:
        chars = ngrams.dup_ngram_chars(docs.tokens, n, docs.n)
        return StepOutput(pl.DataFrame({f"q_dup_{n}gram_char_frac": ratio(chars, docs.char_count)}))

    return compute


def gopher_repetition_steps(p: GopherRepetitionParams) -> list[Step]:
    pieces = (
        *rule("gopher_repetition.empty", "q_char_count", "<", 1),
        *rule("gopher_repetition.dup_para_frac", "q_dup_para_frac", ">", p.dup_para_frac),
        *rule("gopher_repetition.dup_para_char_frac", "q_dup_para_char_frac", ">", p.dup_para_char_frac),
        *rule("gopher_repetition.dup_line_frac", "q_dup_line_frac", ">", p.dup_line_frac),
        *rule("gopher_repetition.dup_line_char_frac", "q_dup_line_char_frac", ">", p.dup_line_char_frac),
    )
    steps = [Step(lambda docs: StepOutput(_piece_metrics(docs)), pieces)]
    for n in TOP_NGRAMS:
        threshold = getattr(p, f"top_{n}gram_char_frac")
        rules = rule(f"gopher_repetition.top_{n}gram", f"q_top_{n}gram_char_frac", ">", threshold)
        steps.append(Step(_top_ngram(n), tuple(rules)))
    for n in DUP_NGRAMS:
        threshold = getattr(p, f"dup_{n}gram_char_frac")
        rules = rule(f"gopher_repetition.dup_{n}gram", f"q_dup_{n}gram_char_frac", ">", threshold)
        steps.append(Step(_dup_ngram(n), tuple(rules)))
    return steps


def gopher_repetition_metrics(data, params: GopherRepetitionParams | None = None) -> pl.DataFrame:
    """All Gopher repetition metrics of a batch, a text column or a list of strings, one row per document."""
    return all_metrics(DocText.of(data), gopher_repetition_steps(params or GopherRepetitionParams()))
