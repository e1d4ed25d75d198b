"""Word tokens for the Gopher and FineWeb rules, as one regex over a whole column.

datatrove counts words with spaCy's blank English tokenizer (whitespace chunks, then prefix, suffix and infix
punctuation split off, then a list of exceptions). One spaCy call per document is most of datatrove's time;
here a single regex (Rust, no look-around) reproduces the splits that change the counts: punctuation at word
edges is its own token, one per character; ellipses and dash runs stay whole; hyphens and slashes between
letters split; periods, apostrophes, `@`, `&`, `_` inside a word do not; numbers keep `1,000`, `10:30`,
`12/05/2020`; contractions split (`do n't`, `that 's`); single letters, initialisms (`U.S.`) and common
abbreviations (`Dr.`, `e.g.`) keep their period. The bench (bench/filters.py) compares the decisions.
"""

from __future__ import annotations

import polars as pl

# A word character: letters, digits and combining marks (not `_`, which spaCy splits at word edges).
_W = r"[\p{L}\p{N}\p{M}]"
# Characters that stay inside a word when a word character follows: everything that is not whitespace,
# a word character, or one of spaCy's infix splitters (dashes, `~`, `:<>=/`, `,`, ellipses).
_INNER = r"[^\s\p{L}\p{N}\p{M}\-–—~:<>=/,…]"
# Common abbreviations that keep their period (a subset of what spaCy's English exceptions keep).
_ABBREVIATIONS = (
    "Mr|Mrs|Ms|Messrs|Dr|Prof|St|Mt|Jr|Gen|Gov|Sen|Rep|Rev|Adm|Bros|Inc|Ltd|Co|co|Corp|vs|v\\.s"
    "|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
    "|Ala|Ariz|Ark|Calif|Colo|Conn|Del|Fla|Ill|Ind|Kan|Kans|Mass|Mich|Minn|Miss|Mont|Neb|Nebr|Nev|Okla|Ore"
    "|Tenn|Wash|Wis|Ph\\.D|[ap]\\.m|[eE]\\.g|[iI]\\.e|E\\.G|I\\.E"
)
# A run of two or more infix characters between word characters stays (std::env, x->y, a=>b), unless it
# is all hyphens (a--b splits).
_RUN = r"(?:[:<>=/~][:<>=/~\-]+|-[:<>=/~][:<>=/~\-]*)"
_CORE = rf"{_W}+(?:{_INNER}+{_W}+|[:<>=/,]+\p{{N}}{_W}*|{_RUN}{_W}+)*\+*"
TOKEN_PATTERN = "|".join(
    [
        r"(?:https?|ftp)://\S*[^\s.,;:!?)\]}>\"']",  # a URL, without the punctuation that ends a sentence
        r"(?:\p{L}\.)*\p{Lu}\.",  # A.  U.S.  N.Y.
        rf"(?:{_ABBREVIATIONS})\.",
        rf"\p{{Ll}}\.(?:{_CORE})?",  # a.  x.y
        rf"{_W}*\p{{L}}(?:-\p{{N}}{_W}*)+",  # COVID-19 UTF-8: a hyphen between a letter and a digit stays
        # -f --with /usr .NET: spaCy does not split these off a word's start (only after whitespace, which
        # the match then includes and DocText.tokens strips; inside a word they split: well-known).
        rf"(?:^|\s)[-/.]+{_CORE}",
        # Vcs- /proc/ flag\ : nor these off a word's end, when whitespace follows (also stripped).
        rf"{_CORE}[\\/\-^|~]+(?:\s|$)",
        rf"@?{_CORE}",  # @user
        rf"\+\p{{N}}{_W}*",  # +0200
        r"\.{2,}|…+|-{2,}",
        r"\):|:\)|\(:|:\(|;\)|:-\)|:-\(",  # emoticons are single tokens, e.g. "(see below):"
        r"['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL)\b",  # 's 're 've 'll 'd 'm, split off by CONTRACTION_PATTERN
        r"\S",  # any other character is a token of its own
    ]
)
# spaCy splits these contractions off the word before them (`don't` -> `do n't`, `it's` -> `it 's`), and
# a unit off the digit before it (`2m` -> `2 m`, `5GB` -> `5 GB`) ...
_UNITS = "km|m|cm|mm|dm|nm|ha|yd|ft|kg|g|mg|lb|oz|mph|kmh|hPa|Pa|mbar|mb|MB|kb|KB|gb|GB|tb|TB|T|G|M|K"
CONTRACTION_PATTERN = rf"(['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL)\b|[nN]['’][tT]\b)|([0-9])((?:{_UNITS})\b)"
# ... and these spellings without an apostrophe (`cannot` -> `can not`, `dont` -> `do nt`, `im` -> `i m`).
_BARE_CONTRACTIONS = {
    "ca could do does did had may might must need ought sha should wo would ai are is was were have has dare": "nt",
    "can": "not",
    "gon": "na",
    "got": "ta",
    "i": "m ma d ve",
    "you they": "re ve ll d",
    "he": "s d",
    "she": "s",
    "it": "ll d",
    "we": "ve d",
    "who": "s ll ve d",
    "what when where why how there": "s ll re ve d",
    "that this": "s ll d",
    "these those": "ll re ve d",
}


def _bare_contraction_pattern() -> tuple[str, str]:
    """One regex with a (base)(ending) group pair per entry, and the replacement that puts a space between."""
    alternatives, bases, endings = [], [], []
    for i, (words, ends) in enumerate(_BARE_CONTRACTIONS.items()):
        capitalised = "|".join(f"[{w[0]}{w[0].upper()}]{w[1:]}" for w in words.split())
        alternatives.append(f"({capitalised})({'|'.join(ends.split())})")
        bases.append(f"${{{2 * i + 1}}}")
        endings.append(f"${{{2 * i + 2}}}")
    return rf"\b(?:{'|'.join(alternatives)})\b", "".join(bases) + " " + "".join(endings)


BARE_CONTRACTION_PATTERN, _BARE_CONTRACTION_REPLACEMENT = _bare_contraction_pattern()


def tokenize(text: pl.Expr) -> pl.Expr:
    """list[str] of word tokens per text (punctuation tokens included, whitespace never a token)."""
    split = text.str.replace_all(CONTRACTION_PATTERN, "${2} ${1}${3}").str.replace_all(
        BARE_CONTRACTION_PATTERN, _BARE_CONTRACTION_REPLACEMENT
    )
    return split.str.extract_all(TOKEN_PATTERN)
