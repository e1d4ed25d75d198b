"""Classifiers inside whole runs: the score is a stats and signals column, a threshold rejects with the score as
value, reruns give the same bytes, and a missing model stops the run before any work (exit 2 at the CLI)."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from etl.config import load_config
from etl.run import run_pipeline
from transforms.quality.classifier_params import ClassifierParams
from transforms.quality.classifiers import score_texts
from transforms.quality.tiny_models import build_tiny_hf

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "etl" / "data" / "sample"
FASTTEXT = REPO / "transforms" / "quality" / "data" / "tiny_quality.bin"
BEAM = ["--direct_running_mode=in_memory", "--direct_num_workers=1"]
INPUTS = [str(SAMPLE / "web-a.jsonl.gz"), str(SAMPLE / "books.parquet")]


def _classifiers(hf_dir: Path) -> str:
    return (
        "quality.classifiers=["
        f"{{name: ft, type: fasttext, model: '{FASTTEXT}', label: hq, threshold: 0.3}},"
        f"{{name: edu, type: hf, model: '{hf_dir}', label: hq}}]"
    )


def _run(out: Path, hf_dir: Path, *extra: str) -> Path:
    overrides = ["validation.enabled=false", _classifiers(hf_dir), "quality.signals=true", *extra]
    run_pipeline(INPUTS, str(out), load_config(overrides=overrides), BEAM)
    return out


def _read(out: Path, kind: str) -> pl.DataFrame:
    manifest = json.loads((out / "manifest.json").read_text())
    return pl.concat([pl.read_parquet(out / e["path"]) for e in manifest[kind]], how="diagonal")


@pytest.fixture(scope="module")
def hf_dir(tmp_path_factory) -> Path:
    return build_tiny_hf(tmp_path_factory.mktemp("hf") / "tiny", regression=False)


@pytest.fixture(scope="module")
def run(tmp_path_factory, hf_dir) -> Path:
    return _run(tmp_path_factory.mktemp("cls") / "out", hf_dir)


def test_a_threshold_rejects_with_the_reason_and_the_score_as_value(run):
    rejects = _read(run, "rejects").filter(pl.col("reason") == "classifier.ft")
    assert rejects.height > 0
    params = ClassifierParams(name="ft", type="fasttext", model=str(FASTTEXT), label="hq", threshold=0.3)
    scores = score_texts(params, rejects["text"])
    assert (rejects["value"].to_numpy() == scores).all()
    assert (scores < 0.3).all()
    assert rejects["detail"].str.starts_with("cls_ft=").all()


def test_kept_documents_carry_both_scores_and_signals_hold_every_judged_one(run):
    stats = _read(run, "stats")
    assert stats["q_cls_ft"].min() >= 0.3
    assert stats["q_cls_edu"].null_count() == 0 and stats["q_cls_edu"].is_between(0, 1).all()
    signals = _read(run, "signals")
    judged = signals.filter(pl.col("reason").is_null() | (pl.col("reason") == "classifier.ft"))
    assert judged["q_cls_ft"].null_count() == 0
    # The hf classifier comes after the fastText one: a document the threshold rejected never reached it.
    assert signals.filter(pl.col("reason") == "classifier.ft")["q_cls_edu"].null_count() > 0


def test_a_rerun_writes_the_same_bytes(run, hf_dir, tmp_path):
    again = _run(tmp_path / "again", hf_dir)
    for kind in ("shards", "stats", "rejects", "signals"):
        first = json.loads((run / "manifest.json").read_text())[kind]
        second = json.loads((again / "manifest.json").read_text())[kind]
        assert [e["sha256"] for e in first] == [e["sha256"] for e in second], kind


def test_a_missing_model_is_one_line_exit_2_before_any_work(run_cli, tmp_path):
    spec = "quality.classifiers=[{name: ft, type: fasttext, model: /nonexistent/model.bin, label: hq}]"
    proc = run_cli("run", "--input", INPUTS[0], "--output", str(tmp_path / "out"), "--set", spec)
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("corpus-etl: error")]
    assert len(lines) == 1 and "/nonexistent/model.bin" in lines[0]
    assert not (tmp_path / "out").exists()


def test_set_reaches_into_a_list_by_index_and_names_a_bad_index():
    from etl.config import ConfigError

    listed = "quality.classifiers=[{name: a, type: fasttext, model: m.bin, label: hq}]"
    config = load_config(overrides=[listed, "quality.classifiers.0.threshold=0.3"])
    assert config.quality.classifiers[0].threshold == 0.3
    for bad in ("quality.classifiers.1.threshold=0.3", "quality.classifiers.first.threshold=0.3"):
        with pytest.raises(ConfigError, match="'quality.classifiers' is a list of 1"):
            load_config(overrides=[listed, bad])
