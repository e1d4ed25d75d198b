"""Character classes the rules share, as Rust-regex classes (polars), matching datatrove's sets.

TERMINAL: the characters that end a sentence, datatrove's TERMINAL_PUNCTUATION, which is Unicode's
Sentence_Terminal property of an earlier Unicode version (three Khmer signs in, eleven later additions out).
SYMBOL: what datatrove's PUNCTUATION_SET holds (ASCII punctuation, CJK and typographic punctuation, C0/C1
controls except tab and newline, and TERMINAL); a token made only of these is not a word for Gopher.
"""

from __future__ import annotations

_TERMINAL_INNER = (
    r"\p{Sentence_Terminal}\x{17d6}\x{17d9}\x{17da}"
    r"--[\x{fe12}\x{fe15}\x{fe16}\x{2024}\x{2cf9}-\x{2cfb}\x{1b4e}\x{1b4f}\x{1b7f}\x{113d4}\x{113d5}"
    r"\x{16d6e}\x{16d6f}]"
)
TERMINAL = f"[{_TERMINAL_INNER}]"

_SYMBOL_INNER = (
    r"!-/:-@\[-`{-~"  # ASCII punctuation
    r"—”％１〈、━【「」，】；“《„’∶´．（–？！：～«〉》）。…►»"
    r"\x00-\x08\x0b-\x1f\x7f-\x9f"
)
SYMBOL = rf"[{_SYMBOL_INNER}[{_TERMINAL_INNER}]]"
NOT_SYMBOL = rf"[^{_SYMBOL_INNER}[{_TERMINAL_INNER}]]"
