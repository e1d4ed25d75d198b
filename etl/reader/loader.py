"""TokenShardLoader: a DataLoader over a TokenShardDataset whose state is what it has delivered.

Dataloader workers hold copies of the dataset, so the copy in the training process never sees what was read.
This loader records each delivered batch's `sample_index` on that copy; its `state_dict()` is therefore the
position after the last batch the training loop received, in rank-stream samples, independent of the worker
count and of prefetching. It relies on torch's in-order, round-robin collection from workers.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader

from etl.reader.dataset import TokenShardDataset


class TokenShardLoader:
    """Iterate one epoch from the current position per `iter()`; `state_dict()` / `load_state_dict()` resume."""

    def __init__(
        self,
        dataset: TokenShardDataset,
        *,
        num_workers: int = 0,
        pin_memory: bool = False,
        prefetch_factor: int | None = None,
        multiprocessing_context: Any = None,
        timeout: float = 0,
    ):
        lanes = dataset.spec.lanes
        if num_workers > 1 and lanes % num_workers:
            warnings.warn(
                f"{num_workers} workers do not divide lanes={lanes}: every worker will read parts of every "
                "lane (more IO, same batches); pick a worker count that divides lanes",
                stacklevel=2,
            )
        self.dataset = dataset
        # Workers are made fresh per epoch (not persistent) so each starts from the current position.
        self._loader_args = {
            "batch_size": None,
            "num_workers": num_workers,
            "pin_memory": pin_memory,
            "prefetch_factor": prefetch_factor if num_workers else None,
            "multiprocessing_context": multiprocessing_context if num_workers else None,
            "timeout": timeout,
            "persistent_workers": False,
            "in_order": True,
        }

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        ds = self.dataset
        epoch = ds.epoch
        ds.verify_epoch(epoch)  # here, once: the workers get the dataset with these shards marked verified
        for batch in DataLoader(ds, **self._loader_args):
            ds._advance(epoch, int(batch["sample_index"][-1]) + 1)
            yield batch

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.dataset.epoch

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.dataset.load_state_dict(state)
