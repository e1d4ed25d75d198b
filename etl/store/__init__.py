"""Store: what a run leaves behind and commits: shards, the dedup index, the lease and the manifest.

The manifest is the commit point (DESIGN.md "Commit"); nothing here knows how the run was executed, so the same
commit serves the local runner and a distributed one.
"""
