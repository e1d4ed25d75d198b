"""One writer per output, and commits that never leave a reader empty-handed (docs/failures.md).

Two runs started together into one output: one commits, the other exits 2 "in use", locally and on S3, on
the same inputs and on different ones. A run killed at each moment of its commit leaves the old dataset or the
new one, complete, read back by the reader with every shard verified; a rerun then commits the new one.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.conftest import REPO, SAMPLE, checkout_env, cli_command

FAST = ["near_dedup.enabled=false", "quality.enabled=false", "validation.enabled=false"]


def _args(inputs: list[str], out: str, overrides: list[str], overwrite: bool = False) -> list[str]:
    args = ["run", "--input", *inputs, "--output", out, *(["--overwrite"] if overwrite else [])]
    return args + [a for item in overrides for a in ("--set", item)]


def _start(
    inputs: list[str], out: str, overrides: list[str], env: dict | None = None, overwrite: bool = False
) -> subprocess.Popen:
    """`corpus-etl run`; `overwrite` replaces a committed version of other inputs or config (etl/store/replace.py)."""
    return subprocess.Popen(
        cli_command(*_args(inputs, out, overrides, overwrite)), env=checkout_env(env), cwd=REPO,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip


def _finish(proc: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        raise
    return proc.returncode, out + err


def _read_all_tokens(manifest_url: str) -> int:
    """Every token of the committed dataset through the reader, every shard verified."""
    from etl.reader import TokenShardDataset

    with __import__("fsspec").open(manifest_url, "r") as fh:
        manifest = json.load(fh)
    total = sum(s["tokens"] for s in manifest["shards"])
    ds = TokenShardDataset(
        manifest_url, seq_len=total - 1, batch_size=1, lanes=1, shuffle=False, verify="all"
    )
    got = sum(int(b["tokens"].numel()) for b in ds)
    assert got == total
    return total


@pytest.fixture(scope="module")
def two_inputs(tmp_path_factory) -> tuple[str, str]:
    """Two different corpora: the sample, and one file of it alone."""
    root = tmp_path_factory.mktemp("inputs")
    one = root / "one"
    one.mkdir()
    source = sorted(p for p in SAMPLE.rglob("*.jsonl") if p.is_file())[0]
    (one / source.name).write_bytes(source.read_bytes())
    return str(SAMPLE), str(one)


@pytest.fixture(scope="module")
def race_inputs(tmp_path_factory) -> tuple[str, str]:
    """Two corpora big enough that two runs started together overlap in time: 8 files, and 3 of them."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_corpus", REPO / "bench" / "corpus.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    root = tmp_path_factory.mktemp("race")
    bench.write_jsonl_gz(root / "all", target_mb=6, seed=5, files=8)
    (root / "some").mkdir()
    for path in sorted((root / "all").iterdir())[:3]:
        (root / "some" / path.name).write_bytes(path.read_bytes())
    return str(root / "all"), str(root / "some")


def _race(
    inputs_a: list[str], inputs_b: list[str], out: str, env: dict | None = None
) -> list[tuple[int, str]]:
    procs = [_start(inputs_a, out, FAST, env), _start(inputs_b, out, FAST, env)]
    return [_finish(p) for p in procs]


def _one_committed(results: list[tuple[int, str]], same_inputs: bool = False) -> int:
    codes = sorted(code for code, _ in results)
    if same_inputs and codes == [0, 0]:
        # On a loaded machine the second run can start after the first committed: with the same inputs it
        # is then an idempotent rerun of that version (tests/test_version_replace.py), not a lost race.
        return 0
    assert codes == [0, 2], [log[-1500:] for _, log in results]
    loser = next(log for code, log in results if code == 2)
    # Refused by the winner's lease, or, started after the winner's commit, by its version of other inputs.
    assert "in use" in loser or "rerun with --overwrite" in loser
    return next(i for i, (code, _) in enumerate(results) if code == 0)


@pytest.mark.parametrize("same_inputs", [True, False], ids=["same-inputs", "different-inputs"])
def test_two_runs_into_one_local_output_one_commits_the_other_is_refused(race_inputs, tmp_path, same_inputs):
    a, b = race_inputs
    out = tmp_path / "out"
    inputs = ([a], [a]) if same_inputs else ([a], [b])
    winner = _one_committed(_race(*inputs, str(out)), same_inputs)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["inputs"][0]["path"].startswith(inputs[winner][0])
    listed = {e["path"] for e in manifest["shards"] + manifest["rejects"] + manifest["stats"]}
    on_disk = {
        p.relative_to(out).as_posix() for sub in ("shards", "rejects", "stats") for p in (out / sub).glob("*")
    }
    assert on_disk == listed
    assert sum(e["rows"] for e in manifest["shards"]) == manifest["counts"]["kept"]
    _read_all_tokens(str(out / "manifest.json"))
    assert not (out / "_lease.json").exists() and not (out / "_staging").exists()


@pytest.mark.parametrize("same_inputs", [True, False], ids=["same-inputs", "different-inputs"])
def test_two_runs_into_one_s3_output_one_commits_the_other_is_refused(s3_client, race_inputs, same_inputs):
    s3_client.create_bucket(Bucket="datasets")
    a, b = race_inputs
    out = "s3://datasets/race"
    inputs = ([a], [a]) if same_inputs else ([a], [b])
    winner = _one_committed(_race(*inputs, out), same_inputs)
    keys = {o["Key"] for o in s3_client.list_objects_v2(Bucket="datasets").get("Contents", [])}
    manifest = json.loads(s3_client.get_object(Bucket="datasets", Key="race/manifest.json")["Body"].read())
    assert manifest["inputs"][0]["path"].startswith(inputs[winner][0])
    listed = {f"race/{e['path']}" for e in manifest["shards"] + manifest["rejects"] + manifest["stats"]}
    assert {k for k in keys if k.startswith(("race/shards/", "race/rejects/", "race/stats/"))} == listed
    assert "race/_lease.json" not in keys
    _read_all_tokens(f"{out}/manifest.json")


KILL_POINTS = [
    ("commit.before_moves", "old"),
    ("commit.mid_moves", "old"),
    ("commit.before_manifest", "old"),  # every new file moved in, manifest not yet switched
    ("commit.after_manifest", "new"),  # switched, the old version's files not yet removed
    ("commit.after_cleanup", "new"),
]


@pytest.fixture(scope="module")
def committed_versions(two_inputs, tmp_path_factory) -> dict[str, dict]:
    """The manifests of the old version (one file, one config) and the new one (all files, another config)."""
    a, b = two_inputs
    found = {}
    for name, inputs, extra in (("old", [b], []), ("new", [a], ["output.compression_level=5"])):
        out = tmp_path_factory.mktemp(name) / "out"
        code, log = _finish(_start(inputs, str(out), FAST + extra))
        assert code == 0, log[-3000:]
        found[name] = json.loads((out / "manifest.json").read_text())
    assert found["old"]["shards"] != found["new"]["shards"]
    return found


def _same_dataset(manifest: dict, expected: dict) -> bool:
    keys = ("shards", "rejects", "stats", "counts", "config_hash")
    return all(manifest[k] == expected[k] for k in keys)


@pytest.mark.parametrize("point,expected", KILL_POINTS, ids=[p for p, _ in KILL_POINTS])
def test_a_run_killed_during_its_commit_leaves_the_old_or_the_new_dataset(
    two_inputs, committed_versions, tmp_path, point, expected
):
    a, b = two_inputs
    out = tmp_path / "out"
    code, log = _finish(_start([b], str(out), FAST))
    assert code == 0, log[-3000:]

    new = [*FAST, "output.compression_level=5"]
    killed = _start([a], str(out), new, {"CORPUS_ETL_FAILPOINT": point}, overwrite=True)
    code, log = _finish(killed)
    assert code == -signal.SIGKILL, f"the run was not killed at {point}: {code}\n{log[-2000:]}"
    manifest = json.loads((out / "manifest.json").read_text())
    assert _same_dataset(manifest, committed_versions[expected]), f"after a kill at {point}"
    _read_all_tokens(str(out / "manifest.json"))

    # The dead run's lease does not block the output: the rerun takes it over and commits the new version.
    code, log = _finish(_start([a], str(out), new, overwrite=True))
    assert code == 0, log[-3000:]
    manifest = json.loads((out / "manifest.json").read_text())
    assert _same_dataset(manifest, committed_versions["new"])
    listed = {e["path"] for e in manifest["shards"] + manifest["rejects"] + manifest["stats"]}
    on_disk = {
        p.relative_to(out).as_posix() for s in ("shards", "rejects", "stats") for p in (out / s).glob("*")
    }
    assert on_disk == listed, "the old version's files were left behind"


def test_a_live_lease_refuses_and_an_expired_one_is_taken_over(tmp_path, monkeypatch):
    from etl.store.lease import LEASE_NAME, OutputInUse, acquire

    out = str(tmp_path / "out")
    first = acquire(out, ttl=30)
    with pytest.raises(OutputInUse, match="in use"):
        acquire(out, ttl=30)
    # A lease whose holder stopped renewing it and whose expiry passed: taken over, and the old holder knows.
    first._stop.set()
    body = json.loads(Path(out, LEASE_NAME).read_text())
    body.update(expires=time.time() - 1, host="another-host")
    Path(out, LEASE_NAME).write_text(json.dumps(body))
    second = acquire(out, ttl=30)
    with pytest.raises(OutputInUse, match="lost its lease"):
        first.check()
    second.check()
    second.release()
    assert not Path(out, LEASE_NAME).exists()


def test_a_lease_of_a_dead_process_on_this_host_is_taken_over(tmp_path):
    from etl.store.lease import LEASE_NAME, acquire

    out = tmp_path / "out"
    dead = subprocess.Popen(["true"])
    dead.wait()
    lease = acquire(str(out), ttl=3600)
    lease._stop.set()
    body = json.loads((out / LEASE_NAME).read_text())
    body.update(pid=dead.pid, pid_start="0")
    (out / LEASE_NAME).write_text(json.dumps(body))
    taken = acquire(str(out), ttl=3600)
    assert json.loads((out / LEASE_NAME).read_text())["owner"] == taken.owner != lease.owner
    taken.release()


@pytest.mark.parametrize(
    "layout",
    ["output-inside-input", "input-inside-output", "glob-matches-output", "glob-matches-output-files"],
)
def test_overlapping_input_and_output_are_refused_before_any_work(tmp_path, run_cli, layout):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "hello world"}\n')
    inputs, out = {
        "output-inside-input": ([str(data)], data / "out"),
        "input-inside-output": ([str(data / "a.jsonl")], tmp_path),
        "glob-matches-output": ([f"{data}/*"], data / "out"),
        "glob-matches-output-files": ([f"{data}/**/*.json"], data / "out"),
    }[layout]
    proc = run_cli(*_args(inputs, str(out), FAST))
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--output" in proc.stderr and ("inside" in proc.stderr or "matches" in proc.stderr)
    assert not (Path(out) / "manifest.json").exists() and not (Path(out) / "_lease.json").exists()


def test_an_output_beside_the_input_is_accepted(tmp_path, run_cli):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.jsonl").write_text('{"text": "hello world"}\n')
    proc = run_cli(*_args([f"{data}/*.jsonl"], str(tmp_path / "data-out"), FAST))
    assert proc.returncode == 0, proc.stderr[-2000:]
