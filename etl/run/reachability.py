"""Refuse, before any work, a run whose remote workers could not reach its inputs or output.

On the local runner (and a portable runner whose workers run in this process, `--environment_type=LOOPBACK`)
the workers see what the driver sees. On any other runner (Dataflow, Flink, Spark, a portable job service)
they run on other hosts, so a driver-local path or an in-process `memory://` store would only fail at the
end, after the whole job ran ("work unit 0 wrote no result"). DESIGN.md "Scale": every byte a worker reads or
writes goes through URLs that every host can reach.
"""

from __future__ import annotations

from collections.abc import Sequence

from apache_beam.options.pipeline_options import PipelineOptions, PortableOptions, StandardOptions

from etl.ingest.input_files import local_path
from etl.run.runner import is_local_runner, pipeline_options

# Protocols that name storage inside one process or one host: never reachable from another worker.
_HOST_ONLY = ("memory://", "file://", "local://")


class UnreachableError(ValueError):
    """A usage error (exit 2): a path that the runner's workers cannot reach."""


def workers_share_this_host(options: PipelineOptions) -> bool:
    if is_local_runner(options):
        return True
    environment = (options.view_as(PortableOptions).environment_type or "").upper()
    return environment == "LOOPBACK"


def host_only(url: str) -> bool:
    """Whether only this host (or this process) can open the URL."""
    return url.startswith(_HOST_ONLY) or local_path(url) is not None


def check_reachable(inputs: Sequence[str], output: str, beam_args: Sequence[str]) -> None:
    """Raise UnreachableError naming the first input or output that remote workers could not open."""
    options = pipeline_options(beam_args)
    if workers_share_this_host(options):
        return
    runner = options.view_as(StandardOptions).runner
    for role, url in [*(("--input", u) for u in inputs), ("--output", output)]:
        if host_only(url):
            raise UnreachableError(
                f"{role} {url}: the {runner} workers run on other hosts and cannot see a path on this one; "
                "put it on storage every worker can reach (s3://bucket/..., gs://bucket/...), "
                "or run locally (no --runner)"
            )
