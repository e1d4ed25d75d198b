"""Throughput and peak memory of `corpus-etl run` on a generated corpus, and on real text in one big file.

Memory should stay roughly flat as the input grows: text never crosses a shuffle (see etl/run/pipeline.py), so the
peak is set by the work units in flight and the removal maps. Usage:
    python bench/pipeline.py [--mb 200] [--scales 1,4] [--set KEY=VALUE ...] [-- BEAM_OPTIONS]
    python bench/pipeline.py --real 1000 [--real-scales 1,4] [--text real|prose] [--set ...]   # see below
Prints one table row per run; corpora are cached under bench/.data/.

`--real MB`: real text (bench/real_corpus.py) as one .jsonl.gz of MB of text and as the same records in 64
files, each run with quality off and with every stage on. Per run: text MB/s, CPU/wall and peak RSS of the
whole process tree (Beam's workers included, sampled from /proc), and the ratio of the run's text MB/s to the
`tokenizers` library's `encode_batch` alone on the same text with every thread (a sample of every 10th
document): the figure that does not depend on the machine. `--text prose` uses English prose instead
(bench/prose_corpus.py: manual paragraphs, which the quality rules mostly keep; the default text is mostly
code, which they mostly remove).
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from corpus import write_jsonl_gz  # noqa: E402

DATA = Path(__file__).parent / ".data"


def corpus(mb: float) -> Path:
    path = DATA / f"corpus-{int(mb)}mb"
    if not (path / "DONE").exists():
        shutil.rmtree(path, ignore_errors=True)
        write_jsonl_gz(path, mb, seed=1, files=max(4, int(mb // 25)))
        (path / "DONE").write_text("ok")
    return path


def run_once(inputs: Path, out: Path, overrides: list[str], beam_args: list[str]) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "etl.cli", "run", "--input", str(inputs), "--output", str(out)]
    for item in overrides:
        cmd += ["--set", item]
    if beam_args:
        cmd += ["--", *beam_args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if proc.returncode not in (0, 1):
        raise SystemExit(f"run failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    manifest = json.loads((out / "manifest.json").read_text())
    text_mb = manifest["counts"]["stages"]["read"]["in_bytes"] / 1e6
    return {
        "docs": manifest["counts"]["read"],
        "text_mb": text_mb,
        "seconds": seconds,
        "docs_s": manifest["counts"]["read"] / seconds,
        "mb_s": text_mb / seconds,
        "peak_rss_mb": max(peak_kb, before) / 1024,
        "kept": manifest["counts"]["kept"],
        "tokens": sum(s["tokens"] for s in manifest["shards"]),
    }


def main() -> None:
    if "--real" in sys.argv:
        from pipeline_real import main as real_main

        real_main(sys.argv[1:])
        return
    argv = sys.argv[1:]
    beam_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--mb", type=float, default=200)
    ap.add_argument("--scales", default="1,4")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    a = ap.parse_args(argv)
    print(
        f"config overrides: {a.overrides or 'none'}; beam args: {beam_args or 'default (multi_processing, a worker per core)'}"
    )
    print(
        f"{'scale':>5} {'docs':>9} {'text MB':>8} {'seconds':>8} {'docs/s':>8} {'MB/s':>6} {'peak RSS MB':>11} {'kept':>9} {'tokens':>11}"
    )
    for scale in [int(s) for s in a.scales.split(",")]:
        inputs = corpus(a.mb * scale)
        # ru_maxrss of children is a high-water mark over all children so far: run each scale in a fresh
        # interpreter so the figure belongs to that scale alone.
        if scale != int(a.scales.split(",")[0]):
            code = (
                "import sys; sys.path.insert(0, 'bench'); import pipeline as b, json; from pathlib import Path; "
                f"print(json.dumps(b.run_once(Path({str(inputs)!r}), Path('bench/.data/out-{scale}'), {a.overrides!r}, {beam_args!r})))"
            )
            r = json.loads(
                subprocess.run(
                    [sys.executable, "-c", code], capture_output=True, text=True, check=True
                ).stdout.splitlines()[-1]
            )
        else:
            r = run_once(inputs, DATA / f"out-{scale}", a.overrides, beam_args)
        print(f"{scale:>5} {r['docs']:>9} {r['text_mb']:>8.1f} {r['seconds']:>8.1f} {r['docs_s']:>8.0f} {r['mb_s']:>6.2f} "
              f"{r['peak_rss_mb']:>11.0f} {r['kept']:>9} {r['tokens']:>11}")  # fmt: skip
        sys.stdout.flush()


if __name__ == "__main__":
    main()
