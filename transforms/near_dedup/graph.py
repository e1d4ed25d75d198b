"""The Beam steps of near dedup after the buckets: verify edges, components in rounds, one survivor each.

No step holds the whole graph. Every step is a GroupByKey on a node shard (2**bits of them): a shard's group
holds its nodes' payloads or ids and the edges or pairs that touch them, so a worker's memory is its share.
Elements are (shard, (tag, Arrow batch)); the pure functions are in `components`.
"""

from __future__ import annotations

import logging

import apache_beam as beam
import numpy as np
import pyarrow as pa
from apache_beam.metrics import Metrics

from etl.local_runner.pool import PooledDoFn
from etl.local_runner.spilled import BufferedSpill, shuffled, unspilled
from transforms.near_dedup import components as cc

log = logging.getLogger("corpus_etl")
STAGE = "near_dedup"


def by_shard(batch: pa.RecordBatch, column: str, tag: str, bits: int, salt: int = 0):
    """(shard, (tag, rows)) for each shard that the batch's `column` keys fall in."""
    if batch.num_rows == 0:
        return
    shards = cc.node_shards(batch.column(batch.schema.get_field_index(column)).to_numpy(), bits, salt)
    order = np.argsort(shards, kind="stable")
    sorted_shards = shards[order]
    cuts = np.flatnonzero(np.diff(sorted_shards)) + 1
    for lo, hi in zip(np.r_[0, cuts], np.r_[cuts, len(order)], strict=True):
        yield int(sorted_shards[lo]), (tag, batch.take(pa.array(order[lo:hi])))


def held_bytes(nbytes: int) -> None:
    """Record the bytes one group put in a worker's hands (a pool worker reports the figure back): the figure
    that must not grow with the corpus (bench/near_dedup.py reads its maximum)."""
    Metrics.distribution(STAGE, "group_bytes").update(int(nbytes))


def _tables(tagged, schemas: dict[str, pa.Schema]) -> dict[str, pa.Table]:
    """A group's (tag, batch) values, spilled ones read back, as one table per tag."""
    parts: dict[str, list[pa.RecordBatch]] = {tag: [] for tag in schemas}
    for tag, batch in unspilled(tagged):
        parts[tag].append(batch)
    return {
        tag: pa.Table.from_batches(parts[tag], parts[tag][0].schema if parts[tag] else schema)
        for tag, schema in schemas.items()
    }


def _join(label: str, nodes, nodes_column, requests, request_column, bits: int, salt: int = 0):
    """Flatten a node table and requests into one GroupByKey on the shard of the join key; a column of None
    says that side is keyed already ((shard, (tag, batch)) items, as `by_shard` makes them)."""
    if nodes_column is not None:
        nodes = nodes | f"{label}Nodes" >> beam.FlatMap(by_shard, nodes_column, "node", bits, salt)
    if request_column is not None:
        requests = requests | f"{label}Requests" >> beam.FlatMap(by_shard, request_column, "want", bits, salt)
    return (nodes, requests) | f"{label}Flatten" >> beam.Flatten() | f"{label}Group" >> beam.GroupByKey()


def _distinct_pairs(pairs: pa.Table) -> pa.Table:
    """One row per (a, b): a candidate edge comes from every band shard whose bucket the two docs share (up to
    one copy per band), and all copies meet here, in a's shard, before any of them carries a payload."""
    if pairs.num_rows == 0:
        return pairs
    a, b = pairs.column("a").to_numpy(), pairs.column("b").to_numpy()
    order = np.lexsort((b, a))
    first = np.ones(len(order), bool)
    first[1:] = (a[order][1:] != a[order][:-1]) | (b[order][1:] != b[order][:-1])
    return pairs.take(pa.array(order[first]))


class CountedStep(PooledDoFn):
    """A pooled near-dedup step whose work returns [count, outputs, bytes held] ([] for a group with nothing
    to do): the driver records the count under `counter` and the bytes as `group_bytes`."""

    counter = ""

    def emit(self, done):
        if done:
            count, out, nbytes = done
            held_bytes(nbytes)
            if self.counter:
                Metrics.counter(STAGE, self.counter).inc(count)
            yield from out


class ShardStep(CountedStep):
    """A CountedStep whose work is `work(group's items, bits, spill_root)`: one shard's group in, its outputs
    keyed to the next shuffle's shards (spilled under `spill_root` when given)."""

    work = None  # a staticmethod in each subclass

    def __init__(self, bits: int, spill_root: str | None, processes: int):
        super().__init__(processes)
        self.bits, self.spill_root = bits, spill_root

    def call(self, item) -> tuple:
        return self.work, list(item[1]), self.bits, self.spill_root


# Pairs given their payload at a time: a group's pairs with payloads (a KB each) never all wait in memory.
CHUNK_PAIRS = 1 << 16


def attach_payload(tagged: list, schema: pa.Schema, bits: int, spill_root: str | None) -> list:
    """Hop one of a pair similarity, for one shard's group: pairs (a, b, ...) get a's payload and go to b's
    shard, CHUNK_PAIRS at a time, as batches or (`spill_root`) as spilled files. [pairs, items, bytes held]."""
    t = _tables(tagged, {"node": cc.PAYLOADS, "want": schema})
    keys, nodes = cc.distinct_by_key(t["node"])
    pairs = _distinct_pairs(t["want"])
    if pairs.num_rows == 0:
        return []
    payload, a = nodes.column("payload"), pairs.column("a").to_numpy()
    out, most = [], 0
    for lo in range(0, pairs.num_rows, CHUNK_PAIRS):
        at = cc.lookup(keys, a[lo : lo + CHUNK_PAIRS])
        chunk = pairs.slice(lo, CHUNK_PAIRS).append_column("payload_a", payload.take(pa.array(at)))
        chunk = chunk.combine_chunks()
        most = max(most, chunk.nbytes)
        items = [item for batch in chunk.to_batches() for item in by_shard(batch, "b", "want", bits)]
        out.extend(shuffled(spill_root, items))
    return [pairs.num_rows, out, t["node"].nbytes + t["want"].nbytes + most]


class _AttachPayload(CountedStep):
    label = "near dedup, payloads attached to candidate pairs (shards)"
    counter = "pairs_attached"

    def __init__(self, schema: pa.Schema, bits: int, spill_root: str | None, processes: int):
        super().__init__(processes)
        self.schema, self.bits, self.spill_root = schema, bits, spill_root

    def call(self, item) -> tuple:
        return attach_payload, list(item[1]), self.schema, self.bits, self.spill_root


def similarity(tagged: list, verify: str) -> list:
    """Hop two, for one shard's group: pairs with a's payload meet b's payload, a batch (a spilled file) at a
    time; [pairs, batches with the similarity as a column and without the payloads, bytes held]."""
    wants = [item for item in tagged if item[0] == "want"]
    if not wants:
        return []
    node_parts = [b for _, b in unspilled(item for item in tagged if item[0] == "node")]
    keys, nodes = cc.distinct_by_key(pa.Table.from_batches(node_parts, cc.PAYLOADS))
    payload = nodes.column("payload")
    out, compared, most = [], 0, 0
    for _, batch in unspilled(wants):
        at = cc.lookup(keys, batch.column(batch.schema.get_field_index("b")).to_numpy())
        sim = cc.payload_similarity(
            batch.column(batch.schema.get_field_index("payload_a")),
            payload.take(pa.array(at)).combine_chunks(),
            verify,
        )
        rest = [name for name in batch.schema.names if name != "payload_a"]
        out.append(batch.select(rest).append_column("similarity", pa.array(sim, pa.float64())))
        compared += batch.num_rows
        most = max(most, batch.nbytes)
    return [compared, out, sum(b.nbytes for b in node_parts) + most]


class _Similarity(CountedStep):
    label = "near dedup, candidate pairs compared (shards)"
    counter = "pairs_compared"

    def __init__(self, verify: str, processes: int):
        super().__init__(processes)
        self.verify = verify

    def call(self, item) -> tuple:
        return similarity, list(item[1]), self.verify


class PairSimilarity(beam.PTransform):
    """Batches of pairs (columns `a`, `b`, any others) -> the same rows with `similarity`, from payloads.

    Two GroupByKeys: on a's shard (attach a's payload) then on b's (compare). A payload reaches a worker only
    with the pairs that need it. `payloads` are keyed by node shard already ((shard, ("node", batch))), and
    so are the pairs when `keyed_pairs` ((shard of a, ("want", batch))). `spill`: a URL under which the
    pairs with a's payload (a payload per edge, the join's bulk) wait in files rather than in the runner's
    memory (etl/local_runner/spilled.py). `processes`: both hops run in a pool of that many (etl/local_runner/pool.py).
    """

    def __init__(
        self, payloads, schema, verify: str, bits: int, spill=None, processes: int = 0, keyed_pairs=False
    ):
        super().__init__()
        self.payloads, self.schema, self.verify, self.bits = payloads, schema, verify, bits
        self.spill, self.processes, self.keyed_pairs = spill, processes, keyed_pairs

    def expand(self, pairs):
        schema = pa.schema(self.schema)
        first = _join(
            "ByA", self.payloads, None, pairs, None if self.keyed_pairs else "a", self.bits
        ) | "AttachA" >> beam.ParDo(_AttachPayload(schema, self.bits, self.spill, self.processes))
        second = _join("ByB", self.payloads, None, first, None, self.bits)
        return second | "Compare" >> beam.ParDo(_Similarity(self.verify, self.processes))


# Edges a round's shard holds, about: the rounds take as many shards as the verified edges need, so a small
# graph is a few elements per round and a large one spreads (a shard of 2**20 edges is ~50 MB in numpy).
EDGES_PER_SHARD = 1 << 20
MAX_ROUND_BITS = 16


def round_bits(edges: int) -> int:
    """Shard bits of the rounds for a graph of `edges` edges (each round routes every edge twice)."""
    return min(MAX_ROUND_BITS, max(0, int(np.ceil(np.log2(max(2 * edges, 1) / EDGES_PER_SHARD)))))


def _route(batch: pa.RecordBatch, bits: int, salt: int):
    """Each edge to the shards of both its ends for the round with this salt."""
    yield from by_shard(batch, "u", "edge", bits, salt)
    yield from by_shard(batch, "v", "edge", bits, salt)


class _RouteFirst(BufferedSpill):
    """Verified edges -> round 0's shards, through files on the local runner (BufferedSpill): the runner's
    shuffle then holds references, not the graph (each round after it routes its own output)."""

    def __init__(self, spill_root: str | None):
        super().__init__(_route, spill_root)

    def process(self, batch, bits):
        yield from self._take(batch, (bits, 0))


def star_round(tagged: list, round_no: int, bits: int, spill_root: str | None, last: bool) -> list:
    """One round for one shard's group: its edges -> the star forest of their local components, routed to
    the next round's shards (spilled under `spill_root`), or after the last round as they are.
    [edges in, whether they changed, items, bytes held]."""
    edges = _tables(tagged, {"edge": cc.EDGES})["edge"]
    u, v = edges.column("u").to_numpy(), edges.column("v").to_numpy()
    leaf, root, changed = cc.local_stars(u, v)
    out: list = []
    if len(leaf):
        stars = pa.RecordBatch.from_arrays(
            [pa.array(leaf, pa.uint64()), pa.array(root, pa.uint64())], schema=cc.EDGES
        )
        if last:
            out = [stars]
        else:
            out = shuffled(spill_root, _route(stars, bits, round_no + 1))
    return [len(u), int(changed), out, edges.nbytes]


class _StarRound(PooledDoFn):
    """One round: a shard's edges -> the star forest of their local components; counts whether it changed."""

    def __init__(self, round_no: int, last: bool, spill_root: str | None, processes: int):
        super().__init__(processes)
        self.round_no, self.last, self.spill_root = round_no, last, spill_root
        self.label = f"near dedup, components round {round_no} (shards)"

    def process(self, item, bits):
        self.bits = bits
        yield from super().process(item)

    def call(self, item) -> tuple:
        return star_round, list(item[1]), self.round_no, self.bits, self.spill_root, self.last

    def emit(self, done):
        edges_in, changed, out, nbytes = done
        held_bytes(nbytes)
        Metrics.counter(STAGE, f"round{self.round_no}_edges_in").inc(edges_in)
        yield beam.pvalue.TaggedOutput("changed", (self.round_no, changed))
        yield from out


def _round_summary(max_rounds: int):
    def summarize(counts) -> dict:
        changed = dict.fromkeys(range(max_rounds), 0)
        for round_no, n in counts:
            changed[round_no] += n
        quiet = [r for r in range(max_rounds) if changed[r] == 0]
        rounds = quiet[0] + 1 if quiet else None  # the first round that changed nothing proves convergence
        if rounds is None:
            log.warning("near dedup: connected components did not converge in %d rounds", max_rounds)
        else:
            log.info(
                "near dedup: connected components converged in %d rounds (at most %d)", rounds, max_rounds
            )
        return {
            "rounds": rounds,
            "max_rounds": max_rounds,
            "changed_shards": [changed[r] for r in range(max_rounds)],
        }

    return summarize


class ConnectedComponents(beam.PTransform):
    """Edges (u, v) -> {"stars": (leaf, root) edges, root the smallest key of the component; "rounds": one dict
    saying how many rounds it took (None: not converged within max_rounds)}.

    The rounds' shard count follows the number of edges (`round_bits`, a side input of one integer), not the
    corpus: `bits` only caps it from below when given (tests)."""

    def __init__(self, bits: int | None, max_rounds: int, spill=None, processes: int = 0):
        super().__init__()
        self.bits, self.max_rounds = bits, max_rounds
        self.spill, self.processes = spill, processes  # as for PairSimilarity

    def expand(self, edges):
        sized = (
            edges
            | "CountEdges" >> beam.Map(lambda b: b.num_rows)
            | "SumEdges" >> beam.CombineGlobally(sum)
            | "RoundBits" >> beam.Map(lambda n, floor: max(round_bits(n), floor or 0), self.bits)
        )
        bits = beam.pvalue.AsSingleton(sized)
        counts, last = [], self.max_rounds - 1
        edges = edges | "Route0" >> beam.ParDo(_RouteFirst(self.spill), bits)
        for r in range(self.max_rounds):  # each round's output is routed to the next round's shards already
            step = _StarRound(r, r == last, self.spill, self.processes)
            grouped = (
                edges
                | f"Group{r}" >> beam.GroupByKey()
                | f"Stars{r}" >> beam.ParDo(step, bits).with_outputs("changed", main="stars")
            )
            edges, counts = grouped.stars, [*counts, grouped.changed]
        summary = (
            counts
            | "FlattenRounds" >> beam.Flatten()
            | "CountRounds" >> beam.combiners.ToList()
            | "SummarizeRounds" >> beam.Map(_round_summary(self.max_rounds))
        )
        return {"stars": edges, "rounds": summary}


def _memberships(batch: pa.RecordBatch):
    member, root = cc.memberships(batch.column(0).to_numpy(), batch.column(1).to_numpy())
    return pa.RecordBatch.from_arrays(
        [pa.array(member, pa.uint64()), pa.array(root, pa.uint64())], names=["member", "root"]
    )


MEMBERS = pa.schema([("member", pa.uint64()), ("root", pa.uint64())])
SURVIVOR_PAIRS = pa.schema(
    [
        ("a", pa.uint64()),
        ("doc_id", pa.string()),
        ("unit", pa.int32()),
        ("b", pa.uint64()),
        ("survivor", pa.string()),
        ("parent", pa.int16()),
    ]
)


def name_members(tagged: list, bits: int, spill_root: str | None) -> list:
    """One node shard's group: (member, root) rows meet their member's (doc_id, unit, parent) and move to the
    root's shard. [memberships, items, bytes held]."""
    t = _tables(tagged, {"node": cc.NODES, "want": MEMBERS})
    want = t["want"]
    if want.num_rows == 0:
        return []
    keys, nodes = cc.distinct_by_key(t["node"])
    pairs = np.unique(
        np.stack([want.column("member").to_numpy(), want.column("root").to_numpy()], axis=1), axis=0
    )
    at = pa.array(cc.lookup(keys, pairs[:, 0]))
    named = pa.RecordBatch.from_arrays(
        [
            pa.array(pairs[:, 1], pa.uint64()),
            pa.array(pairs[:, 0], pa.uint64()),
            nodes.column("doc_id").take(at).combine_chunks(),
            nodes.column("unit").take(at).combine_chunks(),
            nodes.column("parent").take(at).combine_chunks(),
        ],
        names=["root", "member", "doc_id", "unit", "parent"],
    )
    items = shuffled(spill_root, by_shard(named, "root", "want", bits))
    return [want.num_rows, items, t["node"].nbytes + want.nbytes]


class _NameMembers(ShardStep):
    label = "near dedup, components' members named (shards)"
    counter = "memberships_in"
    work = staticmethod(name_members)


def choose_survivors(tagged: list, bits: int, spill_root: str | None) -> list:
    """One root shard's group, whole components -> (member, survivor) pairs of every member to remove, keyed
    by the member's shard for the payload join. [removals, items, bytes held]."""
    batches = [b for _, b in unspilled(tagged)]
    removed = cc.component_removals(pa.Table.from_batches(batches))
    pairs = removed.rename_columns(SURVIVOR_PAIRS.names).combine_chunks()
    items = [item for batch in pairs.to_batches() for item in by_shard(batch, "a", "want", bits)]
    return [pairs.num_rows, shuffled(spill_root, items), sum(b.nbytes for b in batches)]


class _ChooseSurvivors(ShardStep):
    label = "near dedup, survivors chosen (shards)"
    counter = "verified_removals"
    work = staticmethod(choose_survivors)


def require_converged(rounds: dict) -> dict:
    """Fail the run (exit 3) when the rounds ran out before the components converged: its removals would be
    a partial partition. A step of its own, so that no stage after a GroupByKey waits on a side input (the
    local runner lost grouped elements of such stages under multi_processing)."""
    if rounds["rounds"] is None:
        raise RuntimeError(
            f"near dedup: connected components did not converge in {rounds['max_rounds']} rounds; "
            "raise near_dedup.max_rounds"
        )
    return rounds


def _as_removals(batch: pa.RecordBatch) -> pa.RecordBatch:
    t = pa.Table.from_batches([batch])
    return pa.RecordBatch.from_arrays(
        [
            t.column("a").combine_chunks(),
            t.column("doc_id").combine_chunks().cast(pa.string()),
            t.column("survivor").combine_chunks().cast(pa.string()),
            t.column("similarity").combine_chunks(),
            t.column("unit").combine_chunks(),
            t.column("parent").combine_chunks(),
        ],
        schema=cc.REMOVALS,
    )


class Survivors(beam.PTransform):
    """Final stars + node ids + payloads -> removal batches (REMOVALS): every member of a component but its
    smallest doc_id, with that survivor and the similarity to it. `nodes` and `payloads` come keyed by node
    shard ((shard, ("node", batch or spilled file)))."""

    def __init__(self, nodes, payloads, rounds, verify: str, bits: int, spill=None, processes: int = 0):
        super().__init__()
        self.nodes, self.payloads, self.rounds, self.verify, self.bits = nodes, payloads, rounds, verify, bits
        self.spill, self.processes = spill, processes

    def expand(self, stars):
        _ = self.rounds | "RequireConverged" >> beam.Map(require_converged)
        members = stars | "Memberships" >> beam.Map(_memberships)
        bits, spill, processes = self.bits, self.spill, self.processes
        named = _join("Name", self.nodes, None, members, "member", bits) | "NameMembers" >> beam.ParDo(
            _NameMembers(bits, spill, processes)
        )
        pairs = (
            named
            | "ByRoot" >> beam.GroupByKey()
            | "ChooseSurvivors" >> beam.ParDo(_ChooseSurvivors(bits, spill, processes))
        )
        return (
            pairs
            | "SurvivorSimilarity"
            >> PairSimilarity(
                self.payloads, SURVIVOR_PAIRS, self.verify, bits, spill, processes, keyed_pairs=True
            )
            | "AsRemovals" >> beam.Map(_as_removals)
        )
