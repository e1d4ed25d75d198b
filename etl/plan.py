"""Group input files into work units: the grain of parallelism of the read and write passes.

A unit is a run of consecutive files (in sorted order) of about `unit_bytes`; it is a pure function of the file
list and the config, so reruns and other runners cut the same units and write the same shard names.
One file is never split, so a single huge file is read by one worker.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WorkUnit:
    index: int
    files: tuple[str, ...]
    bytes: int


def plan_units(files: list[tuple[str, int]], unit_bytes: int) -> list[WorkUnit]:
    units: list[WorkUnit] = []
    current: list[str] = []
    size = 0
    for url, nbytes in files:
        if current and size + nbytes > unit_bytes:
            units.append(WorkUnit(len(units), tuple(current), size))
            current, size = [], 0
        current.append(url)
        size += nbytes
    if current:
        units.append(WorkUnit(len(units), tuple(current), size))
    return units
