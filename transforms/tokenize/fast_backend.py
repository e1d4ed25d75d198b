"""Backend `fast`: gigatoken (SIMD pre-tokenizer, Rust BPE, ~8x `tokenizers`), guarded so its ids stay exact.

gigatoken is exact on the tokenizer shapes listed in `unsupported_reason`'s complement, with two known
differences from `tokenizers`, both handled here rather than accepted:
- it always splits special-token text (`<|endoftext|>`) into the special id; we give it the tokenizer.json
  without its special added tokens, so document text stays text (as `HFBackend` encodes it);
- under a Split-regex pre-tokenizer (Llama 3) its Unicode tables are newer than Oniguruma's, so code points
  whose letter / number class changed between Unicode versions (`pretokenize.uncertain_chars`) split
  differently. A document holding one goes to the exact path (`tokenizers`); tests/test_tokenize_fast.py
  sweeps every code point to show that no other code point differs (and none at all under GPT-2's
  ByteLevel regex, which gigatoken scans with its own tables).
gigatoken 0.10's per-worker encode caches grow without bound; rebuilding its tokenizer drops them.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections.abc import Sequence

import numpy as np

from transforms.tokenize.hf_backend import HFBackend
from transforms.tokenize.pretokenize import uncertain_chars
from transforms.tokenize.ragged import Ragged, take_segments

log = logging.getLogger(__name__)

# Llama 3's Split regex (tokenizer.json of Meta-Llama-3), the one Split pattern the exactness tests cover.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+"
    r"|\s+(?!\S)|\s+"
)
VERIFIED_SPLIT_PATTERNS = frozenset({LLAMA3_PATTERN})

# Text encoded between rebuilds of gigatoken's tokenizer, whose word caches only grow (gigatoken 0.10):
# on the varied text they grew by ~1.2 MB per MB at first; rebuilding every 64 MB kept RSS within 190-255 MB
# over 240 MB (docs/benchmarks.md). A rebuild costs ~30 ms plus re-warming the cache. (gigatoken-cachefix,
# an unofficial PyPI build of a later upstream commit, bounds them itself; we keep the official release.)
REBUILD_AFTER_BYTES = 64_000_000


class UnsupportedByFast(ValueError):
    """A tokenizer.json shape the fast backend is not verified to encode exactly (the stage then uses hf)."""


def _is_byte_level(step: dict, use_regex: bool) -> bool:
    return (
        step.get("type") == "ByteLevel"
        and bool(step.get("use_regex", True)) == use_regex
        and not step.get("add_prefix_space", False)
    )


def _pre_tokenizer_reason(step: dict) -> str | None:
    if _is_byte_level(step, use_regex=True):
        return None  # GPT-2's ByteLevel regex
    steps = step.get("pretokenizers") or []
    if step.get("type") == "Sequence" and len(steps) == 2:
        split, last = steps
        if (
            split.get("type") == "Split"
            and (split.get("pattern") or {}).get("Regex") in VERIFIED_SPLIT_PATTERNS
            and split.get("behavior") == "Isolated"
            and not split.get("invert", False)
            and _is_byte_level(last, use_regex=False)
        ):
            return None  # Llama 3's Split + ByteLevel
    return f"pre-tokenizer {json.dumps(step)[:200]} is not one of the verified shapes"


def unsupported_reason(spec: dict) -> str | None:
    """Why this tokenizer.json is outside the shapes whose exactness tests/test_tokenize_*.py prove; None if in."""
    model = spec.get("model") or {}
    if model.get("type") != "BPE":
        return f"model {model.get('type')}"
    for key in ("dropout", "unk_token", "continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            return f"BPE with {key}"
    if model.get("byte_fallback"):
        return "BPE with byte_fallback"
    if spec.get("normalizer"):
        return f"normalizer {spec['normalizer'].get('type')}"
    if any(not t.get("special") for t in spec.get("added_tokens") or []):
        return "non-special added tokens"
    return _pre_tokenizer_reason(spec.get("pre_tokenizer") or {})


@functools.cache
def _guarded_table(unicode_classes: bool) -> tuple[np.ndarray, int]:
    """The code points to guard, and the lowest of them (everything below it is clear).

    Always the surrogates: a lone one is not valid text (the reader rejects bad UTF-8), and sent to hf the
    document fails exactly as it does with backend hf. With `unicode_classes`, also the uncertain class.
    """
    table = uncertain_chars().copy() if unicode_classes else np.zeros(0x110000, bool)
    table[0xD800:0xE000] = True
    return table, int(np.flatnonzero(table)[0])


def needs_exact_path(texts: Sequence[str], unicode_classes: bool = True) -> np.ndarray:
    """A bool per document: does it hold a code point whose Unicode class gigatoken may see differently?

    ASCII documents (most of real text) are cleared by `str.isascii`; the rest are scanned in one pass, the
    table consulted only for code points above its lowest one (U+0558). Measured ~3 GB/s on real text,
    ~250 MB/s on the varied text.
    """
    mask = np.zeros(len(texts), bool)
    wide = [i for i, t in enumerate(texts) if not t.isascii()]
    if not wide:
        return mask
    table, lowest = _guarded_table(unicode_classes)
    codes = np.frombuffer("".join(texts[i] for i in wide).encode("utf-32-le", "surrogatepass"), np.uint32)
    candidates = np.flatnonzero(codes >= lowest)
    hits = candidates[table[codes[candidates]]]
    if len(hits):
        ends = np.cumsum(np.fromiter((len(texts[i]) for i in wide), np.int64, len(wide)))
        mask[np.asarray(wide)[np.searchsorted(ends, hits, side="right")]] = True
    return mask


def worker_threads(threads: int) -> int:
    """Threads for this worker: the configured cap, else RAYON_NUM_THREADS, else the cores it may use."""
    if threads > 0:
        return threads
    env = os.environ.get("RAYON_NUM_THREADS", "")
    return int(env) if env.isdigit() and int(env) > 0 else len(os.sched_getaffinity(0))


def _ragged_from_awkward(array) -> Ragged:
    """gigatoken's awkward result (one flat uint32 buffer plus offsets) as a Ragged, without a copy."""
    layout = array.layout
    offsets = np.asarray(layout.offsets, np.int64)
    flat = np.asarray(layout.content.data, np.uint32)[offsets[0] : offsets[-1]]
    return Ragged(flat, offsets - offsets[0])


def interleave(n: int, fast_rows: np.ndarray, fast: Ragged, exact_rows: np.ndarray, exact: Ragged) -> Ragged:
    """One Ragged of `n` documents from two encodings of complementary subsets of them, in document order."""
    lengths = np.zeros(n, np.int64)
    starts = np.zeros(n, np.int64)
    lengths[fast_rows], starts[fast_rows] = fast.lengths(), fast.offsets[:-1]
    lengths[exact_rows], starts[exact_rows] = exact.lengths(), exact.offsets[:-1] + len(fast.flat)
    flat = take_segments(np.concatenate([fast.flat, exact.flat]), starts, lengths)
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return Ragged(flat, offsets)


class FastBackend:
    """gigatoken for the documents it encodes exactly, `tokenizers` (an HFBackend) for the rest.

    `routed_exact` counts the documents the guard sent to the exact path (benchmarks report it).
    """

    name = "fast"

    def __init__(self, tokenizer, spec: dict, threads: int = 0):
        reason = unsupported_reason(spec)
        if reason is not None:
            raise UnsupportedByFast(reason)
        import gigatoken  # imported here: backends hf and torch must not need it

        self._gigatoken = gigatoken
        fast_spec = dict(spec, added_tokens=[])  # specials as text: only special added tokens are allowed
        self._json = json.dumps(fast_spec)
        self.exact = HFBackend(tokenizer, threads=threads)
        self.threads = worker_threads(threads)
        self.parallel = self.threads > 1
        # Only the Split-regex shape reads gigatoken's (newer) Unicode tables; its GPT-2 ByteLevel scanner
        # agrees with tokenizers on every code point (tests/test_tokenize_fast.py sweeps them all).
        self.unicode_guard = (spec.get("pre_tokenizer") or {}).get("type") == "Sequence"
        self.routed_exact = 0
        self.rebuild_after = REBUILD_AFTER_BYTES
        self.rebuilds = 0
        self._since_rebuild = 0
        self._fast = self._load()
        # Once per process, at setup rather than in the first batch: the guard's table (~0.5 s), and
        # gigatoken's first encode_batch, which imports awkward and starts the thread pool (~0.7 s).
        _guarded_table(self.unicode_guard)
        self._fast.encode_batch(["warm up"], parallel=self.parallel and not _FORKED[0])

    def _load(self):
        try:
            return self._gigatoken.Tokenizer.from_json(self._json).backend
        except RuntimeError as err:  # gigatoken names what it lacks ("Unsupported normalizer type ...")
            raise UnsupportedByFast(str(err).splitlines()[0]) from None

    def encode_unguarded(self, texts: list[str]) -> Ragged:
        """gigatoken alone, every document (what the guard protects against; benchmarks and tests compare)."""
        size = sum(map(len, texts))  # characters: a cheap stand-in for bytes, enough to pace the rebuilds
        if self._since_rebuild + size > self.rebuild_after:
            self._fast, self._since_rebuild = self._load(), 0
            self.rebuilds += 1
        self._since_rebuild += size
        parallel = self.parallel and not _FORKED[0]
        return _ragged_from_awkward(self._fast.encode_batch(texts, parallel=parallel))

    def encode_ragged(self, texts: Sequence[str]) -> Ragged:
        texts = list(texts)
        if not texts:
            return Ragged(np.zeros(0, np.uint32), np.zeros(1, np.int64))
        exact_mask = needs_exact_path(texts, self.unicode_guard)
        if not exact_mask.any():
            return self.encode_unguarded(texts)
        exact_rows, fast_rows = np.flatnonzero(exact_mask), np.flatnonzero(~exact_mask)
        self.routed_exact += len(exact_rows)
        exact = self.exact.encode_ragged([texts[i] for i in exact_rows])
        fast = self.encode_unguarded([texts[i] for i in fast_rows])
        return interleave(len(texts), fast_rows, fast, exact_rows, exact)

    def encode_batch(self, texts: Sequence[str]) -> list[np.ndarray]:
        return self.encode_ragged(texts).split()

    def encode(self, text: str) -> np.ndarray:
        return self.encode_ragged([text]).flat

    def decode(self, ids: Sequence[int] | np.ndarray) -> str:
        return self.exact.decode(ids)


# A rayon pool started before os.fork has no threads in the child: a parallel encode there would wait
# forever, so a forked child encodes on its own thread. (Beam's multi_processing workers are spawned
# processes, not forks, and keep their threads.)
_FORKED = [False]
os.register_at_fork(after_in_child=lambda: _FORKED.__setitem__(0, True))
