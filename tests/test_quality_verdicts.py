"""Recorded quality verdicts replay to exactly what the stage gives, on any subset of the judged rows."""

from __future__ import annotations

import pyarrow as pa
import pytest

from transforms.quality.params import QualityConfig
from transforms.quality.stage import BatchQualityFilter
from transforms.quality.verdicts import Verdicts, record, recordable


def mixed_quality_batch() -> pa.RecordBatch:
    """Documents the rules keep (prose) and reject (too short, repetitive, not words), interleaved."""
    import pydoc_data.topics as topics
    import re

    paras = [p for body in topics.topics.values() for p in re.split(r"\n\s*\n", body) if len(p.split()) > 40]
    texts = []
    for i in range(24):
        texts.append("\n\n".join(" ".join(p.split()) for p in paras[i * 5 : i * 5 + 5]))
        texts.append(["tiny", "spam spam spam spam " * 60, "{} [] () <> ;; " * 40, "x" * 900][i % 4])
    n = len(texts)
    return pa.RecordBatch.from_pydict(
        {"doc_id": [f"d{i}" for i in range(n)], "text": texts, "source": ["s.jsonl"] * n,
         "meta": ["{}"] * n, "line": list(range(1, n + 1))},
        schema=pa.schema([("doc_id", pa.string()), ("text", pa.large_string()), ("source", pa.string()),
                          ("meta", pa.string()), ("line", pa.int64())]),
    )  # fmt: skip


def test_replay_on_a_subset_equals_running_the_stage_on_that_subset():
    batch = mixed_quality_batch()
    judge = BatchQualityFilter(QualityConfig())
    full = judge(batch)
    assert full.kept.num_rows and full.rejects.num_rows, "the fixture must have both outcomes"
    verdicts = Verdicts(pa.Table.from_batches([record(batch, full.kept, full.rejects)]))
    for subset in (
        batch,
        batch.slice(1, batch.num_rows - 3),
        batch.filter(pa.array([i % 3 != 0 for i in range(batch.num_rows)])),
    ):
        expected = judge(subset)
        kept, rejects, _ = verdicts.replay(subset)
        assert kept.equals(expected.kept)
        assert rejects.equals(expected.rejects)


def test_a_row_the_key_pass_never_judged_is_an_error_not_a_guess():
    batch = mixed_quality_batch()
    full = BatchQualityFilter(QualityConfig())(batch)
    verdicts = Verdicts(pa.Table.from_batches([record(batch.slice(1), *_split(full, batch.slice(1)))]))
    with pytest.raises(RuntimeError, match="never judged"):
        verdicts.replay(batch.slice(0, 2))


def _split(result, batch):
    again = BatchQualityFilter(QualityConfig())(batch)
    return again.kept, again.rejects


def test_stages_that_edit_text_are_not_recorded():
    assert recordable(QualityConfig())
    assert not recordable(QualityConfig.model_validate({"pii": {"enabled": True}}))
    assert not recordable(QualityConfig.model_validate({"c4": {"remove_lines": True}}))
    assert not recordable(QualityConfig.model_validate({"enabled": False}))


@pytest.mark.parametrize("redact", [False, True])
def test_a_write_pass_that_replays_verdicts_lets_the_key_pass_models_go(tmp_path, redact):
    from etl.config import Config
    from etl.run import unit_work
    from transforms.quality.language import language_model

    config = Config()
    config.quality.pii.enabled = redact  # a stage that edits text is judged again at write: it keeps them
    unit_work._loaded.clear()
    key_job = unit_work.KeyJob(config, str(tmp_path), exact=True, near=True, bits=2, by_owner=True)
    key_chain = unit_work._remember(key_job.key(), unit_work._KeyChain(key_job))
    key_chain.quality.process(mixed_quality_batch())  # judging loads the language model
    assert language_model.cache_info().currsize == 1
    chain = unit_work._write_chain(unit_work.WriteJob(config, str(tmp_path)))
    kinds = [key[0] for key in unit_work._loaded]
    if redact:
        assert kinds == ["keys", "write"] and language_model.cache_info().currsize == 1
    else:
        assert kinds == ["write"] and language_model.cache_info().currsize == 0
    assert [stage.name for stage in chain][-1] == "tokenize"
    unit_work._loaded.clear()
