"""Backend fast (gigatoken behind a guard): what it gets wrong unguarded, and that the guard catches exactly that.

The 10 MB comparison of the default path with tokenizers is in tests/test_tokenize_exactness.py; here: the
class of inputs gigatoken splits differently (code points of the uncertain Unicode class, under a Split
regex), a sweep of every code point outside that class, special-token text, very large documents, the cache
rebuilds, threads, and the tokenizer shapes that fall back to hf.
"""

from __future__ import annotations

import json
import logging
import unicodedata

import numpy as np
import pytest

from tests.test_tokenize_exactness import train_llama3_style
from transforms.tokenize import DEFAULT_TOKENIZER, TokenizeConfig, load_encoder
from transforms.tokenize.fast_backend import interleave, needs_exact_path
from transforms.tokenize.pretokenize import uncertain_chars
from transforms.tokenize.ragged import Ragged
from transforms.tokenize.varied_text import varied_documents

# Two documents of the project's varied text (seed 0) that gigatoken 0.10 encodes unlike tokenizers under the
# Llama-3-style tokenizer: U+3307B and U+33129 are unassigned in Oniguruma's Unicode tables, letters in
# gigatoken's, so the Split regex cuts "'S" and "<s>" differently around them.
KNOWN_DIFFERENT = ["than \U0003307b<s>manifest", "DON'T\U00033129'S\u00bd\U0008c98f i"]


@pytest.fixture(scope="module")
def llama3_style(tmp_path_factory) -> str:
    return train_llama3_style(tmp_path_factory.mktemp("tok") / "llama3-style.json")


def encoders(tokenizer: str):
    hf = load_encoder(TokenizeConfig(tokenizer=tokenizer, add_eos=False, backend="hf"))
    fast = load_encoder(TokenizeConfig(tokenizer=tokenizer, add_eos=False))
    assert hf.backend.name == "hf" and fast.backend.name == "fast"
    return hf, fast


def ids(ragged: Ragged) -> list[list[int]]:
    return [a.tolist() for a in ragged.split()]


def probes(codes) -> list[str]:
    """Each code point between letters, digits, spaces, punctuation and contractions."""
    return [f"{c}x{c}1 {c}\n{c}{c} 's{c}'S!{c}  {c}" for c in map(chr, codes)]


def test_guard_sends_the_documents_gigatoken_splits_differently_to_the_exact_path(llama3_style):
    hf, fast = encoders(llama3_style)
    sample = np.flatnonzero(uncertain_chars())[::50]
    docs = ["plain ascii 's text", "café naïve"] + KNOWN_DIFFERENT + probes(sample)
    want = ids(hf.backend.encode_ragged(docs))
    unguarded = ids(fast.backend.encode_unguarded(docs))
    differ = [i for i in range(len(docs)) if unguarded[i] != want[i]]
    assert {2, 3} <= set(differ) and len(differ) > 20  # the class really is encoded differently unguarded
    assert ids(fast.backend.encode_ragged(docs)) == want
    assert fast.backend.routed_exact == len(docs) - 2  # every document of the class, and nothing else


@pytest.mark.parametrize("which", ["gpt2_default", "llama3_style"])
def test_gigatoken_agrees_with_tokenizers_on_every_code_point_the_guard_lets_through(which, llama3_style):
    """Assigned code points (and every 16th of the rest): under the Split regex all but the uncertain class,
    under GPT-2's ByteLevel regex (no Unicode guard) all of them, the uncertain class included."""
    hf, fast = encoders("default" if which == "gpt2_default" else llama3_style)
    assert fast.backend.unicode_guard == (which == "llama3_style")
    uncertain = uncertain_chars()
    codes = [
        c
        for c in range(0x110000)
        if not (0xD800 <= c <= 0xDFFF or (uncertain[c] and fast.backend.unicode_guard))
        and (c % 16 == 0 or uncertain[c] or unicodedata.category(chr(c)) not in ("Cn", "Co"))
    ]
    docs = ["".join(probes(codes[i : i + 256])) for i in range(0, len(codes), 256)]
    assert not needs_exact_path(docs, fast.backend.unicode_guard).any()
    want, got = hf.backend.encode_ragged(docs), fast.backend.encode_unguarded(docs)
    bad = [codes[i * 256] for i, (a, b) in enumerate(zip(ids(want), ids(got), strict=True)) if a != b]
    assert not bad, f"chunks starting at {[hex(c) for c in bad[:10]]} differ"


def test_special_token_text_is_encoded_as_text_like_hf():
    hf, fast = encoders("default")
    docs = ["end here <|endoftext|> and <|startoftext|>", "<|endoftext|>", "<|endoftext|><|endoftext|>x"]
    assert ids(fast.backend.encode_ragged(docs)) == ids(hf.backend.encode_ragged(docs))
    assert not {0, 1} & set(fast.encode(docs[0]).tolist())
    assert fast.decode(fast.encode(docs[0])) == docs[0]


@pytest.mark.parametrize("which", ["gpt2_default", "llama3_style"])
def test_very_large_documents_and_runs_equal_hf(which, llama3_style):
    """gigatoken cuts a document bigger than its chunk at pretoken boundaries: long words and runs cross them."""
    hf, fast = encoders("default" if which == "gpt2_default" else llama3_style)
    rng = np.random.default_rng(0)
    docs = [
        "".join(varied_documents(3_000_000, seed=5)),
        " " * 500_000 + "x" + "\n" * 300_000 + "\r\n" * 200_000 + "\t \n" * 100_000,
        "".join(map(chr, rng.integers(97, 123, 1_500_000))),  # one 1.5M-letter word
        "9" * 1_000_000 + "'s" * 200_000,
        "",
    ]
    assert ids(fast.backend.encode_ragged(docs)) == ids(hf.backend.encode_ragged(docs))


def test_cache_rebuilds_keep_the_ids_and_happen_on_schedule():
    hf, fast = encoders("default")
    docs = varied_documents(600_000, seed=7)
    fast.backend.rebuild_after = 100_000
    batches = [docs[i : i + 16] for i in range(0, len(docs), 16)]
    for batch in batches:
        assert ids(fast.backend.encode_ragged(batch)) == ids(hf.backend.encode_ragged(batch))
    assert fast.backend.rebuilds >= 3


def test_one_thread_encodes_sequentially_with_the_same_ids():
    docs = varied_documents(300_000, seed=8)
    one = load_encoder(TokenizeConfig(threads=1, add_eos=False, backend="fast"))
    assert one.backend.threads == 1 and not one.backend.parallel
    assert ids(one.backend.encode_ragged(docs)) == ids(encoders("default")[0].backend.encode_ragged(docs))


def test_interleave_puts_each_encoding_back_in_document_order():
    fast = Ragged(np.array([1, 2, 3], np.uint32), np.array([0, 2, 2, 3]))
    exact = Ragged(np.array([7, 8], np.uint32), np.array([0, 1, 2]))
    out = interleave(5, np.array([0, 2, 4]), fast, np.array([1, 3]), exact)
    assert ids(out) == [[1, 2], [7], [], [8], [3]]


def test_needs_exact_path_flags_uncertain_code_points_and_lone_surrogates_only():
    docs = ["ascii", "café 日本語 😀", "x\U0003307b", "", "a\ud800b", "\U00033129"]
    assert needs_exact_path(docs).tolist() == [False, False, True, False, True, True]
    assert needs_exact_path(docs, unicode_classes=False).tolist() == [False] * 4 + [True, False]


def edited(tmp_path, name: str, edit) -> str:
    spec = json.loads(DEFAULT_TOKENIZER.read_text())
    edit(spec)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(spec))
    return str(path)


SHAPES = {
    "normalizer": lambda s: s.update(normalizer={"type": "NFKC"}),
    "prefix_space": lambda s: s["pre_tokenizer"].update(add_prefix_space=True),
    "dropout": lambda s: s["model"].update(dropout=0.1),
    "unverified_split_regex": lambda s: s.update(
        pre_tokenizer={
            "type": "Sequence",
            "pretokenizers": [
                {
                    "type": "Split",
                    "pattern": {"Regex": r"\p{N}{1,3}| ?\p{L}+|\s+"},
                    "behavior": "Isolated",
                    "invert": False,
                },
                {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False},
            ],
        }
    ),
    "non_special_added_token": lambda s: s["added_tokens"].append(
        {
            "id": len(s["model"]["vocab"]),
            "content": "hello",
            **{"special": False, "normalized": False, "single_word": False, "lstrip": False, "rstrip": False},
        }
    ),
    "wordpiece": lambda s: s.update(
        model={
            "type": "WordPiece",
            "vocab": {"[UNK]": 0},
            "unk_token": "[UNK]",
            "continuing_subword_prefix": "##",
            "max_input_chars_per_word": 100,
        }
    ),
}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_shapes_outside_the_verified_ones_fall_back_to_hf_with_a_log_line(shape, tmp_path, caplog):
    path = edited(tmp_path, shape, SHAPES[shape])
    with caplog.at_level(logging.WARNING):
        enc = load_encoder(TokenizeConfig(tokenizer=path, add_eos=False))
    assert enc.backend.name == "hf"
    assert "backend fast cannot encode this tokenizer" in caplog.text and "using backend hf" in caplog.text


def test_batches_wholly_on_one_path_or_empty_equal_hf(llama3_style):
    hf, fast = encoders(llama3_style)
    for batch in ([], ["x\U0003307b", "\U00033129 y"], ["only", "ascii"]):
        assert ids(fast.backend.encode_ragged(batch)) == ids(hf.backend.encode_ragged(batch))
