"""CLI usage: bad paths are usage errors (exit 2, no traceback), `--input` takes a shell-expanded glob, and the
summary names text MB and input (compressed) MB apart (issues 9 and 13)."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from etl.cli import _parser

SMALL_RUN = ["--set", "near_dedup.enabled=false", "--set", "quality.enabled=false",
             "--set", "validation.enabled=false"]  # fmt: skip
SUMMARY = re.compile(
    r"read (\d+) records, ([\d.]+) MB of text \(([\d.]+) MB input\) in [\d.]+ s "
    r"\(\d+ docs/s, ([\d.]+) MB/s of text\)"
)


def write_docs(path: Path, first: int, n: int) -> None:
    """Distinct documents of ~2.4 kB each (no exact duplicates); gzip when the name says so."""
    lines = [
        json.dumps(
            {"id": f"d{i}", "text": f"Document {i}. " + " ".join(f"w{(i * 7 + j) % 997}" for j in range(300))}
        )
        for i in range(first, first + n)
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    data = ("\n".join(lines) + "\n").encode()
    path.write_bytes(gzip.compress(data, mtime=0) if path.suffix == ".gz" else data)


def assert_usage_error(proc, *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in proc.stderr, proc.stderr[-2000:]


def test_output_naming_an_existing_file_is_a_usage_error(run_cli, tmp_path):
    taken = tmp_path / "results.txt"
    taken.write_text("not a folder")
    write_docs(tmp_path / "in.jsonl", 0, 3)
    proc = run_cli("run", "--input", str(tmp_path / "in.jsonl"), "--output", str(taken), *SMALL_RUN)
    assert_usage_error(proc, f"--output {taken}: is an existing file")
    assert taken.read_text() == "not a folder"
    proc = run_cli("run", "--input", str(tmp_path / "in.jsonl"), "--output", str(taken / "out"), *SMALL_RUN)
    assert_usage_error(proc, f"{taken} is a file")


@pytest.mark.parametrize("command", ["run", "config", "demo"])
def test_config_naming_a_folder_is_a_usage_error(run_cli, tmp_path, command):
    args = {"run": ["--input", str(tmp_path), "--output", str(tmp_path / "out")],
            "demo": ["--output", str(tmp_path / "out")], "config": []}[command]  # fmt: skip
    proc = run_cli(command, *args, "--config", str(tmp_path))
    assert_usage_error(proc, f"--config {tmp_path}: is a folder")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "argv",
    [["--input", "a.jsonl", "b/x.gz", "b/y.gz", "--output", "o"],
     ["--input", "a.jsonl", "--input", "b/x.gz", "--output", "o", "--input", "b/y.gz"],
     ["--input", "a.jsonl", "b/x.gz", "--input", "b/y.gz", "--output", "o"]],
)  # fmt: skip
def test_input_takes_several_patterns_per_flag_and_repeats(argv):
    args = _parser().parse_args(["run", *argv])
    assert args.input == ["a.jsonl", "b/x.gz", "b/y.gz"] and args.output == "o"


def test_input_without_a_pattern_is_a_usage_error(run_cli, tmp_path):
    proc = run_cli("run", "--input", "--output", str(tmp_path / "o"))
    assert proc.returncode == 2 and "--input" in proc.stderr


def test_a_shell_expanded_glob_runs_and_the_summary_names_text_and_input_mb(run_cli, tmp_path):
    write_docs(tmp_path / "a.jsonl", 0, 100)
    for k in range(3):
        write_docs(tmp_path / "gz" / f"part{k}.jsonl.gz", 100 + 100 * k, 100)
    write_docs(tmp_path / "more.jsonl", 400, 50)
    expanded = sorted(str(p) for p in (tmp_path / "gz").glob("*.gz"))  # what `gz/*.gz` becomes in a shell
    out = tmp_path / "out"
    proc = run_cli(
        "run", "--input", str(tmp_path / "a.jsonl"), *expanded, "--input", str(tmp_path / "more.jsonl"),
        "--output", str(out), *SMALL_RUN, "--", "--direct_num_workers=1",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["read"] == 450 and manifest["counts"]["kept"] == 450
    assert manifest["run"]["input_files"] == 5
    assert manifest["run"]["beam_args"] == ["--direct_num_workers=1"], "options after -- reach Beam"
    (line,) = [m for m in map(SUMMARY.search, proc.stdout.splitlines()) if m]
    records, text_mb, input_mb, rate = int(line[1]), float(line[2]), float(line[3]), float(line[4])
    run = manifest["run"]
    assert records == 450
    assert text_mb == round(run["text_bytes"] / 1e6, 1) and input_mb == round(run["input_bytes"] / 1e6, 1)
    assert text_mb > input_mb, "gzip parts: more text than bytes on storage"
    assert rate > 0


def test_options_after_the_double_dash_go_to_beam_after_several_patterns(run_cli, tmp_path):
    write_docs(tmp_path / "a.jsonl", 0, 3)
    write_docs(tmp_path / "b.jsonl", 3, 3)
    proc = run_cli(
        "run", "--input", str(tmp_path / "a.jsonl"), str(tmp_path / "b.jsonl"), "--output", str(tmp_path / "o"),
        *SMALL_RUN, "--", "--direct_running_mode=multi_threading",
    )  # fmt: skip
    assert_usage_error(proc, "multi_threading")
