"""Every size, count, level and threshold of the config has its range checked at load (issue 13, "Config").

A bad value is a ConfigError naming the dotted key, the allowed range and the value given; through the CLI it is
exit 2 before anything runs. The defaults themselves satisfy every constraint.
"""

from __future__ import annotations

import pytest
import yaml

from etl.config import Config, ConfigError, load_config
from tests.conftest import SAMPLE

# (override, the key as the message must name it, the range as it must say it)
BAD = [
    ("output.shard_target_bytes=-5", "output.shard_target_bytes", "must be > 0 (got -5)"),
    ("output.shard_target_bytes=0", "output.shard_target_bytes", "must be > 0 (got 0)"),
    ("input.unit_bytes=-1", "input.unit_bytes", "must be > 0 (got -1)"),
    ("input.unit_bytes=0", "input.unit_bytes", "must be > 0"),
    ("input.batch_rows=0", "input.batch_rows", "must be >= 1 (got 0)"),
    ("output.row_group_tokens=-1", "output.row_group_tokens", "must be > 0 (got -1)"),
    ("output.compression_level=99", "output.compression_level", "must be in [1, 22] for zstd"),
    ("output.compression_level=0", "output.compression_level", "must be in [1, 22] for zstd"),
    ("near_dedup.threshold=0", "near_dedup.threshold", "must be in (0, 1] (got 0)"),
    ("near_dedup.threshold=1.2", "near_dedup.threshold", "must be in (0, 1]"),
    ("near_dedup.num_perm=0", "near_dedup.num_perm", "must be in [1, 65536] (got 0)"),
    ("near_dedup.ngram=0", "near_dedup.ngram", "must be >= 1"),
    ("near_dedup.bands=0", "near_dedup.bands", "must be >= 1"),
    ("near_dedup.rows=-2", "near_dedup.rows", "must be >= 1"),
    ("near_dedup.seed=-1", "near_dedup.seed", "must be >= 0"),
    ("quality.language.min_score=1.5", "quality.language.min_score", "must be in [0, 1] (got 1.5)"),
    ("quality.language.max_chars=0", "quality.language.max_chars", "must be >= 1"),
    ("quality.gopher_repetition.dup_line_frac=-0.1", "quality.gopher_repetition.dup_line_frac", "in [0, 1]"),
    ("quality.gopher_repetition.top_2gram_char_frac=2", "quality.gopher_repetition.top_2gram_char_frac", "in [0, 1]"),
    ("quality.gopher_quality.min_doc_words=-1", "quality.gopher_quality.min_doc_words", "must be >= 0"),
    ("quality.gopher_quality.max_bullet_lines_ratio=1.1", "quality.gopher_quality.max_bullet_lines_ratio", "in [0, 1]"),
    ("quality.gopher_quality.max_symbol_word_ratio=-1", "quality.gopher_quality.max_symbol_word_ratio", ">= 0"),
    ("quality.c4.max_word_length=0", "quality.c4.max_word_length", "must be >= 1"),
    ("quality.c4.min_num_sentences=-3", "quality.c4.min_num_sentences", "must be >= 0"),
    ("quality.fineweb.line_punct_thr=1.01", "quality.fineweb.line_punct_thr", "in [0, 1]"),
    ("quality.fineweb.short_line_length=-1", "quality.fineweb.short_line_length", "must be >= 0"),
    ("quality.fineweb.char_duplicates_ratio=-0.5", "quality.fineweb.char_duplicates_ratio", "in [0, 1]"),
    ("tokenize.threads=-1", "tokenize.threads", "must be >= 0"),
    ("tokenize.pretokenize_processes=-1", "tokenize.pretokenize_processes", "must be >= 0"),
]  # fmt: skip

# Rules across keys of one section name the key they blame.
BAD_TOGETHER = [
    (["output.compression=gzip", "output.compression_level=10"], "output.compression_level", "[1, 9] for gzip"),
    (["near_dedup.num_perm=64", "near_dedup.bands=16", "near_dedup.rows=8"], "near_dedup.bands",
     "bands*rows must be <= num_perm: 16 * 8 = 128 exceeds num_perm = 64"),
    (["near_dedup.num_perm=64", "near_dedup.rows=65"], "near_dedup.rows", "1 * 65 = 65 exceeds num_perm = 64"),
    (["quality.gopher_quality.min_doc_words=500", "quality.gopher_quality.max_doc_words=100"],
     "quality.gopher_quality.min_doc_words", "must be <= max_doc_words = 100 (got 500)"),
    (["quality.gopher_quality.min_avg_word_length=12"], "quality.gopher_quality.min_avg_word_length",
     "must be <= max_avg_word_length"),
]  # fmt: skip


@pytest.mark.parametrize(("override", "key", "allowed"), BAD, ids=[b[0] for b in BAD])
def test_an_out_of_range_value_names_its_key_and_range(override, key, allowed):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=[override])
    assert f"{key}: " in str(caught.value) and allowed in str(caught.value)


@pytest.mark.parametrize(("overrides", "key", "allowed"), BAD_TOGETHER, ids=[b[1] for b in BAD_TOGETHER])
def test_a_value_out_of_the_range_its_section_allows_names_its_key(overrides, key, allowed):
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=overrides)
    assert f"{key}: " in str(caught.value) and allowed in str(caught.value)


def test_a_range_error_in_a_file_names_the_file_and_the_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"output": {"shard_target_bytes": -5}}))
    with pytest.raises(ConfigError, match=r"bad\.yaml: output\.shard_target_bytes: must be > 0 \(got -5\)"):
        load_config(path)


@pytest.mark.parametrize(
    ("override", "key"),
    [("output.bogus=1", "output.bogus"), ("quality.c4.min_sentences=3", "quality.c4.min_sentences"),
     ("nonsense.x=1", "nonsense")],  # an unknown section is named, not the key under it
)  # fmt: skip
def test_unknown_keys_are_refused_by_name(override, key):
    with pytest.raises(ConfigError, match=rf"config: {key}: unknown key \(known keys: "):
        load_config(overrides=[override])


@pytest.mark.parametrize(
    "overrides",
    [
        ["output.compression=gzip", "output.compression_level=9"],
        ["output.compression=zstd", "output.compression_level=22"],
        ["output.compression_level=null"],
        # snappy and none have no level: whatever is set is ignored (the writer passes none).
        ["output.compression=snappy", "output.compression_level=99"],
        ["output.compression=none"],
        [
            "input.unit_bytes=1",
            "input.batch_rows=1",
            "output.shard_target_bytes=1",
            "output.row_group_tokens=1",
        ],
        ["near_dedup.threshold=1.0", "near_dedup.num_perm=64", "near_dedup.bands=8", "near_dedup.rows=8"],
        ["quality.gopher_quality.min_doc_words=null", "quality.gopher_quality.max_doc_words=10"],
        ["quality.fineweb.new_line_ratio=3.5"],  # newlines per word can pass 1
    ],
)
def test_values_at_the_edges_of_their_ranges_load(overrides):
    load_config(overrides=overrides)


def test_every_default_config_loads(tmp_path):
    """The defaults (which pydantic does not validate) pass their own constraints, and round-trip as YAML."""
    default = load_config()
    assert default == Config()
    path = tmp_path / "resolved.yaml"
    path.write_text(default.to_yaml())
    assert load_config(path).hash() == default.hash()
    sections = [Config, *(type(getattr(default, name)) for name in Config.model_fields)]
    for model in sections:
        model.model_validate(model().model_dump())
    for name in ("language", "gopher_repetition", "gopher_quality", "c4", "fineweb", "pii"):
        model = type(getattr(default.quality, name))
        model.model_validate(model().model_dump())


def test_the_cli_refuses_an_out_of_range_value_with_exit_2_before_running(run_cli, tmp_path):
    out = tmp_path / "out"
    proc = run_cli(
        "run", "--input", str(SAMPLE), "--output", str(out), "--set", "output.shard_target_bytes=-5"
    )
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "output.shard_target_bytes: must be > 0 (got -5)" in proc.stderr
    assert "Traceback" not in proc.stderr and not out.exists()
