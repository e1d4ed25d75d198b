"""Every core on the local runner: work handed to a pool of processes, results read back in submission order.

Beam's local runner is one process by default (`multi_processing` lost grouped elements, docs/runners.md), and
the heavy per-element work of this project (parse, normalize, quality, hashes, MinHash, tokenize, Parquet, edge
verification) is Python or numpy that holds one core. `PooledDoFn` hands each element's work, a pure function,
to a worker process and emits the results in the order the elements came: the DoFn's outputs are the ones it
would give doing the work itself, so a run with a pool is byte-identical to one without. With `processes` 0
the work runs inline: what a distributed runner's workers do, each already one process per core.

The pool is started from a fork server (a clean process), not forked from the driver, whose threads (Beam's,
the lease renewer) could hold locks at fork time. One pool per process, shared by every pooled step, so the
models a worker loads serve all of them.
"""

from __future__ import annotations

import collections
import ctypes
import gc
import importlib
import logging
import multiprocessing
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

import apache_beam as beam
import pyarrow as pa
from apache_beam.transforms.window import GlobalWindows

log = logging.getLogger("corpus_etl")

# Nothing is imported in the fork server: its pages would count again in every worker's RSS (each worker
# imports what its first call needs, about a second, once per run).
PRELOAD: list[str] = []


_in_worker = False


def in_worker() -> bool:
    """Whether this process is one of a pool's workers (not the driver, whose heap is the runner's)."""
    return _in_worker


def _init_worker(level: int, libraries: int) -> None:
    """Pool workers log like the driver, at its levels (the fork server has no handlers)."""
    global _in_worker
    _in_worker = True
    from etl.logs import configure_logging

    configure_logging(logging.getLevelName(level), libraries=logging.getLevelName(libraries))


_executors: dict[int, ProcessPoolExecutor] = {}


def _executor(processes: int) -> ProcessPoolExecutor:
    """One pool per process and size, shared by both passes (their models load once per worker)."""
    if processes not in _executors:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(PRELOAD)
        _executors[processes] = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(logging.getLogger("corpus_etl").getEffectiveLevel(), logging.getLogger().level),
        )
    return _executors[processes]


def _import_all(modules: tuple[str, ...]) -> None:
    for name in modules:
        importlib.import_module(name)


def warm(processes: int, modules: tuple[str, ...]) -> None:
    """Start a pool of `processes` now, each worker importing `modules` (Beam, Arrow, the models' code: 3 to 4
    s of a core each): done while the driver plans and builds the pipeline, not when the first unit is due.
    The pool is the one `OrderedPool(processes)` will use."""
    if processes > 0:
        executor = _executor(processes)
        for _ in range(processes):
            executor.submit(_import_all, tuple(modules))


def shutdown() -> None:
    """Stop every pool's workers (the end of a run: idle workers would keep their memory)."""
    while _executors:
        _executors.popitem()[1].shutdown(wait=True, cancel_futures=True)


class OrderedPool:
    """Submit calls; read back their results in submission order, at most `processes + 1` in flight.

    `processes` 0 runs each call inline at submission.
    """

    def __init__(self, processes: int):
        self.processes = processes
        self._pending: collections.deque[Future] = collections.deque()

    def submit(self, fn: Callable, *args) -> Iterator:
        """Start fn(*args); yields the results that are due now (the oldest, once too many are in flight)."""
        if self.processes <= 0:
            yield fn(*args)
            return
        self._pending.append(_executor(self.processes).submit(fn, *args))
        while len(self._pending) > self.processes + 1:
            yield self._pending.popleft().result()

    def drain(self) -> Iterator:
        """Every result still due, in submission order."""
        while self._pending:
            yield self._pending.popleft().result()

    def close(self) -> None:
        for future in self._pending:
            future.cancel()
        self._pending.clear()


_released_at = float("-inf")
# A driver's full collection takes a second in a big run: the unrolled rounds (a pooled step each, a second
# apart) each paid it, for nothing freed in between.
RELEASE_SECONDS = 10.0


def release_memory() -> None:
    """Hand what a step freed back to the system: Python's and Arrow's allocators keep it otherwise, and a
    process's RSS then stays at its biggest step's peak for the rest of the run."""
    global _released_at
    _released_at = time.monotonic()
    gc.collect()
    pa.default_memory_pool().release_unused()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class PooledDoFn(beam.DoFn):
    """A DoFn whose work per element, `call(element) -> (fn, *args)`, runs in an OrderedPool; `emit(result)`
    turns each result into outputs, in element order (`finish_bundle` emits the last ones)."""

    # A line at most this often while a step runs, and one when a step that ran this long ends: a long step
    # shows it is alive; a short one (most of them, e.g. each round of the components) logs at DEBUG only (-v).
    PROGRESS_SECONDS = 30.0
    label = ""  # the step's name in progress lines; none without one

    def __init__(self, processes: int):
        self.processes = processes
        self._pool = None

    def setup(self):
        recent = time.monotonic() - _released_at < RELEASE_SECONDS
        if self.processes and not recent:  # a big run: hand back what the steps before it left in the driver
            release_memory()
        self._pool = OrderedPool(self.processes)
        self._done, self._started = 0, time.monotonic()
        self._shown = self._started

    def teardown(self):
        if self._pool is not None:
            self._pool.close()

    def process(self, element):
        for done in self._pool.submit(*self.call(element)):
            yield from self.emit(done)
            self._one_done()

    def _one_done(self) -> None:
        self._done += 1
        if time.monotonic() - self._shown >= self.PROGRESS_SECONDS:
            self._show_progress()

    def _show_progress(self, final: bool = False) -> None:
        self._shown = time.monotonic()
        elapsed = self._shown - self._started
        if self.label:
            level = logging.DEBUG if final and elapsed < self.PROGRESS_SECONDS else logging.INFO
            log.log(level, "progress: %s: %d done in %.0f s", self.label, self._done, elapsed)

    def finish_bundle(self):
        for done in self._pool.drain():
            self._one_done()
            for out in self.emit(done):
                if isinstance(out, beam.pvalue.TaggedOutput):
                    yield beam.pvalue.TaggedOutput(out.tag, GlobalWindows.windowed_value(out.value))
                else:
                    yield GlobalWindows.windowed_value(out)
        self._show_progress(final=True)

    def call(self, element) -> tuple:
        raise NotImplementedError

    def emit(self, done):
        raise NotImplementedError
