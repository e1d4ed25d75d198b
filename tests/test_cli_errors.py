"""Errors in one line (issue 19): every failure is one `corpus-etl: error: ...` line on stderr naming the file,
flag, key or variable, with the exit code of docs/failures.md (2 usage, config, input; 3 a failed run or a full
disk); the traceback goes to a log file the line names (or the terminal with -v); a refused run leaves nothing
behind in its output."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

import etl
from etl.store.lease import _process_start
from tests.conftest import REPO, SAMPLE, checkout_env, cli_command
from tests.test_cli_usage import SMALL_RUN


def one_error_line(proc, code: int, *needles: str) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("corpus-etl: error: "), proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def saved_traceback(line: str) -> Path:
    found = re.search(r"\(traceback: (\S+)\)$", line)
    assert found, line
    path = Path(found[1])
    assert path.is_file() and "Traceback (most recent call last)" in path.read_text()
    return path


def test_version_prints_the_package_version(run_cli):
    proc = run_cli("--version")
    assert proc.returncode == 0 and proc.stdout.strip() == f"corpus-etl {etl.__version__}"


@pytest.mark.parametrize("command", ["history", "diff", "report", "export"])
def test_a_file_that_is_not_a_run_is_one_line_exit_2(run_cli, tmp_path, command):
    notes = tmp_path / "somefile.txt"
    notes.write_text("not a run")
    args = {"history": [str(notes), "--output", str(tmp_path / "h")], "diff": [str(notes), str(notes)],
            "report": [str(notes)],
            "export": [str(notes), "--format", "mds", "--output", str(tmp_path / "e")]}[command]  # fmt: skip
    proc = run_cli(command, *args)
    one_error_line(proc, 2, str(notes), "not a run's output folder or its manifest.json")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["somefile.txt"], "nothing written"


def test_a_folder_without_a_manifest_is_one_line_exit_2(run_cli, tmp_path):
    proc = run_cli("history", str(tmp_path), "--output", str(tmp_path / "h"))
    one_error_line(proc, 2, f"{tmp_path}: no manifest.json")


def test_with_verbose_the_traceback_goes_to_the_terminal(run_cli, tmp_path):
    notes = tmp_path / "somefile.txt"
    notes.write_text("not a run")
    proc = run_cli("diff", str(notes), str(notes), "-v")
    assert proc.returncode == 2 and "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("corpus-etl: error: ")


@pytest.mark.parametrize(
    ("typo", "meant"), [("--inptu", "--input"), ("--ouptut", "--output"), ("--quite", "--quiet")]
)
def test_an_unknown_flag_is_named_with_the_closest_one(run_cli, typo, meant):
    proc = (
        run_cli("run", typo, "x", "--output", "y")
        if typo != "--ouptut"
        else run_cli("run", "--input", "x", typo, "y")
    )
    line = one_error_line(proc, 2, f"unknown flag {typo}", f"did you mean {meant}?")
    assert "required" not in line
    assert not Path(REPO / "y").exists()


def refused(run_cli, out: Path, *args: str, inputs: str = str(SAMPLE)):
    return run_cli("run", "--input", inputs, "--output", str(out), *SMALL_RUN, *args)


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--set", "nope=1"], "nope: unknown key"),
        (["--set", "novalue"], "--set 'novalue'"),
        (["--config", "/nonexistent/corpus.yaml"], "/nonexistent/corpus.yaml"),
        (["--config", "BAD_YAML"], "not valid YAML"),
        (["--set", "tokenize.tokenizer=/nonexistent/tokenizer.json"], "/nonexistent/tokenizer.json"),
    ],
)
def test_a_refused_run_leaves_no_output_folder(run_cli, tmp_path, args, needle):
    bad = tmp_path / "bad.yaml"
    bad.write_text("input: [unclosed\n")
    args = [str(bad) if a == "BAD_YAML" else a for a in args]
    out = tmp_path / "new" / "out"
    one_error_line(refused(run_cli, out, *args), 2, needle)
    assert not (tmp_path / "new").exists(), sorted(str(p) for p in (tmp_path / "new").rglob("*"))


def test_a_run_refused_after_its_staging_was_made_leaves_an_existing_folder_as_it_was(run_cli, tmp_path):
    """The tokenizer is checked after the lease and the staging folder: both go, the folder's file stays."""
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = refused(run_cli, out, "--set", "tokenize.tokenizer=/nonexistent/tokenizer.json")
    one_error_line(proc, 2, "/nonexistent/tokenizer.json")
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]


def test_an_input_that_matches_nothing_leaves_no_output_folder(run_cli, tmp_path):
    out = tmp_path / "a" / "b" / "out"
    proc = refused(run_cli, out, inputs=str(tmp_path / "none" / "*.jsonl"))
    one_error_line(proc, 2, "matches no file")
    assert list(tmp_path.iterdir()) == []


def test_an_output_in_use_is_refused_and_its_lease_left_alone(run_cli, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = {"owner": "other-run", "host": socket.gethostname(), "pid": os.getpid(),
              "pid_start": _process_start(os.getpid()), "started": time.time(),
              "expires": time.time() + 600}  # fmt: skip
    lease = out / "_lease.json"
    lease.write_text(json.dumps(holder))
    before = lease.read_bytes()
    one_error_line(refused(run_cli, out), 2, f"output {out} is in use by run other-run")
    assert sorted(p.name for p in out.iterdir()) == ["_lease.json"] and lease.read_bytes() == before


def no_credentials_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The CLI's environment with no AWS credentials anywhere (variables, files, instance metadata)."""
    env = {k: v for k, v in checkout_env().items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=os.environ["AWS_ENDPOINT_URL"], AWS_DEFAULT_REGION="us-east-1",
        AWS_EC2_METADATA_DISABLED="true", AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "no-credentials"),
        AWS_CONFIG_FILE=str(tmp_path / "no-config"), XDG_CACHE_HOME=str(tmp_path / "cache"), **extra,
    )  # fmt: skip
    return env


def run_env(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(cli_command(*args), env=env, cwd=REPO, capture_output=True, text=True, timeout=300)


@pytest.fixture()
def raw_bucket(s3_client):
    s3_client.create_bucket(Bucket="raw")
    s3_client.put_object(Bucket="raw", Key="docs/a.jsonl", Body=b'{"id": "a", "text": "hello"}\n')
    return s3_client


def test_missing_s3_credentials_are_exit_2_naming_the_variables(raw_bucket, tmp_path):
    out = tmp_path / "out"
    proc = run_env(no_credentials_env(tmp_path), "run", "--input", "s3://raw/docs/", "--output", str(out))
    line = one_error_line(proc, 2, "s3://raw/docs/", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                          "AWS_ENDPOINT_URL", "AWS_PROFILE")  # fmt: skip
    assert saved_traceback(line).is_relative_to(tmp_path / "cache" / "corpus-etl" / "logs")
    assert not out.exists()


def test_refused_s3_credentials_are_exit_2_naming_the_variables(raw_bucket, tmp_path, monkeypatch):
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)  # moto now checks every key: none known
    env = no_credentials_env(tmp_path, AWS_ACCESS_KEY_ID="AKIAREFUSED0000000000", AWS_SECRET_ACCESS_KEY="x")
    proc = run_env(env, "run", "--input", str(SAMPLE), "--output", "s3://raw/out", *SMALL_RUN)
    one_error_line(proc, 2, "s3://raw/out", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", float("inf"))
    keys = [o["Key"] for o in raw_bucket.list_objects_v2(Bucket="raw").get("Contents", [])]
    assert keys == ["docs/a.jsonl"], "nothing written to the output"


# A tmpfs too small for the sample's staging, mounted in a user namespace (no root needed where allowed).
FULL_DISK = (
    'mount -t tmpfs -o size=128k tmpfs "$DISK" || exit 99; "$@"; code=$?; ls -A "$DISK" > "$LEFT"; exit $code'
)


def test_a_full_disk_is_exit_3_in_one_line_naming_the_path_and_leaves_nothing(tmp_path):
    if shutil.which("unshare") is None:
        pytest.skip("no unshare(1) to mount a small file system")
    disk = tmp_path / "disk"
    disk.mkdir()
    out = disk / "out"
    env = checkout_env({"DISK": str(disk), "LEFT": str(tmp_path / "left.txt"),
                        "XDG_CACHE_HOME": str(tmp_path / "cache")})  # fmt: skip
    argv = cli_command("run", "--input", str(SAMPLE), "--output", str(out))
    proc = subprocess.run(
        ["unshare", "-rm", "sh", "-c", FULL_DISK, "sh", *argv], env=env, cwd=REPO, capture_output=True,
        text=True, timeout=600,
    )  # fmt: skip
    if proc.returncode == 99 or "unshare:" in proc.stderr:
        pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()[:200]}")
    line = one_error_line(proc, 3, "no space left on device", str(out))
    saved_traceback(line)
    assert (tmp_path / "left.txt").read_text() == "", "the run's staging and OUT were removed"
