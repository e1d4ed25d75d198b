"""`corpus-etl profile` (issue 23): retention curves and predictions from a run's quality signals.

First pure, on a hand-built signals table whose outcome per document is known: curves are monotone and mark
the configured threshold, a replay of the run's own config gives the run's reasons, changed thresholds move
documents between reasons, a metric the run did not compute makes a document undecidable, and a change that
signals cannot answer is refused by key. Then end to end: the kept set that `profile --set ... --json`
predicts from a run's signals is exactly the kept set of a rerun with those thresholds.
"""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq
import pytest

from etl.config import load_config
from etl.report.predict import UNKNOWN, UnpredictableChange, predict, replay
from etl.report.signals import config_rules, retention_curve, rule_keys, with_tokens
from tests.conftest import SAMPLE

# Three families decide: language, gopher_quality, fineweb (in that order).
BASE = [
    "quality.gopher_repetition.enabled=false",
    "quality.c4.enabled=false",
]
PASSING = {
    "lang": "en",
    "q_lang_score": 0.99,
    "q_word_count": 200,
    "q_mean_word_length": 5.0,
    "q_hash_word_ratio": 0.0,
    "q_ellipsis_word_ratio": 0.0,
    "q_bullet_lines_ratio": 0.0,
    "q_ellipsis_lines_ratio": 0.0,
    "q_alpha_words_ratio": 0.95,
    "q_stop_words": 5,
    "q_nonblank_lines": 10,
    "q_line_punct_ratio": 0.9,
    "q_short_line_ratio": 0.1,
    "q_char_dup_ratio": 0.0,
    "q_newline_word_ratio": 0.05,
}
FINEWEB = ["q_nonblank_lines", "q_line_punct_ratio", "q_short_line_ratio", "q_char_dup_ratio"]
FINEWEB += ["q_newline_word_ratio"]
# doc_id: (the run's reason under BASE, metrics that differ from PASSING, bytes); kept documents have tokens.
DOCS = {
    "d0": (None, {}, 1000),
    "d1": ("gopher_quality.word_count", {"q_word_count": 30}, 200),
    "d2": ("gopher_quality.word_count", {"q_word_count": 45}, 300),
    "d3": ("fineweb.char_dup_ratio", {"q_char_dup_ratio": 0.03}, 400),
    "d4": ("fineweb.char_dup_ratio", {"q_char_dup_ratio": 0.2}, 500),
    "d5": ("gopher_quality.alpha_words", {"q_alpha_words_ratio": 0.7}, 600),
    "d6": (None, {"q_word_count": 120}, 600),
    "d7": (None, {"q_word_count": 60, "q_char_dup_ratio": 0.005}, 400),
    "d8": ("language.not_allowed", {"lang": "de"}, 100),
}
TOKENS = {"d0": 250, "d6": 150, "d7": 100}  # 500 tokens over 2000 bytes: 0.25 tokens per byte


def _config(*overrides: str):
    return load_config(None, [*BASE, *overrides])


def _signals(filter_mode: bool) -> pl.DataFrame:
    """The table a run writes; in filter mode a family after the rejecting one never ran (null metrics)."""
    rows = []
    for i, (doc_id, (reason, metrics, n_bytes)) in enumerate(DOCS.items()):
        row = {"doc_id": doc_id, "source": "s.jsonl", "line": i, "reason": reason, "num_bytes": n_bytes}
        row.update({**PASSING, **metrics})
        if filter_mode and reason and not reason.startswith("fineweb"):
            row.update(dict.fromkeys(FINEWEB))
            if reason.startswith("language"):
                row.update({k: None for k in PASSING if k.startswith("q_") and k != "q_lang_score"})
        rows.append(row)
    table = pl.DataFrame(rows, infer_schema_length=None)
    stats = pl.DataFrame({"doc_id": list(TOKENS), "num_tokens": list(TOKENS.values())})
    return with_tokens(table, stats)[0]


def _rule(config, reason: str, op: str):
    return next(r for r in config_rules(config.quality) if r.reason == reason and r.op == op)


def test_rejected_documents_get_tokens_estimated_at_the_kept_documents_tokens_per_byte():
    table = pl.DataFrame({"doc_id": list(DOCS), "num_bytes": [b for _, _, b in DOCS.values()]})
    stats = pl.DataFrame({"doc_id": list(TOKENS), "num_tokens": list(TOKENS.values())})
    out, per_byte = with_tokens(table, stats)
    assert per_byte == 0.25
    tokens = dict(zip(out["doc_id"], out["tokens"], strict=True))
    estimated = dict(zip(out["doc_id"], out["tokens_estimated"], strict=True))
    assert tokens["d0"] == 250 and not estimated["d0"]
    assert tokens["d1"] == 50 and estimated["d1"]  # 200 bytes x 0.25
    assert out["doc_id"].to_list() == list(DOCS)  # the signals' order is kept


def test_retention_curve_is_monotone_and_marks_the_configured_threshold():
    config = _config()
    signals = _signals(filter_mode=False)
    minimum = retention_curve(signals, _rule(config, "gopher_quality.word_count", "<"))
    thresholds = [p.threshold for p in minimum.points]
    assert thresholds == sorted(thresholds) and 50.0 in thresholds
    assert minimum.configured.threshold == 50.0
    # word counts 30 and 45 are below 50: 7 of 9 documents kept, and their share of the tokens
    assert minimum.configured.docs == pytest.approx(7 / 9)
    tokens = signals.filter(pl.col("q_word_count") >= 50)["tokens"].sum() / signals["tokens"].sum()
    assert minimum.configured.tokens == pytest.approx(tokens)
    docs = [p.docs for p in minimum.points]
    assert all(a >= b for a, b in zip(docs, docs[1:], strict=False))  # a higher minimum keeps fewer
    assert docs[0] == 1.0 and docs[-1] < 1.0
    maximum = retention_curve(signals, _rule(config, "fineweb.char_dup_ratio", ">"))
    shares = [(p.docs, p.tokens) for p in maximum.points]
    assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in zip(shares, shares[1:], strict=False))
    assert shares[-1] == (1.0, 1.0) and maximum.configured.threshold == 0.01
    assert maximum.configured.docs == pytest.approx(7 / 9)  # 0.03 and 0.2 are above 0.01


def test_a_curve_counts_only_the_documents_whose_metric_was_computed():
    curve = retention_curve(_signals(filter_mode=True), _rule(_config(), "fineweb.char_dup_ratio", ">"))
    assert curve.documents == 5  # d1, d2, d5 (gopher_quality) and d8 (language) never reached fineweb
    assert curve.configured.docs == pytest.approx(3 / 5)


def test_rule_keys_name_the_config_key_of_each_threshold():
    keys = rule_keys(_config().quality)
    config = _config()
    assert keys[_rule(config, "gopher_quality.word_count", "<")] == "quality.gopher_quality.min_doc_words"
    assert keys[_rule(config, "gopher_quality.word_count", ">")] == "quality.gopher_quality.max_doc_words"
    assert keys[_rule(config, "language.not_allowed", "not in")] == "quality.languages"
    assert _rule(config, "fineweb.empty", "<") not in keys  # a fixed threshold


@pytest.mark.parametrize("filter_mode", [True, False])
def test_replaying_the_runs_own_config_gives_the_runs_reasons(filter_mode):
    config = _config()
    signals = _signals(filter_mode)
    prediction = predict(signals, config, config)
    assert prediction.documents["after"].to_list() == [reason for reason, _, _ in DOCS.values()]
    assert prediction.undecidable == 0 and prediction.changed == {}
    assert prediction.kept_ids() == ["d0", "d6", "d7"]


def test_two_changed_thresholds_move_documents_between_reasons():
    old = _config()
    new = _config("quality.gopher_quality.min_doc_words=40", "quality.fineweb.char_duplicates_ratio=0.05")
    prediction = predict(_signals(filter_mode=False), old, new)
    assert prediction.changed == {
        "quality.fineweb.char_duplicates_ratio": (0.01, 0.05),
        "quality.gopher_quality.min_doc_words": (50, 40),
    }
    assert prediction.removed() == {
        "language.not_allowed": (1, 1),
        "gopher_quality.word_count": (2, 1),  # d2 (45 words) passes 40
        "gopher_quality.alpha_words": (1, 1),
        "fineweb.char_dup_ratio": (2, 1),  # d3 (0.03) passes 0.05
    }
    assert (prediction.kept("before"), prediction.kept()) == (3, 5)
    assert prediction.kept_ids() == ["d0", "d2", "d3", "d6", "d7"]
    assert prediction.tokens("before") == 500 and prediction.tokens() == 500 + 75 + 100  # 300 and 400 bytes


def test_languages_and_min_score_are_replayed():
    signals = _signals(filter_mode=False)
    allowed = predict(signals, _config(), _config("quality.languages=[en, de]"))
    assert allowed.removed()["language.not_allowed"] == (1, 0) and "d8" in allowed.kept_ids()
    strict = predict(signals, _config(), _config("quality.language.min_score=0.995"))
    assert strict.kept() == 0 and strict.removed()["language.low_score"] == (0, 9)


def test_a_metric_the_run_did_not_compute_makes_the_outcome_undecidable():
    old, new = _config(), _config("quality.gopher_quality.min_doc_words=40")
    filtered = predict(_signals(filter_mode=True), old, new)
    # d2 now passes gopher_quality, but fineweb never ran on it; d1 still fails word_count first
    assert filtered.undecidable == 1 and filtered.undecidable_ids() == ["d2"]
    assert dict(zip(filtered.documents["doc_id"], filtered.documents["after"], strict=True))["d1"] == (
        "gopher_quality.word_count"
    )
    assert "d2" not in filtered.kept_ids()
    annotated = predict(_signals(filter_mode=False), old, new)
    assert annotated.undecidable == 0 and "d2" in annotated.kept_ids()
    rule_off = predict(_signals(filter_mode=True), old, _config("quality.gopher_quality.min_doc_words=null"))
    assert rule_off.undecidable == 2  # d1 and d2
    family_off = predict(_signals(filter_mode=True), old, _config("quality.gopher_quality.enabled=false"))
    assert family_off.undecidable == 3  # d1, d2, d5


def test_replay_puts_unknown_only_where_no_earlier_rule_fails():
    config = _config()
    rules = config_rules(config.quality)
    table = pl.DataFrame({name: [value, value] for name, value in PASSING.items()})
    table = table.with_columns(
        q_word_count=pl.Series([10, None]), q_char_dup_ratio=pl.Series([None, 0.0], dtype=pl.Float64)
    )
    assert replay(table, rules).to_list() == ["gopher_quality.word_count", UNKNOWN]


@pytest.mark.parametrize(
    ("override", "named"),
    [
        ("near_dedup.threshold=0.7", "near_dedup.threshold"),
        ("input.text_field=body", "input.text_field"),
        ("quality.language.max_chars=500", "quality.language.max_chars"),
        ("quality.c4.remove_lines=true", "quality.c4.remove_lines"),
        ("quality.pii.enabled=true", "quality.pii.enabled"),
        ("quality.fineweb.short_line_length=10", "quality.fineweb.short_line_length"),
        ("quality.gopher_quality.stop_words=[the]", "quality.gopher_quality.stop_words"),
        ("quality.c4.enabled=true", "quality.c4.enabled"),  # its metrics are not in the signals
    ],
)
def test_a_change_signals_cannot_answer_is_refused_by_key(override, named):
    with pytest.raises(UnpredictableChange, match=f"--set {named.replace('.', '[.]')}: cannot be predicted"):
        predict(_signals(filter_mode=False), _config(), _config(override))


def test_thresholds_switches_and_languages_are_predictable():
    for override in (
        "quality.gopher_quality.max_doc_words=null",
        "quality.fineweb.enabled=false",
        "quality.fineweb.line_punct_exclude_zero=true",
        "quality.language.min_score=0.5",
        "quality.languages=[]",
        "quality.enabled=false",
    ):
        prediction = predict(_signals(filter_mode=False), _config(), _config(override))
        assert list(prediction.changed) == [override.split("=")[0]]
    assert predict(_signals(filter_mode=False), _config(), _config("quality.enabled=false")).kept() == 9
    # A prediction is what filter mode keeps, also for an annotate run or config.
    annotate = predict(_signals(filter_mode=False), _config(), _config("quality.mode=annotate"))
    assert annotate.kept() == 3 and annotate.removed()["gopher_quality.word_count"] == (2, 2)


CLASSIFIER = "{name: hq, type: fasttext, model: tiny.bin, label: __label__hq, threshold: %s}"


def test_a_classifier_threshold_is_replayed_and_its_model_or_label_is_not():
    old = _config(f"quality.classifiers=[{CLASSIFIER % 0.5}]")
    # The classifier decides last: of the documents every other rule keeps (d0, d6, d7), d7 scores under 0.5.
    scores = [0.9, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.45, 0.8]
    signals = _signals(filter_mode=False).with_columns(
        q_cls_hq=pl.Series(scores),
        reason=pl.when(pl.col("doc_id") == "d7").then(pl.lit("classifier.hq")).otherwise(pl.col("reason")),
    )
    assert rule_keys(old.quality)[_rule(old, "classifier.hq", "<")] == "quality.classifiers.hq.threshold"
    assert predict(signals, old, old).documents["after"].to_list() == signals["reason"].to_list()
    looser = predict(signals, old, _config(f"quality.classifiers=[{CLASSIFIER % 0.4}]"))
    assert looser.removed()["classifier.hq"] == (1, 0) and looser.kept_ids() == ["d0", "d6", "d7"]
    stricter = predict(signals, old, _config(f"quality.classifiers=[{CLASSIFIER % 0.7}]"))
    assert stricter.removed()["classifier.hq"] == (1, 2) and stricter.kept_ids() == ["d0"]
    relabelled = _config(f"quality.classifiers=[{CLASSIFIER.replace('__label__hq', '__label__lq') % 0.5}]")
    with pytest.raises(UnpredictableChange, match=r"--set quality\.classifiers\.hq\.label: "):
        predict(signals, old, relabelled)
    added = _config(f"quality.classifiers=[{CLASSIFIER % 0.5}, {CLASSIFIER.replace('hq,', 'edu,') % 0.5}]")
    with pytest.raises(UnpredictableChange, match=r"--set quality\.classifiers\.edu: "):
        predict(signals, old, added)


# End to end: real runs of the sample corpus. Near dedup is off, so the kept set is the quality stage's.
CHANGES = [
    "quality.gopher_quality.min_doc_words=150",  # stricter: removes documents the run kept
    "quality.fineweb.char_duplicates_ratio=0.05",  # looser: keeps documents the run removed
]
RUN = ["--set", "near_dedup.enabled=false", "--set", "output.keep_text=true"]


def _cli(*args: str):
    import subprocess

    from tests.conftest import REPO, checkout_env, cli_command

    return subprocess.run(cli_command(*args), env=checkout_env(), cwd=REPO, capture_output=True, text=True,
                          timeout=600)  # fmt: skip


def _sets(changes: list[str]) -> list[str]:
    return [arg for change in changes for arg in ("--set", change)]


def _kept_ids(out: Path) -> list[str]:
    manifest = json.loads((out / "manifest.json").read_text())
    entries = [*manifest["shards"], *(manifest.get("quarantine") or [])]
    return sorted(
        i for e in entries for i in pq.read_table(out / e["path"], columns=["doc_id"])["doc_id"].to_pylist()
    )


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    """annotate: every signal of every document; signals: filter mode with signals; rerun: filter mode with
    CHANGES and no signals."""
    root = tmp_path_factory.mktemp("profile")
    settings = {
        "annotate": ["--set", "quality.mode=annotate"],
        "signals": ["--set", "quality.signals=true"],
        "rerun": _sets(CHANGES),
    }
    for name, extra in settings.items():
        proc = _cli("run", "--input", str(SAMPLE), "--output", str(root / name), *RUN, *extra, "-q")
        assert proc.returncode == 0, proc.stderr[-3000:]
    return {name: root / name for name in settings}


@pytest.mark.parametrize("run", ["annotate", "signals"])
def test_profile_predicts_exactly_the_kept_set_of_a_rerun_with_the_changed_thresholds(runs, run):
    proc = _cli("profile", str(runs[run]), *_sets(CHANGES), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    predicted = json.loads(proc.stdout)
    assert predicted["undecidable"] == 0
    assert set(predicted["changed"]) == {c.split("=")[0] for c in CHANGES}
    rerun = json.loads((runs["rerun"] / "manifest.json").read_text())["counts"]["stages"]["quality"]
    assert {r: n["predicted"] for r, n in predicted["removed"].items() if n["predicted"]} == rerun["reasons"]
    assert len(rerun["reasons"]) >= 3  # several rules decide, the two changed ones among them
    assert {"gopher_quality.word_count", "fineweb.char_dup_ratio"} <= set(rerun["reasons"])
    assert predicted["kept"]["predicted"] != predicted["kept"]["run"]
    assert sorted(predicted["kept_doc_ids"]) == _kept_ids(runs["rerun"])


def test_profile_text_says_what_changes_per_reason_and_what_is_undecidable(runs):
    # Documents the run's c4 rule rejected would pass 2 sentences, but fineweb never ran on them.
    relaxed = ["--set", "quality.c4.min_num_sentences=2"]
    filtered = _cli("profile", str(runs["signals"]), *relaxed)
    assert filtered.returncode == 0, filtered.stderr[-3000:]
    undecidable = [line for line in filtered.stdout.splitlines() if line.startswith("undecidable: ")]
    assert len(undecidable) == 1 and int(undecidable[0].split()[1]) > 0, filtered.stdout
    assert undecidable[0].endswith("(signals not computed; run with quality.mode=annotate)")
    annotated = _cli("profile", str(runs["annotate"]), *relaxed)
    assert annotated.returncode == 0 and "undecidable" not in annotated.stdout, annotated.stdout
    manifest = json.loads((runs["signals"] / "manifest.json").read_text())
    quality = manifest["counts"]["stages"]["quality"]
    lines = annotated.stdout.splitlines()
    assert any(line.startswith(f"kept {quality['out']} -> ") for line in lines), annotated.stdout
    assert f"  c4.min_sentences {quality['reasons']['c4.min_sentences']} -> " in annotated.stdout


def test_profile_without_set_lists_every_rule_with_its_curve(runs):
    proc = _cli("profile", str(runs["annotate"]), "--json")
    assert proc.returncode == 0, proc.stderr[-3000:]
    curves = json.loads(proc.stdout)
    signals = pl.read_parquet(runs["annotate"] / "signals")
    assert curves["documents"] == signals.height and curves["mode"] == "annotate"
    config = load_config(None, ["near_dedup.enabled=false"])
    assert [r["reason"] for r in curves["rules"]] == [r.reason for r in config_rules(config.quality)]
    word_count = next(r for r in curves["rules"] if r["key"] == "quality.gopher_quality.min_doc_words")
    assert word_count["docs_kept"] == pytest.approx((signals["q_word_count"] >= 50).mean())
    assert [50, word_count["docs_kept"]] == word_count["curve"][
        [p[0] for p in word_count["curve"]].index(50)
    ][:2]
    text = _cli("profile", str(runs["annotate"]), "--signal", "min_doc_words")
    assert text.returncode == 0, text.stderr[-3000:]
    assert "<- configured" in text.stdout and "token figures are estimated" not in text.stdout


def test_profile_refuses_what_signals_cannot_answer_in_one_line(runs):
    refused = _cli("profile", str(runs["annotate"]), "--set", "quality.c4.remove_lines=true")
    assert refused.returncode == 2
    assert refused.stderr.startswith("corpus-etl: error: --set quality.c4.remove_lines: cannot be predicted")
    assert len(refused.stderr.strip().splitlines()) == 1
    bare = _cli("profile", str(runs["rerun"]))
    assert bare.returncode == 2
    assert bare.stderr.strip() == (
        f"corpus-etl: error: {runs['rerun']} has no signals/; "
        "run with --set quality.signals=true or quality.mode=annotate"
    )
