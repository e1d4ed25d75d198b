"""Model-based quality classifiers: a score per document from a fastText or Hugging Face model, and its Step.

`score_texts(params, texts)` is the pure part: one float64 score per text, in input order, the same for a text
whatever batch it comes in (fastText exactly; hf within float rounding of padding). `classifier_steps` turns
each configured classifier into a quality Step with column `q_cls_<name>` and, with a threshold, the rule
`classifier.<name>` (score below threshold rejects). Models load once per process (classifier_models).
"""

from __future__ import annotations

import numpy as np
import polars as pl

from transforms.quality.classifier_models import LoadedModel, label_index, load_model
from transforms.quality.classifier_params import ClassifierParams, unique_names
from transforms.quality.rules import Step, StepOutput, rule
from transforms.quality.text_tables import DocText


def model_input(params: ClassifierParams, texts: pl.Series) -> pl.Series:
    """The text the model reads: the first max_chars characters; for fastText on one line."""
    texts = texts.cast(pl.String).fill_null("")
    if params.max_chars is not None:
        texts = texts.str.slice(0, params.max_chars)
    if params.type == "fasttext":
        # fastText predicts one line at a time; a newline is whitespace to its tokenizer anyway.
        texts = texts.str.replace_all("\n", " ", literal=True)
    return texts


def score_texts(params: ClassifierParams, texts: pl.Series) -> np.ndarray:
    """One score per text, float64, in input order: the label's probability, or a regression head's value."""
    if len(texts) == 0:
        return np.zeros(0, dtype=np.float64)
    loaded = load_model(params)
    index = label_index(loaded, params)
    inputs = model_input(params, texts)
    if loaded.kind == "fasttext":
        return _fasttext_scores(loaded, loaded.labels[index], inputs.to_list())
    return _hf_scores(loaded, index, params, inputs.to_list())


def _fasttext_scores(loaded: LoadedModel, label: str, texts: list[str]) -> np.ndarray:
    # k=-1 with threshold 0 returns every label, each row in its own order of probability.
    labels, probs = loaded.model.predict(texts, k=-1, threshold=0.0)
    n_labels = len(loaded.labels)
    if all(len(row) == n_labels for row in labels):
        hit = np.array(labels, dtype=object) == label
        return (np.vstack(probs).astype(np.float64) * hit).sum(axis=1)
    # A label fastText left out (probability 0) scores 0.
    return np.array(
        [p[row.index(label)] if label in row else 0.0 for row, p in zip(labels, probs, strict=True)]
    )


def _hf_scores(
    loaded: LoadedModel, index: int | None, params: ClassifierParams, texts: list[str]
) -> np.ndarray:
    import torch

    tokenizer, model = loaded.tokenizer, loaded.model
    encoded = tokenizer(texts, truncation=True, max_length=params.max_length)
    lengths = np.array([len(ids) for ids in encoded["input_ids"]])
    # Similar lengths share a batch, so little of each forward pass is padding.
    order = np.argsort(lengths, kind="stable")
    out = np.empty(len(texts), dtype=np.float64)
    with torch.inference_mode():
        for start in range(0, len(texts), params.batch_size):
            rows = order[start : start + params.batch_size]
            batch = tokenizer.pad(
                {key: [encoded[key][i] for i in rows] for key in encoded}, return_tensors="pt"
            ).to(loaded.device)
            logits = model(**batch).logits.float()
            scores = logits[:, 0] if index is None else logits.softmax(dim=-1)[:, index]
            out[rows] = scores.cpu().numpy()
    return out


def preflight(classifiers: list[ClassifierParams]) -> None:
    """Load every model and check its label now, so a bad path or label fails before a run, not in a worker."""
    for params in unique_names(classifiers):
        label_index(load_model(params), params)


def classifier_steps(classifiers: list[ClassifierParams]) -> list[Step]:
    """One Step per classifier, in config order: column q_cls_<name>, rule classifier.<name> if thresholded."""
    unique_names(classifiers)
    return [_step(params) for params in classifiers]


def _step(params: ClassifierParams) -> Step:
    def compute(docs: DocText) -> StepOutput:
        scores = score_texts(params, docs.text)
        return StepOutput(pl.DataFrame({params.column: scores}, schema={params.column: pl.Float64}))

    return Step(compute, tuple(rule(params.reason, params.column, "<", params.threshold)))
