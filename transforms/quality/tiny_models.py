"""Tiny classifier models built offline from the sample corpus, for tests, the demo and benchmarks.

The fastText model learns `__label__hq` / `__label__lq` from whether the project's own heuristic filter keeps a
sample document, so its score means something on text like the sample's. The Hugging Face models are seeded
random BERTs with a WordPiece tokenizer trained on the same texts: real files through the real loading code,
with scores that mean nothing. Run `python -m transforms.quality.tiny_models --out DIR` to write all three.
"""

from __future__ import annotations

import argparse
import glob
import json
import tempfile
from importlib import resources
from pathlib import Path

import fsspec
import pyarrow as pa

SAMPLE = Path(str(resources.files("etl") / "data" / "sample"))
SHIPPED_FASTTEXT = Path(__file__).resolve().parent / "data" / "tiny_quality.bin"
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sample_texts(folder: Path = SAMPLE) -> list[str]:
    """The texts of the sample corpus's JSONL files (plain, .gz, .zst), skipping the lines that are no record."""
    texts = []
    for path in sorted(glob.glob(str(folder / "*.jsonl*"))):
        with fsspec.open(path, "rt", compression="infer", encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:
                    continue  # scraped-broken.jsonl holds broken lines on purpose
                if isinstance(record, dict) and isinstance(record.get("text"), str):
                    texts.append(record["text"])
    return texts


def heuristic_labels(texts: list[str]) -> list[str]:
    """`hq` where the default heuristic quality filter keeps the text, `lq` where it rejects it."""
    from transforms.quality import filter_batch
    from transforms.quality.params import QualityConfig

    ids = [str(i) for i in range(len(texts))]
    batch = pa.RecordBatch.from_pydict(
        {
            "doc_id": ids,
            "text": pa.array(texts, pa.large_string()),
            "source": ["sample"] * len(texts),
            "line": pa.array(range(1, len(texts) + 1), pa.int64()),
            "meta": pa.array([None] * len(texts), pa.string()),
        }
    )
    kept = set(filter_batch(batch, QualityConfig()).kept.column("doc_id").to_pylist())
    return ["hq" if i in kept else "lq" for i in ids]


def train_tiny_fasttext(out_path: str | Path) -> Path:
    """A supervised fastText model (dim 16, 20k buckets, one thread, fixed seed: the same bytes every run).

    50 epochs at lr 0.5: at fastText's defaults 425 documents teach it nothing (AUC 0.48 on its own data).
    """
    import fasttext

    texts = sample_texts()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        train = Path(tmp) / "train.txt"
        lines = (
            f"__label__{lab} {' '.join(t.split())}\n"
            for lab, t in zip(heuristic_labels(texts), texts, strict=True)
        )
        train.write_text("".join(lines), encoding="utf-8")
        model = fasttext.train_supervised(
            str(train),
            dim=16,
            bucket=20_000,
            wordNgrams=2,
            epoch=50,
            lr=0.5,
            minCount=2,
            seed=7,
            thread=1,
            verbose=0,
        )
    model.save_model(str(out_path))
    return out_path


def _train_tokenizer(texts: list[str], vocab_size: int = 2000):
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(
        texts,
        trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS, show_progress=False),
    )
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls), ("[SEP]", sep)],
    )
    tok.decoder = decoders.WordPiece()
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=512,
    )


def build_tiny_hf(
    out_dir: str | Path, regression: bool, hidden: int = 32, layers: int = 2, heads: int = 2
) -> Path:
    """A seeded random BertForSequenceClassification (labels lq/hq, or one regression output) and tokenizer."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    out_dir = Path(out_dir)
    tokenizer = _train_tokenizer(sample_texts())
    labels = {0: "score"} if regression else {0: "lq", 1: "hq"}
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        intermediate_size=2 * hidden,
        max_position_embeddings=512,
        num_labels=len(labels),
        id2label=labels,
        label2id={v: k for k, v in labels.items()},
        problem_type="regression" if regression else "single_label_classification",
        # Wider than BERT's 0.02, so random weights still spread the scores over (0, 1) for the tests.
        initializer_range=0.2,
    )
    torch.manual_seed(0)
    model = BertForSequenceClassification(config).eval()
    tokenizer.save_pretrained(out_dir)
    model.save_pretrained(out_dir)  # safetensors
    return out_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", required=True, help="folder to write tiny_quality.bin, hf_2label/, hf_regression/"
    )
    args = parser.parse_args(argv)
    out = Path(args.out)
    print(train_tiny_fasttext(out / "tiny_quality.bin"))
    print(build_tiny_hf(out / "hf_2label", regression=False))
    print(build_tiny_hf(out / "hf_regression", regression=True))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
