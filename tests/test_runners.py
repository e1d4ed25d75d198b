"""Runners: multi_processing with two workers writes the same bytes as in_memory; the documented options for
Dataflow, Flink and Spark are real Beam options with valid values."""

from __future__ import annotations

import re
import shlex

import pytest

from tests.conftest import REPO, SAMPLE, comparable_outputs

# Every stage (the dedup shuffles and near dedup's global step included), in several units (one per file) so
# that the workers split them. Validation is a driver-side function of the stats compared here byte for byte,
# so it is left out to keep the two runs short.
OVERRIDES = ["input.unit_bytes=1", "validation.enabled=false"]


def _run(run_cli, out, *beam_args: str) -> None:
    sets = [arg for item in OVERRIDES for arg in ("--set", item)]
    proc = run_cli("run", "--input", str(SAMPLE), "--output", str(out), *sets, "--", *beam_args)
    assert proc.returncode == 0, proc.stderr[-4000:]


def test_multi_processing_two_workers_matches_in_memory(run_cli, tmp_path):
    _run(run_cli, tmp_path / "mem", "--direct_running_mode=in_memory")
    _run(run_cli, tmp_path / "mp", "--direct_running_mode=multi_processing", "--direct_num_workers=2")
    # The manifest records the Beam options it ran with (run.beam_args): the one intended difference.
    ignore = ("created_at", "run.beam_args")
    mem, mp = comparable_outputs(tmp_path / "mem", ignore), comparable_outputs(tmp_path / "mp", ignore)
    assert sum(p.startswith("shards/") for p in mem) >= 2
    assert sorted(mp) == sorted(mem)
    for path, data in mem.items():
        assert mp[path] == data, f"{path} differs between multi_processing and in_memory"


def _documented_commands() -> list[list[str]]:
    """The Beam options after `--` of every `corpus-etl run` command in docs/runners.md."""
    text = (REPO / "docs" / "runners.md").read_text()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for command in block.replace("\\\n", " ").splitlines():
            words = shlex.split(command, comments=True)
            if words[:2] == ["corpus-etl", "run"] and "--" in words:
                commands.append(words[words.index("--") + 1 :])
    return commands


def _known_flags() -> set[str]:
    """Every flag (with its aliases) that some Beam PipelineOptions class defines."""
    from apache_beam.options.pipeline_options import PipelineOptions, _BeamArgumentParser

    flags, classes = set(), list(PipelineOptions.__subclasses__())
    while classes:
        cls = classes.pop()
        classes += cls.__subclasses__()
        parser = _BeamArgumentParser(add_help=False)
        cls._add_argparse_args(parser)
        flags.update(s for action in parser._actions for s in action.option_strings)
    return flags


@pytest.mark.parametrize("runner", ["DataflowRunner", "FlinkRunner", "SparkRunner"])
def test_documented_runner_options_are_valid_beam_options(runner):
    from apache_beam.options.pipeline_options import StandardOptions

    from etl.run.runner import pipeline_options

    found = [args for args in _documented_commands() if f"--runner={runner}" in args]
    assert found, f"docs/runners.md has no command for {runner}"
    known = _known_flags()
    for args in found:
        flags = {a.split("=", 1)[0] for a in args if a.startswith("--")}
        assert flags - known == set(), f"not Beam options: {sorted(flags - known)}"
        options = pipeline_options(args)
        assert options.view_as(StandardOptions).runner == runner
        options.get_all_options()  # argparse choices (e.g. --flink_version) raise SystemExit when invalid
