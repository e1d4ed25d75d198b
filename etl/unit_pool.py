"""Every core on the local runner: a pass's work units run in a pool of processes, results in plan order.

Beam's local runner is one process by default (`multi_processing` lost grouped elements, docs/runners.md), and
the per-unit work (parse, normalize, quality, hashes, MinHash, tokenize, Parquet) is Python that holds the
GIL. So the two passes hand each unit to a worker process of their own and take the results back in the
order the units came: a DoFn sees the same outputs, in the same order, as if it had done the work itself,
which keeps the run byte-identical to a one-process run. On a distributed runner each SDK worker is already
one process per core, and the pool is one inline "process" (no pool at all).

The pool is started from a fork server (a clean process with the work modules imported), not forked from
the driver, whose threads (Beam's, the lease renewer) could hold locks at fork time.
"""

from __future__ import annotations

import collections
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor

from etl.runner import usable_cores

# Below this much text a run is over before a pool has started its workers (about a second each).
POOL_MIN_BYTES = 24 << 20
ENV = "CORPUS_ETL_PROCESSES"


def pool_processes(local: bool, units: int, total_bytes: int) -> int:
    """Worker processes for a pass: every usable core on the in-process local runner for an input big enough,
    else 0 (the work runs inline). `CORPUS_ETL_PROCESSES=N` sets it (0: inline) on the local runner."""
    if not local:
        return 0
    given = os.environ.get(ENV)
    if given is not None and given.strip():
        return max(0, int(given))
    if units < 2 or total_bytes < POOL_MIN_BYTES:
        return 0
    return min(usable_cores(), units)


def _init_worker(level: int) -> None:
    """Pool workers log our progress lines like the driver (the fork server has no handlers)."""
    from etl.logs import configure_logging

    configure_logging(logging.getLevelName(logging.getLogger().level))
    logging.getLogger("corpus_etl").setLevel(level)


_executors: dict[int, ProcessPoolExecutor] = {}


def _executor(processes: int) -> ProcessPoolExecutor:
    """One pool per process and size, shared by both passes (their models load once per worker)."""
    if processes not in _executors:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["etl.unit_work"])
        _executors[processes] = ProcessPoolExecutor(
            max_workers=processes,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(logging.getLogger("corpus_etl").getEffectiveLevel(),),
        )
    return _executors[processes]


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
