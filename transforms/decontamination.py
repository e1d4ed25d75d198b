"""Benchmark decontamination: find documents that contain evaluation items, so no model trains on its own test.

Both sides get one normalisation (normalize_words); word n-grams are hashed to 64 bits with numpy, the same in
every process and host (never Python's hash()); the benchmark side is a few sorted arrays that pickle to every
worker. A hit names the first matching item, and its value is the share of that item's n-grams found.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import regex
from pydantic import Field

from transforms.params import StageParams

# Letters, digits and combining marks make words (marks keep Indic and Arabic words whole); anything else
# separates them, so other punctuation, spacing or case still match.
_NON_WORD_CHAR = regex.compile(r"[^\p{L}\p{N}\p{M}]")
# Per byte: 1 for an ASCII letter or digit and for any non-ASCII byte (whose character is looked up apart).
_BYTE_IS_WORD = bytes(int(chr(c).isalnum() or c >= 128) for c in range(256))

_U64 = np.uint64
_ZERO = np.zeros(1, _U64)
# An odd multiplier (so invertible mod 2^64) for the polynomial over a window's word hashes, and its inverse.
_WORD_P = 0x9E3779B97F4A7C15
_WORD_Q = pow(_WORD_P, -1, 1 << 64)
_LEN_MIX = 0xD6E8FEB86659FD93
# _LOW_BYTES[k]: a mask of the k low bytes of a uint64.
_LOW_BYTES = np.array([(1 << (8 * k)) - 1 for k in range(9)], dtype=_U64)
# Texts are hashed in runs of about this many characters: temporaries stay bounded whatever the batch size.
_CHUNK_CHARS = 4 << 20
# Bitmap slots per indexed hash: about 3% of other windows pass the bitmap to a binary search.
_SLOTS_PER_HASH = 32


def normalize_words(text: str) -> list[str]:
    """The words of `text` after NFKC, lowercasing and dropping punctuation: what both sides match on."""
    data = _normalized(text)
    starts, ends = _word_spans(data)
    return [data[s:e].decode("utf-8", "surrogatepass") for s, e in zip(starts, ends, strict=True)]


def _normalized(text: str | None) -> bytes:
    """UTF-8 bytes of the text after NFKC and lowercasing; _word_spans says which bytes make words."""
    if not text:
        return b""
    if text.isascii():  # NFKC leaves ASCII alone, and ASCII lowercasing is a byte map
        return text.encode("ascii").lower()
    return unicodedata.normalize("NFKC", text).lower().encode("utf-8", "surrogatepass")


@functools.cache
def _unicode_is_word() -> np.ndarray:
    """Per code point: a letter, digit or mark (the regex module's Unicode tables). Built once, ~0.5 s."""
    every = "".join(map(chr, range(0x110000)))
    marked = _NON_WORD_CHAR.sub("\x00", every).encode("utf-32-le", "surrogatepass")
    return np.frombuffer(marked, dtype=np.uint32) != 0


def _word_spans(data: bytes) -> tuple[np.ndarray, np.ndarray]:
    """(start, end) byte offsets of the words in UTF-8 `data`, all at once."""
    arr = np.frombuffer(data, dtype=np.uint8)
    is_word = np.frombuffer(data.translate(_BYTE_IS_WORD), dtype=np.int8)
    lead = np.flatnonzero(arr >= 0xC0)  # first bytes of multi-byte characters
    if len(lead):
        b0 = arr[lead].astype(np.int64)
        width = 2 + (b0 >= 0xE0) + (b0 >= 0xF0)
        cont = arr[np.minimum(lead[:, None] + np.arange(1, 4), len(arr) - 1)].astype(np.int64) & 0x3F
        cp = (b0 & (0xFF >> (width + 1))) << (6 * (width - 1))
        for k in range(1, 4):
            cp |= np.where(width > k, cont[:, k - 1] << (6 * np.maximum(width - 1 - k, 0)), 0)
        every = np.repeat(lead, width) + np.arange(width.sum()) - np.repeat(np.cumsum(width) - width, width)
        is_word = is_word.copy()
        is_word[every] = np.repeat(_unicode_is_word()[cp], width)
    padded = np.zeros(len(arr) + 2, dtype=np.int8)
    padded[1:-1] = is_word
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return edges[0::2], edges[1::2]


def _powers(base: int, count: int) -> np.ndarray:
    """base^0 .. base^(count-1) mod 2^64."""
    out = np.full(count, base, dtype=_U64)
    out[:1] = 1
    return np.multiply.accumulate(out)


def _mix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser: every input bit reaches every output bit."""
    h = h ^ (h >> _U64(33))
    h *= _U64(0xFF51AFD7ED558CCD)
    h ^= h >> _U64(33)
    h *= _U64(0xC4CEB9FE1A85EC53)
    return h ^ (h >> _U64(33))


def _word_hashes(buf: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each word's bytes and length, read 8 bytes at a time straight from the buffer."""
    # Every byte offset as the start of a little-endian uint64: an overlapping, unaligned view.
    at = np.ndarray((len(buf) + 1,), dtype="<u8", buffer=buf + bytes(8), strides=(1,))
    length = ends - starts
    first = at[starts] & _LOW_BYTES[np.minimum(length, 8)]  # most words end within their first 8 bytes
    hashes = _mix64(length.astype(_U64) * _U64(_LEN_MIX) ^ first)
    rows, offset = np.flatnonzero(length > 8), 8
    while len(rows):
        chunk = at[starts[rows] + offset] & _LOW_BYTES[np.minimum(length[rows] - offset, 8)]
        hashes[rows] = _mix64(hashes[rows] ^ chunk)
        offset += 8
        rows = rows[length[rows] > offset]
    return hashes


@dataclass
class _Words:
    """The words of a run of texts: byte spans in `buf`, which text each is in, and window hashes."""

    buf: bytes
    starts: np.ndarray  # byte offset of each word
    ends: np.ndarray
    doc: np.ndarray  # text (within the run) of each word
    doc_end: np.ndarray  # per word: one past the last word of its text
    prefix: np.ndarray  # prefix[i] = sum_{j<i} hash_j * P^j, so a window is a difference times Q^start
    inverse: np.ndarray  # Q^i

    @classmethod
    def of(cls, texts: Sequence[str | None]) -> _Words:
        pieces = [_normalized(t) for t in texts]
        buf = b" ".join(pieces)  # the space keeps words of neighbouring texts apart
        text_start = np.cumsum([0] + [len(p) + 1 for p in pieces[:-1]], dtype=np.int64)
        starts, ends = _word_spans(buf)
        hashes = _word_hashes(buf, starts, ends)
        doc = np.searchsorted(text_start, starts, side="right") - 1
        doc_end = np.searchsorted(doc, np.arange(len(texts)), side="right")[doc]
        prefix = np.concatenate((_ZERO, np.cumsum(hashes * _powers(_WORD_P, len(hashes)))))
        return cls(buf, starts, ends, doc, doc_end, prefix, _powers(_WORD_Q, len(hashes)))

    def keys(self, pos: np.ndarray, length: int | np.ndarray) -> np.ndarray:
        """The hash of the `length` words from each word index in `pos`. Word hashes are mixed already, so
        their polynomial needs no finaliser."""
        poly = (self.prefix[pos + length] - self.prefix[pos]) * self.inverse[pos]
        return poly + np.broadcast_to(length, pos.shape).astype(_U64) * _U64(_LEN_MIX)

    def all_keys(self, length: int) -> np.ndarray:
        """keys(arange(len(words) - length + 1), length) on slices; windows may cross texts."""
        count = max(len(self.inverse) - length + 1, 0)
        poly = (self.prefix[length:] - self.prefix[:count]) * self.inverse[:count]
        return poly + _U64(length * _LEN_MIX % (1 << 64))

    def inside(self, pos: np.ndarray, length: int | np.ndarray) -> np.ndarray:
        """Whether each window lies inside one text."""
        return self.doc_end[pos] - pos >= length

    def text(self, pos: int, length: int) -> str:
        words = (self.buf[self.starts[i] : self.ends[i]] for i in range(pos, pos + length))
        return " ".join(w.decode("utf-8", "surrogatepass") for w in words)


def _runs(texts: Sequence[str | None]) -> Iterator[tuple[int, Sequence[str | None]]]:
    """(offset, texts) runs of about _CHUNK_CHARS characters."""
    begin, size = 0, 0
    for i, text in enumerate(texts):
        size += len(text or "")
        if size >= _CHUNK_CHARS:
            yield begin, texts[begin : i + 1]
            begin, size = i + 1, 0
    if begin < len(texts):
        yield begin, texts[begin:]


def _equal(table: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(key index, table index) for every entry of the sorted `table` equal to one of `keys`."""
    order = np.argsort(keys)  # searchsorted runs ~3x faster on sorted queries
    lo = np.searchsorted(table, keys[order])
    found = table[np.minimum(lo, len(table) - 1)] == keys[order] if len(table) else lo < 0
    order, lo = order[found], lo[found]
    count = np.searchsorted(table, keys[order], side="right") - lo
    pick = np.repeat(order, count)
    return pick, np.repeat(lo, count) + np.arange(len(pick)) - np.repeat(np.cumsum(count) - count, count)


class BenchmarkSpec(StageParams):
    """One benchmark file: JSONL (optionally compressed) or Parquet, local or an fsspec URL."""

    name: str
    """The benchmark's name in reject details and the report."""
    path: str
    """Its file: JSONL (.gz/.zst) or Parquet, a local path or an fsspec URL. Nothing is fetched from a hub."""
    fields: list[str] = Field(min_length=1)
    """Fields holding text (question, choices, answer, ...); a list of strings is joined with spaces."""
    id_field: str | None = None
    """The item id in reports: this field's value, or the 0-based row index when unset."""


@dataclass(frozen=True, eq=False)
class BenchmarkIndex:
    """Every benchmark n-gram as a sorted 64-bit hash with its item; small enough to ship to every worker.

    Fields shorter than n words are whole n-grams of their own lengths. Rather than hash every window of
    every such length, a document's windows of `head` words (min_words) are looked up in `heads`, and only
    windows that start like a short field are hashed at that field's length."""

    n: int
    names: tuple[str, ...]  # benchmark names
    item_benchmark: np.ndarray  # int32 per item: index into names
    item_ids: pa.Array  # string per item
    item_ngrams: np.ndarray  # int32 per item: its distinct n-grams
    hashes: np.ndarray  # uint64, sorted; a hash shared by several items appears once per item
    items: np.ndarray  # int32, the item of each hash
    head: int  # min_words, or 0 when no field is shorter than n
    heads: np.ndarray  # uint64, sorted: hash of the first `head` words of each short field
    head_lengths: np.ndarray  # int32, that field's length
    bits: np.ndarray  # uint8 bitmap over the top bits of hashes and heads: a cheap first test
    shift: int

    @property
    def nbytes(self) -> int:
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray | pa.Array))

    def candidates(self, keys: np.ndarray) -> np.ndarray:
        """Indices of the keys that may be indexed (no false negatives)."""
        byte = self.bits[(keys >> _U64(self.shift + 3)).astype(np.intp)]
        bit = (keys >> _U64(self.shift)).astype(np.uint8)
        bit &= 7
        byte >>= bit
        byte &= 1
        return np.flatnonzero(byte.view(bool))


@dataclass(frozen=True)
class Hit:
    benchmark: str
    item_id: str
    ngram: str  # the matched words, normalised
    value: float  # share of the item's n-grams found in the document

    @property
    def detail(self) -> str:
        return f'{self.benchmark}/{self.item_id}: "{self.ngram}"'


def load_benchmark_ngrams(specs: Iterable[BenchmarkSpec], n: int = 13, min_words: int = 5) -> BenchmarkIndex:
    """Index every benchmark's word n-grams. A field shorter than `n` words is one n-gram of its own length,
    unless it is shorter than `min_words`: a one-word answer ("Paris") is no evidence of contamination."""
    if n < 1 or not 1 <= min_words <= n:
        raise ValueError(f"need 1 <= min_words <= n (got n={n}, min_words={min_words})")
    names, item_bench, item_ids, field_texts, field_items = [], [], [], [], []
    for b, spec in enumerate(specs):
        names.append(spec.name)
        for item_id, texts in _read_items(spec):
            item_bench.append(b)
            item_ids.append(item_id)
            field_texts.extend(texts)
            field_items.extend([len(item_ids) - 1] * len(texts))
    keys, items, heads, head_lengths = _field_ngrams(
        field_texts, np.asarray(field_items, np.int64), n, min_words
    )
    keys, items = _distinct_sorted(keys, items)
    heads, head_lengths = _distinct_sorted(heads, head_lengths)
    shift = 64 - min(30, max(16, int(np.ceil(np.log2(max(len(keys), 1) * _SLOTS_PER_HASH)))))
    slots = np.concatenate((keys, heads)) >> _U64(shift)
    bits = np.zeros(1 << (64 - shift - 3), dtype=np.uint8)
    np.bitwise_or.at(bits, slots >> _U64(3), (1 << (slots & _U64(7))).astype(np.uint8))
    return BenchmarkIndex(
        n=n,
        names=tuple(names),
        item_benchmark=np.asarray(item_bench, np.int32),
        item_ids=pa.array(item_ids, pa.string()),
        item_ngrams=np.bincount(items, minlength=len(item_ids)).astype(np.int32),
        hashes=keys,
        items=items.astype(np.int32),
        head=min_words if len(heads) else 0,
        heads=heads,
        head_lengths=head_lengths.astype(np.int32),
        bits=bits,
        shift=shift,
    )


def _distinct_sorted(keys: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (key, value) pairs, sorted by key then value."""
    order = np.lexsort((values, keys))
    keys, values = keys[order], values[order]
    keep = np.ones(len(keys), dtype=bool)
    keep[1:] = (keys[1:] != keys[:-1]) | (values[1:] != values[:-1])
    return keys[keep], values[keep]


def _field_ngrams(texts: list[str], items: np.ndarray, n: int, min_words: int) -> tuple[np.ndarray, ...]:
    """(n-gram keys, their items, short-field head keys, those fields' lengths) of every field text; the
    head of a short field is its first min_words words."""
    found = [(np.zeros(0, _U64), np.zeros(0, np.int64), np.zeros(0, _U64), np.zeros(0, np.int64))]
    for offset, run in _runs(texts):
        words = _Words.of(run)
        first = np.searchsorted(words.doc, np.arange(len(run)))
        count = np.searchsorted(words.doc, np.arange(len(run)), side="right") - first
        pos = np.flatnonzero(words.inside(np.arange(len(words.doc)), n))
        found.append((words.keys(pos, n), items[offset + words.doc[pos]], found[0][2], found[0][3]))
        short = np.flatnonzero((count < n) & (count >= min_words))
        start, length = first[short], count[short]
        found.append((words.keys(start, length), items[offset + short], words.keys(start, min_words), length))
    return tuple(np.concatenate(column) for column in zip(*found, strict=True))


def _read_items(spec: BenchmarkSpec) -> Iterator[tuple[str, list[str]]]:
    """(item id, the text of each field) per row of a benchmark file."""
    seen = set()
    for row_number, row in enumerate(_read_rows(spec)):
        seen.update(f for f in spec.fields if row.get(f) is not None)
        raw_id = row.get(spec.id_field) if spec.id_field else None
        yield str(row_number if raw_id is None else raw_id), [_field_text(row.get(f)) for f in spec.fields]
    missing = [f for f in spec.fields if f not in seen]
    if missing:
        raise ValueError(f"benchmark {spec.name!r} ({spec.path}): no row has the field(s) {missing}")


def _read_rows(spec: BenchmarkSpec) -> Iterator[dict]:
    path = spec.path
    if path.endswith((".parquet", ".pq")):
        with fsspec.open(path, "rb") as f:
            table = pq.read_table(f)
        wanted = [c for c in [*spec.fields, spec.id_field] if c in table.column_names]
        yield from table.select(wanted).to_pylist()
        return
    with fsspec.open(path, "rb", compression="infer") as f:
        for line_number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as e:
                raise ValueError(f"benchmark {spec.name!r}: {path}:{line_number}: not JSON ({e})") from e
            if not isinstance(row, dict):
                raise ValueError(f"benchmark {spec.name!r}: {path}:{line_number}: not a JSON object")
            yield row


def _field_text(value) -> str:
    """A field's text: strings as they are, lists and dicts flattened and joined with spaces."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return " ".join(_field_text(v) for v in value)
    return str(value)


def contamination(texts: Sequence[str | None] | pa.Array, index: BenchmarkIndex) -> list[Hit | None]:
    """Per document, the first benchmark item it contains (lowest item index, then earliest position), or None."""
    if isinstance(texts, pa.ChunkedArray | pa.Array):
        texts = texts.to_pylist()
    hits: list[Hit | None] = [None] * len(texts)
    if len(index.hashes) == 0:
        return hits
    for offset, run in _runs(texts):
        words = _Words.of(run)
        for doc, hit in _run_hits(words, index):
            hits[offset + doc] = hit
    return hits


def _run_hits(words: _Words, index: BenchmarkIndex) -> Iterator[tuple[int, Hit]]:
    found = [_full_matches(words, index), _short_matches(words, index)]
    doc, item, pos, length, key = (np.concatenate(column) for column in zip(*found, strict=True))
    if not len(doc):
        return
    order = np.lexsort((length, pos, item, doc))
    doc, item, pos, length, key = doc[order], item[order], pos[order], length[order], key[order]
    for row in np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]]):
        d, it = doc[row], item[row]
        share = len(np.unique(key[(doc == d) & (item == it)])) / index.item_ngrams[it]
        yield (
            int(d),
            Hit(
                benchmark=index.names[index.item_benchmark[it]],
                item_id=index.item_ids[it].as_py(),
                ngram=words.text(int(pos[row]), int(length[row])),
                value=float(share),
            ),
        )


def _full_matches(words: _Words, index: BenchmarkIndex) -> tuple[np.ndarray, ...]:
    """(doc, item, word position, length, key) of every indexed window of n words."""
    keys = words.all_keys(index.n)
    pos = index.candidates(keys)
    pos = pos[words.inside(pos, index.n)]
    return _entries(words, index, pos, np.full(len(pos), index.n), keys[pos])


def _short_matches(words: _Words, index: BenchmarkIndex) -> tuple[np.ndarray, ...]:
    """The same for whole short fields: windows that start like one are hashed at its length."""
    if not index.head:
        return _entries(words, index, *(np.zeros(0, int),) * 2, np.zeros(0, _U64))
    keys = words.all_keys(index.head)
    pos = index.candidates(keys)
    at, entry = _equal(index.heads, keys[pos])
    pos, length = pos[at], index.head_lengths[entry]
    inside = words.inside(pos, length)
    pos, length = pos[inside], length[inside]
    return _entries(words, index, pos, length, words.keys(pos, length))


def _entries(words: _Words, index: BenchmarkIndex, pos, length, keys) -> tuple[np.ndarray, ...]:
    at, entry = _equal(index.hashes, keys)
    return words.doc[pos[at]], index.items[entry], pos[at], length[at], keys[at]
