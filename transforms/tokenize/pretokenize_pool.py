"""Pre-tokenize in worker processes, so that backend torch's CPU half uses every core it is given.

Pre-tokenization is Python-driven (regex, dict) and holds the GIL, so threads would not help. Workers return
each batch deduplicated (`Split`): the parent then touches each distinct piece once, not every piece.
"""

from __future__ import annotations

import json
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
from tokenizers import Tokenizer

from transforms.tokenize.pretokenize import PreTokenizer, Split, compile_pre_tokenizer, merge_splits

_worker: PreTokenizer | None = None


def _start_worker(tokenizer_json: str) -> None:
    global _worker
    _worker = compile_pre_tokenizer(Tokenizer.from_str(tokenizer_json), json.loads(tokenizer_json))


def _ready(_: int) -> None:
    """A no-op task: submitting one per worker makes the pool start them all."""


def _split(texts: list[str]) -> Split:
    return _worker.split_unique(texts)


def _chunks(texts: Sequence[str], count: int) -> list[list[str]]:
    """`count` runs of consecutive texts with about equal characters each."""
    ends = np.cumsum([len(t) for t in texts])
    if not len(ends):
        return []
    cuts = np.searchsorted(ends, np.arange(1, count) * ends[-1] / count, side="right")
    bounds = [0, *sorted(set(int(c) for c in cuts)), len(texts)]
    return [list(texts[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True) if b > a]


class PreTokenizerPool:
    def __init__(self, tokenizer_json: str, processes: int):
        # spawn, not fork: forking after CUDA or tokenizers' own threads have started is unsafe.
        self.processes = processes
        self.executor = ProcessPoolExecutor(
            processes,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
            initargs=(tokenizer_json,),
        )
        # Start every worker now (setup time), not inside the first batch.
        list(self.executor.map(_ready, range(processes)))

    def split_unique(self, texts: Sequence[str]) -> Split:
        """One batch, spread over every worker."""
        return merge_splits(list(self.executor.map(_split, _chunks(texts, 2 * self.processes))))

    def stream(self, batches: Iterable[Sequence[str]]) -> Iterator[Split]:
        """Batches in order, one per worker, with every worker kept busy ahead of the caller."""
        pending: deque = deque()
        for batch in batches:
            pending.append(self.executor.submit(_split, list(batch)))
            if len(pending) > self.processes:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)
