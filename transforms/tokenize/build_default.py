"""Rebuild data/default-tokenizer.json: a 16k byte-level BPE trained on text every Debian + Python box has.

The default tokenizer must work offline (demo, tests, CI), so it is trained here on the Python standard
library's documentation and sources and the system's license texts, and shipped in the repository.
Run: python -m transforms.tokenize.build_default [--vocab-size 16384] [--output PATH]
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from transforms.tokenize.loading import DEFAULT_TOKENIZER

SPECIALS = ["<|endoftext|>", "<|startoftext|>"]  # EOS, BOS
MAX_BYTES = 40 * 1024 * 1024


def training_files() -> list[Path]:
    """Prose (pydoc topics, licenses, READMEs) and code (the stdlib), in a fixed order."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    files = [stdlib / "pydoc_data" / "topics.py"]
    files += sorted(Path("/usr/share/common-licenses").glob("*"))
    files += sorted(Path("/usr/share/doc").glob("*/README*"))
    files += sorted(
        p for p in stdlib.rglob("*.py") if "test" not in p.parts and "site-packages" not in p.parts
    )
    return [p for p in files if p.is_file() and p.suffix not in (".gz", ".xz", ".bz2")]


def training_text(files: list[Path], max_bytes: int = MAX_BYTES) -> Iterator[str]:
    total = 0
    for path in files:
        text = path.read_bytes().decode("utf-8", errors="replace")
        total += len(text)
        if total > max_bytes:
            return
        yield text


def train(vocab_size: int) -> Tokenizer:
    """GPT-2 layout: ByteLevel pre-tokenizer (GPT-2 regex, no prefix space), BPE, ByteLevel decoder."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(training_text(training_files()), trainer)
    return tok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vocab-size", type=int, default=16384)
    parser.add_argument("--output", type=Path, default=DEFAULT_TOKENIZER)
    args = parser.parse_args(argv)
    tok = train(args.vocab_size)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(tok.to_str(pretty=False))
    print(f"{args.output}: vocab {tok.get_vocab_size()}, {args.output.stat().st_size} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
