"""Model-based quality classifiers score real models exactly as the models' own APIs do (issue 23).

The models are the tiny ones of transforms.quality.tiny_models, built once per session: a fastText model trained
on the sample corpus, and seeded random BERTs (two labels; one regression output) with a trained WordPiece
tokenizer. Nothing is mocked: every score goes through fastText's or transformers' own code.
"""

from __future__ import annotations

from pathlib import Path

import fsspec
import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from transforms.quality import classifier_models
from transforms.quality.classifier_models import ClassifierError, load_model, local_copy
from transforms.quality.classifier_params import ClassifierParams
from transforms.quality.classifiers import classifier_steps, preflight, score_texts
from transforms.quality.rules import judge
from transforms.quality.text_tables import DocText
from transforms.quality.tiny_models import (
    SHIPPED_FASTTEXT,
    build_tiny_hf,
    heuristic_labels,
    sample_texts,
    train_tiny_fasttext,
)

TEXTS = [
    "The committee met on Tuesday.\nIt agreed to publish the minutes of every meeting on the library's site.",
    "buy now cheap cheap cheap click here click here",
    "",
    "A short line",
    "Sequences compare lexicographically using comparison of corresponding elements. " * 40,
    "Ünïcödé text — with dashes, “quotes” and 数字 123.\n\n\nAnd blank lines.",
    "Return True if the string is a valid identifier according to the language definition.",
]


@pytest.fixture(scope="session")
def models(tmp_path_factory) -> dict[str, str]:
    out = tmp_path_factory.mktemp("tiny_models")
    return {
        "fasttext": str(train_tiny_fasttext(out / "tiny_quality.bin")),
        "hf": str(build_tiny_hf(out / "hf_2label", regression=False)),
        "hf_regression": str(build_tiny_hf(out / "hf_regression", regression=True)),
    }


def fasttext_params(models, **kw) -> ClassifierParams:
    return ClassifierParams(
        **{"name": "ft", "type": "fasttext", "model": models["fasttext"], "label": "hq", **kw}
    )


def hf_params(models, **kw) -> ClassifierParams:
    return ClassifierParams(
        **{"name": "edu", "type": "hf", "model": models["hf"], "label": "hq", "device": "cpu", **kw}
    )


def regression_params(models, **kw) -> ClassifierParams:
    return ClassifierParams(
        **{"name": "edu", "type": "hf", "model": models["hf_regression"], "device": "cpu", **kw}
    )


def test_fasttext_score_is_fasttexts_own_probability_of_the_label(models):
    import fasttext

    model = fasttext.load_model(models["fasttext"])
    scores = score_texts(fasttext_params(models), pl.Series(TEXTS))
    for text, score in zip(TEXTS, scores, strict=True):
        labels, probs = model.predict(text.replace("\n", " "), k=-1)
        assert score == pytest.approx(dict(zip(labels, probs, strict=True))["__label__hq"], abs=1e-6), text
    assert scores.dtype == np.float64 and len(np.unique(scores)) > 3  # scores differ: a real model's


def test_fasttext_label_with_or_without_prefix_and_the_other_label(models):
    plain = score_texts(fasttext_params(models), pl.Series(TEXTS))
    prefixed = score_texts(fasttext_params(models, label="__label__hq"), pl.Series(TEXTS))
    low = score_texts(fasttext_params(models, label="lq"), pl.Series(TEXTS))
    np.testing.assert_array_equal(plain, prefixed)
    # fastText adds 1e-5 to each probability before its log, so the two come to 1 within 2e-5.
    np.testing.assert_allclose(plain + low, 1.0, atol=3e-5)


def test_fasttext_scores_are_deterministic_and_independent_of_order(models):
    params = fasttext_params(models)
    first = score_texts(params, pl.Series(TEXTS))
    np.testing.assert_array_equal(first, score_texts(params, pl.Series(TEXTS)))
    perm = np.random.default_rng(0).permutation(len(TEXTS))
    np.testing.assert_array_equal(first[perm], score_texts(params, pl.Series([TEXTS[i] for i in perm])))
    alone = [score_texts(params, pl.Series([t]))[0] for t in TEXTS]
    np.testing.assert_array_equal(first, alone)


def test_fasttext_reads_max_chars_and_nulls_as_empty(models):
    text = TEXTS[4]
    cut = score_texts(fasttext_params(models, max_chars=50), pl.Series([text]))[0]
    assert cut == score_texts(fasttext_params(models), pl.Series([text[:50]]))[0]
    assert cut != score_texts(fasttext_params(models), pl.Series([text]))[0]
    with_null = score_texts(fasttext_params(models), pl.Series([None, "x"], dtype=pl.String))
    assert with_null[0] == score_texts(fasttext_params(models), pl.Series([""]))[0]


def test_tiny_fasttext_learned_the_heuristic_filter(models):
    """The tiny model ranks the sample documents the heuristic filter keeps above those it rejects."""
    texts = sample_texts()
    kept = np.array(heuristic_labels(texts)) == "hq"
    scores = score_texts(fasttext_params(models), pl.Series(texts))
    auc = (scores[kept][:, None] > scores[~kept][None, :]).mean()
    assert kept.sum() > 100 and (~kept).sum() > 20
    assert auc > 0.9, auc


def test_shipped_tiny_fasttext_is_small_and_scores(models):
    assert SHIPPED_FASTTEXT.stat().st_size < 2_000_000
    assert Path(models["fasttext"]).stat().st_size < 2_000_000
    loaded = load_model(fasttext_params(models, model=str(SHIPPED_FASTTEXT)))
    assert sorted(loaded.labels) == ["__label__hq", "__label__lq"]
    scores = score_texts(fasttext_params(models, model=str(SHIPPED_FASTTEXT)), pl.Series(TEXTS))
    assert ((scores >= 0) & (scores <= 1.0001)).all() and np.ptp(scores) > 0.01


def hf_reference(model_dir: str, text: str, index: int | None, max_length: int = 512) -> float:
    """A plain transformers forward pass on one text, as a model card shows it."""
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, local_files_only=True).eval()
    with torch.no_grad():
        logits = model(**tokenizer(text, return_tensors="pt", truncation=True, max_length=max_length)).logits
    return float(logits[0, 0] if index is None else logits.softmax(-1)[0, index])


def test_hf_score_is_the_labels_softmax_of_a_plain_forward_pass(models):
    scores = score_texts(hf_params(models), pl.Series(TEXTS))
    for text, score in zip(TEXTS, scores, strict=True):
        assert score == pytest.approx(hf_reference(models["hf"], text, index=1), abs=1e-6), text
    low = score_texts(hf_params(models, label="lq"), pl.Series(TEXTS))
    np.testing.assert_allclose(scores + low, 1.0, atol=1e-6)
    assert np.ptp(scores) > 0.05  # seeded weights spread the scores: a wrong row would show


def test_hf_regression_score_is_the_raw_output(models):
    scores = score_texts(regression_params(models), pl.Series(TEXTS))
    for text, score in zip(TEXTS, scores, strict=True):
        assert score == pytest.approx(hf_reference(models["hf_regression"], text, index=None), abs=1e-6)
    assert (scores < 0).any() and (scores > 0).any()  # a logit, not a probability


def test_hf_truncates_to_max_length_tokens_and_max_chars(models):
    long = TEXTS[4]
    short = score_texts(hf_params(models, max_length=16), pl.Series([long]))[0]
    assert short == pytest.approx(hf_reference(models["hf"], long, index=1, max_length=16), abs=1e-6)
    assert short != pytest.approx(score_texts(hf_params(models), pl.Series([long]))[0], abs=1e-6)
    cut = score_texts(hf_params(models, max_chars=60), pl.Series([long]))[0]
    assert cut == pytest.approx(score_texts(hf_params(models), pl.Series([long[:60]]))[0], abs=1e-6)


def test_hf_batching_sorting_and_order_do_not_change_scores(models):
    texts = sample_texts()[:40] + TEXTS
    one = score_texts(hf_params(models, batch_size=1), pl.Series(texts))
    for size in (3, 32):
        np.testing.assert_allclose(
            score_texts(hf_params(models, batch_size=size), pl.Series(texts)), one, atol=1e-5
        )
    perm = np.random.default_rng(1).permutation(len(texts))
    shuffled = score_texts(hf_params(models, batch_size=8), pl.Series([texts[i] for i in perm]))
    np.testing.assert_allclose(shuffled, one[perm], atol=1e-5)
    np.testing.assert_array_equal(
        score_texts(hf_params(models, batch_size=8), pl.Series(texts)),
        score_texts(hf_params(models, batch_size=8), pl.Series(texts)),
    )


def test_hf_bfloat16_on_cpu_is_within_005_of_float32(models):
    fp32 = score_texts(hf_params(models), pl.Series(TEXTS))
    bf16 = score_texts(hf_params(models, dtype="bfloat16"), pl.Series(TEXTS))
    assert load_model(hf_params(models, dtype="bfloat16")).model.dtype.__str__() == "torch.bfloat16"
    np.testing.assert_allclose(bf16, fp32, atol=0.05)
    assert bf16.dtype == np.float64


def test_hf_auto_device_and_dtype_on_this_machine(models):
    import torch

    device, dtype = classifier_models.resolve_device(hf_params(models, device="auto"))
    assert (device, dtype) == (("cuda", "bfloat16") if torch.cuda.is_available() else ("cpu", "float32"))
    if not torch.cuda.is_available():
        with pytest.raises(ClassifierError, match="'edu': device cuda, but torch sees no GPU"):
            score_texts(hf_params(models, device="cuda"), pl.Series(["x"]))


def test_a_model_loads_once_per_process(models):
    assert load_model(hf_params(models)) is load_model(hf_params(models, label="lq", batch_size=4))
    assert load_model(fasttext_params(models)) is load_model(fasttext_params(models, threshold=0.5))


def test_a_url_model_is_copied_once_into_the_cache(models, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    mem = fsspec.filesystem("memory")
    mem.put(models["fasttext"], "/models/ft.bin")
    mem.put(models["hf"], "/models/hf", recursive=True)
    ft = local_copy("memory://models/ft.bin", "ft")
    hf = local_copy("memory://models/hf", "edu")
    assert ft.read_bytes() == Path(models["fasttext"]).read_bytes()
    assert sorted(p.name for p in hf.iterdir()) == sorted(p.name for p in Path(models["hf"]).iterdir())
    assert str(ft).startswith(str(tmp_path / "cache" / "corpus-etl" / "models"))
    mem.rm("/models/ft.bin")
    mem.put(models["hf_regression"] + "/config.json", "/models/ft.bin")  # changed at the URL: cache wins
    assert (
        local_copy("memory://models/ft.bin", "ft") == ft
        and ft.read_bytes() == Path(models["fasttext"]).read_bytes()
    )
    scores = score_texts(hf_params(models, model="memory://models/hf"), pl.Series(TEXTS))
    np.testing.assert_allclose(scores, score_texts(hf_params(models), pl.Series(TEXTS)), atol=1e-6)
    with pytest.raises(ClassifierError, match="'edu': model not found: memory://models/nothing"):
        local_copy("memory://models/nothing", "edu")


def test_missing_model_names_the_classifier_and_path(tmp_path):
    missing = tmp_path / "no_such_model.bin"
    for kind in ("fasttext", "hf"):
        params = ClassifierParams(name="dclm", type=kind, model=str(missing), label="hq")
        with pytest.raises(ClassifierError, match=f"classifier 'dclm': model not found: {missing}"):
            score_texts(params, pl.Series(["text"]))


def test_wrong_kind_of_model_file_is_named(models, tmp_path):
    with pytest.raises(ClassifierError, match="'ft': .* is not a fastText model"):
        score_texts(fasttext_params(models, model=models["hf"] + "/config.json"), pl.Series(["x"]))
    with pytest.raises(ClassifierError, match="not a Hugging Face model directory \\(no config.json\\)"):
        score_texts(hf_params(models, model=str(tmp_path)), pl.Series(["x"]))


def test_unknown_label_lists_the_models_labels(models):
    with pytest.raises(ClassifierError, match="label 'good' is not one of the model's labels: __label__"):
        score_texts(fasttext_params(models, label="good"), pl.Series(["x"]))
    with pytest.raises(ClassifierError, match="'edu': label 'good' is not one of the model's labels: lq, hq"):
        score_texts(hf_params(models, label="good"), pl.Series(["x"]))
    with pytest.raises(ClassifierError, match="'edu': set label to one of the model's labels: lq, hq"):
        score_texts(hf_params(models, label=None), pl.Series(["x"]))


def test_preflight_loads_and_checks_every_classifier_before_a_run(models, tmp_path):
    preflight([fasttext_params(models), regression_params(models)])
    with pytest.raises(ClassifierError, match="'edu': label 'good' is not one of"):
        preflight([fasttext_params(models), hf_params(models, label="good")])
    with pytest.raises(ClassifierError, match="'ft': model not found"):
        preflight([fasttext_params(models, model=str(tmp_path / "gone.bin"))])


def test_regression_model_with_a_label_is_refused(models):
    with pytest.raises(ClassifierError, match="'edu': .* is a regression model .* remove label 'hq'"):
        score_texts(regression_params(models, label="hq"), pl.Series(["x"]))


@pytest.mark.parametrize(
    "config, key, words",
    [
        ({"name": "Bad-Name", "type": "fasttext", "model": "m", "label": "hq"}, "name", "pattern"),
        (
            {"name": "ft", "type": "fasttext", "model": "m"},
            "label",
            "'ft': a fasttext classifier needs the label",
        ),
        (
            {"name": "ft", "type": "fasttext", "model": "m", "label": "x", "batch_size": 8},
            "batch_size",
            "hf only",
        ),
        ({"name": "ft", "type": "kenlm", "model": "m", "label": "x"}, "type", "fasttext"),
        ({"name": "ft", "type": "hf", "model": "m", "max_chars": 0}, "max_chars", "greater than or equal"),
        ({"name": "ft", "type": "hf", "model": "m", "colour": "red"}, "colour", "Extra inputs"),
    ],
)
def test_bad_configs_are_refused_by_key(config, key, words):
    with pytest.raises(ValidationError) as err:
        ClassifierParams(**config)
    assert key in str(err.value) and words in str(err.value)


def test_defaults_per_type():
    hf = ClassifierParams(name="edu", type="hf", model="m")
    ft = ClassifierParams(name="ft", type="fasttext", model="m", label="hq")
    assert (hf.max_chars, hf.max_length, hf.batch_size, hf.device, hf.dtype) == (
        10_000,
        512,
        32,
        "auto",
        "auto",
    )
    assert ft.max_chars is None and ft.threshold is None
    assert ClassifierParams(name="edu", type="hf", model="m", max_chars=None).max_chars is None


def test_steps_score_into_q_cls_columns_and_reject_below_threshold(models):
    steps = classifier_steps([fasttext_params(models, threshold=0.5), regression_params(models)])
    docs = DocText.of(TEXTS)
    ft, reg = (step.compute(docs).metrics for step in steps)
    assert ft.schema == {"q_cls_ft": pl.Float64} and reg.schema == {"q_cls_edu": pl.Float64}
    np.testing.assert_array_equal(
        ft["q_cls_ft"].to_numpy(), score_texts(fasttext_params(models), pl.Series(TEXTS))
    )
    assert [(r.reason, r.metric, r.op, r.threshold) for r in steps[0].rules] == [
        ("classifier.ft", "q_cls_ft", "<", 0.5)
    ]
    assert steps[1].rules == ()
    verdict = judge(ft, steps[0].rules)["reason"].to_list()
    assert verdict == ["classifier.ft" if s < 0.5 else None for s in ft["q_cls_ft"]]
    assert 0 < verdict.count("classifier.ft") < len(TEXTS)


def test_steps_handle_an_empty_batch_without_loading(tmp_path):
    never = ClassifierParams(name="ft", type="fasttext", model=str(tmp_path / "absent.bin"), label="hq")
    (step,) = classifier_steps([never])
    out = step.compute(DocText.of([])).metrics
    assert out.height == 0 and out.schema == {"q_cls_ft": pl.Float64}
    assert score_texts(never, pl.Series([], dtype=pl.String)).dtype == np.float64


def test_steps_refuse_two_classifiers_with_one_name(models):
    with pytest.raises(ValueError, match="classifier name 'ft' is used twice"):
        classifier_steps([fasttext_params(models), fasttext_params(models, label="lq")])


def test_a_decoder_model_whose_tokenizer_has_no_pad_token_scores_batches_as_single_texts(tmp_path):
    """GPT-style tokenizers have no pad token: the loader pads with eos, and the head reads the last real
    token, so a padded batch scores each text as it scores alone."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import GPT2Config, GPT2ForSequenceClassification, PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(["hello world this is text", "another line of words"] * 50, trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")
    assert fast.pad_token is None
    fast.save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = GPT2Config(
        vocab_size=tok.get_vocab_size(), n_embd=32, n_layer=2, n_head=2, num_labels=2,
        id2label={0: "lq", 1: "hq"}, label2id={"lq": 0, "hq": 1},
    )  # fmt: skip
    GPT2ForSequenceClassification(config).save_pretrained(tmp_path)
    params = ClassifierParams(name="gpt", type="hf", model=str(tmp_path), label="hq", batch_size=4)
    texts = ["hello world", "another line of words and more words here", "text", "hello world this is text"]
    together = score_texts(params, pl.Series(texts))
    alone = np.array([score_texts(params, pl.Series([t]))[0] for t in texts])
    assert np.abs(together - alone).max() < 1e-5
    assert len(set(np.round(together, 6))) == len(texts)
