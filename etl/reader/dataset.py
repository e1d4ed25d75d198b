"""TokenShardDataset: the corpus a manifest lists, as batches of packed `seq_len + 1` token windows.

An `IterableDataset` that yields whole batches (use it with `batch_size=None`, or through `TokenShardLoader`).
The epoch's global sequence of windows is fixed by (seed, epoch, manifest, seq_len, batch_size, lanes) alone
(see `layout`); which of its windows batch k of a rank holds, by the job's progress and (rank, world_size)
(see `resume`); the worker count only decides who reads a batch, never what it holds.
"""

from __future__ import annotations

import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import pyarrow as pa
import torch
from torch.utils.data import IterableDataset, get_worker_info

from etl.reader.layout import (
    EpochPlan,
    SplitSpec,
    copy_unit,
    doc_permutation,
    plan_epoch,
    position_runs,
    stream_windows,
    units_of_windows,
)
from etl.reader.resume import Leg, Progress, check_order, make_state, merge_states, saved_progress
from etl.reader.shards import (
    TOKENS,
    ManifestError,
    Verify,
    check_verify,
    default_threads,
    load_corpus,
    open_filesystem,
    open_shard,
    scan_units,
    verify_checksums,
)

_OPEN_FILES = 16


def _numpy_view(array: pa.Array, path: str) -> np.ndarray:
    """A zero-copy numpy view of a primitive integer array (Array.to_numpy would import pandas: seconds)."""
    if array.null_count:
        raise ManifestError(f"{path}: null values inside the 'tokens' column")
    kind = "u" if pa.types.is_unsigned_integer(array.type) else "i"
    dtype = np.dtype(f"{kind}{array.type.bit_width // 8}")
    return np.frombuffer(
        array.buffers()[1], dtype=dtype, count=len(array), offset=array.offset * dtype.itemsize
    )


class _Unit(NamedTuple):
    """A decoded unit: its tokens as stored, and its non-empty documents in the epoch's order."""

    values: np.ndarray  # tokens in file order
    src: list[int]  # start of each document in `values`
    dst: list[int]  # start of each document in the unit's epoch order (lists: read per batch by bisect)


class _UnitCache:
    """Decoded units of one process, least recently used out first.

    Units are decoded on a small thread pool (pyarrow releases the GIL), and asking for a unit also starts the
    next unit of the stream, so storage latency and Parquet decoding overlap with packing in the caller.
    """

    def __init__(self, ds: TokenShardDataset, capacity: int, threads: int):
        self.ds, self.capacity = ds, capacity
        self.fs = open_filesystem(ds.manifest_url, ds.storage_options)[0]
        self.pool = ThreadPoolExecutor(threads, thread_name_prefix="etl-reader")
        self.units: OrderedDict[tuple[int, int], Future[_Unit]] = OrderedDict()
        self.local = threading.local()  # open Parquet files, per decoding thread

    def get(self, epoch: int, unit: int, then: int | None = None) -> _Unit:
        """Unit `unit` of `epoch`; starts decoding unit `then` too."""
        wanted = self._submit(epoch, unit)
        if then is not None:
            self._submit(epoch, then)
        while len(self.units) > self.capacity:
            self.units.popitem(last=False)
        return wanted.result()

    def _submit(self, epoch: int, unit: int) -> Future[_Unit]:
        key = (epoch, unit)
        if key not in self.units:
            self.units[key] = self.pool.submit(self._decode, epoch, unit)
        self.units.move_to_end(key)
        return self.units[key]

    def _file(self, shard: int):
        files = self.local.__dict__.setdefault("files", OrderedDict())
        if shard not in files:
            self.ds._verify_shards([shard])  # a no-op once the epoch's share is verified (see __iter__)
            files[shard] = open_shard(self.fs, self.ds.corpus.shards[shard])
            while len(files) > _OPEN_FILES:
                files.popitem(last=False)
        files.move_to_end(shard)
        return files[shard]

    def _decode(self, epoch: int, unit: int) -> _Unit:
        units, ds = self.ds.units, self.ds
        shard, group = int(units.shard[unit]), int(units.row_group[unit])
        path = ds.corpus.shards[shard].path
        column = self._file(shard).read_row_group(group, columns=[TOKENS], use_threads=False).column(0)
        lists = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
        if lists.null_count:
            raise ManifestError(f"{path}: row group {group} has {lists.null_count} null 'tokens' lists")
        values = _numpy_view(lists.flatten(), path)
        if len(values) != units.tokens[unit]:
            raise ManifestError(
                f"{path}: row group {group} holds {len(values)} tokens, its footer said {units.tokens[unit]}; "
                "the file changed after the run committed"
            )
        offsets = _numpy_view(lists.offsets, path).astype(np.int64)
        lengths = np.diff(offsets)
        src = offsets[:-1] - offsets[0]
        if ds.shuffle:
            # Permuting (start, length) pairs is all the shuffle costs: tokens are copied once, into the batch.
            perm = doc_permutation(ds.seed, epoch, ds.corpus.key, unit, len(lengths))
            src, lengths = src[perm], lengths[perm]
        keep = lengths > 0
        src, lengths = src[keep], lengths[keep]
        dst = np.concatenate(([0], np.cumsum(lengths)[:-1]))
        return _Unit(values, src.tolist(), dst.tolist())


class TokenShardDataset(IterableDataset):
    """Packed windows of `seq_len + 1` tokens from the shards of a corpus-etl manifest (local or fsspec URL).

    Yields dicts with `tokens` and `position_ids` (int64, [batch, seq_len + 1]; position ids restart at 0 at
    each document start and each window start) and `sample_index` (int64 [batch]: the windows' positions in
    the epoch's global sequence, the same whatever the world size, so unique across ranks and legs of a
    resumed epoch). Documents are concatenated (EOS is already in their tokens) and cut into windows; per
    epoch fewer than `lanes` windows' worth of tokens at the end of the stream are dropped, never padded, and
    fewer than `world_size` windows more so that every rank takes the same number of steps.

    Resume: `state_dict()` is how far the job got into the epoch's global sequence, assuming every rank
    consumed as many batches as this one (true at any step of data-parallel training), so the states of all
    ranks agree and saving rank 0's is enough; it also names this rank's own count. `load_state_dict()` takes
    one such state, or the list of every rank's states (each rank saved its own: `merge_states` makes them one,
    exact even if ranks stopped unevenly), under any world_size and worker count: the job continues the same
    epoch with no window lost or repeated. seed, shuffle, seq_len, batch_size, lanes and the manifest must
    not change (the global batch, world_size * batch_size, changes with the world size). It is exact when
    iterated in this process; with dataloader workers use `TokenShardLoader`, which keeps it from what it
    delivered.

    manifest: path or fsspec URL of manifest.json (s3:// reads AWS_* variables, or pass `storage_options`).
    seq_len, batch_size: windows hold seq_len + 1 tokens (inputs and shifted labels); batch_size windows a batch.
    rank, world_size: this process's share; every rank gets the same number of batches.
    seed, shuffle: the order is a pure function of (seed, epoch, manifest); shuffle=False reads in manifest order.
    lanes: contiguous regions of the epoch stream that the global sequence takes in turn, a batch at a time.
        A setting of the order, kept across resumes: pick a multiple of every world_size * num_workers the job
        may run with, so each worker reads lanes / (world_size * workers) regions and no row group twice.
    verify: sha256 of whole shards against the manifest. "rank" (default): this rank hashes every shard it reads,
        before it reads it (the shards of its share of an epoch, once per dataset, at construction for the
        current epoch and at the start of each later one); "all": every shard at construction; "none": never,
        so a changed byte inside a page is served as it is (sizes, rows and token counts are still checked).
    allow_unvalidated: read a manifest whose validation did not pass.
    io_threads: threads for the construction-time footer scan and hashing; decode_threads: per process, for
    decoding units ahead of use. Memory: about (3 * lanes read per worker + 2) decoded row groups per process.
    """

    def __init__(
        self,
        manifest: str,
        seq_len: int,
        batch_size: int,
        *,
        rank: int = 0,
        world_size: int = 1,
        seed: int = 0,
        shuffle: bool = True,
        lanes: int = 8,
        verify: Verify = "rank",
        allow_unvalidated: bool = False,
        storage_options: dict | None = None,
        io_threads: int | None = None,
        decode_threads: int = 2,
    ):
        super().__init__()
        if seed < 0:
            raise ValueError(f"seed must be >= 0, got {seed}")
        self.spec = SplitSpec(seq_len, batch_size, rank, world_size, lanes)
        self.manifest_url, self.storage_options = manifest, storage_options
        self.seed, self.shuffle, self.decode_threads = seed, shuffle, decode_threads
        check_verify(verify)
        self.verify, self.io_threads = verify, io_threads or default_threads()
        fs, path = open_filesystem(manifest, storage_options)
        self.corpus = load_corpus(manifest, fs, path, allow_unvalidated)
        self._verified: set[int] = set()  # shard ids whose sha256 this process (or its parent) checked
        if verify == "all":
            self._verify_shards(range(len(self.corpus.shards)), fs)
        self.units = scan_units(fs, self.corpus.shards, self.io_threads)
        self.windows_per_lane = self._plan(0).windows_per_lane  # the same every epoch; raises when too small
        self.epoch_windows = self.windows_per_lane * self.spec.lanes
        # Position: this leg of `epoch` started from `_start` (global progress); this rank took `consumed`.
        self.epoch, self._start, self.consumed = 0, Progress(), 0
        if self.samples_per_epoch == 0:
            raise ValueError(
                f"{self.epoch_windows} windows per epoch, fewer than world_size={world_size} ranks; "
                "lower seq_len"
            )
        self._cache: _UnitCache | None = None
        self._cache_pid = -1
        self.verify_epoch(0, fs)

    # -- what a training job asks ----------------------------------------------------------------------------
    @property
    def tokenizer(self) -> dict[str, Any]:
        """The manifest's tokenizer block (path, sha256, vocab_size, eos_id, bos_id, special_ids)."""
        return self.corpus.tokenizer

    @property
    def samples_per_epoch(self) -> int:
        """Windows this rank reads in a whole epoch read at this world size (the same on every rank)."""
        return Leg(
            Progress(), self.epoch_windows, self.spec.world_size, self.spec.batch_size
        ).samples_per_rank

    def __len__(self) -> int:
        """Batches left in the current epoch from the current position."""
        left = self._leg(self.epoch).samples_per_rank - self.consumed
        return -(-left // self.spec.batch_size)

    def shards_read(self, epoch: int) -> list[str]:
        """Paths of the shards this rank reads in `epoch` (the ones verify="rank" hashes), in manifest order:
        in the current epoch, those of the leg it is in (a resumed one from where it resumed)."""
        return [self.corpus.shards[i].path for i in self._epoch_shards(epoch)]

    def verify_epoch(self, epoch: int, fs=None) -> None:
        """Hash the shards this rank reads in `epoch` that it has not hashed yet (verify "rank"; else a no-op).

        Called before an epoch is read, in the process that hands the dataset to dataloader workers, so the
        workers inherit what was verified instead of hashing again.
        """
        if self.verify == "rank":
            self._verify_shards(self._epoch_shards(epoch), fs)

    def _epoch_shards(self, epoch: int) -> list[int]:
        leg, plan = self._leg(epoch), self._plan(epoch)
        windows = stream_windows(
            leg.positions(self.spec.rank, 0, leg.samples_per_rank), plan.windows_per_lane, self.spec
        )
        return sorted({int(s) for s in self.units.shard[units_of_windows(plan, windows, self.spec.window)]})

    def _verify_shards(self, shards, fs=None) -> None:
        if self.verify == "none":
            return
        todo = [i for i in shards if i not in self._verified]
        if todo:
            fs = fs or open_filesystem(self.manifest_url, self.storage_options)[0]
            verify_checksums(fs, [self.corpus.shards[i] for i in todo], self.io_threads)
            self._verified.update(todo)

    def set_epoch(self, epoch: int) -> None:
        """Move to the start of `epoch`; a no-op for the current epoch, so a resumed position is kept."""
        if epoch != self.epoch:
            self.epoch, self._start, self.consumed = epoch, Progress(), 0

    def state_dict(self) -> dict[str, Any]:
        """This job's progress through the epoch (see the class docstring): JSON-able, the same on every rank
        but for its `leg.rank`."""
        return make_state(self._order(), self.epoch, self._leg(self.epoch), self.spec.rank, self.consumed)

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """Continue from a state saved under any world_size: one rank's, or a list of every rank's."""
        if isinstance(state, list | tuple):
            state = merge_states(list(state))
        check_order(state, self._order())
        epoch, progress = saved_progress(state)
        self.epoch, self._start, self.consumed = epoch, progress, 0
        self._advance(epoch, 0)  # fewer windows left than ranks: that epoch is over

    def _order(self) -> dict[str, Any]:
        spec = self.spec
        return {
            "manifest_key": self.corpus.key,
            "seed": self.seed,
            "shuffle": self.shuffle,
            "seq_len": spec.seq_len,
            "batch_size": spec.batch_size,
            "lanes": spec.lanes,
            "epoch_windows": self.epoch_windows,
        }

    def _leg(self, epoch: int) -> Leg:
        start = self._start if epoch == self.epoch else Progress()
        return Leg(start, self.epoch_windows, self.spec.world_size, self.spec.batch_size)

    # -- reading ---------------------------------------------------------------------------------------------
    def _advance(self, epoch: int, consumed: int) -> None:
        """Record a position in the current leg of `epoch`; the end of a leg is the start of the next epoch."""
        if epoch != self.epoch:
            return  # iterated in this process, the dataset has moved on to the next epoch by itself
        if consumed >= self._leg(epoch).samples_per_rank:
            self.epoch, self._start, consumed = epoch + 1, Progress(), 0
        self.consumed = consumed

    def _plan(self, epoch: int) -> EpochPlan:
        return plan_epoch(self.units.tokens, self.spec, self.seed, epoch, self.corpus.key, self.shuffle)

    def _unit_cache(self, workers: int) -> _UnitCache:
        if self._cache is None or self._cache_pid != os.getpid():
            # A worker takes every (world_size * workers)-th batch of the sequence: that many lanes apart.
            lanes = self.spec.lanes
            lanes_read = lanes // math.gcd(lanes, self.spec.world_size * workers)
            # Per lane: the unit a window may straddle from, the current one, the next one being decoded.
            capacity = 3 * lanes_read + 2
            self._cache, self._cache_pid = _UnitCache(self, capacity, self.decode_threads), os.getpid()
        return self._cache

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"], state["_cache_pid"] = None, -1  # open files stay in the process that opened them
        return state

    def __iter__(self):
        info = get_worker_info()
        worker, workers = (info.id, info.num_workers) if info else (0, 1)
        epoch, start, b = self.epoch, self.consumed, self.spec.batch_size
        self.verify_epoch(epoch)  # a no-op when TokenShardLoader did it before starting the workers
        plan, cache, leg = self._plan(epoch), self._unit_cache(workers), self._leg(epoch)
        end = leg.samples_per_rank
        # Batch k (counted from `start`) goes to worker k % workers: torch collects from workers round-robin.
        for first in range(start + worker * b, end, workers * b):
            stop = min(first + b, end)
            batch = self._batch(plan, cache, epoch, leg.ranges(self.spec.rank, first, stop))
            if info is None:
                self._advance(epoch, stop)
            yield batch

    def _batch(
        self, plan: EpochPlan, cache: _UnitCache, epoch: int, ranges: list[tuple[int, int]]
    ) -> dict[str, torch.Tensor]:
        """The windows at the global positions of `ranges` ([start, stop) runs), in order."""
        window, rows = self.spec.window, sum(z - a for a, z in ranges)
        # One buffer for the whole batch: a worker hands it over as one shared-memory segment, not three.
        buffer = np.empty(2 * rows * window + rows, dtype=np.int64)
        tokens, positions = buffer[: rows * window], buffer[rows * window : 2 * rows * window]
        positions.reshape(rows, window)[:] = np.arange(window)  # then restarted at documents inside windows
        buffer[2 * rows * window :] = np.concatenate([np.arange(a, z) for a, z in ranges])
        at = 0
        runs = [r for a, z in ranges for r in position_runs(a, z, plan.windows_per_lane, self.spec)]
        for start, length in runs:
            self._read_range(plan, cache, epoch, start, tokens[at : at + length], positions[at : at + length])
            at += length
        flat = torch.from_numpy(buffer)
        return {
            "tokens": flat[: rows * window].view(rows, window),
            "position_ids": flat[rows * window : 2 * rows * window].view(rows, window),
            "sample_index": flat[2 * rows * window :],
        }

    def _read_range(
        self,
        plan: EpochPlan,
        cache: _UnitCache,
        epoch: int,
        first: int,
        tokens: np.ndarray,
        positions: np.ndarray,
    ) -> None:
        """Fill `tokens` with stream tokens [first, first + len(tokens)) (`first` starts a window), and `positions`."""
        window = self.spec.window
        ramp = np.arange(window, dtype=np.int64)
        i, done = plan.unit_at(first), 0
        lane_tokens = plan.windows_per_lane * window
        lane_end = (first // lane_tokens + 1) * lane_tokens  # prefetch no unit past this lane's end
        while done < len(tokens):
            unit = int(plan.order[i])
            unit_tokens = int(self.units.tokens[unit])
            lo = first + done - (int(plan.ends[i]) - unit_tokens)
            n = min(unit_tokens - lo, len(tokens) - done)
            u = cache.get(epoch, unit, then=int(plan.order[i + 1]) if plan.ends[i] < lane_end else None)
            copy_unit(u.values, u.src, u.dst, lo, n, tokens, positions, done, ramp)
            done, i = done + n, i + 1
