"""Finding and loading a classifier's model once per process: a local copy of a URL, then fastText or transformers.

`load_model(params)` returns a `LoadedModel`, kept in a module-level cache keyed by (type, model, device, dtype)
so every batch of a worker reuses it. Errors name the classifier and the path, and list the model's labels
when the configured label is not one of them. transformers (and torch) are imported only for an hf model.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec

from transforms.quality.classifier_params import ClassifierParams


class ClassifierError(ValueError):
    """A classifier that cannot score: a missing model, an unknown label, a device that is not there."""


@dataclass(frozen=True)
class LoadedModel:
    """A model ready to score, and the facts about it that checking a label needs."""

    kind: str  # "fasttext" or "hf"
    model: Any  # fasttext's _FastText, or a transformers model in eval mode
    labels: tuple[str, ...]  # fastText labels with their prefix; hf id2label in id order
    label_prefix: str = ""  # fastText's label prefix (`__label__`)
    tokenizer: Any = None  # hf only
    device: str = "cpu"
    regression: bool = False  # hf: a single output, whose raw value is the score


_CACHE: dict[tuple[str, str, str, str], LoadedModel] = {}
_LOCK = threading.Lock()  # Beam may call a DoFn from several threads: one load per model


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "corpus-etl" / "models"


def local_copy(url: str, name: str) -> Path:
    """The model's local path: a local path as is; a URL copied once (atomically) into cache_dir()."""
    protocol, path = fsspec.core.split_protocol(url)
    if protocol in (None, "file", "local"):
        local = Path(path)
        if not local.exists():
            raise ClassifierError(
                f"classifier {name!r}: model not found: {local} (quality.classifiers model)"
            )
        return local
    fs = fsspec.filesystem(protocol)
    if not fs.exists(path):
        raise ClassifierError(f"classifier {name!r}: model not found: {url} (quality.classifiers model)")
    target = cache_dir() / hashlib.sha256(url.encode()).hexdigest()[:32]
    local = target / Path(path.rstrip("/")).name if fs.isfile(path) else target
    if target.exists():
        return local
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}-{threading.get_ident()}")
    partial.mkdir(parents=True)
    if fs.isfile(path):
        fs.get(path, str(partial / local.name))
    else:
        fs.get(path.rstrip("/") + "/", str(partial) + "/", recursive=True)
    try:
        partial.rename(target)  # another worker may have finished first: its copy is the same model
    except OSError:
        shutil.rmtree(partial)
        if not target.exists():
            raise
    return local


def resolve_device(params: ClassifierParams) -> tuple[str, str]:
    """(device, dtype) with `auto` decided: cuda when torch sees a GPU; bfloat16 on a GPU, float32 on a CPU."""
    if params.type == "fasttext":
        return "cpu", "float32"
    import torch

    device = params.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise ClassifierError(f"classifier {params.name!r}: device cuda, but torch sees no GPU")
    dtype = params.dtype
    if dtype == "auto":
        dtype = "bfloat16" if device == "cuda" else "float32"
    return device, dtype


def load_model(params: ClassifierParams) -> LoadedModel:
    """The classifier's model, loaded on first use in this process and kept."""
    device, dtype = resolve_device(params)
    key = (params.type, params.model, device, dtype)
    with _LOCK:
        if key not in _CACHE:
            path = local_copy(params.model, params.name)
            if params.type == "fasttext":
                _CACHE[key] = _load_fasttext(path, params.name)
            else:
                _CACHE[key] = _load_hf(path, params.name, device, dtype)
        return _CACHE[key]


def release_models() -> None:
    """Forget every loaded model: a process that goes on to replay recorded verdicts needs none of them."""
    with _LOCK:
        _CACHE.clear()


def _load_fasttext(path: Path, name: str) -> LoadedModel:
    import fasttext

    if not path.is_file():
        raise ClassifierError(f"classifier {name!r}: a fasttext model is a .bin or .ftz file, not {path}")
    try:
        model = fasttext.load_model(str(path))
    except ValueError as err:
        raise ClassifierError(f"classifier {name!r}: {path} is not a fastText model ({err})") from err
    if model.f.getArgs().model.name != "supervised":
        raise ClassifierError(f"classifier {name!r}: {path} holds word vectors, not a supervised classifier")
    return LoadedModel("fasttext", model, tuple(model.labels), label_prefix=model.f.getArgs().label)


def _load_hf(path: Path, name: str, device: str, dtype: str) -> LoadedModel:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from transformers.utils import logging as hf_logging

    if not (path / "config.json").is_file():
        raise ClassifierError(
            f"classifier {name!r}: {path} is not a Hugging Face model directory (no config.json); "
            "write it with save_pretrained"
        )
    hf_logging.disable_progress_bar()  # the CLI is quiet by default: no bar per loaded shard
    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(
        path, local_files_only=True, dtype=getattr(torch, dtype)
    )
    if tokenizer.pad_token is None:  # GPT-style tokenizers have none; batches of unequal length need one
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token
        if tokenizer.pad_token is None:
            raise ClassifierError(f"classifier {name!r}: {path}'s tokenizer has no pad, eos or unk token")
    if model.config.pad_token_id is None:  # a decoder head reads the last non-pad token: it must know pad
        model.config.pad_token_id = tokenizer.pad_token_id
    model.to(device).eval()
    labels = tuple(model.config.id2label[i] for i in range(model.config.num_labels))
    return LoadedModel(
        "hf", model, labels, tokenizer=tokenizer, device=device, regression=model.config.num_labels == 1
    )


def label_index(loaded: LoadedModel, params: ClassifierParams) -> int | None:
    """Which output is the score: the label's index, or None for a regression head (its raw value)."""
    if loaded.regression:
        if params.label is not None:
            raise ClassifierError(
                f"classifier {params.name!r}: {params.model} is a regression model (one output, its value is "
                f"the score); remove label {params.label!r}"
            )
        return None
    wanted = params.label
    if wanted is None:
        raise ClassifierError(
            f"classifier {params.name!r}: set label to one of the model's labels: {', '.join(loaded.labels)}"
        )
    if loaded.kind == "fasttext" and not wanted.startswith(loaded.label_prefix):
        wanted = loaded.label_prefix + wanted
    if wanted not in loaded.labels:
        raise ClassifierError(
            f"classifier {params.name!r}: label {params.label!r} is not one of the model's labels: "
            f"{', '.join(loaded.labels)}"
        )
    return loaded.labels.index(wanted)
