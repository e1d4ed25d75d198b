"""C4's rules (Raffel et al. 2020, 2.2) as datatrove 0.10.1's C4QualityFilter applies them, on whole columns.

C4 judges a page line by line (Python splitlines, each line stripped): a line with a word over
max_word_length, without terminal punctuation (citations like `[3]` removed first), or with fewer than
min_words_per_line words is dropped; of the lines left, one saying "lorem ipsum" or holding `{` rejects the
page, one mentioning javascript or a policy phrase is dropped; fewer than min_num_sentences sentences in the
lines kept rejects the page. Sentences are counted like spaCy's sentencizer: a new sentence starts at a
non-punctuation token that follows a sentence-final mark. datatrove then replaces the text with the lines
kept; we do so only with c4.remove_lines, and always report the count in q_c4_removed_lines.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import numpy as np
import polars as pl

from transforms.quality.params import C4Params
from transforms.quality.punctuation import TERMINAL
from transforms.quality.rules import Step, StepOutput, all_metrics, rule
from transforms.quality.text_tables import DocText, Tokens, per_doc_sum

CITATION = r"\[\d*]|\[edit]|\[citation needed]"
POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)
BAD_WORDS_FILE = Path(__file__).parent / "data" / "bad_words_en.txt"


def _line_fates(lines: pl.Series, p: C4Params) -> dict[str, np.ndarray]:
    """Per line, in C4's order: kept, or removed, or a hit that rejects the page (lorem ipsum, `{`)."""
    stripped = lines.str.strip_chars()
    cleaned = stripped.str.replace_all(CITATION, "") if p.remove_citations else stripped
    lower = cleaned.str.to_lowercase()
    reach = np.ones(len(lines), dtype=bool)
    if p.max_word_length is not None:
        reach &= ~_has_long_word(stripped, p.max_word_length)
    if p.filter_no_terminal_punct:
        ends = cleaned.str.contains(r"[.?!\"']$") & ~cleaned.str.ends_with("...")
        reach &= ends.to_numpy()
    if p.min_words_per_line is not None:
        reach &= stripped.str.count_matches(r"\S+").to_numpy() >= p.min_words_per_line
    lorem = reach & _flag(p.filter_lorem_ipsum, lower, "lorem ipsum")
    reach &= ~lorem
    reach &= ~_flag(p.filter_javascript, lower, "javascript")
    curly = reach & _flag(p.filter_curly_bracket, cleaned, "{")
    reach &= ~curly
    if p.filter_policy:
        reach &= ~lower.str.contains_any(list(POLICY_PHRASES)).to_numpy()
    return {"kept": reach, "lorem": lorem, "curly": curly, "cleaned": cleaned}


def _flag(enabled: bool, text: pl.Series, needle: str) -> np.ndarray:
    if not enabled:
        return np.zeros(len(text), dtype=bool)
    return text.str.contains(needle, literal=True).to_numpy()


def _has_long_word(lines: pl.Series, max_len: int) -> np.ndarray:
    """Any whitespace-separated word longer than max_len; only lines longer than that can have one."""
    out = np.zeros(len(lines), dtype=bool)
    long_idx = np.flatnonzero(lines.str.len_chars().to_numpy() > max_len)
    if len(long_idx):
        words = lines.gather(long_idx).str.extract_all(r"\S+")
        longest = words.list.eval(pl.element().str.len_chars().max()).list.first().fill_null(0)
        out[long_idx] = longest.to_numpy() > max_len
    return out


# spaCy's sentencizer ends a sentence at a token that is one of its punct_chars: TERMINAL less a few marks of
# rare scripts (Khmer, Sogdian, ...), so TERMINAL decides the same on any text we expect.
_SENTENCE_END = rf"^{TERMINAL}$"


def _sentences_per_line(tokens: Tokens, n_lines: int) -> np.ndarray:
    """Sentences per line: 1 + the non-punctuation tokens preceded (since the last such) by an end mark."""
    end_mark = tokens.text.str.contains(_SENTENCE_END).to_numpy()
    plain = ~tokens.text.str.contains(r"^\p{P}+$").to_numpy() & ~end_mark
    marks_before = np.cumsum(end_mark) - end_mark  # end marks strictly before each token
    idx = np.flatnonzero(plain)
    has_tokens = per_doc_sum(tokens.line, n_lines) > 0
    if len(idx) == 0:
        return has_tokens.astype(np.int64)
    line = tokens.line[idx]
    first_in_line = np.r_[True, line[1:] != line[:-1]]
    # Marks since the line's first token (for the line's first plain token) or since the previous plain token.
    line_start = np.searchsorted(tokens.line, line)
    base = np.where(
        first_in_line, marks_before[line_start], np.r_[0, marks_before[idx[:-1]] + end_mark[idx[:-1]]]
    )
    boundary = (marks_before[idx] - base) > 0
    return (per_doc_sum(line, n_lines, boundary) + has_tokens).astype(np.int64)


def _metrics(docs: DocText, p: C4Params, bad_words: str | None) -> StepOutput:
    line_doc, lines = docs.lines
    fate = _line_fates(lines, p)
    kept = fate["kept"]
    sentences = _sentences_per_line(docs.tokens, len(lines)) * kept
    metrics = {
        "q_c4_lorem_ipsum": per_doc_sum(line_doc, docs.n, fate["lorem"]).astype(np.int64).clip(0, 1),
        "q_c4_curly_bracket": per_doc_sum(line_doc, docs.n, fate["curly"]).astype(np.int64).clip(0, 1),
        "q_c4_sentences": per_doc_sum(line_doc, docs.n, sentences).astype(np.int64),
        "q_c4_removed_lines": (docs.line_count - per_doc_sum(line_doc, docs.n, kept)).astype(np.int64),
    }
    new_text = _kept_text(line_doc[kept], fate["cleaned"].filter(pl.Series(kept)), docs.n)
    if bad_words is not None:
        judged = new_text if p.remove_lines else docs.text
        found = judged.str.to_lowercase().str.count_matches(bad_words)
        metrics["q_c4_bad_words"] = found.to_numpy().astype(np.int64)
    return StepOutput(pl.DataFrame(metrics), new_text if p.remove_lines else None)


def _kept_text(doc: np.ndarray, lines: pl.Series, n_docs: int) -> pl.Series:
    """The page C4 keeps: its kept lines joined by newlines, stripped; "" when none is kept."""
    joined = (
        pl.DataFrame({"doc": doc, "line": lines})
        .group_by("doc", maintain_order=True)
        .agg(pl.col("line").str.join("\n"))
    )
    out = pl.DataFrame({"doc": np.arange(n_docs, dtype=doc.dtype)}).join(joined, on="doc", how="left")
    return out["line"].fill_null("").str.strip_chars().rename("text")


@cache
def bad_words_pattern(path: str | None = None) -> str:
    """C4's rule: a listed word or phrase with a non-word character (or the text's edge) on both sides."""
    source = Path(path) if path else BAD_WORDS_FILE
    try:
        words = [w.strip().lower() for w in source.read_text(encoding="utf-8").splitlines()]
    except FileNotFoundError:
        raise FileNotFoundError(f"quality.c4.bad_words_file: {source} does not exist") from None
    words = sorted({w for w in words if w and not w.startswith("#")}, key=len, reverse=True)
    if not words:
        raise ValueError(f"quality.c4.bad_words_file: {source} lists no words")
    return r"(?:\W|^)(?:" + "|".join(re.escape(w) for w in words) + r")(?:\W|$)"


def c4_steps(p: C4Params) -> list[Step]:
    bad_words = bad_words_pattern(p.bad_words_file) if p.filter_bad_words else None
    rules = [
        *rule("c4.lorem_ipsum", "q_c4_lorem_ipsum", ">", 0 if p.filter_lorem_ipsum else None),
        *rule("c4.curly_bracket", "q_c4_curly_bracket", ">", 0 if p.filter_curly_bracket else None),
        *rule("c4.min_sentences", "q_c4_sentences", "<", p.min_num_sentences),
        *rule("c4.bad_words", "q_c4_bad_words", ">", 0 if bad_words is not None else None),
    ]
    return [Step(lambda docs: _metrics(docs, p, bad_words), tuple(rules))]


def c4_metrics(data, params: C4Params | None = None) -> pl.DataFrame:
    """All C4 metrics of a batch, a text column or a list of strings, one row per document."""
    return all_metrics(DocText.of(data), c4_steps(params or C4Params()))
