"""Benchmark decontamination: planted items are found whole, inside longer text and reformatted; short fields
match whole; nothing else matches; the index is the same in every process."""

from __future__ import annotations

import gzip
import json
import pickle
import subprocess
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from transforms import decontamination
from transforms.decontamination import BenchmarkSpec, contamination, load_benchmark_ngrams, normalize_words

REPO = Path(decontamination.__file__).resolve().parent.parent
DEMO = REPO / "transforms" / "quality" / "data" / "demo_benchmark.jsonl"
ITEMS = {row["id"]: row for row in map(json.loads, DEMO.read_text().splitlines())}
FIELDS = ["question", "choices", "answer"]
PROSE = (
    "The committee met on Tuesday to review the budget for the new library wing. Members agreed that the "
    "reading room needs better lighting, and the treasurer promised a revised estimate before the spring fair. "
)


@pytest.fixture(scope="module")
def demo():
    return load_benchmark_ngrams([BenchmarkSpec(name="demo", path=str(DEMO), fields=FIELDS, id_field="id")])


def whole(item_id: str) -> str:
    """An item as it might be scraped: question, lettered choices, answer."""
    row = ITEMS[item_id]
    choices = "\n".join(f"({letter}) {c}" for letter, c in zip("ABCD", row["choices"], strict=False))
    return f"{row['question']}\n{choices}\nAnswer: {row['answer']}"


def hit_ids(texts, index) -> list[str | None]:
    return [h.item_id if h else None for h in contamination(texts, index)]


def test_normalize_words_folds_case_punctuation_whitespace_and_compatibility_forms():
    assert normalize_words("Hello,   WORLD!\n\tIt's  a—test…") == ["hello", "world", "it", "s", "a", "test"]
    # NFKC: fullwidth letters, the fi ligature, mathematical bold, superscript two.
    assert normalize_words("ＡＢＣ ﬁne 𝐁old x²") == ["abc", "fine", "bold", "x2"]
    # Accents and combining marks stay inside words; curly quotes and dashes separate them.
    assert normalize_words("“Café” naïve—हिन्दी") == ["café", "naïve", "हिन्दी"]
    assert normalize_words("snake_case and-dash") == ["snake", "case", "and", "dash"]
    assert normalize_words("") == [] and normalize_words(" ,.;") == []


def test_planted_items_are_found_whole_inside_prose_and_reformatted(demo):
    q5 = ITEMS["demo-005"]["question"]
    docs = [
        whole("demo-003"),
        PROSE + whole("demo-008") + " " + PROSE,
        PROSE + q5.upper().replace(" ", "\n   ") + PROSE,  # case and whitespace
        PROSE + q5.replace(" ", " - ").replace(",", ";").replace("?", "?!"),  # punctuation
        PROSE + "“" + ITEMS["demo-010"]["question"].replace(" ", "\u00a0") + "”",  # no-break spaces, quotes
        PROSE
        + "".join(chr(ord(c) + 0xFEE0) if "a" <= c <= "z" else c for c in ITEMS["demo-014"]["question"]),
    ]
    assert hit_ids(docs, demo) == ["demo-003", "demo-008", "demo-005", "demo-005", "demo-010", "demo-014"]


def test_hit_names_benchmark_item_first_ngram_and_share_of_item_found(demo):
    [hit] = contamination([PROSE + whole("demo-001") + PROSE], demo)
    assert (hit.benchmark, hit.item_id, hit.value) == ("demo", "demo-001", 1.0)
    assert hit.ngram == "a lighthouse keeper on a foggy island winds the lamp clock every four"
    assert (
        hit.detail == 'demo/demo-001: "a lighthouse keeper on a foggy island winds the lamp clock every four"'
    )
    # demo-001's question has 25 words (13 13-grams); its choices (4 words) and answer (1) are too short to
    # count. The first 14 words hold 2 of the 13.
    first_14 = " ".join(ITEMS["demo-001"]["question"].split()[:14])
    [partial] = contamination([PROSE + first_14 + " and then some other words follow here."], demo)
    assert partial.item_id == "demo-001"
    assert partial.value == pytest.approx(2 / 13)


def test_first_item_by_index_wins_then_earliest_position(demo):
    q2, q5 = ITEMS["demo-002"]["question"], ITEMS["demo-005"]["question"]
    [hit] = contamination([q5 + " " + PROSE + q2], demo)
    assert hit.item_id == "demo-002"  # lower item index, though demo-005 comes first in the text
    assert hit.ngram == " ".join(normalize_words(q2)[:13])


def test_short_fields_match_whole_and_only_whole(demo):
    q17 = ITEMS["demo-017"]["question"]  # 10 words: shorter than n, so matched as one 10-gram
    assert len(normalize_words(q17)) == 10
    [hit] = contamination([PROSE + q17.lower().replace("?", "") + " Nobody knew."], demo)
    assert (hit.item_id, hit.ngram) == ("demo-017", " ".join(normalize_words(q17)))
    # A whole short answer field ("the air holds less oxygen per breath", 7 words) also counts.
    assert hit_ids([PROSE + "At altitude the air holds less oxygen per breath, they said."], demo) == [
        "demo-010"
    ]
    # Eight of the ten words do not, nor the field cut in two by a document boundary.
    words = q17.split()
    eight = [PROSE + " ".join(words[:8]) + " tonight?", " ".join(words[2:]) + " " + PROSE]
    assert hit_ids(eight, demo) == [None, None]
    assert hit_ids([PROSE + " ".join(words[:5]), " ".join(words[5:]) + " " + PROSE], demo) == [None, None]
    # One-word answers and four-word choice lists are below min_words: no evidence on their own.
    assert hit_ids(["The answer is green, red, white, amber; green it is.", "twelve"], demo) == [None, None]


def test_twelve_consecutive_words_or_words_split_across_documents_do_not_match(demo):
    q = ITEMS["demo-009"]["question"].split()
    assert hit_ids([PROSE + " ".join(q[:12]) + " yesterday, and later " + " ".join(q[13:]) + "."], demo) == [
        None
    ]
    # The first seven words end one document and the rest start the next: each is a fragment.
    assert hit_ids([PROSE + " ".join(q[:7]), " ".join(q[7:13]) + " " + PROSE], demo) == [None, None]


def test_unrelated_documents_and_empty_text_are_not_matched(demo):
    docs = [
        PROSE,
        "A keeper of the lighthouse said the fog was thick, and the lamp clock needed winding often.",
        "How many legs does a beetle have? Six, like every insect in the garden.",
        "",
        None,
    ]
    assert hit_ids(docs, demo) == [None] * 5
    assert hit_ids(pa.array(docs, pa.large_string()), demo) == [None] * 5


def test_results_do_not_depend_on_how_texts_are_cut_into_runs(demo, monkeypatch):
    docs = [PROSE * 3, whole("demo-006"), PROSE, PROSE + whole("demo-019"), PROSE * 2, whole("demo-012")]
    expected = contamination(docs, demo)
    monkeypatch.setattr(decontamination, "_CHUNK_CHARS", 500)
    assert contamination(docs, demo) == expected
    assert [h.item_id if h else None for h in expected] == [
        None,
        "demo-006",
        None,
        "demo-019",
        None,
        "demo-012",
    ]


def test_index_is_identical_across_processes_and_survives_pickling(demo):
    script = (
        "import sys, pickle; from transforms.decontamination import *; "
        f"spec = BenchmarkSpec(name='demo', path={str(DEMO)!r}, fields={FIELDS!r}, id_field='id'); "
        "sys.stdout.buffer.write(pickle.dumps(load_benchmark_ngrams([spec]).hashes))"
    )
    for seed in ("1", "2"):
        env = {"PYTHONHASHSEED": seed, "PATH": ""}
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, check=True, env=env, cwd=REPO
        )
        assert pickle.loads(out.stdout).tolist() == demo.hashes.tolist()
    copy = pickle.loads(pickle.dumps(demo))
    assert contamination([whole("demo-011")], copy) == contamination([whole("demo-011")], demo)


def test_jsonl_gz_and_parquet_benchmarks_with_row_index_ids(tmp_path):
    rows = [
        {
            "prompt": "the quick brown fox jumps over the lazy dog near the quiet river bank today",
            "tags": None,
        },
        {"prompt": "short", "tags": ["seven", "words", "in", "a", "list", "of", "strings"]},
    ]
    gz = tmp_path / "b.jsonl.gz"
    gz.write_bytes(gzip.compress("\n".join(map(json.dumps, rows)).encode()))
    parquet = tmp_path / "b.parquet"
    pq.write_table(pa.Table.from_pylist(rows), parquet)
    specs = [
        BenchmarkSpec(name="gz", path=str(gz), fields=["prompt", "tags"]),
        BenchmarkSpec(name="pq", path=str(parquet), fields=["prompt", "tags"]),
    ]
    index = load_benchmark_ngrams(specs)
    assert index.item_ids.to_pylist() == ["0", "1", "0", "1"]
    hits = contamination(
        ["The QUICK brown fox jumps over the lazy dog, near the quiet river bank today!"], index
    )
    assert (hits[0].benchmark, hits[0].item_id) == ("gz", "0")
    [listed] = contamination(["x: seven words in a list of strings."], index)
    assert (listed.benchmark, listed.item_id, listed.ngram) == ("gz", "1", "seven words in a list of strings")


def test_benchmark_errors_name_the_file_line_and_field(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"q": "fine"}\n{"q": oops}\n')
    with pytest.raises(ValueError, match=r"bad\.jsonl:2: not JSON"):
        load_benchmark_ngrams([BenchmarkSpec(name="b", path=str(bad), fields=["q"])])
    good = tmp_path / "good.jsonl"
    good.write_text('{"q": "fine"}\n')
    with pytest.raises(ValueError, match=r"no row has the field\(s\) \['question'\]"):
        load_benchmark_ngrams([BenchmarkSpec(name="b", path=str(good), fields=["q", "question"])])
