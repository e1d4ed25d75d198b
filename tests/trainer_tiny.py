"""One rank of a small data-parallel training job (gloo, CPU), for tests/test_trainer.py.

Kept apart from the test module so that each spawned rank imports only torch, the reader and the model. A leg
resumes from the previous leg's checkpoint (model, optimizer and the reader's state, saved by rank 0 at a step
every rank reached, as data-parallel trainers do), trains `steps` steps or to the end of the epoch, checkpoints,
and writes what it trained on: each window's position in the epoch's global sequence and its tokens.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel

from bench.tiny_lm import TinyConfig, TinyLM, next_token_loss
from etl.reader import TokenShardDataset, TokenShardLoader

SEQ_LEN, BATCH, LANES, SEED = 96, 4, 4, 7
WAIT_S = 60  # every collective and every dataloader wait


def train_leg(rank: int, world: int, port: int, manifest: str, leg: int, steps: int | None, workers: int,
              folder: str) -> None:  # fmt: skip
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world, timeout=timedelta(seconds=WAIT_S))
    try:
        ds = TokenShardDataset(manifest, SEQ_LEN, BATCH, rank=rank, world_size=world, seed=SEED, lanes=LANES)
        # Workers forked, as under torchrun (a rank made by spawn would spawn them too: seconds of imports each).
        context = "fork" if workers else None
        loader = TokenShardLoader(
            ds, num_workers=workers, timeout=WAIT_S if workers else 0, multiprocessing_context=context
        )
        torch.manual_seed(0)
        model = TinyLM(TinyConfig(ds.tokenizer["vocab_size"], SEQ_LEN, width=16))
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        if leg:
            checkpoint = torch.load(Path(folder) / f"leg{leg - 1}.pt", weights_only=True)
            model.load_state_dict(checkpoint["model"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            loader.load_state_dict(checkpoint["data"])
        ddp = DistributedDataParallel(model)
        served, losses = [], []
        for batch in loader:
            loss = next_token_loss(ddp, batch)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            rows = batch["tokens"].numpy()
            served += [(int(p), r.tobytes()) for p, r in zip(batch["sample_index"], rows, strict=True)]
            losses.append(loss.item())
            if len(losses) == steps:
                break
        if rank == 0:
            state = {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "data": loader.state_dict(),
            }
            torch.save(state, Path(folder) / f"leg{leg}.pt")
        torch.save({"served": served, "losses": losses}, Path(folder) / f"leg{leg}-rank{rank}.pt")
        dist.barrier()
    finally:
        dist.destroy_process_group()
