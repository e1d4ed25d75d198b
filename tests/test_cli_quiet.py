"""Quiet by default (issue 19): the sample run prints its progress and summary in at most 15 lines, with no
library noise at any level; -q prints only errors (and the line of an exit 1); -v and --log-level go before or
after the command and change what is printed; on a terminal a live bar, stopped before the summary."""

from __future__ import annotations

import json
import logging
import os
import pty
import re
import subprocess
import warnings
from pathlib import Path

import pytest

from etl.cli import _parser
from etl.logs import configure_logging
from etl.run import progress as progress_module
from etl.run.progress import ProgressMeter
from tests.conftest import REPO, checkout_env, cli_command
from tests.test_cli_usage import SMALL_RUN, write_docs

NOISE = ("apitools", "Created temporary directory", "Traceback", "Warning:", "components round",
         "beam counters", "near dedup steps")  # fmt: skip


def all_lines(proc) -> list[str]:
    return (proc.stdout + proc.stderr).splitlines()


def test_the_demo_prints_at_most_15_lines_progress_and_summary_only(run_cli, tmp_path):
    proc = run_cli("demo", "--output", str(tmp_path / "demo"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = all_lines(proc)
    assert len(lines) <= 15, "\n".join(lines)
    for noise in NOISE:
        assert noise not in proc.stdout + proc.stderr, noise
    assert re.search(r"^corpus-etl: read \d+ records", proc.stdout, re.M), proc.stdout
    assert "near dedup: connected components converged in" in proc.stderr, "the rounds, in one line"
    assert not [line for line in proc.stderr.splitlines() if line.startswith("DEBUG")]


def test_no_apitools_line_for_help_or_version_or_at_debug(run_cli, tmp_path):
    for args in (["--help"], ["run", "--help"], ["--version"], ["--log-level", "DEBUG", "config"]):
        proc = run_cli(*args)
        assert proc.returncode == 0, proc.stderr
        assert "apitools" not in proc.stdout + proc.stderr, args


@pytest.fixture(scope="module")
def small_input(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("quiet") / "docs.jsonl"
    write_docs(path, 0, 20)
    return path


def small_run(tmp_path: Path, small_input: Path, *flags: str, before: tuple[str, ...] = ()) -> list[str]:
    out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
    return [*before, "run", "--input", str(small_input), "--output", str(out), *SMALL_RUN, *flags]


def test_quiet_prints_nothing_for_a_run_that_passes_before_or_after_the_command(
    run_cli, tmp_path, small_input
):
    for argv in (small_run(tmp_path, small_input, "-q"), small_run(tmp_path, small_input, before=("-q",))):
        proc = run_cli(*argv)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout == "" and proc.stderr == "", argv


def test_quiet_prints_one_status_line_when_validation_fails(run_cli, tmp_path, small_input):
    suite = tmp_path / "tiny.json"
    suite.write_text(json.dumps({
        "name": "tiny", "meta": {"corpus_etl": {"frame": "shard", "required_columns": ["num_chars"]}},
        "expectations": [{"type": "expect_column_max_to_be_between",
                          "kwargs": {"column": "num_chars", "max_value": 10}}],
    }))  # fmt: skip
    out = tmp_path / "failed"
    proc = run_cli(
        "run", "--input", str(small_input), "--output", str(out), "--quiet",
        "--set", "near_dedup.enabled=false", "--set", "quality.enabled=false",
        "--set", f"validation.suites=[{suite}]", "--set", "validation.policy=fail",
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert proc.stdout == ""
    (line,) = proc.stderr.splitlines()
    assert line.startswith("corpus-etl: validation FAILED (policy fail), exit 1") and str(out) in line


def test_log_level_and_verbose_are_applied_before_and_after_the_command(run_cli, tmp_path, small_input):
    default = run_cli(*small_run(tmp_path, small_input))
    assert default.returncode == 0, default.stderr[-3000:]
    assert "DEBUG" not in default.stderr and "corpus-etl: read 20 records" in default.stdout
    for argv in (
        small_run(tmp_path, small_input, "--log-level", "debug"),
        small_run(tmp_path, small_input, before=("--log-level", "DEBUG")),
        small_run(tmp_path, small_input, "-v"),
    ):
        proc = run_cli(*argv)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert "DEBUG corpus_etl: beam counters:" in proc.stderr, argv
        assert "DEBUG great_expectations" not in proc.stderr and "DEBUG apache_beam" not in proc.stderr
    # ERROR: none of our progress or library lines, the summary (stdout) stays.
    for argv in (
        small_run(tmp_path, small_input, "--log-level", "ERROR"),
        small_run(tmp_path, small_input, before=("--log-level", "ERROR")),
    ):
        proc = run_cli(*argv)
        assert proc.returncode == 0 and proc.stderr == "", (argv, proc.stderr)
        assert "corpus-etl: read 20 records" in proc.stdout


def test_a_flag_before_the_command_is_not_overwritten_by_the_commands_defaults():
    args = _parser().parse_args(["-q", "--log-level", "error", "--json-logs", "diff", "a", "b"])
    assert (args.quiet, args.log_level, args.json_logs, args.verbose) == (True, "ERROR", True, False)
    args = _parser().parse_args(["diff", "a", "b", "-v", "--log-level", "INFO"])
    assert (args.quiet, args.log_level, args.verbose) == (False, "INFO", True)
    args = _parser().parse_args(["diff", "a", "b"])
    assert (args.quiet, args.log_level, args.verbose, args.json_logs) == (False, None, False, False)


@pytest.fixture()
def restore_logging():
    root, ours = logging.getLogger(), logging.getLogger("corpus_etl")
    saved = root.handlers[:], root.level, ours.level
    yield
    root.handlers[:], root.level = saved[0], saved[1]
    ours.setLevel(saved[2])
    logging.captureWarnings(False)


def test_library_warnings_are_dropped_and_ours_kept_at_any_level(restore_logging, capsys):
    configure_logging("DEBUG", libraries="DEBUG")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn_explicit("a library's complaint", DeprecationWarning, "/site-packages/lib/x.py", 3)
        warnings.warn_explicit("our own warning", UserWarning, str(REPO / "etl" / "run" / "driver.py"), 7)
    logging.getLogger("great_expectations.data_context.types.base").info(
        "Created temporary directory '/tmp/x' for ephemeral docs site"
    )
    logging.getLogger().warning("apitools not found, and bigquery client libraries are not available")
    err = capsys.readouterr().err
    assert "our own warning" in err
    assert "a library's complaint" not in err and "Created temporary" not in err and "apitools" not in err


class FakeBar:
    def __init__(self) -> None:
        self.shown: list[tuple] = []

    def show(self, *args) -> None:
        self.shown.append(args)


def test_the_meter_feeds_the_bar_and_its_lines_drop_to_debug_meanwhile(monkeypatch, caplog):
    bar = FakeBar()
    monkeypatch.setattr(progress_module, "live_bar", lambda: bar)
    now = [0.0]
    meter = ProgressMeter("read", total_bytes=4_000_000, clock=lambda: now[0])
    with caplog.at_level(logging.DEBUG, logger="corpus_etl"):
        for _ in range(4):
            now[0] += 20.0
            meter.add(100, 1_000_000, done_bytes=int(now[0] / 80 * 4_000_000))
    assert [s[1] for s in bar.shown] == [100, 200, 300, 400]  # documents, on every batch
    assert bar.shown[1][:5] == ("read", 200, 2_000_000, 40.0, 2_000_000)
    assert bar.shown[1][5:] == (4_000_000, "ETA 40 s")
    lines = [r for r in caplog.records if r.getMessage().startswith("progress:")]
    assert lines and {r.levelno for r in lines} == {logging.DEBUG}


def test_on_a_terminal_a_live_bar_is_drawn_and_taken_off_before_the_summary(tmp_path, small_input):
    """stderr on a pseudo-terminal: rich draws the bar there (and restores the cursor when it stops)."""
    master, slave = pty.openpty()
    argv = ["run", "--input", str(small_input), "--output", str(tmp_path / "tty"),
            "--set", "near_dedup.enabled=false", "--set", "validation.enabled=false"]  # fmt: skip
    proc = subprocess.Popen(
        cli_command(*argv), env=checkout_env({"COLUMNS": "160", "TERM": "xterm"}), cwd=REPO,
        stdout=subprocess.PIPE, stderr=slave, text=True,
    )  # fmt: skip
    os.close(slave)
    terminal = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the child closed its end
            break
        if not chunk:
            break
        terminal += chunk
    stdout = proc.stdout.read()
    proc.stdout.close()
    assert proc.wait(timeout=300) == 0, terminal[-3000:]
    os.close(master)
    screen = terminal.decode(errors="replace")
    assert "docs," in screen and "MB text" in screen and "docs/s" in screen, screen[-2000:]
    assert "\x1b[?25h" in screen, "the bar stopped: cursor shown again"
    assert "progress:" not in screen, "the bar replaces the progress lines"
    assert "corpus-etl: read 20 records" in stdout and "━" not in stdout
