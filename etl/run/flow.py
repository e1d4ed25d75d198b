"""Stream a work unit through a chain of batch stages, counting in, out and rejects of every stage.

The key passes (exact and near dedup) and the write pass all read their units through `stream_unit`; only the
chain differs. Counts are kept per stage so that `in = out + rejected` can be checked for each one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc

from etl.ingest.sources import InputSpec, read_part
from etl.ingest.units import WorkUnit
from transforms.schema import text_bytes
from transforms.stage import BatchStage


def _reasons(rejects: pa.RecordBatch) -> Counter:
    if rejects.num_rows == 0:
        return Counter()
    counts = pc.value_counts(rejects.column(rejects.schema.get_field_index("reason")))
    return Counter({row["values"]: row["counts"] for row in counts.to_pylist()})


@dataclass
class StageTally:
    docs_in: int = 0
    docs_out: int = 0
    rejected: int = 0
    chars_in: int = 0
    chars_out: int = 0
    reasons: Counter = field(default_factory=Counter)

    def to_dict(self) -> dict:
        return {
            "in": self.docs_in,
            "out": self.docs_out,
            "rejected": self.rejected,
            "in_bytes": self.chars_in,
            "out_bytes": self.chars_out,
            "reasons": dict(sorted(self.reasons.items())),
        }


class Tally:
    """Per-stage counts of one unit, in stage order; mergeable across units."""

    def __init__(self) -> None:
        self.stages: dict[str, StageTally] = {}

    def _stage(self, name: str) -> StageTally:
        return self.stages.setdefault(name, StageTally())

    def record(
        self, name: str, before: pa.RecordBatch, kept: pa.RecordBatch, rejects: pa.RecordBatch
    ) -> None:
        t = self._stage(name)
        t.docs_in += before.num_rows
        t.docs_out += kept.num_rows
        t.rejected += rejects.num_rows
        t.chars_in += text_bytes(before)
        t.chars_out += text_bytes(kept)
        t.reasons.update(_reasons(rejects))

    def record_read(self, docs: pa.RecordBatch | None, rejects: pa.RecordBatch | None) -> None:
        t = self._stage("read")
        if docs is not None:
            t.docs_in += docs.num_rows
            t.docs_out += docs.num_rows
            t.chars_in += text_bytes(docs)
            t.chars_out += text_bytes(docs)
        if rejects is not None:
            t.docs_in += rejects.num_rows
            t.rejected += rejects.num_rows
            t.reasons.update(_reasons(rejects))

    def to_dict(self) -> dict:
        return {name: t.to_dict() for name, t in self.stages.items()}


def stream_unit(
    unit: WorkUnit, spec: InputSpec, chain: Sequence[BatchStage], tally: Tally | None = None
) -> Iterator[tuple[str, pa.RecordBatch]]:
    """("docs", batch) for what passes the whole chain, ("rejects", batch) for what any step refused, and a
    stage's side outputs (("signals", batch) from quality) as they come."""
    tally = tally if tally is not None else Tally()
    for part in unit.parts:
        for kind, batch in read_part(part, spec):
            if kind == "rejects":
                tally.record_read(None, batch)
                yield "rejects", batch
                continue
            tally.record_read(batch, None)
            for stage in chain:
                kept, rejects = stage.process(batch)
                tally.record(stage.name, batch, kept, rejects)
                if rejects.num_rows:
                    yield "rejects", rejects
                yield from stage.side_outputs()
                batch = kept
                if batch.num_rows == 0:
                    break
            if batch.num_rows:
                yield "docs", batch
