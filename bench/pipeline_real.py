"""bench/pipeline.py --real: issue 9's inputs (one big real-text .jsonl.gz, the same records in 64 files).

`--text prose` builds them from bench/prose_corpus.py instead of bench/real_corpus.py.

Kept apart from the generated-corpus bench so that each stays short; see bench/pipeline.py for the usage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from prose_corpus import write as write_prose
from real_corpus import write as write_real

DATA = Path(__file__).parent / ".data"
PII_KINDS = ("phones", "cards", "ibans", "ssns", "secrets")
CONFIGS = {
    "quality off": ["quality.enabled=false"],
    "every stage": [],
    # issue 22's budget: the default before its rules (no URL rules, no PII detection), and with 1 M
    # benchmark n-grams to decontaminate against (bench/decontamination_speed.py's synthetic items)
    "no new rules": ["url_filter.enabled=false", *(f"quality.pii.detect.{k}=false" for k in PII_KINDS)],
    "decon 1M": ["decontamination.benchmarks=[{name: synth, path: BENCH_1M, fields: [question, choices]}]"],
    # issue 23's budget: every stage writing every judged document's signals, and the mode that measures all
    "signals": ["quality.signals=true"],
    "annotate": ["quality.mode=annotate"],
}


def benchmark_1m() -> Path:
    """A benchmark file of about 1 M 13-gram n-grams, made once (random questions and choice lists)."""
    import random

    from decontamination_speed import vocabulary, write_benchmark

    path = DATA / "benchmark-1m.jsonl"
    if not path.exists():
        rng = random.Random(7)
        write_benchmark(path, 1_000_000, vocabulary(50_000, rng), rng)
    return path


def _tree(root: int) -> list[int]:
    """The pid and every descendant of `root` now alive."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    ppid = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _sample(pids: list[int]) -> tuple[int, dict[int, float]]:
    """(summed RSS bytes, CPU seconds per pid) of the processes."""
    page, tick = os.sysconf("SC_PAGE_SIZE"), os.sysconf("SC_CLK_TCK")
    rss, cpu = 0, {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm") as fh:
                rss += int(fh.read().split()[1]) * page
            with open(f"/proc/{pid}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            cpu[pid] = (int(fields[11]) + int(fields[12])) / tick
        except (OSError, IndexError, ValueError):
            continue
    return rss, cpu


def run_tree(cmd: list[str]) -> dict:
    """Wall seconds, CPU seconds and peak RSS of the whole process tree of `cmd` (sampled every 0.2 s)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    log = tempfile.TemporaryFile(mode="w+")  # not a pipe: a full pipe would stall the run
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True)
    peak, cpu_seen = 0, {}
    while proc.poll() is None:
        rss, cpu = _sample(_tree(proc.pid))
        peak = max(peak, rss)
        cpu_seen.update(cpu)
        time.sleep(0.2)
    log.seek(0)
    out, err = log.read(), ""
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    reaped = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"run failed ({proc.returncode}):\n{out[-3000:]}")
    return {"wall": wall, "cpu": max(reaped, sum(cpu_seen.values())), "peak_rss": peak, "log": out + err}


def tokenizers_rate(one: Path, every: int = 10) -> float:
    """MB/s of `tokenizers` encode_batch alone, every thread, on every `every`-th document of the corpus."""
    from tokenizers import Tokenizer

    from transforms.tokenize.loading import read_tokenizer_file

    texts = []
    with gzip.open(next(one.glob("*.jsonl.gz")), "rt", encoding="utf-8") as fh:
        for i, line in enumerate(fh):
            if i % every == 0:
                texts.append(json.loads(line)["text"])
    tok: Tokenizer = read_tokenizer_file("default").tokenizer()
    nbytes = sum(len(t.encode("utf-8")) for t in texts)
    start = time.perf_counter()
    for k in range(0, len(texts), 4096):
        tok.encode_batch(texts[k : k + 4096], add_special_tokens=False)
    return nbytes / 1e6 / (time.perf_counter() - start)


def main(argv: list[str]) -> None:
    beam_args = argv[argv.index("--") + 1 :] if "--" in argv else []
    argv = argv[: argv.index("--")] if "--" in argv else argv
    ap = argparse.ArgumentParser()
    ap.add_argument("--real", type=float, required=True, help="MB of text of the 1x input")
    ap.add_argument("--real-scales", default="1")
    ap.add_argument("--inputs", default="one,many")
    ap.add_argument(
        "--text", choices=("real", "prose"), default="real",
        help="real: the machine's sources and docs (quality keeps <1%%); prose: manual paragraphs (keeps ~57%%)",
    )  # fmt: skip
    ap.add_argument("--configs", default=",".join(CONFIGS))
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent.parent))
    print(f"{time.strftime('%Y-%m-%d %H:%M')}, {os.cpu_count()} cores; beam args: {beam_args or 'default'}")
    base = None
    print(f"{'input':<22} {'config':<12} {'text MB':>8} {'wall s':>7} {'MB/s':>6} {'CPU/wall':>8} "
          f"{'peak RSS MB':>11} {'vs tok':>6} {'kept':>8}")  # fmt: skip
    for scale in [int(x) for x in a.real_scales.split(",")]:
        mb = a.real * scale
        write = write_prose if a.text == "prose" else write_real
        one, many = write(DATA / f"{a.text}-{int(mb)}mb", mb)
        if base is None:
            base = tokenizers_rate(one)
            print(f"tokenizers encode_batch alone, {os.cpu_count()} threads: {base:.2f} MB/s")
        for name, inputs in (("one", one), ("many", many)):
            if name not in a.inputs.split(","):
                continue
            for config in a.configs.split(","):
                out = DATA / "out-real"
                shutil.rmtree(out, ignore_errors=True)
                cmd = [sys.executable, "-m", "etl.cli", "--log-level", "INFO", "run", "--input", str(inputs),
                       "--output", str(out)]  # fmt: skip
                for item in CONFIGS[config] + a.overrides:
                    cmd += ["--set", item.replace("BENCH_1M", str(benchmark_1m()))]
                cmd += ["--", *beam_args] if beam_args else []
                r = run_tree(cmd)
                manifest = json.loads((out / "manifest.json").read_text())
                text_mb = manifest["run"]["text_bytes"] / 1e6
                rate = text_mb / r["wall"]
                label = f"{name} ({int(mb)} MB)"
                print(f"{label:<22} {config:<12} {text_mb:>8.0f} {r['wall']:>7.1f} {rate:>6.2f} "
                      f"{r['cpu'] / r['wall']:>8.2f} {r['peak_rss'] / 2**20:>11.0f} {rate / base:>6.2f} "
                      f"{manifest['counts']['kept']:>8}")  # fmt: skip
                sys.stdout.flush()
