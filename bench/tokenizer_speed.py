"""Tokenizer throughput on one text: hf, fast (the default), tiktoken, torch (CUDA when present).

    .venv/bin/python bench/tokenizer_speed.py [--mb 50] [--text real|varied|FILE ...] [--tokenizer default|PATH]
                                       [--device auto] [--processes N] [--batch 1024]

`real`: the Python standard library's and site-packages' sources and docs, cut into documents of at most 16 KB
(found offline on any machine). `varied`: transforms.tokenize.varied_text (the exactness test's text). Each row
says whether its ids equal hf's on the whole text. torch runs cold (empty word cache) then warm (second pass).
`fast` is the default backend: gigatoken, with the documents its guard flags sent to hf (the row counts them);
"gigatoken unguarded" is the library alone on every document, for comparison.
"""

from __future__ import annotations

import sys
from pathlib import Path

# This file's name shadows the stdlib `tokenize` (which inspect and linecache import): take bench/ off the
# path, and put the repository root on it for `transforms`.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [str(_HERE.parent)] + [p for p in sys.path if Path(p or ".").resolve() != _HERE]

import argparse  # noqa: E402
import datetime  # noqa: E402
import os  # noqa: E402
import platform  # noqa: E402
import sysconfig  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

from transforms.tokenize import TokenizeConfig, load_encoder  # noqa: E402
from transforms.tokenize.loading import read_tokenizer_file  # noqa: E402
from transforms.tokenize.pretokenize import GPT2_PATTERN, char_to_byte  # noqa: E402
from transforms.tokenize.varied_text import varied_documents  # noqa: E402

DOC_CHARS = 16_000


def real_documents(total_bytes: int) -> list[str]:
    """Source and docs of the installed Python (stdlib, then site-packages), cut at line ends."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    docs, size = [], 0
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".py", ".txt", ".md", ".rst") or not path.is_file():
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
            for start in range(0, len(text), DOC_CHARS):
                docs.append(text[start : start + DOC_CHARS])
                size += len(docs[-1].encode("utf-8"))
                if size >= total_bytes:
                    return docs
    return docs


def file_documents(paths: list[str], total_bytes: int) -> list[str]:
    docs, size = [], 0
    for path in paths:
        for line in Path(path).read_text(errors="replace").splitlines(keepends=True):
            docs.append(line)
            size += len(line.encode("utf-8"))
            if size >= total_bytes:
                return docs
    return docs


def tiktoken_encoding(tokenizer: str):
    """tiktoken over the same byte-level BPE: token bytes ranked by id, the tokenizer's own regex."""
    import tiktoken

    spec = read_tokenizer_file(tokenizer).spec
    step = spec.get("pre_tokenizer") or {}
    pattern = (
        GPT2_PATTERN if step.get("type") == "ByteLevel" else step["pretokenizers"][0]["pattern"]["Regex"]
    )
    table = char_to_byte()
    added = {t["content"] for t in spec.get("added_tokens") or []}
    ranks = {bytes(table[c] for c in tok): i for tok, i in spec["model"]["vocab"].items() if tok not in added}
    return tiktoken.Encoding("bench", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})


def timed(
    encode: Callable[[list[str]], np.ndarray | list], batches: list[list[str]]
) -> tuple[float, np.ndarray]:
    """Seconds to encode every batch, and all ids back to back."""
    start = time.perf_counter()
    ids = [np.asarray(i, np.uint32) for i in encode(batches)]
    return time.perf_counter() - start, np.concatenate(ids) if ids else np.zeros(0, np.uint32)


def stream_ids(encoder) -> Callable[[list[list[str]]], list[np.ndarray]]:
    return lambda batches: [r.flat for r in encoder.encode_stream(batches)]


def tiktoken_ids(enc, threads: int) -> Callable[[list[list[str]]], list[list[int]]]:
    return lambda batches: [ids for b in batches for ids in enc.encode_ordinary_batch(b, num_threads=threads)]


def fast_rows(config: TokenizeConfig, batches: list[list[str]], row: Callable) -> None:
    """The default backend (fast: gigatoken behind its guard), then gigatoken alone on every document."""
    encoder = load_encoder(config.model_copy(update={"backend": "fast"}))
    if encoder.backend.name != "fast":
        print("fast: this tokenizer falls back to hf (see the log line above)")
        return
    fast, docs = encoder.backend, sum(map(len, batches))
    seconds, ids = timed(stream_ids(encoder), batches)
    row(f"fast, default ({fast.threads} thr; {fast.routed_exact}/{docs} exact)", seconds, ids)
    unguarded = load_encoder(config.model_copy(update={"backend": "fast"})).backend
    row(
        f"gigatoken unguarded ({fast.threads} threads)",
        *timed(lambda bs: [unguarded.encode_unguarded(b).flat for b in bs], batches),
    )


def load_text(args: argparse.Namespace) -> list[str]:
    if args.text == ["real"]:
        return real_documents(args.mb * 1_000_000)
    if args.text == ["varied"]:
        return varied_documents(args.mb * 1_000_000)
    return file_documents(args.text, args.mb * 1_000_000)


def run(args: argparse.Namespace) -> None:
    cores = len(os.sched_getaffinity(0))
    docs = load_text(args)
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    batches = [docs[i : i + args.batch] for i in range(0, len(docs), args.batch)]
    gpu = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
    print(f"{datetime.date.today()}  {platform.node()}  {cores} cores  GPU: {gpu}  torch {torch.__version__}")
    print(f"text: {args.text} {mb:.1f} MB in {len(docs)} documents; tokenizer: {args.tokenizer}\n")
    print(f"{'backend':<44}{'MB/s':>8}{'tokens':>12}  ids == hf")

    def row(name: str, seconds: float, ids: np.ndarray) -> None:
        same = "yes" if np.array_equal(ids, reference) else "NO"
        print(f"{name:<44}{mb / seconds:>8.2f}{len(ids):>12}  {same}", flush=True)

    config = TokenizeConfig(tokenizer=args.tokenizer, add_eos=False, backend="hf")
    seconds, reference = timed(stream_ids(load_encoder(config)), batches)
    row(f"hf ({cores} threads)", seconds, reference)
    fast_rows(config, batches, row)
    row(
        f"tiktoken ({cores} threads)", *timed(tiktoken_ids(tiktoken_encoding(args.tokenizer), cores), batches)
    )
    for processes in sorted({0, args.processes}):
        update = {"backend": "torch", "device": args.device, "pretokenize_processes": processes}
        encoder = load_encoder(config.model_copy(update=update))
        name = f"torch {encoder.backend.device.type}, {max(processes, 1)} pre-tok process"
        row(f"{name}, cold", *timed(stream_ids(encoder), batches))
        row(f"{name}, warm", *timed(stream_ids(encoder), batches))
        encoder.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=int, default=50)
    parser.add_argument("--text", nargs="+", default=["real"], help="real, varied, or text / JSONL files")
    parser.add_argument("--tokenizer", default="default")
    parser.add_argument("--device", default="auto")
    cores = len(os.sched_getaffinity(0))
    parser.add_argument(
        "--processes",
        type=int,
        default=cores if cores > 2 else 0,
        help="pre-tokenizer processes for the torch backend (also runs with 0)",
    )
    parser.add_argument("--batch", type=int, default=1024)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
