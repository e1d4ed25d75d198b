"""The earlier runs a run is deduplicated against (`--against`, `incremental.against`): loaded once, up front.

A parent is a committed run: its manifest (with the sha256 of its bytes, which the child records under
`parents`) and the dedup index its manifest lists. A parent whose manifest lists no index (a run from before
the index existed) is refused: matching against it would silently match nothing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from etl.ingest.input_files import is_local_fs
from etl.lineage.versions import RunVersion, load_run


@dataclass(frozen=True)
class Parent:
    index: int  # position in --against: the id of this parent in the run's shuffles
    version: RunVersion

    @property
    def url(self) -> str:
        return self.version.manifest_url

    @property
    def root(self) -> str:
        return self.version.root

    @property
    def manifest(self) -> dict:
        return self.version.manifest

    def index_files(self, kind: str) -> list[str]:
        """URLs of the parent's index files of one kind (exact, bands, signatures)."""
        return [f"{self.root}/{e['path']}" for e in self.manifest.get("index") or [] if e.get("kind") == kind]

    def entry(self) -> dict:
        """What the child's manifest says of this parent (DESIGN.md: URL, sha256 of its manifest, config_hash)."""
        return {
            "url": self.url,
            "sha256": self.version.manifest_sha256,
            "config_hash": self.manifest["config_hash"],
        }


def check_not_output(parents: list[Parent], output: str) -> None:
    """A run matched against its own output would commit over the version it reads: refuse it (exit 2)."""
    import fsspec

    def place(url: str) -> str:
        fs, path = fsspec.core.url_to_fs(url)
        return f"{fs.protocol}:{os.path.realpath(path) if is_local_fs(fs) else path.rstrip('/')}"

    for parent in parents:
        if place(parent.root) == place(output):
            raise ValueError(
                f"--against {parent.url}: that is this run's own output; name an earlier version's folder, "
                "and write this run to a new one"
            )


def check_compatible(parents: list[Parent], config) -> None:
    """Signatures compare only under the same MinHash settings; refuse (exit 2) a parent made under others."""
    from etl.store.index import near_params

    if not parents or not config.near_dedup.enabled:
        return
    if config.near_dedup.verify == "exact":
        raise ValueError(
            "--against with near_dedup.verify=exact: the index keeps signatures, not shingle sets; "
            "use verify=signature (the default) to match against earlier runs"
        )
    ours = near_params(config.near_dedup)
    for parent in parents:
        theirs = near_params(parent.manifest["config"]["near_dedup"])
        if parent.index_files("minhash") and theirs != ours:
            diff = ", ".join(f"{k} {theirs[k]} != {ours[k]}" for k in ours if theirs[k] != ours[k])
            raise ValueError(
                f"--against {parent.url}: its MinHash signatures differ from this run's ({diff})"
            )


def load_parents(refs: list[str]) -> list[Parent]:
    parents = []
    for i, ref in enumerate(refs):
        version = load_run(ref, documents=False)
        if "index" not in version.manifest:
            raise ValueError(
                f"--against {ref}: its manifest lists no dedup index (a run from before the index existed); "
                "rerun it with this version to give it one"
            )
        parents.append(Parent(i, version))
    return parents
