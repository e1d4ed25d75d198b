"""Connected components in rounds (transforms/near_dedup/components.py, graph.py) against union-find.

The rounds must give exactly union-find's partition (each node's root is the smallest node of its
component) on random graphs, long chains (the worst case for rounds), stars and many small clusters, both as
pure rounds over shards and as the Beam transform; and the number of rounds must be small and reported.
"""

from __future__ import annotations

import apache_beam as beam
import numpy as np
import pyarrow as pa
import pytest
from apache_beam.testing.util import assert_that, equal_to

from etl.run.runner import local_options
from transforms.near_dedup import components as cc
from transforms.near_dedup.graph import ConnectedComponents


def union_find_roots(nodes: np.ndarray, u: np.ndarray, v: np.ndarray) -> dict[int, int]:
    """Reference: union-find with path halving, the root of each set its smallest node."""
    parent = {int(n): int(n) for n in nodes}

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in zip(u.tolist(), v.tolist(), strict=True):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return {n: find(n) for n in parent}


def rounds_in_memory(u: np.ndarray, v: np.ndarray, bits: int, max_rounds: int = 64):
    """The rounds as graph.py runs them, shard by shard, without Beam: (leaf -> root, rounds taken)."""
    x, y = cc.edge_pairs(u, v)
    for r in range(max_rounds):
        out_x, out_y, changed = [np.zeros(0, np.uint64)], [np.zeros(0, np.uint64)], False
        sx, sy = cc.node_shards(x, bits, r), cc.node_shards(y, bits, r)
        for shard in range(1 << bits):
            mine = (sx == shard) | (sy == shard)
            if mine.any():
                a, b, c = cc.local_stars(x[mine], y[mine])
                out_x.append(a)
                out_y.append(b)
                changed |= c
        x, y = cc.edge_pairs(np.concatenate(out_x), np.concatenate(out_y))
        if not changed:
            return dict(zip(x.tolist(), y.tolist(), strict=True)), r + 1
    raise AssertionError(f"no convergence in {max_rounds} rounds")


def check_against_union_find(u, v, bits=4):
    nodes = np.unique(np.concatenate([u, v]))
    expected = union_find_roots(nodes, u, v)
    roots, rounds = rounds_in_memory(u, v, bits)
    got = {n: roots.get(n, n) for n in expected}
    assert got == expected
    return rounds


def random_labels(rng, n):
    return rng.permutation(np.arange(1, n + 1, dtype=np.uint64) * np.uint64(7919))


@pytest.mark.parametrize("seed", range(5))
def test_rounds_give_union_finds_partition_on_random_graphs(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(50, 3000))
    m = int(rng.integers(n // 3, 2 * n))
    labels = random_labels(rng, n)
    u, v = labels[rng.integers(0, n, m)], labels[rng.integers(0, n, m)]
    check_against_union_find(u, v)


@pytest.mark.parametrize("length", [2, 100, 20_000])
def test_long_chains_converge_in_few_rounds(length):
    labels = random_labels(np.random.default_rng(length), length)
    rounds = check_against_union_find(labels[:-1], labels[1:])
    assert rounds <= 2 + 2 * int(np.log2(length))
    # in key order too: each node's smaller neighbour is next to it
    ordered = np.arange(1, length + 1, dtype=np.uint64)
    assert check_against_union_find(ordered[:-1], ordered[1:]) <= 2 + 2 * int(np.log2(length))


def test_stars_and_many_small_clusters():
    rng = np.random.default_rng(3)
    hub = np.full(5000, 10**6, np.uint64)
    spokes = np.arange(1, 5001, dtype=np.uint64)  # every spoke smaller than the hub: the root is spoke 1
    assert check_against_union_find(hub, spokes) <= 4
    pairs = rng.permutation(np.arange(2, 20_002, dtype=np.uint64)).reshape(-1, 2)  # 10,000 two-node clusters
    triples = np.arange(30_000, 33_000, dtype=np.uint64).reshape(-1, 3)
    u = np.concatenate([pairs[:, 0], triples[:, 0], triples[:, 1]])
    v = np.concatenate([pairs[:, 1], triples[:, 1], triples[:, 2]])
    assert check_against_union_find(u, v) <= 3


def test_one_shard_is_union_find_in_one_round():
    rng = np.random.default_rng(9)
    labels = random_labels(rng, 500)
    u, v = labels[rng.integers(0, 500, 400)], labels[rng.integers(0, 500, 400)]
    assert check_against_union_find(u, v, bits=0) <= 2


def test_survivor_is_the_smallest_doc_id_then_key_of_each_component():
    rows = pa.table(
        {
            "root": pa.array([5, 5, 5, 9, 9], pa.uint64()),
            "member": pa.array([5, 7, 8, 9, 12], pa.uint64()),
            "doc_id": ["b", "a", "a", "z", "y"],
            "unit": pa.array([0, 1, 2, 3, 4], pa.int32()),
            "parent": pa.array([-1] * 5, pa.int16()),
        }
    )
    removed = cc.component_removals(rows).to_pylist()
    by_key = {r["key"]: r for r in removed}
    assert set(by_key) == {5, 8, 9} and by_key[8]["unit"] == 2
    assert by_key[5]["survivor"] == by_key[8]["survivor"] == "a" and by_key[5]["survivor_key"] == 7
    assert by_key[9]["survivor"] == "y" and by_key[9]["survivor_key"] == 12


def test_an_earlier_runs_document_survives_its_component_and_is_never_removed():
    rows = pa.table(
        {
            "root": pa.array([5, 5, 5, 9, 9], pa.uint64()),
            "member": pa.array([5, 7, 8, 9, 12], pa.uint64()),
            "doc_id": ["b", "a", "z", "c", "d"],
            "unit": pa.array([0, 1, -1, -1, -1], pa.int32()),
            "parent": pa.array([-1, -1, 0, 1, 0], pa.int16()),  # 8 kept by parent 0; 9 and 12 by parents 1, 0
        }
    )
    removed = {r["key"]: r for r in cc.component_removals(rows).to_pylist()}
    assert set(removed) == {5, 7}  # this run's two, though "a" < "z": the earlier copy survives
    assert {r["survivor"] for r in removed.values()} == {"z"}
    assert {r["parent"] for r in removed.values()} == {0}


def _edges(u, v):
    return pa.RecordBatch.from_arrays([pa.array(u, pa.uint64()), pa.array(v, pa.uint64())], schema=cc.EDGES)


def test_beam_components_match_union_find_and_report_rounds():
    rng = np.random.default_rng(11)
    labels = random_labels(rng, 3000)
    chain = labels[:1000]
    rest = labels[1000:]
    u = np.concatenate([chain[:-1], rest[rng.integers(0, 2000, 1500)]])
    v = np.concatenate([chain[1:], rest[rng.integers(0, 2000, 1500)]])
    expected = union_find_roots(np.unique(np.concatenate([u, v])), u, v)
    want = sorted((n, r) for n, r in expected.items() if n != r)
    batches = [_edges(u[i : i + 400], v[i : i + 400]) for i in range(0, len(u), 400)]
    with beam.Pipeline(options=local_options()) as p:
        found = p | beam.Create(batches) | ConnectedComponents(bits=3, max_rounds=16)
        pairs = found["stars"] | beam.FlatMap(
            lambda b: list(zip(b.column(0).to_pylist(), b.column(1).to_pylist(), strict=True))
        )  # a star edge may come from both of its shards: the survivors step takes each once
        assert_that(pairs | beam.Distinct(), equal_to(want), label="stars")
        rounds = found["rounds"] | beam.Map(
            lambda s: (s["rounds"] is not None and s["rounds"] <= 16, s["max_rounds"])
        )
        assert_that(rounds, equal_to([(True, 16)]), label="rounds")


def test_beam_components_report_no_convergence_when_rounds_run_out():
    labels = random_labels(np.random.default_rng(5), 4000)
    with beam.Pipeline(options=local_options()) as p:
        found = p | beam.Create([_edges(labels[:-1], labels[1:])]) | ConnectedComponents(bits=3, max_rounds=2)
        assert_that(found["rounds"] | beam.Map(lambda s: s["rounds"]), equal_to([None]))
