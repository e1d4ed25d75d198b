"""Word tokens for the Gopher and FineWeb rules, for a whole column of lines at once.

datatrove counts words with spaCy's blank English tokenizer: the text cut at whitespace into chunks, then
prefix, suffix and infix punctuation split off each chunk, with a list of exceptions. One spaCy call per
document is most of datatrove's time. Here the same is done on columns: two regex replacements split
contractions (`do n't`, `that 's`, `can not`) and units (`2 m`); the lines are cut into chunks; a chunk of
letters and digits only (most of them) is a token as it is; the others go through one regex (Rust, no
look-around) that reproduces the splits that change the counts: punctuation at a chunk's edges is its own
token, one per character; ellipses and dash runs stay whole; hyphens and slashes between letters split;
periods, apostrophes, `@`, `&`, `_` inside a word do not; numbers keep `1,000`, `10:30`, `12/05/2020`;
single letters, initialisms (`U.S.`) and common abbreviations (`Dr.`, `e.g.`) keep their period.
bench/filters.py compares the resulting decisions with datatrove's.
"""

from __future__ import annotations

import numpy as np
import polars as pl

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


def _token_pattern(word: str, digit: str, inner: str) -> str:
    """The token regex for one chunk (no whitespace inside) over given character classes: Unicode ones, or
    ASCII ones for ASCII-only chunks, where the regex engine's DFA runs several times faster and the matches
    are the same. Letter case (initialisms, single letters with a period, COVID-19) is tested on ASCII
    letters only: smaller automata, and those exceptions are about Latin abbreviations anyway."""
    core = rf"{word}+(?:{inner}+{word}+|[:<>=/,]+{digit}{word}*|{_RUN}{word}+)*\+*"
    return "|".join(
        [
            r"(?:https?|ftp)://\S*[^\s.,;:!?)\]}>\"']",  # a URL, without the punctuation that ends a sentence
            r"(?:[A-Za-z]\.)*[A-Z]\.",  # A.  U.S.  N.Y.
            rf"(?:{_ABBREVIATIONS})\.",
            rf"[a-z]\.(?:{core})?",  # a.  x.y
            rf"{word}*[A-Za-z](?:-{digit}{word}*)+",  # COVID-19 UTF-8: a hyphen between a letter and a digit
            # spaCy does not split - / . off a chunk's start, nor \ / - ^ | ~ off its end (-f --with /usr
            # .NET Vcs- /proc/ flag\); inside a chunk they split (well-known). @user stays whole too.
            rf"(?:^[-/.]+|@)?{core}(?:[\\/\-^|~]+$)?",
            rf"\+{digit}{word}*",  # +0200
            r"\.{2,}|…+|-{2,}",
            r"\):|:\)|\(:|:\(|;\)|:-\)|:-\(",  # emoticons are single tokens, e.g. "(see below):"
            # 's 're 've 'll 'd 'm, split off by CONTRACTION_PATTERN. (Unicode \b also keeps the regex engine
            # off its lazy DFA for non-ASCII text, where this pattern's DFA would thrash: 20x slower.)
            r"['’](?:[sSdDmM]|re|ve|ll|RE|VE|LL)\b",
            r"\S",  # any other character is a token of its own
        ]
    )


# A word character: letters, digits and combining marks (not `_`, which spaCy splits at word edges). Inner
# characters stay inside a word when a word character follows: all but whitespace, word characters and
# spaCy's infix splitters (dashes, `~`, `:<>=/`, `,`, ellipses).
TOKEN_PATTERN = _token_pattern(
    word=r"[\p{L}\p{N}\p{M}]", digit=r"\p{N}", inner=r"[^\s\p{L}\p{N}\p{M}\-–—~:<>=/,…]"
)
ASCII_TOKEN_PATTERN = _token_pattern(word="[A-Za-z0-9]", digit="[0-9]", inner=r"[^\sA-Za-z0-9\-~:<>=/,]")
# A chunk that is one token as it is.
_PLAIN_CHUNK = r"^[\p{L}\p{M}\p{N}]+$"


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


def tokenize_lines(lines: pl.Series) -> tuple[np.ndarray, pl.Series]:
    """(line index, token) for every word token of every line, in order; no line break inside a line."""
    split = lines.str.replace_all(CONTRACTION_PATTERN, "${2} ${1}${3}").str.replace_all(
        BARE_CONTRACTION_PATTERN, _BARE_CONTRACTION_REPLACEMENT
    )
    # Chunks at spaces; an empty chunk (two spaces) or one with a tab inside is simply not plain, and the
    # token regex, which never matches whitespace, handles it.
    # Each intermediate column is dropped as soon as the next exists: on a long document every one of them
    # is a copy of the text plus 16 bytes a chunk, and holding them all at once was most of the stage's peak.
    pieces = split.str.split(" ")
    del split
    chunk_line = np.repeat(np.arange(len(lines), dtype=np.int32), pieces.list.len().to_numpy())
    chunks = pieces.explode()
    del pieces
    plain = chunks.str.contains(_PLAIN_CHUNK).to_numpy()
    per_chunk = np.ones(len(chunks), dtype=np.int64)
    runs = [(np.flatnonzero(plain), chunks.filter(pl.Series(plain)))]
    other = np.flatnonzero(~plain)
    others = chunks.gather(other)
    del chunks
    ascii_only = ~others.str.contains(r"[^\x00-\x7f]").to_numpy()
    for which, pattern in ((ascii_only, ASCII_TOKEN_PATTERN), (~ascii_only, TOKEN_PATTERN)):
        lists = others.filter(pl.Series(which)).str.extract_all(pattern)
        index = other[which]
        per_chunk[index] = lists.list.len().to_numpy()
        runs.append((index, lists.explode().drop_nulls()))
        del lists
    del others
    return np.repeat(chunk_line, per_chunk), _interleave(runs, per_chunk)


def _interleave(runs: list[tuple[np.ndarray, pl.Series]], per_chunk: np.ndarray) -> pl.Series:
    """The runs' tokens in chunk order: a token goes to its chunk's offset plus its rank in the chunk.
    Empties `runs` (their tokens move into the result)."""
    first = np.cumsum(per_chunk) - per_chunk
    order = np.empty(int(per_chunk.sum()), dtype=np.int64)
    done = 0
    for index, run in runs:
        counts = per_chunk[index]
        # The k-th token of a chunk goes to the chunk's first slot plus k.
        at = np.arange(len(run)) + np.repeat(first[index] - (np.cumsum(counts) - counts), counts)
        order[at] = np.arange(done, done + len(run))
        done += len(run)
    joined = pl.concat([run for _, run in runs])
    runs.clear()
    return joined.gather(order)


def tokenize(text: str) -> list[str]:
    """The word tokens of one text (for tests and exploration; the stage tokenises whole columns)."""
    return tokenize_lines(pl.Series(text.splitlines(), dtype=pl.String))[1].to_list()
