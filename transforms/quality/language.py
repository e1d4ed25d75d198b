"""Language identification with py3langid's shipped model, run on a whole column at once.

py3langid walks a byte automaton one byte at a time in Python (about 1 MB/s here). Its automaton is an
Aho-Corasick machine whose deepest state is a few bytes long, so the state after reading `depth` bytes does
not depend on anything earlier: we cut every document into 256-byte chunks, start each chunk `depth` bytes
early, and advance all chunks of the batch together, one numpy step per byte offset. Feature counts, naive
Bayes scores and the length-calibrated softmax are py3langid's own (`norm_probs=True`), so `lang` and
`q_lang_score` equal `LanguageIdentifier.classify` on the same (truncated) text; tests check it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import scipy.sparse as sp

from transforms.normalize import nfc
from transforms.quality.params import LanguageParams
from transforms.quality.rules import Rule, Step, StepOutput, rule
from transforms.quality.text_tables import DocText

_CHUNK = 256


class LanguageModel:
    """py3langid's model as flat numpy tables: transition and feature per (state row, byte)."""

    def __init__(self) -> None:
        import py3langid.langid as langid
        from py3langid.modelio import load_model

        ptc, pc, classes, nextmove, row, out = load_model(Path(langid.MODEL_DIR) / langid.MODEL_FILE)
        # The transition table is the one big array (38 K rows x 256 bytes): kept as it comes, 4 bytes a
        # cell, without a copy. What a state is (its row offset, the feature it emits) sits in two small
        # per-state tables, looked up after each step: a table of row offsets per cell would double the
        # model's memory in every worker for no speed.
        nextmove = np.asarray(nextmove)  # the array.array's own buffer and type (uint32 today)
        self.nextmove = nextmove.view(np.int32) if nextmove.itemsize == 4 else nextmove.astype(np.int32)
        self.state_rowbase = np.asarray(row).astype(np.int32) * 256
        self.state_feature = np.asarray(out, dtype=np.int32)
        self.start = np.int32(self.state_rowbase[0])
        self.depth = _automaton_depth(self.nextmove, self.state_rowbase)
        self.ptc = np.asarray(ptc, dtype=np.float32)
        self.pc = np.asarray(pc, dtype=np.float32)
        self.classes = list(classes)
        # Labels that appear twice (a script alias): py3langid folds the second into the first.
        first: dict[str, int] = {}
        self.aliases: list[tuple[int, int]] = []
        for i, label in enumerate(self.classes):
            if label in first:
                self.aliases.append((first[label], i))
            else:
                first[label] = i

    def probabilities(self, text: pl.Series) -> np.ndarray:
        """(documents x languages) normalised probabilities, as py3langid with norm_probs=True."""
        arr = _prepare(text).to_arrow().cast(pa.large_string())
        offsets = np.frombuffer(arr.buffers()[1], np.int64)[arr.offset : arr.offset + len(arr) + 1]
        data = (
            np.frombuffer(arr.buffers()[2], np.uint8) if len(arr) and offsets[-1] else np.zeros(1, np.uint8)
        )
        n_bytes = np.diff(offsets)
        doc, feat = self._features(data, offsets)
        raw = self._scores(doc, feat, len(n_bytes))
        raw *= (1.0 / np.sqrt(np.maximum(n_bytes, 1)))[:, None]
        probs = np.exp(raw - raw.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        for keep, dupe in self.aliases:
            probs[:, keep] += probs[:, dupe]
            probs[:, dupe] = 0.0
        return probs

    def _features(self, data: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(document, feature) for every feature the automaton emits, all documents advanced together."""
        n_bytes = np.diff(offsets)
        per_doc = np.maximum(1, -(-n_bytes // _CHUNK))
        chunk_doc = np.repeat(np.arange(len(n_bytes)), per_doc)
        k = np.arange(len(chunk_doc)) - np.repeat(np.cumsum(per_doc) - per_doc, per_doc)
        start = offsets[chunk_doc] + k * _CHUNK
        length = np.minimum(start + _CHUNK, offsets[chunk_doc + 1]) - start
        width = self.depth + _CHUNK
        # Row t holds every chunk's byte at offset t from its warm-up start (clipped reads are never counted).
        pos = (start - self.depth)[None, :] + np.arange(width)[:, None]
        byte = data[np.clip(pos, 0, len(data) - 1)]
        rowbase = np.full(len(chunk_doc), self.start, np.int32)
        cell = np.empty(len(chunk_doc), np.int32)
        reached = np.empty((width, len(chunk_doc)), np.int32)  # the state each byte leads to
        for t in range(width):
            if t == self.depth:
                rowbase[k == 0] = self.start  # a document's first chunk starts at the root, like py3langid
            np.add(rowbase, byte[t], out=cell)
            np.take(self.nextmove, cell, out=reached[t])
            np.take(self.state_rowbase, reached[t], out=rowbase)
        t = np.arange(width)[:, None]
        counted = (t >= self.depth) & (t < self.depth + length[None, :])
        doc = np.broadcast_to(chunk_doc[None, :], reached.shape)[counted]
        feature = self.state_feature[reached[counted]]
        emits = feature >= 0
        return doc[emits], feature[emits]

    def _scores(self, doc: np.ndarray, feat: np.ndarray, n_docs: int) -> np.ndarray:
        """Naive Bayes log scores: log1p(count) of each feature times its class weights, plus priors."""
        n_feat = self.ptc.shape[0]
        # Counts by scipy's own COO -> CSR conversion, which sums repeated (doc, feature) cells; canonical
        # (sorted) column order makes the products below add up in one fixed order.
        ones = np.ones(len(doc), dtype=np.float32)  # counts stay exact in float32 (below 2**24)
        weights = sp.coo_matrix((ones, (doc, feat)), shape=(n_docs, n_feat)).tocsr()
        weights.sum_duplicates()
        weights.data = np.log1p(weights.data.astype(np.float64)).astype(np.float32)
        scores = np.asarray(weights @ self.ptc, dtype=np.float64) + self.pc
        # py3langid scores a text without any feature as all zeros (a uniform guess), not as the priors.
        scores[np.bincount(doc, minlength=n_docs) == 0] = 0.0
        return scores


def _prepare(text: pl.Series) -> pl.Series:
    """py3langid's input rules: an all-uppercase text is lowercased, then NFC (only non-ASCII text changes)."""
    upper = text.str.contains(r"\p{Lu}") & ~text.str.contains(r"\p{Ll}")
    text = pl.select(pl.when(upper).then(text.str.to_lowercase()).otherwise(text)).to_series()
    # NFC of the non-ASCII rows only, by CPython's quick check (polars' `when` would normalize every row).
    return pl.from_arrow(nfc(text.to_arrow().cast(pa.large_string())))


def _automaton_depth(nextmove: np.ndarray, rowbase: np.ndarray) -> int:
    """Length of the longest string a state stands for: its breadth-first distance from the root
    (`rowbase`: each state's offset into `nextmove`)."""
    seen = np.zeros(len(rowbase), dtype=bool)
    seen[0] = True
    frontier, depth = np.array([0]), 0
    while True:
        reached = np.unique(nextmove[rowbase[frontier][:, None] + np.arange(256)])
        frontier = reached[~seen[reached]]
        if len(frontier) == 0:
            return depth
        seen[frontier] = True
        depth += 1


@cache
def language_model() -> LanguageModel:
    """Loaded once per process (about 2 s: the model is LZMA-compressed in the wheel)."""
    return LanguageModel()


def language_metrics(data, params: LanguageParams) -> pl.DataFrame:
    """Columns lang (top label) and q_lang_score (its probability) over the first max_chars characters."""
    docs = DocText.of(data)
    text = docs.text if params.max_chars is None else docs.text.str.slice(0, params.max_chars)
    model = language_model()
    probs = model.probabilities(text)
    top = probs.argmax(axis=1) if len(text) else np.zeros(0, np.int64)
    return pl.DataFrame(
        {
            "lang": pl.Series(model.classes, dtype=pl.String).gather(top),
            "q_lang_score": probs[np.arange(len(top)), top],
        }
    )


def language_steps(params: LanguageParams, languages: list[str]) -> list[Step]:
    # An unsure guess is reported as such before its label is judged (empty text gets a uniform guess).
    rules = rule("language.low_score", "q_lang_score", "<", params.min_score)
    if languages:
        rules.append(Rule("language.not_allowed", "lang", "not in", tuple(languages)))
    return [Step(lambda docs: StepOutput(language_metrics(docs, params)), tuple(rules))]
