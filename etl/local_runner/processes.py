"""How many worker processes a run's pooled steps get (etl/local_runner/pool.py): every core on the local runner.

Only the local runner's one in-process worker gets a pool; a distributed runner's workers are already one
process per core. Output never depends on the count (the pool keeps element order).
"""

from __future__ import annotations

import os

# Below this much text a run is over before a pool has started its workers (about a second each).
POOL_MIN_BYTES = 24 << 20
ENV = "CORPUS_ETL_PROCESSES"


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), not the machine's count."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def requested() -> int | None:
    """The count `CORPUS_ETL_PROCESSES` asks for, None when unset; a bad value is an error naming it (a run
    checks it before it takes its output's lease)."""
    given = (os.environ.get(ENV) or "").strip()
    if not given:
        return None
    if not given.isdigit():
        raise ValueError(f"{ENV}={given!r}: give a whole number of worker processes (0: none)")
    return int(given)


def pool_processes(local: bool, units: int, total_bytes: int) -> int:
    """Worker processes for a pass: every usable core on the in-process local runner for an input big enough,
    else 0 (the work runs inline). `CORPUS_ETL_PROCESSES=N` sets it (0: inline) on the local runner."""
    if not local:
        return 0
    if (count := requested()) is not None:
        return count
    if units < 2 or total_bytes < POOL_MIN_BYTES:
        return 0
    return min(usable_cores(), units)


def early_processes(local: bool, input_bytes: int) -> int:
    """The pool a run will most likely get, known before its units are planned (their text is at least the
    input's bytes, compressed or not), so that its workers can start while the driver plans."""
    return pool_processes(local, usable_cores(), input_bytes)
