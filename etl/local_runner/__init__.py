"""The local runner's own machinery: a process pool for the heavy per-element work, and shuffles through files.

Only Beam's in-process local runner gets it: with any other runner the pool has no processes (the work runs
inline in each worker) and keyed items are shuffled by the runner itself. Output stays byte-identical with or
without it, because the pool returns results in submission order and a spilled shuffle moves the same batches
as the runner would, only through files instead of the runner's memory.
"""
