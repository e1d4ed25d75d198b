"""The cost of `--against` as the earlier corpus grows, and the size of the dedup index per document.

An earlier run over E MB (1x, then 4x) of the near-dedup bench's prose (bench/corpus.py), then the same new
corpus (N MB: fresh documents plus exact and edited copies of earlier ones) run twice: alone, and
`--against` the earlier run. Prints wall seconds, peak RSS of the whole process tree, the earlier duplicates
found, and the index bytes per kept document (datatrove's MinHash index: 896 B per document, hashes only).

    .venv/bin/python bench/against.py [--earlier-mb 10] [--new-mb 10] [--scales 1,4]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_real import run_tree  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "bench" / ".data" / "against"
SETTINGS = ["--set", "quality.enabled=false", "--set", "validation.policy=warn"]


def _generate(mb: float, seed: int) -> list[tuple[str, str]]:
    spec = importlib.util.spec_from_file_location("bench_near_dedup", ROOT / "bench" / "near_dedup.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate(mb, seed)


def _write(path: Path, docs: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        for doc_id, text in docs:
            fh.write(json.dumps({"id": doc_id, "text": text}) + "\n")


def _run(inputs: Path, out: Path, *extra: str) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "etl.cli", "--quiet", "run", "--input", str(inputs), "--output", str(out)]
    result = run_tree([*cmd, *extra, *SETTINGS])
    result["manifest"] = json.loads((out / "manifest.json").read_text())
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--earlier-mb", type=float, default=10)
    ap.add_argument("--new-mb", type=float, default=10)
    ap.add_argument("--scales", default="1,4")
    args = ap.parse_args()
    rng = random.Random(5)
    rows = []
    fresh = _generate(args.new_mb, seed=99)
    for scale in (int(s) for s in args.scales.split(",")):
        earlier = [(f"e{s}-{d}", t) for s in range(scale) for d, t in _generate(args.earlier_mb, seed=s)]
        copies = rng.sample(earlier[: len(earlier) // scale], len(fresh) // 10)
        new = [(f"n-{d}", t) for d, t in fresh] + [(f"copy-{d}", t) for d, t in copies]
        _write(DATA / f"earlier-x{scale}" / "part.jsonl", earlier)
        _write(DATA / f"new-x{scale}" / "part.jsonl", new)
        first = _run(DATA / f"earlier-x{scale}", DATA / f"out-earlier-x{scale}")
        alone = _run(DATA / f"new-x{scale}", DATA / f"out-alone-x{scale}")
        against = _run(
            DATA / f"new-x{scale}",
            DATA / f"out-against-x{scale}",
            "--against",
            str(DATA / f"out-earlier-x{scale}"),
        )
        m = first["manifest"]
        index_bytes = {k: sum(e["bytes"] for e in m["index"] if e["kind"] == k) for k in ("exact", "minhash")}
        rejected = against["manifest"]["counts"]["rejected"]
        rows.append(
            (scale, sum(len(t) for _, t in earlier) / 1e6, m["counts"]["kept"], index_bytes, alone, against,
             sum(n for s in rejected.values() for r, n in s.items() if r.endswith("_of_earlier")), len(copies))
        )  # fmt: skip
    print("| earlier | earlier MB | earlier kept | index B/doc (exact + minhash) | new alone s | --against s | "
          "ratio | alone peak MB | --against peak MB | earlier dups found / planted copies |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for scale, mb, kept, index_bytes, alone, against, found, planted in rows:
        per_doc = f"{index_bytes['exact'] / kept:.0f} + {index_bytes['minhash'] / kept:.0f}"
        print(
            f"| {scale}x | {mb:.1f} | {kept} | {per_doc} | {alone['wall']:.1f} | {against['wall']:.1f} | "
            f"{against['wall'] / alone['wall']:.2f} | {alone['peak_rss'] / 2**20:,.0f} | "
            f"{against['peak_rss'] / 2**20:,.0f} | {found} / {planted} |"
        )


if __name__ == "__main__":
    main()
