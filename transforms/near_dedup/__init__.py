"""Near-duplicate removal: MinHash signatures, LSH buckets, verified edges, one survivor per component.

`NearDedup(config)` is the Beam stage (kept + rejects); `NearDuplicateIds(config)` is its key pass alone (one
removal table), for pipelines that apply removals themselves. The modules beside them are the pure,
batch-at-a-time parts. Beam is imported lazily so that loading the config (which imports `params`) does not.
"""

from transforms.near_dedup.params import NearDedupConfig

__all__ = ["NearDedup", "NearDedupConfig", "NearDuplicateIds"]


def __getattr__(name: str):
    if name in ("NearDedup", "NearDuplicateIds"):
        from transforms.near_dedup import stage

        return getattr(stage, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
