"""The training-side reader: a corpus-etl manifest's Parquet shards as packed, resumable token batches.

    from etl.reader import TokenShardDataset, TokenShardLoader

    ds = TokenShardDataset("s3://bucket/run/manifest.json", seq_len=2048, batch_size=8,
                           rank=rank, world_size=world_size, seed=1234)
    loader = TokenShardLoader(ds, num_workers=4)
    if checkpoint:
        loader.load_state_dict(checkpoint["data"])   # exact, also with another num_workers
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)                      # keeps a resumed position within that epoch
        for batch in loader:                         # tokens, position_ids: int64 [8, 2049]; sample_index
            inputs, labels = batch["tokens"][:, :-1], batch["tokens"][:, 1:]
            ...
            save({"data": loader.state_dict(), ...})

Contract:
- Only shards the manifest lists under `shards` are read, by the paths it gives (never by name patterns); a
  manifest that disagrees with itself (a shard listed twice, `counts.kept` not the rows of its shards) is
  refused. Sizes, rows and token counts are checked against the footers at construction, sha256 of whole
  files per `verify`: "rank" (default) each rank hashes every shard it reads before reading it, "all" every
  shard at construction, "none" never. A listed shard missing on storage raises `ShardMissingError` (a
  `ManifestError`) naming it. A manifest whose validation failed is refused unless `allow_unvalidated=True`.
- The epoch stream is a pure function of (seed, epoch, manifest): (shard, row group) units in a shuffled order,
  documents shuffled within each unit, concatenated (EOS is already in the tokens) and cut into windows of
  seq_len + 1 tokens. Per epoch the last < world_size * lanes windows' worth of tokens are dropped, so every
  rank gets the same number of batches; no window is padded. Every other token is served exactly once.
  (Orders come from numpy's PCG64/SeedSequence: resume under the numpy version that saved the state.)
- `position_ids` restart at 0 at each document start and each window start (the document boundaries);
  `cu_seqlens(row)` turns a row of them into flash-attention varlen offsets.
- Batch k of a rank reads `batch_size` consecutive windows of lane k % lanes. The order of batches does not
  depend on the number of dataloader workers; a worker count that divides `lanes` (default 8) keeps each
  worker on its own lanes, so no data is read twice. State is (epoch, samples consumed by this rank).
- Iterate it through `TokenShardLoader` (or a DataLoader with `batch_size=None`, num_workers=0 if you read
  `ds.state_dict()`): batches are already collated.
"""

from etl.reader.dataset import TokenShardDataset
from etl.reader.layout import cu_seqlens
from etl.reader.loader import TokenShardLoader
from etl.reader.shards import ManifestError, ShardMissingError

__all__ = ["ManifestError", "ShardMissingError", "TokenShardDataset", "TokenShardLoader", "cu_seqlens"]
