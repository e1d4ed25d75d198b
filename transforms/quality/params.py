"""Parameters of the heuristic quality filters; one block per rule family (DESIGN.md "The public interface").

Defaults are the papers' thresholds as datatrove 0.10.1 implements them (Gopher: arXiv 2112.11446 table A1;
C4: JMLR 21-140; FineWeb: arXiv 2406.17557). A threshold set to null disables that one rule; `enabled: false`
disables the family. Families run in FAMILY_ORDER and the first failing rule is a document's reject reason.
Ranges are checked at load: fractions of lines, words or characters lie in [0, 1]; per-word ratios (symbols,
newlines per word) can pass 1, so they only have to be >= 0.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator

from transforms.params import KeyRangeError, StageParams
from transforms.quality.classifier_params import ClassifierParams, unique_names

# A share of lines, words or characters (null: the rule is off).
Fraction = Annotated[float | None, Field(ge=0.0, le=1.0)]

# The order in which families decide; within a family, rules decide in the order of their module's RULES.
FAMILY_ORDER = ("language", "gopher_repetition", "gopher_quality", "c4", "fineweb")


class LanguageParams(StageParams):
    """Offline language identification with py3langid (its model ships in the wheel)."""

    enabled: bool = True
    """Identify each document's language, and reject by quality.languages and min_score."""
    min_score: Fraction = 0.65
    """Probability of the top language (py3langid with normalised probabilities); datatrove's default for
    fastText lid.176 is 0.65. Documents below it are rejected even when the language is allowed."""
    max_chars: int | None = Field(default=2000, ge=1)
    """Identify the language from the first max_chars characters (null: the whole text). Language is settled
    long before 2000 characters, and the cost grows with every byte read."""


class GopherRepetitionParams(StageParams):
    """Gopher repetition removal (Rae et al. 2021, table A1): fractions of duplicated text, by lines,
    paragraphs and word n-grams. Fractions of characters are over the whole document's characters."""

    enabled: bool = True
    """Run the Gopher repetition rules."""
    dup_para_frac: Fraction = 0.3
    """Largest share of paragraphs that repeat an earlier paragraph."""
    dup_para_char_frac: Fraction = 0.2
    """Largest share of characters in repeated paragraphs."""
    dup_line_frac: Fraction = 0.3
    """Largest share of lines that repeat an earlier line."""
    dup_line_char_frac: Fraction = 0.2
    """Largest share of characters in repeated lines."""
    top_2gram_char_frac: Fraction = 0.20
    """Largest share of characters covered by the most frequent word 2-gram."""
    top_3gram_char_frac: Fraction = 0.18
    """Largest share of characters covered by the most frequent word 3-gram."""
    top_4gram_char_frac: Fraction = 0.16
    """Largest share of characters covered by the most frequent word 4-gram."""
    dup_5gram_char_frac: Fraction = 0.15
    """Largest share of characters covered by word 5-grams that occur more than once."""
    dup_6gram_char_frac: Fraction = 0.14
    """Largest share of characters covered by word 6-grams that occur more than once."""
    dup_7gram_char_frac: Fraction = 0.13
    """Largest share of characters covered by word 7-grams that occur more than once."""
    dup_8gram_char_frac: Fraction = 0.12
    """Largest share of characters covered by word 8-grams that occur more than once."""
    dup_9gram_char_frac: Fraction = 0.11
    """Largest share of characters covered by word 9-grams that occur more than once."""
    dup_10gram_char_frac: Fraction = 0.10
    """Largest share of characters covered by word 10-grams that occur more than once."""


class GopherQualityParams(StageParams):
    """Gopher quality rules (Rae et al. 2021, section A.1.1)."""

    enabled: bool = True
    """Run the Gopher quality rules."""
    min_doc_words: int | None = Field(default=50, ge=0)
    """Fewest words a document may have."""
    max_doc_words: int | None = Field(default=100_000, ge=1)
    """Most words a document may have."""
    min_avg_word_length: float | None = Field(default=3, ge=0)
    """Smallest mean word length, in characters."""
    max_avg_word_length: float | None = Field(default=10, ge=0)
    """Largest mean word length, in characters."""
    max_symbol_word_ratio: float | None = Field(default=0.1, ge=0)
    """Most `#` per word, and most ellipses per word (each)."""
    max_bullet_lines_ratio: Fraction = 0.9
    """Largest share of lines that start with a bullet (`•` or `-`)."""
    max_ellipsis_lines_ratio: Fraction = 0.3
    """Largest share of lines that end with an ellipsis."""
    min_alpha_words_ratio: Fraction = 0.8
    """Smallest share of words with a letter (datatrove names it max_non_alpha_words_ratio)."""
    min_stop_words: int | None = Field(default=2, ge=0)
    """Fewest distinct stop words (of stop_words) a document must hold."""
    stop_words: list[str] = ["the", "be", "to", "of", "and", "that", "have", "with"]
    """The stop words that min_stop_words counts (case-sensitive)."""

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
    """Run the C4 rules."""
    remove_lines: bool = False
    """Kept documents' text becomes the lines C4 keeps (false: judged only, the text is left untouched)."""
    remove_citations: bool = True
    """Remove citation marks (`[3]`, `[edit]`, `[citation needed]`) before the line rules."""
    filter_no_terminal_punct: bool = True
    """Drop lines that do not end in terminal punctuation."""
    min_num_sentences: int | None = Field(default=5, ge=0)
    """Fewest sentences in the lines C4 keeps."""
    min_words_per_line: int | None = Field(default=3, ge=0)
    """Drop lines with fewer words."""
    max_word_length: int | None = Field(default=1000, ge=1)
    """Drop lines with a longer word, in characters."""
    filter_lorem_ipsum: bool = True
    """Reject a page with "lorem ipsum" in a kept line."""
    filter_javascript: bool = True
    """Drop lines that mention javascript."""
    filter_curly_bracket: bool = True
    """Reject a page with `{` in a kept line."""
    filter_policy: bool = True
    """Drop lines with a policy phrase (terms of use, privacy policy, cookies)."""
    filter_bad_words: bool = True
    """Reject pages with a word from a list of bad words, as C4 did; ours ships in transforms/quality/data."""
    bad_words_file: str | None = None
    """A file with one word or phrase per line, replacing the shipped English list."""


class FineWebParams(StageParams):
    """FineWeb's own rules (Penedo et al. 2024, section 3.3.3), over non-blank lines."""

    enabled: bool = True
    """Run the FineWeb rules."""
    line_punct_thr: Fraction = 0.12
    """Smallest share of lines that end in punctuation."""
    line_punct_exclude_zero: bool = False
    """A document with no line ending in punctuation passes the line_punct_thr rule."""
    short_line_thr: Fraction = 0.67
    """Largest share of lines shorter than short_line_length."""
    short_line_length: int = Field(default=30, ge=0)
    """Characters under which a line counts as short."""
    char_duplicates_ratio: Fraction = 0.01
    """Largest share of characters in lines that duplicate other lines."""
    new_line_ratio: float | None = Field(default=0.3, ge=0)
    """Most line breaks per word."""


class PiiDetect(StageParams):
    """Which kinds of personal data and secrets beyond e-mail and IPv4 are counted (transforms/quality/pii.py)."""

    phones: bool = True
    """Phone numbers in international formats (+CC ..., (NNN) NNN-NNNN), at least 10 digits."""
    cards: bool = True
    """Payment card numbers: 13 to 19 digits of a known issuer prefix that pass the Luhn check."""
    ibans: bool = True
    """IBANs of the right length for their country that pass the mod-97 check."""
    ssns: bool = True
    """US social security numbers written AAA-GG-SSSS, without the never-issued areas and groups."""
    secrets: bool = True
    """AWS access key ids, private key blocks, GitHub and Slack tokens, `api_key = "..."` assignments."""

    def on(self) -> list[str]:
        return [name for name in type(self).model_fields if getattr(self, name)]


class PiiRedact(PiiDetect):
    """Which kinds are replaced by their placeholder in kept documents' text; all off by default."""

    phones: bool = False
    """Replace phone numbers by <PHONE>."""
    cards: bool = False
    """Replace payment card numbers by <CARD>."""
    ibans: bool = False
    """Replace IBANs by <IBAN>."""
    ssns: bool = False
    """Replace US social security numbers by <SSN>."""
    secrets: bool = False
    """Replace secrets by <SECRET>."""


class PiiParams(StageParams):
    """Redaction of e-mail addresses and public IPv4 addresses in kept documents, counted per document."""

    enabled: bool = False
    """Redact e-mail and IPv4 addresses (the two switches below) in kept documents; other kinds: `redact`."""
    emails: bool = True
    """Redact e-mail addresses."""
    ip_addresses: bool = True
    """Redact public IPv4 addresses."""
    email_replacement: str = "email@example.com"
    """What an e-mail address is replaced with."""
    ip_replacement: str = "192.0.2.1"
    """What an IPv4 address is replaced with; 192.0.2.0/24 is reserved for documentation (RFC 5737), never a
    real host."""
    detect: PiiDetect = Field(default_factory=PiiDetect)
    """Which kinds are counted in every kept document's stats (`q_pii_<kind>`); on by default, text untouched."""
    redact: PiiRedact = Field(default_factory=PiiRedact)
    """Which kinds are replaced in kept documents' text by a placeholder per kind (<PHONE>, <CARD>, <IBAN>,
    <SSN>, <SECRET>); off by default. A redacted kind is counted too (the counts are the replacements)."""


class QualityConfig(StageParams):
    """The heuristic quality filters, one block per rule family; the first failing rule rejects."""

    enabled: bool = True
    """Run the quality stage (every family below)."""
    languages: list[str] = ["en"]
    """Allowed languages: ISO 639-1 codes as py3langid labels them; empty list: every language is allowed."""
    language: LanguageParams = Field(default_factory=LanguageParams)
    gopher_repetition: GopherRepetitionParams = Field(default_factory=GopherRepetitionParams)
    gopher_quality: GopherQualityParams = Field(default_factory=GopherQualityParams)
    c4: C4Params = Field(default_factory=C4Params)
    fineweb: FineWebParams = Field(default_factory=FineWebParams)
    pii: PiiParams = Field(default_factory=PiiParams)
    classifiers: Annotated[list[ClassifierParams], AfterValidator(unique_names)] = []
    """Model-based scorers (fastText or Hugging Face), run after the heuristic families in the order listed:
    each writes `q_cls_<name>`, and one with a threshold rejects below it as `classifier.<name>`."""
    mode: Literal["filter", "annotate"] = "filter"
    """filter: the first failing rule rejects a document. annotate: every rule runs on every document and none
    is rejected; each document keeps its `q_*` columns and the signals say what filter mode would reject it for
    (one pass that measures everything, then `corpus-etl profile` to choose thresholds)."""
    signals: bool = False
    """Write every document's quality signals (reason, `q_*`, lang, classifier scores, PII counts) under
    `signals/`, rejected documents too; a metric is null where an earlier rule had already rejected the document
    (annotate mode computes all of them). Always on in annotate mode."""

    def writes_signals(self) -> bool:
        return self.enabled and (self.signals or self.mode == "annotate")
