"""Every reject reason in plain words: one catalogue for `docs/reasons.md`, the report and `corpus-etl rejects`.

A reason is a row's `reason` in `rejects/` (DESIGN.md "Rejects"). Exact reasons are keys of `REASONS`; a family
whose name carries a number or a name (`gopher_repetition.dup_{n}gram`, `classifier.{name}`) is a key of
`FAMILIES`, a template whose `{field}` matches that part. `tests/test_reference_docs.py` checks that every
reason the code can give is here, so a new rule cannot reach users without its words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache


@dataclass(frozen=True)
class Reason:
    """A reason's stage (the `stage` column) and plain words; a family's words may use its `{field}`s."""

    stage: str
    words: str


def _read(words: str) -> Reason:
    return Reason("read", words)


def _quality(words: str) -> Reason:
    return Reason("quality", words)


REASONS: dict[str, Reason] = {
    # read: input that never became a document (etl/ingest/, docs/failures.md "Input faults")
    "blank_line": _read("An empty line in a JSONL file."),
    "invalid_json": _read(
        "The line is not JSON, is nested deeper than the parser's limit, or holds an integer too long to "
        "convert outside the id field."
    ),
    "not_an_object": _read("The line is JSON, but not an object (a list, a string, a number)."),
    "missing_text": _read(
        "The record has no text field (`input.text_field`), or a Parquet file has no such column; the "
        "detail names the fields found."
    ),
    "null_text": _read("The text field is null."),
    "non_string_text": _read(
        "The text field is not a string (a number, a list; a non-string Parquet column)."
    ),
    "invalid_id": _read(
        "A Parquet id column with no string form (lists, structs, bytes that are not UTF-8)."
    ),
    "invalid_utf8": _read("Bytes that are not UTF-8, in a line or a text file."),
    "invalid_unicode": _read(
        "The text or id holds an escaped lone surrogate, which no UTF-8 string can hold."
    ),
    "invalid_record": _read("Parsing the record raised an error on its data; the detail names it."),
    "record_too_large": _read(
        "The record is bigger than `input.max_record_bytes`; value is its size in bytes (it was never held whole)."
    ),
    "empty_file": _read("The file has no lines, rows or text."),
    "unknown_format": _read(
        "The file name does not say JSONL, Parquet or text (set `input.format`), or the file is compressed Parquet."
    ),
    "truncated_file": _read(
        "A compressed stream that ends early; the lines before the cut are kept, the detail names the last good one."
    ),
    "corrupt_file": _read(
        "A damaged archive, or a file that is not readable Parquet, from the line named on."
    ),
    "unreadable_file": _read(
        "An I/O error of the file system or object store, a file removed after listing, or a folder that "
        "cannot be listed."
    ),
    "special_file": _read("A named pipe, socket or device among the inputs: never opened."),
    "dangling_link": _read("A symbolic link to nothing."),
    "symlink_loop": _read("Symbolic links that point at each other."),
    # normalize
    "empty_text": Reason(
        "normalize",
        "Nothing visible is left of the text after normalizing (only spaces or control characters).",
    ),
    # exact and near dedup
    "exact_duplicate": Reason(
        "exact_dedup",
        "The same text as another document of this run; the one with the smallest doc_id is kept.",
    ),
    "exact_duplicate_of_earlier": Reason(
        "exact_dedup",
        "The same text as a document an earlier version kept (`--against`); the detail names it.",
    ),
    "near_duplicate": Reason(
        "near_dedup",
        "Nearly the same text as another document of this run (Jaccard similarity of word n-grams at or "
        "above `near_dedup.threshold`); one per cluster is kept, the smallest doc_id. Value: the similarity.",
    ),
    "near_duplicate_of_earlier": Reason(
        "near_dedup",
        "Nearly the same text as a document an earlier version kept (`--against`); the detail names it.",
    ),
    # quality: the first failing rule; detail `metric=value op threshold`, value the metric
    "language.low_score": _quality(
        "The language identifier is not sure enough of any language (top probability under "
        "`quality.language.min_score`)."
    ),
    "language.not_allowed": _quality("The document's language is not one of `quality.languages`."),
    "gopher_repetition.empty": _quality("The document has no characters left to judge (Gopher repetition)."),
    "gopher_repetition.dup_para_frac": _quality(
        "Too many of its paragraphs are repeats of earlier ones (Gopher, `dup_para_frac`)."
    ),
    "gopher_repetition.dup_para_char_frac": _quality(
        "Repeated paragraphs make up too much of its characters (Gopher, `dup_para_char_frac`)."
    ),
    "gopher_repetition.dup_line_frac": _quality(
        "Too many of its lines are repeats of earlier ones (Gopher, `dup_line_frac`)."
    ),
    "gopher_repetition.dup_line_char_frac": _quality(
        "Repeated lines make up too much of its characters (Gopher, `dup_line_char_frac`)."
    ),
    "gopher_quality.word_count": _quality(
        "Too few or too many words (Gopher, `min_doc_words` / `max_doc_words`)."
    ),
    "gopher_quality.mean_word_length": _quality(
        "The mean word length is outside the range Gopher allows (`min_avg_word_length` / `max_avg_word_length`)."
    ),
    "gopher_quality.hash_ratio": _quality("Too many `#` per word (Gopher, `max_symbol_word_ratio`)."),
    "gopher_quality.ellipsis_ratio": _quality(
        "Too many ellipses per word (Gopher, `max_symbol_word_ratio`)."
    ),
    "gopher_quality.bullet_lines": _quality(
        "Too many lines start with a bullet (Gopher, `max_bullet_lines_ratio`)."
    ),
    "gopher_quality.ellipsis_lines": _quality(
        "Too many lines end with an ellipsis (Gopher, `max_ellipsis_lines_ratio`)."
    ),
    "gopher_quality.alpha_words": _quality("Too few words hold a letter (Gopher, `min_alpha_words_ratio`)."),
    "gopher_quality.stop_words": _quality(
        "Fewer distinct English stop words than `min_stop_words`: rarely real prose (Gopher)."
    ),
    "c4.lorem_ipsum": _quality('A kept line says "lorem ipsum": placeholder text (C4).'),
    "c4.curly_bracket": _quality("A kept line holds `{`: most likely code (C4)."),
    "c4.min_sentences": _quality(
        "Fewer sentences than `quality.c4.min_num_sentences` in the lines C4 keeps."
    ),
    "c4.bad_words": _quality("A word of the bad-words list (C4, `filter_bad_words`, `bad_words_file`)."),
    "fineweb.empty": _quality("No line with text left to judge (FineWeb)."),
    "fineweb.line_punct_ratio": _quality("Too few lines end with punctuation (FineWeb, `line_punct_thr`)."),
    "fineweb.short_line_ratio": _quality(
        "Too many lines are shorter than `short_line_length` characters (FineWeb, `short_line_thr`)."
    ),
    "fineweb.char_dup_ratio": _quality(
        "Characters in lines that repeat other lines are too large a share (FineWeb, `char_duplicates_ratio`)."
    ),
    "fineweb.newline_ratio": _quality(
        "Too many line breaks per word: a list, not prose (FineWeb, `new_line_ratio`)."
    ),
    # tokenize
    "no_tokens": Reason("tokenize", "The tokenizer gave no tokens (the text was empty after normalizing)."),
    # this wave's contracts (DESIGN.md): decontamination and the URL filter
    "contaminated": Reason(
        "decontamination",
        "Shares n-grams with a benchmark item (`decontamination.benchmarks`); the detail names the benchmark, "
        "the item and the n-gram, value is the share of the item's n-grams found.",
    ),
    "url_blocklist": Reason(
        "url_filter",
        "The document's URL is on a domain of `url_filter.blocklist`; the detail names the domain.",
    ),
}

FAMILIES: dict[str, Reason] = {
    "gopher_repetition.top_{n}gram": _quality(
        "The most frequent word {n}-gram covers too much of the characters (Gopher, `top_{n}gram_char_frac`)."
    ),
    "gopher_repetition.dup_{n}gram": _quality(
        "Repeated word {n}-grams cover too much of the characters (Gopher, `dup_{n}gram_char_frac`)."
    ),
    "classifier.{name}": _quality(
        "The classifier `{name}` of `quality.classifiers` scored the document below its threshold; value is "
        "the score."
    ),
}

# What a `{field}` of a family template matches: a number for n, one dotless name otherwise.
_FIELD_PATTERNS = {"n": r"\d+"}
_FIELD = re.compile(r"\{(\w+)\}")


@cache
def _family_patterns() -> list[tuple[re.Pattern[str], Reason]]:
    found = []
    for template, entry in FAMILIES.items():
        pattern, last = "", 0
        for m in _FIELD.finditer(template):
            pattern += re.escape(template[last : m.start()])
            pattern += f"(?P<{m.group(1)}>{_FIELD_PATTERNS.get(m.group(1), r'[^.]+')})"
            last = m.end()
        found.append((re.compile(pattern + re.escape(template[last:])), entry))
    return found


def lookup(reason: str) -> Reason | None:
    """The catalogue entry of a reason, a family's words filled in; None for a reason not catalogued."""
    if reason in REASONS:
        return REASONS[reason]
    for pattern, entry in _family_patterns():
        m = pattern.fullmatch(reason)
        if m:
            return Reason(entry.stage, entry.words.format(**m.groupdict()))
    return None


def explain(reason: str) -> str:
    """Plain words for a reason; an uncatalogued one (a run made by another version) says so."""
    entry = lookup(reason)
    return entry.words if entry else "Not in this version's catalogue of reasons (docs/reasons.md)."


def template_of(reason: str) -> str:
    """A reason with each `{field}` name blanked (`dup_{n}gram` -> `dup_{}gram`): how the check compares
    an f-string in the code with a family of the catalogue."""
    return _FIELD.sub("{}", reason)
