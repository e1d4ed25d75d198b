"""Backends torch and fast (the default) give exactly backend hf's ids (the tokenizers library), token for token.

Two byte-level BPEs on 10 MB of deterministic varied text: the shipped default (GPT-2's ByteLevel regex) and
one trained here with Llama 3's Split regex + ByteLevel and ignore_merges. Then smaller checks of every other
torch path: prefix space, normalizers, a pre-tokenizer run by tokenizers, bytes missing from the vocabulary, a
character-level BPE with an unknown token, the word cache limit, and the merges' own edge cases. The fast
backend's guard and fallbacks are pinned down in tests/test_tokenize_fast.py.
"""

from __future__ import annotations

import functools
import json
import time
import unicodedata

import numpy as np
import pytest
from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

from transforms.tokenize import DEFAULT_TOKENIZER, TokenizeConfig, load_encoder
from transforms.tokenize.bpe_torch import TorchBPE, UnsupportedTokenizer
from transforms.tokenize.fast_backend import LLAMA3_PATTERN
from transforms.tokenize.pretokenize import GPT2_PATTERN, has_uncertain_char, to_byte_level, uncertain_chars
from transforms.tokenize.varied_text import varied_documents

BATCH = 512


@pytest.fixture(scope="module")
def ten_mb() -> list[str]:
    return varied_documents(10_000_000, seed=0)


@pytest.fixture(scope="module")
def llama3_style(tmp_path_factory) -> str:
    return train_llama3_style(tmp_path_factory.mktemp("tok") / "llama3-style.json")


def train_llama3_style(path) -> str:
    """A byte-level BPE laid out like Llama 3's tokenizer.json, trained on 2 MB of varied text."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=8000,
        special_tokens=["<|begin_of_text|>", "<|end_of_text|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(varied_documents(2_000_000, seed=1), trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", special_tokens=[("<|begin_of_text|>", 0)]
    )
    tok.save(str(path))
    assert json.loads(path.read_text())["model"]["ignore_merges"] is True
    return str(path)


def encode_all(encoder, docs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    parts = [encoder.encode_ragged(docs[i : i + BATCH]) for i in range(0, len(docs), BATCH)]
    lengths = np.concatenate([p.lengths() for p in parts])
    return np.concatenate([p.flat for p in parts]), np.r_[0, np.cumsum(lengths)]


def hf_encoder(tokenizer: str):
    enc = load_encoder(TokenizeConfig(tokenizer=tokenizer, add_eos=False, backend="hf"))
    assert enc.backend.name == "hf"
    return enc


@functools.cache
def hf_ids(tokenizer: str, docs: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """The tokenizers library's ids, once per (tokenizer, document set) for every backend compared to it."""
    return encode_all(hf_encoder(tokenizer), list(docs))


def assert_equal_to_hf(tokenizer: str, docs: list[str], encoder) -> None:
    """Fails on the first document whose ids differ from the tokenizers library's, naming the text there."""
    want, want_offsets = hf_ids(tokenizer, tuple(docs))
    got, got_offsets = encode_all(encoder, docs)
    if np.array_equal(want_offsets, got_offsets) and np.array_equal(want, got):
        return
    for i in range(len(docs)):
        a, b = want[want_offsets[i] : want_offsets[i + 1]], got[got_offsets[i] : got_offsets[i + 1]]
        if not np.array_equal(a, b):
            at = next((j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), min(len(a), len(b)))
            pytest.fail(
                f"doc {i}: first difference at token {at}: hf {a[at : at + 5]} "
                f"{encoder.backend.name} {b[at : at + 5]}; "
                f"text there: {hf_encoder(tokenizer).decode(a[max(0, at - 3) : at + 3])!r}"
            )


def assert_same_ids(
    tokenizer: str, docs: list[str], max_cached_words: int | None = None, processes: int = 0
) -> TorchBPE:
    """Fails on the first document whose torch ids differ; returns the torch backend for checks of its path."""
    config = TokenizeConfig(
        tokenizer=tokenizer, add_eos=False, backend="torch", device="cpu", pretokenize_processes=processes
    )
    torch_enc = load_encoder(config)
    if max_cached_words is not None:
        torch_enc.backend.cache.max_words = max_cached_words
    assert torch_enc.backend.name == "torch"
    try:
        assert_equal_to_hf(tokenizer, docs, torch_enc)
    finally:
        torch_enc.close()
    return torch_enc.backend


def test_varied_text_holds_every_kind_of_hard_case(ten_mb):
    text = "".join(ten_mb)
    assert len(text.encode("utf-8")) >= 10_000_000
    counts = {
        "cjk": sum("\u4e00" <= c <= "\u9fff" for c in text[::7]),
        "emoji": sum("\U0001f300" <= c <= "\U0001f9ff" for c in text[::7]),
        "combining": sum("\u0300" <= c <= "\u036f" for c in text[::7]),
    }
    assert all(n > 500 for n in counts.values()), counts
    assert " " * 1000 in text and "\t" * 1000 in text and "\u3000" * 100 in text
    assert max(len(w) for w in text.split()) > 10_000
    assert "def " in text and "don't" in text and "<|endoftext|>" in text
    assert sum(map(has_uncertain_char, ten_mb)) > 10  # the path through tokenizers' own pre-tokenizer


@pytest.mark.parametrize("which", ["gpt2_default", "llama3_style"])
def test_torch_equals_hf_on_10mb_of_varied_text(which, ten_mb, llama3_style):
    tokenizer = "default" if which == "gpt2_default" else llama3_style
    start = time.perf_counter()
    assert_same_ids(tokenizer, ten_mb)
    print(f"{which}: hf + torch on 10 MB in {time.perf_counter() - start:.1f} s")


@pytest.mark.parametrize("which", ["gpt2_default", "llama3_style"])
def test_default_cpu_path_equals_hf_on_10mb_of_varied_text(which, ten_mb, llama3_style):
    """The default backend (auto = fast: gigatoken, its guard sending some documents to tokenizers)."""
    tokenizer = "default" if which == "gpt2_default" else llama3_style
    enc = load_encoder(TokenizeConfig(tokenizer=tokenizer, add_eos=False))
    assert enc.backend.name == "fast"
    assert_equal_to_hf(tokenizer, ten_mb, enc)
    # Under the Split regex the guard sends the documents holding a code point of the uncertain class to
    # tokenizers (a few percent here, none of real text); GPT-2's ByteLevel shape needs no guard.
    routed = enc.backend.routed_exact
    if which == "llama3_style":
        assert routed == sum(map(has_uncertain_char, ten_mb)) and 0 < routed < len(ten_mb) // 5
    else:
        assert routed == 0


def test_regex_module_agrees_with_tokenizers_on_assigned_code_points_outside_the_uncertain_set():
    """Every assigned code point (and every 16th of the rest) in letter, digit, space and symbol context."""
    uncertain = uncertain_chars()
    codes = [
        c
        for c in range(0x110000)
        if not (0xD800 <= c <= 0xDFFF or uncertain[c])
        and (c % 16 == 0 or unicodedata.category(chr(c)) not in ("Cn", "Co"))
    ]
    hf = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    ours = load_encoder(TokenizeConfig(backend="torch", device="cpu")).backend.pre
    assert ours.byte_level and ours.pattern.pattern == GPT2_PATTERN
    for i in range(0, len(codes), 4096):
        probe = "".join(f"{chr(c)}x{chr(c)}1 {chr(c)}\n" for c in codes[i : i + 4096])
        assert [to_byte_level(p) for p in ours.split(probe)] == [p for p, _ in hf.pre_tokenize_str(probe)]


def edited_default(tmp_path, name: str, edit) -> str:
    spec = json.loads(DEFAULT_TOKENIZER.read_text())
    edit(spec)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return str(path)


def trained(tmp_path, name: str, model, pre_tokenizer, alphabet: list[str]) -> str:
    tok = Tokenizer(model)
    tok.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(
        vocab_size=600, initial_alphabet=alphabet, special_tokens=["[UNK]"], show_progress=False
    )
    tok.train_from_iterator(
        [d.encode("ascii", "ignore").decode() for d in varied_documents(300_000, 3)], trainer
    )
    path = tmp_path / f"{name}.json"
    tok.save(str(path))
    return str(path)


def variant(tmp_path, name: str) -> str:
    if name == "prefix_space":
        return edited_default(tmp_path, name, lambda s: s["pre_tokenizer"].update(add_prefix_space=True))
    if name == "nfkc_lowercase":
        normalizer = {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
        return edited_default(tmp_path, name, lambda s: s.update(normalizer=normalizer))
    if name == "digits_then_bytelevel":  # a shape the regex path does not take: tokenizers pre-tokenizes
        steps = [
            {"type": "Digits", "individual_digits": True},
            dict(json.loads(DEFAULT_TOKENIZER.read_text())["pre_tokenizer"]),
        ]
        return edited_default(
            tmp_path, name, lambda s: s.update(pre_tokenizer={"type": "Sequence", "pretokenizers": steps})
        )
    if name == "bytes_missing_from_vocab":
        return trained(tmp_path, name, models.BPE(), pre_tokenizers.ByteLevel(add_prefix_space=False), [])
    if name == "char_bpe_with_unk":
        return trained(
            tmp_path, name, models.BPE(unk_token="[UNK]", fuse_unk=True), pre_tokenizers.Whitespace(), []
        )
    raise ValueError(name)


VARIANTS = [
    "prefix_space",
    "nfkc_lowercase",
    "digits_then_bytelevel",
    "bytes_missing_from_vocab",
    "char_bpe_with_unk",
]


@pytest.fixture(scope="module")
def small_docs() -> list[str]:
    return ["", " ", "\n", "a", "  x", "<|endoftext|>", "Ω"] + varied_documents(300_000, seed=2)


@pytest.mark.parametrize("name", VARIANTS)
def test_torch_equals_hf_for_other_tokenizer_shapes(name, tmp_path, small_docs):
    bpe = assert_same_ids(variant(tmp_path, name), small_docs)
    # The path each shape must take: our regex on bytes, or tokenizers' pre-tokenizer on characters.
    assert bpe.pre.byte_level == (name in ("prefix_space", "nfkc_lowercase", "bytes_missing_from_vocab"))
    if name == "bytes_missing_from_vocab":
        assert (bpe.byte_ids < 0).sum() > 100


def test_word_cache_that_overflows_gives_the_same_ids(small_docs):
    assert_same_ids("default", small_docs, max_cached_words=50)


def tiny_bpe(merges: list[tuple[str, str]]) -> tuple[Tokenizer, dict]:
    vocab = {c: i for i, c in enumerate("abc")}
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tok = Tokenizer(models.BPE(vocab, merges))
    return tok, json.loads(tok.to_str())


def test_runs_of_one_pair_merge_from_the_left_like_tokenizers():
    tok, spec = tiny_bpe([("a", "a"), ("aa", "a"), ("b", "aa"), ("aa", "aa"), ("c", "b")])
    bpe = TorchBPE(tok, spec, device="cpu")
    texts = ["a" * n for n in range(1, 40)] + ["b" + "a" * n + "cb" * n for n in range(1, 30)]
    assert [ids.tolist() for ids in bpe.encode_batch(texts)] == [tok.encode(t).ids for t in texts]


def test_merges_out_of_training_order_fall_back_to_hf(tmp_path, caplog):
    tok, spec = tiny_bpe([("b", "aa"), ("a", "a")])  # uses "aa" before the merge that makes it
    with pytest.raises(UnsupportedTokenizer, match="later merge"):
        TorchBPE(tok, spec, device="cpu")
    path = tmp_path / "order.json"
    tok.save(str(path))
    enc = load_encoder(TokenizeConfig(tokenizer=str(path), backend="torch", add_eos=False))
    assert enc.backend.name == "hf" and "using backend hf" in caplog.text


def test_pre_tokenizer_processes_give_the_same_ids(small_docs):
    bpe = assert_same_ids("default", small_docs, processes=2)
    assert bpe.pool is None  # closed after use
    enc = load_encoder(TokenizeConfig(backend="torch", device="cpu", pretokenize_processes=2, add_bos=True))
    hf = load_encoder(TokenizeConfig(add_bos=True, backend="hf"))
    batches = [small_docs[i : i + 7] for i in range(0, 200, 7)]
    streamed = [r.split() for r in enc.encode_stream(batches)]
    enc.close()
    assert [[a.tolist() for a in r] for r in streamed] == [
        [a.tolist() for a in hf.encode_batch(b)] for b in batches
    ]
