"""A real trainer in CI: ranks (torch.multiprocessing, gloo, CPU) train a tiny causal LM from shards the pipeline
made, through TokenShardLoader, checkpoint mid-epoch, resume on 1 rank, then on 2 again. Across the legs the
windows trained on are exactly one epoch's windows, each once (apart from the tail the last leg drops to keep
its ranks even), and the loss falls. Every wait is bounded: a leg that does not finish in time is killed.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from etl.reader import TokenShardDataset
from tests.conftest import SAMPLE
from tests.trainer_tiny import BATCH, LANES, SEED, SEQ_LEN, train_leg

# (ranks, dataloader workers, steps; None: to the end of the epoch)
LEGS = [(2, 2, 12), (1, 0, 20), (2, 0, None)]
LEG_TIMEOUT_S = 120


@pytest.fixture(scope="module")
def manifest(tmp_path_factory) -> str:
    from etl.config import load_config
    from etl.run import run_pipeline

    out = tmp_path_factory.mktemp("trainer") / "out"
    config = load_config(overrides=["near_dedup.enabled=false", "validation.enabled=false",
                                    "output.row_group_tokens=4096"])  # fmt: skip
    beam = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
    run_pipeline([str(SAMPLE / "books.parquet")], str(out), config, beam)
    return str(out / "manifest.json")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def run_leg(manifest: str, leg: int, world: int, workers: int, steps: int | None, folder: Path) -> None:
    args = (world, free_port(), manifest, leg, steps, workers, str(folder))
    job = mp.start_processes(train_leg, args=args, nprocs=world, join=False, start_method="spawn")
    deadline = time.monotonic() + LEG_TIMEOUT_S
    while not job.join(timeout=max(0.0, deadline - time.monotonic())):
        if time.monotonic() >= deadline:
            for proc in job.processes:
                proc.kill()
            pytest.fail(f"leg {leg} ({world} ranks) did not finish in {LEG_TIMEOUT_S} s")


def test_two_ranks_then_one_then_two_train_on_each_window_of_the_epoch_once(manifest, tmp_path):
    for leg, (world, workers, steps) in enumerate(LEGS):
        run_leg(manifest, leg, world, workers, steps, tmp_path)
    results = [
        [torch.load(tmp_path / f"leg{leg}-rank{r}.pt", weights_only=True) for r in range(world)]
        for leg, (world, _, _) in enumerate(LEGS)
    ]
    served = [w for leg in results for rank in leg for w in rank["served"]]
    served_before_last = {p for leg in results[:-1] for rank in leg for p, _ in rank["served"]}

    # The epoch's windows by position, from one uninterrupted single-rank read of the same settings.
    reference = TokenShardDataset(manifest, SEQ_LEN, BATCH, seed=SEED, lanes=LANES)
    windows = {int(p): r.numpy().tobytes() for b in reference for p, r in zip(b["sample_index"], b["tokens"], strict=True)}  # fmt: skip
    left = [p for p in sorted(windows) if p not in served_before_last]
    last_world = LEGS[-1][0]
    tail = left[len(left) - len(left) % (last_world * BATCH) % last_world :]

    positions = [p for p, _ in served]
    assert len(positions) == len(set(positions)), "a window was trained on twice"
    assert sorted(positions) == sorted(set(windows) - set(tail)), "a window of the epoch was never trained on"
    assert all(windows[p] == tokens for p, tokens in served)
    assert len(tail) < last_world

    # Every rank of a leg took the same number of steps; the first legs stopped mid-epoch as planned.
    steps = [[len(rank["losses"]) for rank in leg] for leg in results]
    assert steps[0] == [12, 12] and steps[1] == [20] and len(set(steps[2])) == 1 and steps[2][0] > 0

    losses = [loss for leg in results for loss in leg[0]["losses"]]
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert torch.isfinite(torch.tensor(losses)).all()
    assert last < first - 1.0, f"loss did not fall: {first:.2f} -> {last:.2f}"
    # The model and optimizer came back with the data: the resumed legs do not start from scratch.
    assert results[1][0]["losses"][0] < losses[0] - 1.0
