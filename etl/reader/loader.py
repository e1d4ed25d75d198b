"""TokenShardLoader: a DataLoader over a TokenShardDataset whose state is what it has delivered.

Dataloader workers hold copies of the dataset, so the copy in the training process never sees what was read.
This loader counts each delivered batch's windows on that copy; its `state_dict()` is therefore the position
after the last batch the training loop received, independent of the worker count and of prefetching. It relies
on torch's in-order, round-robin collection from workers.
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
        lanes, readers = dataset.spec.lanes, dataset.spec.world_size * max(1, num_workers)
        if lanes % readers:
            warnings.warn(
                f"world_size * workers = {readers} does not divide lanes={lanes}: workers share lanes and "
                "decode some row groups twice (more IO, same batches); pick lanes as a multiple of it",
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
        epoch, consumed = ds.epoch, ds.consumed
        ds.verify_epoch(epoch)  # here, once: the workers get the dataset with these shards marked verified
        for batch in DataLoader(ds, **self._loader_args):
            consumed += len(batch["sample_index"])
            ds._advance(epoch, consumed)
            yield batch

    def set_epoch(self, epoch: int) -> None:
        self.dataset.set_epoch(epoch)

    @property
    def epoch(self) -> int:
        return self.dataset.epoch

    def state_dict(self) -> dict[str, Any]:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict[str, Any] | list[dict[str, Any]]) -> None:
        """One rank's state (any rank, saved at a step all ranks reached) or every rank's: see the dataset."""
        self.dataset.load_state_dict(state)
