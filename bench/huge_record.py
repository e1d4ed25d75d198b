"""One hostile record: a single JSON line of GB of text among ordinary documents (issue 19).

The line must be rejected as `record_too_large` with its size (input.max_record_bytes, default 64 MiB) and
read past without being held: peak RSS of the whole run's process tree stays near an ordinary run's.
Usage:
    python bench/huge_record.py [--gb 1] [--compressed]
Prints the reject, the run's wall time and peak RSS of the process tree (sampled from /proc).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import sys
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
from pipeline_real import run_tree  # noqa: E402

DATA = Path(__file__).parent / ".data"
BLOCK = "hostile text " * 80_000  # ~1 MB of one JSON string, written block by block


def write_input(folder: Path, gb: float, compressed: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / ("huge.jsonl.gz" if compressed else "huge.jsonl")
    opener = gzip.open if compressed else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for i in range(50):
            fh.write(json.dumps({"id": f"a{i}", "text": f"An ordinary document number {i}. " * 40}) + "\n")
        fh.write('{"id": "huge", "text": "')
        for _ in range(int(gb * 1024**3 / len(BLOCK))):
            fh.write(BLOCK)
        fh.write('"}\n')
        for i in range(50):
            fh.write(json.dumps({"id": f"b{i}", "text": f"Another plain document, {i}. " * 40}) + "\n")
    return folder


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--compressed", action="store_true")
    args = parser.parse_args()
    inputs = write_input(
        DATA / f"huge-{args.gb:g}gb{'-gz' if args.compressed else ''}", args.gb, args.compressed
    )
    out = DATA / "huge-out"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        sys.executable,
        "-m",
        "etl.cli",
        "run",
        "--input",
        str(inputs),
        "--output",
        str(out),
        "--overwrite",
    ]
    figures = run_tree(cmd)
    manifest = json.loads((out / "manifest.json").read_text())
    rejects = [r for f in manifest["rejects"] for r in pq.read_table(out / f["path"]).to_pylist()]
    huge = [r for r in rejects if r["reason"] == "record_too_large"]
    print(f"input: {sum(p.stat().st_size for p in inputs.iterdir()) / 1e9:.2f} GB in {inputs}")
    for r in huge:
        print(f"reject: line {r['line']} {r['reason']} value={r['value']:.0f} bytes; {r['detail']}")
    print(f"read {manifest['counts']['read']}, kept {manifest['counts']['kept']}")
    print(f"wall {figures['wall']:.1f} s, peak RSS of the process tree {figures['peak_rss'] / 1e6:.0f} MB")


if __name__ == "__main__":
    main()
