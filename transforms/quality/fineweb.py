"""FineWeb's own rules (Penedo et al. 2024, 3.3.3) as datatrove 0.10.1's FineWebQualityFilter decides them.

Lines are the text split at "\n", blank lines (whitespace only) left out, and not stripped: a line ends with
terminal punctuation only if its very last character is one (punctuation.TERMINAL). Duplicated-line
characters divide by the text's characters without newlines; the newline ratio divides by word tokens.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.quality.params import FineWebParams
from transforms.quality.punctuation import TERMINAL
from transforms.quality.rules import Step, StepOutput, all_metrics, rule
from transforms.quality.text_tables import DocText, duplicate_pieces, per_doc_sum, ratio, split_explode


def _metrics(docs: DocText, p: FineWebParams) -> pl.DataFrame:
    doc, lines = split_explode(docs.text, "\n")
    nonblank = (lines.str.strip_chars() != "").to_numpy()
    doc, lines = doc[nonblank], lines.filter(pl.Series(nonblank))
    n_lines = per_doc_sum(doc, docs.n)
    ends = lines.str.contains(f"{TERMINAL}$").to_numpy()
    short = lines.str.len_chars().to_numpy() <= p.short_line_length
    repeat, length = duplicate_pieces(doc, lines)
    newlines = docs.text.str.count_matches("\n", literal=True).to_numpy().astype(np.int64)
    return pl.DataFrame(
        {
            "q_nonblank_lines": n_lines.astype(np.int64),
            "q_line_punct_ratio": ratio(per_doc_sum(doc, docs.n, ends), n_lines),
            "q_short_line_ratio": ratio(per_doc_sum(doc, docs.n, short), n_lines),
            "q_char_dup_ratio": ratio(per_doc_sum(doc, docs.n, length * repeat), docs.char_count - newlines),
            "q_newline_word_ratio": _newline_ratio(newlines, docs.token_count),
        }
    )


def _newline_ratio(newlines: np.ndarray, words: np.ndarray) -> np.ndarray:
    """Newlines per word; a text with newlines and no word at all is all list (infinite)."""
    out = ratio(newlines, words)
    out[(words == 0) & (newlines > 0)] = np.inf
    return out


def fineweb_steps(p: FineWebParams) -> list[Step]:
    rules = [
        *rule("fineweb.empty", "q_nonblank_lines", "<", 1),
        *rule(
            "fineweb.line_punct_ratio", "q_line_punct_ratio", "<", p.line_punct_thr, p.line_punct_exclude_zero
        ),
        *rule("fineweb.short_line_ratio", "q_short_line_ratio", ">", p.short_line_thr),
        *rule("fineweb.char_dup_ratio", "q_char_dup_ratio", ">", p.char_duplicates_ratio),
        *rule("fineweb.newline_ratio", "q_newline_word_ratio", ">", p.new_line_ratio),
    ]
    return [Step(lambda docs: StepOutput(_metrics(docs, p)), tuple(rules))]


def fineweb_metrics(data, params: FineWebParams | None = None) -> pl.DataFrame:
    """All FineWeb metrics of a batch, a text column or a list of strings, one row per document."""
    return all_metrics(DocText.of(data), fineweb_steps(params or FineWebParams()))
