"""Config of one model-based quality classifier (`quality.classifiers` in YAML): which model, which score.

A classifier scores every document still in play into column `q_cls_<name>`; with a threshold, documents that
score below it are rejected as `classifier.<name>`. What can be checked without the model is checked here; what
needs it (the model's labels, whether its head is a regression) is checked when it loads (classifier_models).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from transforms.params import KeyRangeError, StageParams

# Characters a Hugging Face classifier reads by default: far past 512 tokens, so truncation is the
# tokenizer's, while a megabyte-long page is not tokenised whole only to be cut.
HF_MAX_CHARS = 10_000

# Keys that mean something for a Hugging Face model only.
HF_ONLY = ("max_length", "batch_size", "device", "dtype")


class ClassifierParams(StageParams):
    """A fastText or Hugging Face text classifier whose score for one label (or regression output) becomes
    column `q_cls_<name>`, with an optional threshold below which documents are rejected."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    """Lowercase identifier (`[a-z][a-z0-9_]*`): the score column is `q_cls_<name>` and the reject reason
    `classifier.<name>`."""
    type: Literal["fasttext", "hf"]
    """`fasttext`: a fastText supervised model (`.bin` or `.ftz`); `hf`: a Hugging Face sequence
    classification model directory written by `save_pretrained`."""
    model: str = Field(min_length=1)
    """Local path or fsspec URL (s3://...) of the model file (fasttext) or directory (hf). A URL is copied
    once into ~/.cache/corpus-etl/models (under $XDG_CACHE_HOME when set); nothing is fetched from a hub."""
    label: str | None = None
    """The label whose probability is the score: fasttext, with or without its `__label__` prefix (required);
    hf, a name from the model's config.id2label (required unless the model has a single regression output,
    whose raw value is the score, as FineWeb-Edu's classifier)."""
    threshold: float | None = None
    """Documents scoring below it are rejected as `classifier.<name>` (null: scored, never rejected)."""
    max_chars: int | None = Field(default=None, ge=1)
    """The model reads the first max_chars characters of each text (null: the whole text). Default: null for
    fasttext (newlines become spaces, fastText reads one line), 10000 for hf."""
    max_length: int = Field(default=512, ge=1)
    """hf only: tokens per text after truncation (the model card's limit; 512 for BERT-sized encoders)."""
    batch_size: int = Field(default=32, ge=1)
    """hf only: texts per forward pass; texts are sorted by length into batches, so padding stays small."""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """hf only: `auto` runs on the GPU when torch sees one, else on the CPU."""
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    """hf only: weights' precision; `auto` is bfloat16 on a GPU and float32 on the CPU."""

    @model_validator(mode="before")
    @classmethod
    def _hf_reads_10000_chars_by_default(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("type") == "hf" and "max_chars" not in data:
            return {**data, "max_chars": HF_MAX_CHARS}
        return data

    @model_validator(mode="after")
    def _keys_fit_the_type(self) -> ClassifierParams:
        if self.type == "fasttext":
            if self.label is None:
                raise KeyRangeError(
                    "label",
                    f"classifier {self.name!r}: a fasttext classifier needs the label to score, e.g. __label__hq",
                )
            for key in HF_ONLY:  # set to other than its default: a resolved config (a manifest) has every key
                if getattr(self, key) != type(self).model_fields[key].default:
                    raise KeyRangeError(key, f"classifier {self.name!r}: {key} applies to type hf only")
        return self

    @property
    def column(self) -> str:
        return f"q_cls_{self.name}"

    @property
    def reason(self) -> str:
        return f"classifier.{self.name}"


def unique_names(classifiers: list[ClassifierParams]) -> list[ClassifierParams]:
    """Validator for a list of classifiers: two with one name would write one column twice."""
    seen: set[str] = set()
    for c in classifiers:
        if c.name in seen:
            raise ValueError(f"classifier name {c.name!r} is used twice; names must be unique")
        seen.add(c.name)
    return classifiers
