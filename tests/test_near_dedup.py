"""Near-duplicate removal: the pure parts against reference implementations, and removal quality against
brute-force Jaccard truth on real text (Python's pydoc topics) with edited copies and hard negatives."""

from __future__ import annotations

import itertools
import random
import unicodedata

import numpy as np
import pyarrow as pa
import pytest
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from transforms.near_dedup.hashing import hash_strings
from transforms.near_dedup.lsh import candidate_pairs, optimal_bands_rows
from transforms.near_dedup.minhash import (
    EMPTY,
    MERSENNE_61,
    Permutation,
    band_hashes,
    densify,
    permute,
    signatures_from_shingles,
    similarity,
    to_field,
)
from transforms.near_dedup.minhash_torch import signatures_torch
from transforms.near_dedup.normalize import normalize_text
from transforms.near_dedup.params import NearDedupConfig
from transforms.near_dedup.shingles import ngram_hashes, shingle_hashes

EDIT_RATES = (0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.06, 0.08)
UNICODE_DOCS = (
    "Café Müller’s “naïve” résumé, 2019.",
    'cafe muller\'s "naive" RESUME 1234',
    "CAFE\u0301 MU\u0308LLER'S NAI\u0308VE RE\u0301SUME\u0301 \u2014 7777",
    "Hello world",
    "hello, World!",
    "Goodbye world",
    "",
    "   ",
    "...",
    "A",
    "a",
)


# ---------------------------------------------------------------- reference implementation and corpus


def reference_words(text: str) -> list[str]:
    """Normalisation written out character by character, independently of the implementation."""
    out = []
    for ch in unicodedata.normalize("NFKD", text.lower()):
        cat = unicodedata.category(ch)
        if cat in ("Mn", "Me", "Cf") or cat[0] in "PS":
            continue
        out.append("0" if cat == "Nd" else " " if cat[0] == "Z" or cat == "Cc" else ch)
    return "".join(out).split()


def reference_shingles(text: str, n: int = 5) -> set[tuple[str, ...]]:
    words = reference_words(text)
    if len(words) < n:
        return {tuple(words)}
    return {tuple(words[i : i + n]) for i in range(len(words) - n + 1)}


def edit(words: list[str], rate: float, rnd: random.Random, vocab: list[str]) -> list[str]:
    """Replace, insert or delete round(rate * len) words at random places."""
    out = list(words)
    for _ in range(max(1, round(rate * len(out)))):
        op, at = rnd.random(), rnd.randrange(len(out))
        if op < 0.4:
            out[at] = rnd.choice(vocab)
        elif op < 0.7:
            out.insert(at, rnd.choice(vocab))
        elif len(out) > 1:
            del out[at]
    return out


def make_corpus(seed: int = 7, n_base: int = 160) -> tuple[list[str], list[str]]:
    """(doc_ids, texts): real base docs, 1-3 edited copies of 3 in 4 of them, hard negatives, Unicode variants."""
    import pydoc_data.topics as topics

    rnd = random.Random(seed)
    words = " ".join(topics.topics[k] for k in sorted(topics.topics)).split()
    vocab = sorted(set(words))
    docs, at = [], 0
    for i in range(n_base):
        base = words[at : at + rnd.randint(40, 420)]
        at += len(base) + rnd.randint(0, 50)
        docs.append(" ".join(base))
        if i % 4 != 3:
            docs += [
                " ".join(edit(base, rnd.choice(EDIT_RATES), rnd, vocab)) for _ in range(rnd.randint(1, 3))
            ]
        if i % 5 == 0:  # hard negative: 55-70% of the base followed by other text
            cut, other = int(len(base) * rnd.uniform(0.55, 0.7)), rnd.randrange(len(words) - 500)
            docs.append(" ".join(base[:cut] + words[other : other + len(base) - cut]))
    docs += UNICODE_DOCS
    rnd.shuffle(docs)
    return [f"doc-{i:05d}" for i in range(len(docs))], docs


def docs_batch(ids: list[str], texts: list[str]) -> pa.RecordBatch:
    n = len(ids)
    return pa.RecordBatch.from_pydict(
        {
            "doc_id": pa.array(ids, pa.string()),
            "text": pa.array(texts, pa.large_string()),
            "source": pa.array(["corpus.jsonl"] * n, pa.string()),
            "meta": pa.array(['{"k": 1}'] * n, pa.string()),
            "line": pa.array(range(1, n + 1), pa.int64()),
            "extra": pa.array([i * 3 for i in range(n)], pa.int64()),
        }
    )


def jaccard_truth(texts: list[str], threshold: float) -> tuple[list[tuple[int, int, float]], np.ndarray]:
    """All pairs sharing a shingle with their exact Jaccard, and the cluster label of every doc at threshold."""
    sets = [reference_shingles(t) for t in texts]
    postings: dict[tuple[str, ...], list[int]] = {}
    for doc, shingles in enumerate(sets):
        for s in shingles:
            postings.setdefault(s, []).append(doc)
    shared: dict[tuple[int, int], int] = {}
    for docs in postings.values():
        for pair in itertools.combinations(docs, 2):
            shared[pair] = shared.get(pair, 0) + 1
    pairs = [(a, b, c / (len(sets[a]) + len(sets[b]) - c)) for (a, b), c in shared.items()]
    dup = [(a, b) for a, b, j in pairs if j >= threshold]
    u, v = (np.array(x, np.int64) for x in zip(*dup, strict=True)) if dup else (np.zeros(0, np.int64),) * 2
    graph = coo_matrix((np.ones(len(u)), (u, v)), shape=(len(texts), len(texts)))
    return pairs, connected_components(graph, directed=False)[1]


def expected_removals(ids: list[str], labels: np.ndarray) -> set[str]:
    """Every member of a true cluster except its smallest doc_id."""
    keep: dict[int, str] = {}
    for doc_id, label in sorted(zip(ids, labels.tolist(), strict=True)):
        keep.setdefault(label, doc_id)
    return {d for d, label in zip(ids, labels.tolist(), strict=True) if keep[label] != d}


@pytest.fixture(scope="module")
def corpus():
    ids, texts = make_corpus()
    pairs, labels = jaccard_truth(texts, 0.8)
    return ids, texts, pairs, labels


# ---------------------------------------------------------------- normalisation and shingles


def test_normalize_folds_case_accents_digits_and_punctuation():
    assert normalize_text("Café Müller’s “naïve” résumé, 2019.") == "cafe mullers naive resume 0000"
    assert normalize_text("  TAB\there\u00a0nbsp\u2028line  ") == "tab here nbsp line"
    assert normalize_text("x\u00adx (a-b) [c] 3.14%") == "xx ab c 000"


def test_word_shingles_equal_the_reference_normalisation(corpus):
    _, texts, _, _ = corpus
    texts = texts[:150] + list(UNICODE_DOCS)
    hashes, doc = shingle_hashes(pa.array(texts, pa.large_string()), 5)
    for i, text in enumerate(texts):
        expected = set()
        for gram in reference_shingles(text):
            tokens = hash_strings([w.encode() for w in gram])
            expected |= set(ngram_hashes(tokens, np.zeros(len(gram), np.int64), 1, 5)[0].tolist())
        assert set(hashes[doc == i].tolist()) == expected, text[:80]


def test_short_documents_become_one_shingle_and_still_match():
    texts = pa.array(
        ["Hello world", "hello, World!", "", "...", "one two three four five six"], pa.large_string()
    )
    hashes, doc = shingle_hashes(texts, 5)
    assert np.bincount(doc, minlength=5).tolist() == [1, 1, 1, 1, 2]
    assert hashes[doc == 0][0] == hashes[doc == 1][0]  # same words after normalisation
    assert hashes[doc == 2][0] == hashes[doc == 3][0]  # both empty once punctuation is out
    assert hashes[doc == 0][0] != hashes[doc == 2][0]


def test_char_shingles_are_code_point_ngrams():
    hashes, doc = shingle_hashes(pa.array(["Abcdef", "abcdeF!", "ab"], pa.large_string()), 5, "char")
    assert np.bincount(doc).tolist() == [2, 2, 1]
    assert set(hashes[doc == 0].tolist()) == set(hashes[doc == 1].tolist())


# ---------------------------------------------------------------- MinHash


def test_permutation_is_exact_arithmetic_mod_mersenne_61():
    rng = np.random.default_rng(3)
    raw = rng.integers(0, 2**64 - 1, 5000, dtype=np.uint64, endpoint=True)
    raw[:4] = [0, MERSENNE_61, MERSENNE_61 + 1, 2**64 - 1]
    x = to_field(raw)
    assert x.tolist() == [int(r) >> 3 for r in raw.tolist()] and x.max() <= MERSENNE_61
    for seed in (1, 2, 99):
        perm = Permutation.from_seed(seed)
        assert permute(x, perm).tolist() == [(perm.a * v + perm.b) % MERSENNE_61 for v in x.tolist()]


def test_torch_signatures_equal_numpy_bit_for_bit(corpus):
    _, texts, _, _ = corpus
    hashes, doc = shingle_hashes(pa.array(texts, pa.large_string()), 5)
    for seed, num_perm in ((1, 256), (5, 112), (9, 512)):
        perm = Permutation.from_seed(seed)
        ours = signatures_from_shingles(hashes, doc, len(texts), num_perm, perm)
        theirs = signatures_torch(hashes, doc, len(texts), num_perm, perm, device="cpu")
        assert theirs.dtype == np.uint32 and np.array_equal(ours, theirs)


def test_signature_similarity_tracks_exact_jaccard(corpus):
    _, texts, pairs, _ = corpus
    hashes, doc = shingle_hashes(pa.array(texts, pa.large_string()), 5)
    sig = signatures_from_shingles(hashes, doc, len(texts), 256, Permutation.from_seed(1))
    close = [(a, b, j) for a, b, j in pairs if j >= 0.5]
    a, b, truth = (np.array(x) for x in zip(*close, strict=True))
    error = np.abs(similarity(sig[a], sig[b]) - truth)
    assert error.mean() < 0.02 and error.max() < 0.12


def test_densify_fills_empty_bins_identically_for_equal_rows():
    sig = np.full((3, 8), EMPTY, np.uint32)
    sig[0, [1, 5]] = [10, 20]
    sig[1, [1, 5]] = [10, 20]
    sig[2, 6] = 7
    dense = densify(sig)
    assert (dense != EMPTY).all()
    assert np.array_equal(dense[0], dense[1])
    assert dense[0, 1] == 10 and dense[0, 5] == 20
    assert np.array_equal(band_hashes(sig, 4, 2)[0], band_hashes(sig, 4, 2)[1])


# ---------------------------------------------------------------- LSH and components


def test_optimal_bands_rows_agree_with_datasketch():
    from datasketch.lsh import _optimal_param

    for threshold, num_perm in ((0.8, 128), (0.7, 112), (0.9, 256)):
        assert optimal_bands_rows(threshold, num_perm, 0.5, 0.5) == _optimal_param(
            threshold, num_perm, 0.5, 0.5
        )


def test_config_fills_bands_rows_from_the_threshold_unless_given():
    default = NearDedupConfig()
    bands, rows = default.bands_rows()
    assert bands * rows <= default.num_perm and 1 - (1 - 0.8**rows) ** bands > 0.995
    assert NearDedupConfig(bands=14, rows=8, num_perm=112).bands_rows() == (14, 8)
    with pytest.raises(ValueError, match="exceeds num_perm"):
        NearDedupConfig(bands=20, rows=8, num_perm=112)


def test_candidate_pairs_link_bucket_members_once():
    buckets = np.array([5, 5, 5, 9, 9, 7], np.uint64)
    keys = np.array([30, 10, 20, 10, 30, 40], np.uint64)
    u, v = candidate_pairs(buckets, keys)
    assert list(zip(u.tolist(), v.tolist(), strict=True)) == [(10, 20), (10, 30), (20, 30)]
    big = np.zeros(100, np.uint64)
    u, v = candidate_pairs(big, np.arange(100, dtype=np.uint64), window=3)
    assert len(u) == 3 * 100 - 6 and (u < v).all()


# ---------------------------------------------------------------- quality against brute-force truth


def run_stage(batches, config, out_dir, mode="in_memory", workers=1):
    """Run NearDedup on the local runner; (kept rows, reject rows) as Arrow tables read back from Parquet."""
    import uuid

    import apache_beam as beam
    import pyarrow.parquet as pq

    from etl.run.runner import local_options
    from transforms.near_dedup import NearDedup

    def write(batch, folder):
        pq.write_table(pa.Table.from_batches([batch]), f"{folder}/{uuid.uuid4().hex}.parquet")

    folders = {name: out_dir / name for name in ("kept", "rejects")}
    for folder in folders.values():
        folder.mkdir(parents=True)
    with beam.Pipeline(options=local_options(mode, workers)) as p:
        out = p | beam.Create(batches) | NearDedup(config)
        for name, folder in folders.items():
            out[name] | f"Write{name}" >> beam.Map(write, str(folder))
    return tuple(pq.read_table(folders[name]) for name in ("kept", "rejects"))


def removal_quality(ids, labels, rejects: pa.Table) -> tuple[float, float]:
    expected = expected_removals(ids, labels)
    removed = set(rejects.column("doc_id").to_pylist())
    hits = len(removed & expected)
    return hits / max(len(removed), 1), hits / max(len(expected), 1)


def test_near_dedup_precision_and_recall_at_08(corpus, tmp_path):
    ids, texts, pairs, labels = corpus
    batch = docs_batch(ids, texts)
    batches = [batch.slice(i, 128) for i in range(0, batch.num_rows, 128)]
    kept, rejects = run_stage(batches, NearDedupConfig(), tmp_path)
    precision, recall = removal_quality(ids, labels, rejects)
    assert precision >= 0.95 and recall >= 0.95, (precision, recall)
    # The corpus is hard on purpose: many true pairs sit within 0.05 of the threshold.
    assert sum(1 for _, _, j in pairs if 0.75 <= j < 0.85) > 50
    assert kept.num_rows + rejects.num_rows == len(ids)
    assert set(rejects.column("reason").to_pylist()) == {"near_duplicate"}
    assert set(rejects.column("stage").to_pylist()) == {"near_dedup"}
    kept_ids = set(kept.column("doc_id").to_pylist())
    columns = (rejects.column(c).to_pylist() for c in ("doc_id", "detail", "value"))
    for doc_id, detail, value in zip(*columns, strict=True):
        survivor = detail.removeprefix("duplicate of ")
        assert survivor in kept_ids and survivor < doc_id and 0.0 < value <= 1.0


def test_near_dedup_exact_verification_keeps_exactly_one_doc_per_true_cluster(corpus, tmp_path):
    ids, texts, _, labels = corpus
    kept, rejects = run_stage([docs_batch(ids, texts)], NearDedupConfig(verify="exact"), tmp_path)
    kept_ids = set(kept.column("doc_id").to_pylist())
    for label in np.unique(labels):
        members = [d for d, lab in zip(ids, labels.tolist(), strict=True) if lab == label]
        assert sum(d in kept_ids for d in members) == 1, members
    assert removal_quality(ids, labels, rejects) == (1.0, 1.0)
