"""bench/ablation.py at toy size on CPU: both pipeline runs, both arms trained, a table of finite held-out losses."""

from __future__ import annotations

import math
import subprocess
import sys

from tests.conftest import REPO, checkout_env

TOY = ["--steps", "20", "--seq-len", "32", "--width", "16", "--max-eval-windows", "64"]


def test_ablation_trains_both_arms_and_prints_finite_held_out_losses():
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "ablation.py"), *TOY],
        env=checkout_env(), cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    header = next(line for line in proc.stdout.splitlines() if line.startswith("| arm |"))
    names = [c.strip() for c in header.strip("|").split("|")]
    rows = {}
    for line in proc.stdout.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if line.startswith("| ") and cells[0] in ("filtered", "raw"):
            rows[cells[0]] = dict(zip(names, cells, strict=True))
    assert set(rows) == {"filtered", "raw"}, proc.stdout
    for row in rows.values():
        losses = [
            float(row[k]) for k in ("first loss", "last loss", "held-out clean loss", "held-out raw loss")
        ]
        assert all(math.isfinite(x) for x in losses)
        assert float(row["last loss"]) < float(row["first loss"])  # the model trained
    # The filters removed documents (the sample has planted duplicates and junk): the arms differ in data.
    assert int(rows["filtered"]["train docs"]) < int(rows["raw"]["train docs"])
