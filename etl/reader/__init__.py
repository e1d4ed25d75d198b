"""The training-side reader: a corpus-etl manifest's Parquet shards as packed, resumable token batches.

    from etl.reader import TokenShardDataset, TokenShardLoader

    ds = TokenShardDataset("s3://bucket/run/manifest.json", seq_len=2048, batch_size=8,
                           rank=rank, world_size=world_size, seed=1234)
    loader = TokenShardLoader(ds, num_workers=4)
    if checkpoint:
        loader.load_state_dict(checkpoint["data"])   # exact, also with another world_size or num_workers
    for epoch in range(loader.epoch, epochs):
        loader.set_epoch(epoch)                      # keeps a resumed position within that epoch
        for batch in loader:                         # tokens, position_ids: int64 [8, 2049]; sample_index
            inputs, labels = batch["tokens"][:, :-1], batch["tokens"][:, 1:]
            ...
            if rank == 0:                            # every rank's state says the same at a common step
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
  seq_len + 1 tokens, in `lanes` equal regions (the last < lanes windows' worth of tokens are dropped).
  The epoch's global sequence of windows takes batch_size windows of each lane in turn: it is fixed by
  (seed, epoch, manifest, seq_len, batch_size, lanes) and does not depend on world_size or workers.
  (Orders come from numpy's PCG64/SeedSequence: resume under the numpy version that saved the state.)
- Ranks take the sequence in steps of world_size * batch_size windows (rank r the r-th batch of each step),
  so the global batch is world_size * batch_size; of the windows left at the end fewer than world_size are
  dropped so that every rank takes the same number of steps. No window is padded; every other window is served
  exactly once. `sample_index` is a window's position in the global sequence.
- `position_ids` restart at 0 at each document start and each window start (the document boundaries);
  `cu_seqlens(row)` turns a row of them into flash-attention varlen offsets.
- A batch holds consecutive windows of one lane. The order of batches does not depend on the number of
  dataloader workers; world_size * workers dividing `lanes` (default 8) keeps each worker on its own lanes,
  so no row group is decoded twice.
- Resume (`resume`): the state is how far the job got into the epoch's global sequence (a prefix, plus what
  ranks that stopped unevenly served beyond it). At a step every rank reached, all ranks' states agree, so
  rank 0 may save one; or each rank saves its own (torch DCP) and `load_state_dict` takes the list
  (`merge_states`). A job of any world_size and worker count continues the same epoch: no window lost, none
  repeated, apart from the < world_size windows its last step drops. seed, shuffle, seq_len, batch_size,
  lanes and the manifest must stay the same (they fix the sequence).
- Iterate it through `TokenShardLoader` (or a DataLoader with `batch_size=None`, num_workers=0 if you read
  `ds.state_dict()`): batches are already collated.
"""

from etl.reader.dataset import TokenShardDataset
from etl.reader.layout import cu_seqlens
from etl.reader.loader import TokenShardLoader
from etl.reader.resume import merge_states
from etl.reader.shards import ManifestError, ShardMissingError

__all__ = [
    "ManifestError",
    "ShardMissingError",
    "TokenShardDataset",
    "TokenShardLoader",
    "cu_seqlens",
    "merge_states",
]
