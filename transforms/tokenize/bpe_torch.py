"""Backend `torch`: byte-level BPE, exact against tokenizers, with the merges as batched tensor operations.

The CPU normalizes and pre-tokenizes (`pretokenize`), a word cache answers the pieces seen before (almost all of
them in real text), and only the new pieces go to the merges (`bpe_merges`) on CUDA when present, else on CPU
torch. A tokenizer this cannot encode exactly raises UnsupportedTokenizer (the stage then uses backend hf).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import islice

import numpy as np
import torch
from tokenizers import Tokenizer

from transforms.tokenize.bpe_merges import MergeTable, merge_words
from transforms.tokenize.pretokenize import (
    PreTokenizer,
    Split,
    byte_to_char,
    compile_pre_tokenizer,
    to_byte_level,
)
from transforms.tokenize.pretokenize_pool import PreTokenizerPool
from transforms.tokenize.ragged import Ragged, take_segments


class UnsupportedTokenizer(ValueError):
    """This tokenizer.json needs something the torch BPE does not do; the message says what."""


def unsupported_reason(spec: dict) -> str | None:
    """Why this tokenizer.json is beyond the torch BPE (None: nothing known so far)."""
    model = spec.get("model") or {}
    kind = model.get("type") or ("BPE" if "merges" in model else "unknown")
    if kind != "BPE":
        return f"model type {kind}"
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            return f"BPE with {key}"
    if model.get("dropout"):
        return "BPE dropout"
    if model.get("byte_fallback"):
        return "BPE byte_fallback"
    if any(not t.get("special") for t in spec.get("added_tokens") or []):
        return "added tokens that are not special (they split the text before the model)"
    return None


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


class WordCache:
    """piece -> its token ids, stored flat so that a whole batch is gathered in one vectorised step."""

    def __init__(self, max_words: int):
        self.max_words = max_words
        self.clear()

    def clear(self) -> None:
        self.index: dict[str, int] = {}
        self.flat = np.zeros(1 << 16, np.uint32)
        self.starts = np.zeros(1 << 12, np.int64)
        self.lengths = np.zeros(1 << 12, np.int64)
        self.size = 0

    def lookup(self, pieces: list[str]) -> tuple[np.ndarray, list[str]]:
        """(an id per piece, the pieces not seen before in first-seen order, which `add` must store next)."""
        if len(self.index) > self.max_words:
            self.clear()
        index, known = self.index, len(self.index)
        ids = np.fromiter((index.setdefault(p, len(index)) for p in pieces), np.int64, len(pieces))
        new = list(islice(reversed(index), len(index) - known))[::-1]
        return ids, new

    def add(self, flat: np.ndarray, offsets: np.ndarray) -> None:
        count, total = len(offsets) - 1, int(offsets[-1])
        first = len(self.index) - count
        if first + count > len(self.starts):
            grow = max(2 * len(self.starts), first + count)
            self.starts = np.resize(self.starts, grow)
            self.lengths = np.resize(self.lengths, grow)
        if self.size + total > len(self.flat):
            self.flat = np.resize(self.flat, max(2 * len(self.flat), self.size + total))
        self.flat[self.size : self.size + total] = flat
        self.starts[first : first + count] = self.size + offsets[:-1]
        self.lengths[first : first + count] = np.diff(offsets)
        self.size += total

    def gather(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(token ids of the pieces back to back, tokens per piece)."""
        lengths = self.lengths[ids]
        return take_segments(self.flat, self.starts[ids], lengths), lengths


class TorchBPE:
    """encode / encode_batch / decode with the torch BPE; ids equal the tokenizers library's, token for token."""

    name = "torch"

    def __init__(
        self,
        tokenizer: Tokenizer,
        spec: dict,
        device: str = "auto",
        max_cached_words: int = 1 << 20,
        processes: int = 0,
    ):
        reason = unsupported_reason(spec)
        if reason is not None:
            raise UnsupportedTokenizer(reason)
        model = spec["model"]
        self.tokenizer = tokenizer
        self.vocab: dict[str, int] = model["vocab"]
        self.device = resolve_device(device)
        try:
            self.table = MergeTable.from_vocab(self.vocab, model.get("merges") or [], self.device)
        except ValueError as err:
            raise UnsupportedTokenizer(str(err)) from None
        self.ignore_merges = bool(model.get("ignore_merges"))
        self.pre: PreTokenizer = compile_pre_tokenizer(tokenizer, spec)
        self.byte_ids = np.array([self.vocab.get(c, -1) for c in byte_to_char()], np.int64)
        self.cache = WordCache(max_cached_words)
        self.pool = PreTokenizerPool(tokenizer.to_str(), processes) if processes > 0 else None

    def _vocab_form(self, piece: str) -> str:
        return to_byte_level(piece) if self.pre.byte_level else piece

    def _symbols(self, pieces: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """First symbols (vocabulary ids, -1 where missing) of each piece: its bytes, or its characters."""
        if self.pre.byte_level:
            encoded = [p.encode("utf-8") for p in pieces]
            lengths = np.fromiter(map(len, encoded), np.int64, len(pieces))
            flat = self.byte_ids[np.frombuffer(b"".join(encoded), np.uint8)]
        else:
            lengths = np.fromiter(map(len, pieces), np.int64, len(pieces))
            codes = np.frombuffer("".join(pieces).encode("utf-32-le"), np.uint32)
            unique, inverse = np.unique(codes, return_inverse=True)
            flat = np.array([self.vocab.get(chr(c), -1) for c in unique], np.int64)[inverse]
        offsets = np.zeros(len(pieces) + 1, np.int64)
        np.cumsum(lengths, out=offsets[1:])
        return flat, offsets

    def _direct(self, pieces: list[str], flat: np.ndarray, offsets: np.ndarray) -> dict[int, list[int]]:
        """Pieces answered without merges: a whole-token piece under ignore_merges, and (rare) pieces with a
        symbol outside the vocabulary, which the tokenizers model itself encodes (unk / skip rules)."""
        direct: dict[int, list[int]] = {}
        if self.ignore_merges:
            for i, piece in enumerate(pieces):
                token = self.vocab.get(self._vocab_form(piece))
                if token is not None:
                    direct[i] = [token]
        missing = np.add.reduceat((flat < 0).astype(np.int64), offsets[:-1]) if len(flat) else []
        for i in np.flatnonzero(missing):
            if int(i) not in direct:
                direct[int(i)] = [t.id for t in self.tokenizer.model.tokenize(self._vocab_form(pieces[i]))]
        return direct

    def _encode_new(self, pieces: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids of pieces not in the cache: (flat, offsets) in piece order."""
        flat, offsets = self._symbols(pieces)
        direct = self._direct(pieces, flat, offsets)
        merge = np.ones(len(pieces), bool)
        merge[list(direct)] = False
        chosen = np.flatnonzero(merge)
        lengths = np.diff(offsets)
        merged, merged_offsets = merge_words(
            take_segments(flat, offsets[chosen], lengths[chosen]),
            np.r_[0, np.cumsum(lengths[chosen])],
            self.table,
            # Bigger buckets mean fewer kernel launches on a GPU; ~40 bytes per cell while merging.
            max_cells=1 << 24 if self.device.type == "cuda" else 1 << 22,
        )
        # One source array (merged results, then the direct ones) and where each piece's ids start in it.
        out_lengths = np.zeros(len(pieces), np.int64)
        starts = np.zeros(len(pieces), np.int64)
        out_lengths[chosen] = np.diff(merged_offsets)
        starts[chosen] = merged_offsets[:-1]
        extra = [i for d in direct.values() for i in d]
        at = len(merged)
        for i, ids in direct.items():
            out_lengths[i], starts[i] = len(ids), at
            at += len(ids)
        source = np.concatenate([merged, np.asarray(extra, np.int64)])
        out_offsets = np.r_[0, np.cumsum(out_lengths)]
        return take_segments(source, starts, out_lengths), out_offsets

    def _encode_split(self, split: Split) -> Ragged:
        ids, new = self.cache.lookup(split.unique)
        if new:
            self.cache.add(*self._encode_new(new))
        flat, lengths = self.cache.gather(ids[split.piece_ids])
        token_ends = np.r_[0, np.cumsum(lengths)]
        return Ragged(flat.astype(np.uint32, copy=False), token_ends[np.r_[0, np.cumsum(split.counts)]])

    def encode_ragged(self, texts: Sequence[str]) -> Ragged:
        split = self.pool.split_unique(texts) if self.pool else self.pre.split_unique(texts)
        return self._encode_split(split)

    def encode_stream(self, batches: Iterable[Sequence[str]]) -> Iterator[Ragged]:
        """encode_ragged over many batches; with a pool, later batches are pre-tokenized meanwhile."""
        splits = self.pool.stream(batches) if self.pool else map(self.pre.split_unique, batches)
        for split in splits:
            yield self._encode_split(split)

    def close(self) -> None:
        if self.pool:
            self.pool.close()
            self.pool = None

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_ragged(texts).split()

    def encode(self, text: str) -> np.ndarray:
        return self.encode_ragged([text]).flat

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.tokenizer.decode([int(i) for i in ids], skip_special_tokens=False)
