"""Parameters of the heuristic quality filters; one block per rule family (DESIGN.md "The public interface").

Defaults are the papers' thresholds as datatrove 0.10.1 implements them (Gopher: arXiv 2112.11446 table A1;
C4: JMLR 21-140; FineWeb: arXiv 2406.17557). A threshold set to null disables that one rule; `enabled: false`
disables the family. Families run in FAMILY_ORDER and the first failing rule is a document's reject reason.
Ranges are checked at load: fractions of lines, words or characters lie in [0, 1]; per-word ratios (symbols,
newlines per word) can pass 1, so they only have to be >= 0.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from transforms.params import KeyRangeError, StageParams

# A share of lines, words or characters (null: the rule is off).
Fraction = Annotated[float | None, Field(ge=0.0, le=1.0)]

# The order in which families decide; within a family, rules decide in the order of their module's RULES.
FAMILY_ORDER = ("language", "gopher_repetition", "gopher_quality", "c4", "fineweb")


class LanguageParams(StageParams):
    """Offline language identification with py3langid (its model ships in the wheel)."""

    enabled: bool = True
    # Probability of the top language (py3langid with normalised probabilities); datatrove's default for
    # fastText lid.176 is 0.65. Documents below it are rejected even when the language is allowed.
    min_score: Fraction = 0.65
    # Identify the language from the first max_chars characters (null: the whole text). Language is settled
    # long before 2000 characters, and the cost grows with every byte read.
    max_chars: int | None = Field(default=2000, ge=1)


class GopherRepetitionParams(StageParams):
    """Gopher repetition removal (Rae et al. 2021, table A1): fractions of duplicated text, by lines,
    paragraphs and word n-grams. Fractions of characters are over the whole document's characters."""

    enabled: bool = True
    dup_para_frac: Fraction = 0.3
    dup_para_char_frac: Fraction = 0.2
    dup_line_frac: Fraction = 0.3
    dup_line_char_frac: Fraction = 0.2
    top_2gram_char_frac: Fraction = 0.20
    top_3gram_char_frac: Fraction = 0.18
    top_4gram_char_frac: Fraction = 0.16
    dup_5gram_char_frac: Fraction = 0.15
    dup_6gram_char_frac: Fraction = 0.14
    dup_7gram_char_frac: Fraction = 0.13
    dup_8gram_char_frac: Fraction = 0.12
    dup_9gram_char_frac: Fraction = 0.11
    dup_10gram_char_frac: Fraction = 0.10


class GopherQualityParams(StageParams):
    """Gopher quality rules (Rae et al. 2021, section A.1.1)."""

    enabled: bool = True
    min_doc_words: int | None = Field(default=50, ge=0)
    max_doc_words: int | None = Field(default=100_000, ge=1)
    min_avg_word_length: float | None = Field(default=3, ge=0)
    max_avg_word_length: float | None = Field(default=10, ge=0)
    # `#` per word and ellipses per word, each.
    max_symbol_word_ratio: float | None = Field(default=0.1, ge=0)
    max_bullet_lines_ratio: Fraction = 0.9
    max_ellipsis_lines_ratio: Fraction = 0.3
    # datatrove names this max_non_alpha_words_ratio; it is the minimum share of words with a letter.
    min_alpha_words_ratio: Fraction = 0.8
    min_stop_words: int | None = Field(default=2, ge=0)
    stop_words: list[str] = ["the", "be", "to", "of", "and", "that", "have", "with"]

    @model_validator(mode="after")
    def _minimum_not_above_maximum(self) -> GopherQualityParams:
        # A minimum above its maximum rejects every document: a typo, never a policy.
        for low, high in (("min_doc_words", "max_doc_words"), ("min_avg_word_length", "max_avg_word_length")):
            lo, hi = getattr(self, low), getattr(self, high)
            if lo is not None and hi is not None and lo > hi:
                raise KeyRangeError(low, f"must be <= {high} = {hi} (got {lo})")
        return self


class C4Params(StageParams):
    """C4's page rules (Raffel et al. 2020, section 2.2), with the line rules of its reference code.

    The line rules (no terminal punctuation, too few words, a word over max_word_length, javascript, policy
    phrases) decide which lines C4 keeps; lorem ipsum, curly brackets and the sentence count are judged on
    those kept lines, as in the paper. With remove_lines false (default) the text is left untouched and
    q_c4_removed_lines says how many lines C4 would have removed; with true the kept documents' text becomes
    C4's kept lines (counted in q_c4_removed_lines and the `quality/edited_c4_lines` counter).
    """

    enabled: bool = True
    remove_lines: bool = False
    remove_citations: bool = True
    filter_no_terminal_punct: bool = True
    min_num_sentences: int | None = Field(default=5, ge=0)
    min_words_per_line: int | None = Field(default=3, ge=0)
    max_word_length: int | None = Field(default=1000, ge=1)
    filter_lorem_ipsum: bool = True
    filter_javascript: bool = True
    filter_curly_bracket: bool = True
    filter_policy: bool = True
    # C4 removed pages with a word from a list of bad words; ours ships in transforms/quality/data.
    filter_bad_words: bool = True
    # A file with one word or phrase per line, replacing the shipped English list.
    bad_words_file: str | None = None


class FineWebParams(StageParams):
    """FineWeb's own rules (Penedo et al. 2024, section 3.3.3), over non-blank lines."""

    enabled: bool = True
    line_punct_thr: Fraction = 0.12
    line_punct_exclude_zero: bool = False
    short_line_thr: Fraction = 0.67
    short_line_length: int = Field(default=30, ge=0)
    char_duplicates_ratio: Fraction = 0.01
    new_line_ratio: float | None = Field(default=0.3, ge=0)


class PiiParams(StageParams):
    """Redaction of e-mail addresses and public IPv4 addresses in kept documents, counted per document."""

    enabled: bool = False
    emails: bool = True
    ip_addresses: bool = True
    email_replacement: str = "email@example.com"
    # 192.0.2.0/24 is reserved for documentation (RFC 5737): never a real host.
    ip_replacement: str = "192.0.2.1"


class QualityConfig(StageParams):
    enabled: bool = True
    # ISO 639-1 codes as py3langid labels them; empty list: every language is allowed.
    languages: list[str] = ["en"]
    language: LanguageParams = Field(default_factory=LanguageParams)
    gopher_repetition: GopherRepetitionParams = Field(default_factory=GopherRepetitionParams)
    gopher_quality: GopherQualityParams = Field(default_factory=GopherQualityParams)
    c4: C4Params = Field(default_factory=C4Params)
    fineweb: FineWebParams = Field(default_factory=FineWebParams)
    pii: PiiParams = Field(default_factory=PiiParams)
