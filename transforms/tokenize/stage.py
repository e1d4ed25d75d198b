"""The Beam stage: a batch of documents in, the same rows with `tokens` and `num_tokens` out.

A document the tokenizer turns into no tokens at all (empty text) leaves as a reject, never silently; every
other row is kept, with BOS / EOS added as configured.
"""

from __future__ import annotations

import apache_beam as beam
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam import pvalue
from apache_beam.metrics import Metrics

from transforms.rejects import rejects_from_docs, split_by_mask
from transforms.schema import text_bytes
from transforms.tokenize.encoder import Encoder, load_encoder
from transforms.tokenize.params import TokenizeConfig
from transforms.tokenize.ragged import add_special_ids

STAGE = "tokenize"
NO_TOKENS = "no_tokens"


def _with_column(batch: pa.RecordBatch, name: str, values: pa.Array) -> pa.RecordBatch:
    index = batch.schema.get_field_index(name)
    if index >= 0:
        return batch.set_column(index, name, values)
    return batch.append_column(name, values)


def tokenize_batch(batch: pa.RecordBatch, encoder: Encoder) -> tuple[pa.RecordBatch, pa.RecordBatch]:
    """(kept rows with `tokens` and `num_tokens`, reject rows for documents that gave no tokens)."""
    texts = batch.column(batch.schema.get_field_index("text")).to_pylist()
    raw = encoder.encode_ragged(texts, specials=False)
    no_tokens = raw.lengths() == 0
    ragged = add_special_ids(raw, encoder.bos_id, encoder.eos_id)
    batch = _with_column(batch, "tokens", ragged.to_arrow())
    batch = _with_column(batch, "num_tokens", pa.array(ragged.lengths(), pa.int64()))
    kept, dropped = split_by_mask(batch, pa.array(no_tokens, pa.bool_()))
    rejects = rejects_from_docs(
        dropped, stage=STAGE, reason=NO_TOKENS, detail="the tokenizer produced no tokens (empty text)"
    )
    return kept, rejects


class _TokenizeBatches(beam.DoFn):
    def __init__(self, config: TokenizeConfig):
        self.config = config
        self.docs_in = Metrics.counter(STAGE, "docs_in")
        self.docs_kept = Metrics.counter(STAGE, "docs_kept")
        self.rejected = Metrics.counter(STAGE, f"rejected_{NO_TOKENS}")
        self.tokens = Metrics.counter(STAGE, "tokens")
        self.bytes = Metrics.counter(STAGE, "text_bytes")

    def setup(self):
        self.encoder = load_encoder(self.config)

    def teardown(self):
        self.encoder.close()

    def process(self, batch: pa.RecordBatch):
        kept, rejects = tokenize_batch(batch, self.encoder)
        self.docs_in.inc(batch.num_rows)
        self.docs_kept.inc(kept.num_rows)
        self.rejected.inc(rejects.num_rows)
        self.tokens.inc(int(pc.sum(kept.column(kept.schema.get_field_index("num_tokens"))).as_py() or 0))
        self.bytes.inc(text_bytes(batch))
        if kept.num_rows:
            yield kept
        if rejects.num_rows:
            yield pvalue.TaggedOutput("rejects", rejects)


class Tokenize(beam.PTransform):
    """Documents -> {"kept": documents with tokens, "rejects": REJECT_SCHEMA rows}."""

    def __init__(self, config: TokenizeConfig):
        super().__init__()
        self.config = config

    def expand(self, batches):
        outputs = batches | "TokenizeBatches" >> beam.ParDo(_TokenizeBatches(self.config)).with_outputs(
            "rejects", main="kept"
        )
        return {"kept": outputs.kept, "rejects": outputs.rejects}
