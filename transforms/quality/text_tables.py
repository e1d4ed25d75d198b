"""Column views of a batch's texts that several rule families share: lines, word tokens, per-document sums.

Everything is a flat table (one row per line or token) with the index of its document, so a per-document
number is a numpy `bincount` over that index, never a Python loop over documents. Tables are computed on
first use and kept, so the Gopher, C4 and FineWeb rules tokenise a document once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import polars as pl
import pyarrow as pa

from transforms.quality.words import tokenize_lines

# What Python's str.splitlines() also treats as a line break, besides "\n".
_LINE_BREAKS = r"\r\n|[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]"


def per_doc_sum(doc: np.ndarray, n_docs: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum of `weights` (or a count) per document index; float64."""
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
    return np.bincount(doc, weights=weights, minlength=n_docs).astype(np.float64)


def ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den as float64, 0 where den is 0 (the rules that divide by zero are gated by an earlier rule)."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    out = np.zeros(np.broadcast(num, den).shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den != 0)
    return out


def split_explode(text: pl.Series, by: str) -> tuple[np.ndarray, pl.Series]:
    """(document index, piece) for `text.split(by)` of every document, pieces in document order."""
    lists = text.str.split(by)
    counts = lists.list.len().to_numpy()
    doc = np.repeat(np.arange(len(text), dtype=np.int64), counts)
    return doc, lists.explode()


def duplicate_pieces(doc: np.ndarray, pieces: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Per piece: is it a repeat of an earlier piece of the same document, and its length in characters.

    The first occurrence is the original and every later one a duplicate (datatrove's find_duplicates).
    """
    # Compared by a 64-bit hash of (piece, document): cheaper than comparing strings, collisions negligible.
    with np.errstate(over="ignore"):
        key = pieces.hash(seed=0x5EED).to_numpy() ^ (doc.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15))
    first = pl.Series(key).is_first_distinct().to_numpy()
    return ~first, pieces.str.len_chars().to_numpy().astype(np.int64)


@dataclass
class Tokens:
    """Word tokens of all documents in order: their document, their line (index into DocText.lines), text."""

    doc: np.ndarray
    line: np.ndarray
    text: pl.Series

    @cached_property
    def length(self) -> np.ndarray:
        return self.text.str.len_chars().to_numpy().astype(np.int64)

    @cached_property
    def hash(self) -> np.ndarray:
        """64-bit hash per token: n-grams compare these, not strings."""
        return self.text.hash(seed=0x5EED).to_numpy()

    def subset(self, keep_doc: np.ndarray, doc_index: np.ndarray, line_index: np.ndarray) -> Tokens:
        """The tokens of the documents kept, renumbered; derived arrays are carried over, not recomputed."""
        mask = keep_doc[self.doc]
        sub = Tokens(
            doc=doc_index[self.doc[mask]],
            line=line_index[self.line[mask]],
            text=self.text.filter(pl.Series(mask)),
        )
        for name in ("length", "hash"):
            if name in self.__dict__:
                sub.__dict__[name] = self.__dict__[name][mask]
        if "repeats" in self.__dict__:  # ngrams.Repeats per n: positions renumbered, keys kept
            position = np.cumsum(mask) - 1
            sub.__dict__["repeats"] = {
                n: replace(r, pos=position[r.pos[mask[r.pos]]], key=r.key[mask[r.pos]])
                for n, r in self.__dict__["repeats"].items()
            }
        return sub


class DocText:
    """The texts of the documents still in play, and the tables derived from them."""

    def __init__(self, text: pl.Series):
        self.text = text.cast(pl.String).fill_null("").rename("text")
        self.n = len(self.text)

    @classmethod
    def of(cls, data: DocText | pa.RecordBatch | pa.Array | pl.Series | Sequence[str]) -> DocText:
        """Accept what a caller has at hand: a document batch, a text column, or a list of strings."""
        if isinstance(data, DocText):
            return data
        if isinstance(data, pa.RecordBatch):
            data = data.column(data.schema.get_field_index("text"))
        if isinstance(data, pa.Array | pa.ChunkedArray):
            return cls(pl.Series("text", data))
        return cls(pl.Series("text", data, dtype=pl.String))

    @cached_property
    def char_count(self) -> np.ndarray:
        return self.text.str.len_chars().to_numpy().astype(np.int64)

    @cached_property
    def lines(self) -> tuple[np.ndarray, pl.Series]:
        """(document index, line) as Python's str.splitlines() splits: no empty line after a final break."""
        normal = self.text.str.replace_all(_LINE_BREAKS, "\n").str.strip_suffix("\n")
        doc, lines = split_explode(normal, "\n")
        # "".splitlines() is [], not [""].
        keep = self.char_count[doc] > 0
        return doc[keep], lines.filter(pl.Series(keep))

    @cached_property
    def line_count(self) -> np.ndarray:
        return per_doc_sum(self.lines[0], self.n)

    @cached_property
    def tokens(self) -> Tokens:
        """Word tokens per line (tokens never cross a line break), in document order."""
        line_doc, lines = self.lines
        line, text = tokenize_lines(lines)
        return Tokens(doc=line_doc[line], line=line, text=text)

    @cached_property
    def token_count(self) -> np.ndarray:
        return per_doc_sum(self.tokens.doc, self.n)

    def subset(self, keep: np.ndarray) -> DocText:
        """The documents where keep is true, carrying over the tables already computed."""
        sub = DocText(self.text.filter(pl.Series(keep)))
        new_index = np.cumsum(keep) - 1
        cached = self.__dict__
        if "char_count" in cached:
            sub.char_count = self.char_count[keep]
        if "lines" in cached:
            line_doc, lines = self.lines
            line_keep = keep[line_doc]
            sub.lines = (new_index[line_doc[line_keep]], lines.filter(pl.Series(line_keep)))
            if "tokens" in cached:
                sub.tokens = self.tokens.subset(keep, new_index, np.cumsum(line_keep) - 1)
        return sub
