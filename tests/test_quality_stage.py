"""The stage's contract: every row kept or rejected once, the first rule in order decides, metric columns,
counted text edits, config keys, and the Beam wrapper on the local runner."""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to

from etl.config import ConfigError, load_config
from etl.run.runner import local_options
from tests.test_quality_data import CLEAN, FRENCH, LOREM, batch_of, only
from transforms.quality import QualityConfig, QualityFilter, filter_batch
from transforms.schema import REJECT_SCHEMA

MIXED = [*CLEAN, "", "Too short.", CLEAN[0] + "\n" + LOREM, FRENCH, "\n\n".join([CLEAN[1]] * 4)]


def no_bad_words() -> QualityConfig:
    config = QualityConfig()
    config.c4.filter_bad_words = False
    return config


def test_every_row_is_kept_or_rejected_exactly_once():
    batch = batch_of(MIXED)
    result = filter_batch(batch, no_bad_words())
    kept, rejected = result.kept.column("doc_id").to_pylist(), result.rejects.column("doc_id").to_pylist()
    assert sorted(kept + rejected) == sorted(batch.column("doc_id").to_pylist())
    assert not set(kept) & set(rejected)
    assert kept == [f"d{i}" for i in range(len(CLEAN))]
    assert result.rejects.schema == REJECT_SCHEMA
    assert set(result.rejects.column("stage").to_pylist()) == {"quality"}
    assert sum(result.rejected.values()) == len(rejected)


def test_first_failing_rule_in_documented_order_is_the_reason():
    by_id = {r["doc_id"]: r for r in filter_batch(batch_of(MIXED), no_bad_words()).rejects.to_pylist()}
    # "" fails nearly everything; language runs first, then gopher_repetition.empty would have.
    assert by_id["d4"]["reason"] == "language.low_score"
    assert by_id["d5"]["reason"] == "language.low_score"
    assert by_id["d6"]["reason"] == "c4.lorem_ipsum"
    assert by_id["d7"]["reason"] == "language.not_allowed"
    assert by_id["d8"]["reason"] == "gopher_repetition.dup_para_frac"
    # Families in order: a tiny text fails Gopher repetition (its one 2-gram is most of it) before its
    # word count, as in datatrove's chain.
    config = no_bad_words()
    config.language.enabled = False
    assert filter_batch(batch_of(["Too short."]), config).rejects.column("reason").to_pylist() == [
        "gopher_repetition.top_2gram"
    ]
    # Within a family: word count is judged before stop words.
    config = only("gopher_quality")
    got = filter_batch(batch_of(["cheap flights hotel deals"]), config).rejects.to_pylist()[0]
    assert (got["reason"], got["detail"], got["value"]) == (
        "gopher_quality.word_count",
        "word_count=4 < 50",
        4.0,
    )


def test_reject_detail_names_metric_value_and_threshold():
    got = filter_batch(batch_of([CLEAN[0] + "\n" + LOREM]), only("c4")).rejects.to_pylist()[0]
    assert got["detail"] == "c4_lorem_ipsum=1 > 0" and got["value"] == 1.0
    got = filter_batch(
        batch_of(["\n\n".join([CLEAN[1]] * 4)]), only("gopher_repetition")
    ).rejects.to_pylist()[0]
    assert got["detail"] == "dup_para_frac=0.75 > 0.3" and got["value"] == 0.75


def test_kept_rows_carry_every_metric_and_lang_and_extra_columns():
    batch = batch_of(CLEAN).append_column("extra", pa.array(range(len(CLEAN)), pa.int64()))
    kept = filter_batch(batch, QualityConfig()).kept
    names = kept.schema.names
    assert names[: len(batch.schema.names)] == batch.schema.names
    assert kept.column("extra").to_pylist() == list(range(len(CLEAN)))
    assert kept.column("lang").to_pylist() == ["en"] * len(CLEAN)
    for metric in (
        "q_word_count",
        "q_mean_word_length",
        "q_lang_score",
        "q_dup_5gram_char_frac",
        "q_c4_sentences",
        "q_line_punct_ratio",
        "q_c4_bad_words",
    ):
        assert metric in names, metric
    assert all(
        pa.types.is_integer(t) or pa.types.is_floating(t)
        for n, t in zip(names, kept.schema.types, strict=True)
        if n.startswith("q_")
    )
    assert kept.column("text").equals(batch.column("text"))


def test_kept_batches_have_one_schema_whatever_is_rejected():
    config = QualityConfig()
    schemas = {filter_batch(batch_of(texts), config).kept.schema for texts in (CLEAN, ["", "x"], [])}
    assert len(schemas) == 1


def test_text_is_unchanged_unless_an_edit_is_configured_and_then_counted():
    page = CLEAN[0] + "\nPlease enable JavaScript to see the full page."
    default = filter_batch(batch_of([page]), only("c4"))
    assert default.kept.column("text").to_pylist() == [page]
    assert default.kept.column("q_c4_removed_lines").to_pylist() == [1]
    assert default.edits == {}
    edited = filter_batch(batch_of([page]), only("c4", c4__remove_lines=True))
    assert edited.kept.column("text").to_pylist() == [CLEAN[0]]
    assert edited.edits == {"c4_edited_docs": 1, "c4_removed_lines": 1}


def test_pii_redaction_is_off_by_default_and_counted_when_on():
    page = CLEAN[2] + "\nWrite to jane.doe@example.org or reach the server at 8.8.4.4, not 192.168.0.1."
    assert filter_batch(batch_of([page]), only("c4")).kept.column("text").to_pylist() == [page]
    config = only("c4", pii__enabled=True)
    result = filter_batch(batch_of([page]), config)
    text = result.kept.column("text").to_pylist()[0]
    assert "jane.doe@example.org" not in text and "8.8.4.4" not in text and "192.168.0.1" in text
    assert result.kept.column("q_pii_emails").to_pylist() == [1]
    assert result.kept.column("q_pii_ips").to_pylist() == [1]
    assert result.edits == {"pii_emails": 1, "pii_ips": 1}


def test_disabled_stage_keeps_everything():
    config = QualityConfig(enabled=False)
    result = filter_batch(batch_of(MIXED), config)
    assert result.kept.num_rows == len(MIXED) and result.rejects.num_rows == 0


def test_thresholds_are_public_config_keys():
    config = load_config(
        overrides=[
            "quality.gopher_quality.min_doc_words=30",
            "quality.languages=[en, de]",
            "quality.c4.remove_lines=true",
            "quality.gopher_repetition.dup_5gram_char_frac=null",
        ]
    )
    assert config.quality.gopher_quality.min_doc_words == 30
    assert config.quality.languages == ["en", "de"]
    assert config.quality.c4.remove_lines is True
    assert config.quality.gopher_repetition.dup_5gram_char_frac is None
    with pytest.raises(ConfigError, match="quality.gopher_quality.min_words"):
        load_config(overrides=["quality.gopher_quality.min_words=30"])


def test_beam_stage_keeps_or_rejects_every_input_row():
    batches = [
        batch_of(MIXED, prefix="a"),
        batch_of(CLEAN, prefix="b"),
        batch_of(["", "Too short."], prefix="c"),
    ]
    with beam.Pipeline(options=local_options()) as p:
        out = p | beam.Create(batches) | QualityFilter(no_bad_words())
        kept = out["kept"] | "KeptIds" >> beam.FlatMap(lambda b: b.column("doc_id").to_pylist())
        rejected = out["rejects"] | "RejectIds" >> beam.FlatMap(lambda b: b.column("doc_id").to_pylist())
        every = (kept, rejected) | beam.Flatten()
        assert_that(every, equal_to([i for b in batches for i in b.column("doc_id").to_pylist()]))
        assert_that(
            kept,
            equal_to([f"a{i}" for i in range(len(CLEAN))] + [f"b{i}" for i in range(len(CLEAN))]),
            label="KeptAreTheClean",
        )
