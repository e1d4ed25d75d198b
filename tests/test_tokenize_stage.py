"""The tokenizer stage: loading, the hf backend, BOS / EOS, rejects, and the Beam wiring."""

from __future__ import annotations

import hashlib
import json
import logging
import os

import apache_beam as beam
import fsspec
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to
from tokenizers import Tokenizer, models, pre_tokenizers

from etl.run.runner import local_options
from transforms.schema import REJECT_SCHEMA
from transforms.tokenize import (
    DEFAULT_TOKENIZER,
    Tokenize,
    TokenizeConfig,
    TokenizerError,
    load_encoder,
    load_tokenizer_info,
    tokenize_batch,
)

TEXTS = [
    "Hello world, this is a document.",
    "def main(argv):\n    return 0\n",
    "日本語のテキストと emoji 😀👍🏽 and café",
    "    leading spaces and\ttabs\n\n\n",
]


def docs(texts: list[str], **extra) -> pa.RecordBatch:
    n = len(texts)
    columns = {
        "doc_id": pa.array([f"d{i}" for i in range(n)], pa.string()),
        "text": pa.array(texts, pa.large_string()),
        "source": pa.array(["src.jsonl"] * n, pa.string()),
        "meta": pa.array(["{}"] * n, pa.string()),
        "line": pa.array(range(1, n + 1), pa.int64()),
    }
    columns.update(extra)
    return pa.RecordBatch.from_pydict(columns)


def reference_ids(text: str) -> list[int]:
    """What the tokenizers library itself gives for the default tokenizer, specials as text."""
    tok = Tokenizer.from_file(str(DEFAULT_TOKENIZER))
    tok.encode_special_tokens = True
    return tok.encode(text, add_special_tokens=False).ids


def test_default_tokenizer_is_small_byte_level_bpe_with_eos_and_bos():
    info = load_tokenizer_info(TokenizeConfig())
    spec = json.loads(DEFAULT_TOKENIZER.read_text())
    assert DEFAULT_TOKENIZER.stat().st_size < 1_500_000
    assert info["model"] == "BPE" and 8_000 <= info["vocab_size"] <= 16_384
    assert spec["pre_tokenizer"]["type"] == "ByteLevel" and spec["pre_tokenizer"]["use_regex"]
    assert info["sha256"] == hashlib.sha256(DEFAULT_TOKENIZER.read_bytes()).hexdigest()
    assert info["path"] == str(DEFAULT_TOKENIZER)
    assert info["special_ids"]["<|endoftext|>"] == info["eos_id"]
    assert info["bos_id"] is not None and info["bos_id"] != info["eos_id"]


def test_tokenizer_loads_from_an_fsspec_url_with_the_same_hash():
    data = DEFAULT_TOKENIZER.read_bytes()
    with fsspec.open("memory://tok/tokenizer.json", "wb") as f:
        f.write(data)
    info = load_tokenizer_info(TokenizeConfig(tokenizer="memory://tok/tokenizer.json"))
    assert info["path"] == "memory://tok/tokenizer.json"
    assert info["sha256"] == hashlib.sha256(data).hexdigest()
    enc = load_encoder(TokenizeConfig(tokenizer="memory://tok/tokenizer.json", add_eos=False))
    assert enc.encode(TEXTS[0]).tolist() == reference_ids(TEXTS[0])


def test_missing_tokenizer_error_names_the_path(tmp_path):
    missing = tmp_path / "nope.json"
    with pytest.raises(TokenizerError, match="nope.json"):
        load_tokenizer_info(TokenizeConfig(tokenizer=str(missing)))


def test_add_bos_without_a_bos_token_is_an_error_that_says_what_to_set(tmp_path):
    path = tmp_path / "tokenizer.json"
    Tokenizer(models.BPE()).save(str(path))
    with pytest.raises(TokenizerError, match="tokenize.bos_token"):
        load_tokenizer_info(TokenizeConfig(tokenizer=str(path), add_eos=False, add_bos=True))


def test_hf_backend_gives_the_tokenizers_library_ids_with_eos_and_bos_per_config():
    for add_bos, add_eos in [(False, False), (False, True), (True, True), (True, False)]:
        enc = load_encoder(TokenizeConfig(add_bos=add_bos, add_eos=add_eos))
        for text, ids in zip(TEXTS, enc.encode_batch(TEXTS), strict=True):
            expected = [1] * add_bos + reference_ids(text) + [0] * add_eos
            assert ids.dtype == np.uint32 and ids.tolist() == expected


def test_document_text_spelling_a_special_token_is_encoded_as_text():
    enc = load_encoder(TokenizeConfig(add_eos=False))
    ids = enc.encode("end here <|endoftext|> and <|startoftext|>").tolist()
    assert 0 not in ids and 1 not in ids
    assert enc.decode(ids) == "end here <|endoftext|> and <|startoftext|>"


def test_decode_round_trips_unicode_code_and_whitespace():
    enc = load_encoder(TokenizeConfig(add_eos=False))
    for text in TEXTS:
        assert enc.decode(enc.encode(text)) == text


def test_tokenize_batch_keeps_rows_and_columns_and_rejects_empty_text():
    batch = docs(TEXTS + ["", "ok"], quality_score=pa.array(range(6), pa.float64()))
    kept, rejects = tokenize_batch(batch, load_encoder(TokenizeConfig()))
    assert kept.num_rows + rejects.num_rows == batch.num_rows
    assert kept.column("doc_id").to_pylist() == ["d0", "d1", "d2", "d3", "d5"]
    assert kept.column("quality_score").to_pylist() == [0.0, 1.0, 2.0, 3.0, 5.0]
    assert kept.schema.field("tokens").type == pa.list_(pa.uint32())
    assert kept.schema.field("num_tokens").type == pa.int64()
    tokens = kept.column("tokens").to_pylist()
    assert tokens[0] == reference_ids(TEXTS[0]) + [0]
    assert kept.column("num_tokens").to_pylist() == [len(t) for t in tokens]
    assert rejects.schema == REJECT_SCHEMA
    assert rejects.to_pylist() == [
        {
            "doc_id": "d4",
            "source": "src.jsonl",
            "line": 5,
            "stage": "tokenize",
            "reason": "no_tokens",
            "detail": "the tokenizer produced no tokens (empty text)",
            "value": None,
            "text": "",
        }
    ]


def test_torch_backend_falls_back_to_hf_with_a_log_line_for_wordpiece(tmp_path, caplog):
    path = tmp_path / "wordpiece.json"
    tok = Tokenizer(models.WordPiece({"[UNK]": 0, "a": 1, "##b": 2}, unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(path))
    with caplog.at_level(logging.WARNING):
        enc = load_encoder(TokenizeConfig(tokenizer=str(path), backend="torch", add_eos=False))
    assert enc.backend.name == "hf"
    assert "WordPiece" in caplog.text and "using backend hf" in caplog.text
    assert enc.encode("ab a").tolist() == [1, 2, 1]


def test_tokenize_transform_outputs_kept_and_rejects_in_a_pipeline():
    batch = docs(["first document", "", "second one"])
    expected_tokens = [len(reference_ids("first document")) + 1, len(reference_ids("second one")) + 1]
    with beam.Pipeline(options=local_options()) as p:
        out = p | beam.Create([batch]) | Tokenize(TokenizeConfig())
        kept_rows = out["kept"] | "KeptRows" >> beam.FlatMap(
            lambda b: zip(b.column("doc_id").to_pylist(), b.column("num_tokens").to_pylist(), strict=True)
        )
        reject_rows = out["rejects"] | "RejectRows" >> beam.FlatMap(
            lambda b: zip(b.column("doc_id").to_pylist(), b.column("reason").to_pylist(), strict=True)
        )
        assert_that(kept_rows, equal_to([("d0", expected_tokens[0]), ("d2", expected_tokens[1])]), "kept")
        assert_that(reject_rows, equal_to([("d1", "no_tokens")]), "rejects")


@pytest.mark.parametrize("backend", ["torch", "fast"])
def test_tokenize_batch_gives_the_same_columns_with_every_backend(backend):
    batch = docs(TEXTS + ["", "x\U0003307b<s>"])  # a code point that Unicode versions class differently
    hf_kept, hf_rejects = tokenize_batch(batch, load_encoder(TokenizeConfig(add_bos=True, backend="hf")))
    other = load_encoder(TokenizeConfig(add_bos=True, backend=backend, device="cpu"))
    assert other.backend.name == backend
    kept, rejects = tokenize_batch(batch, other)
    assert kept.equals(hf_kept) and rejects.equals(hf_rejects)


def test_default_backend_is_the_fast_exact_path():
    assert TokenizeConfig().backend == "auto"
    assert load_encoder(TokenizeConfig()).backend.name == "fast"
    assert load_encoder(TokenizeConfig(backend="hf")).backend.name == "hf"


def test_threads_setting_sizes_the_rust_pools_only_when_asked(monkeypatch):
    monkeypatch.delenv("RAYON_NUM_THREADS", raising=False)
    enc = load_encoder(TokenizeConfig())
    assert "RAYON_NUM_THREADS" not in os.environ  # rayon's default: every core this process may use
    assert enc.backend.threads == len(os.sched_getaffinity(0))
    enc = load_encoder(TokenizeConfig(threads=3))
    assert os.environ["RAYON_NUM_THREADS"] == "3" and enc.backend.threads == 3
