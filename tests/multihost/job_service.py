"""TEST CODE ONLY: Beam's local job service, wrapped to spread SDK harnesses over several worker pools.

The stock service (`local_job_service_main`) runs each job on an FnApiRunner with one worker, so every bundle
goes to one harness started at the one `--environment_config` endpoint. This wrapper changes three things:
- the runner asks for `--harnesses` workers per environment (FnApiRunner then round-robins bundles over them and
  splits each parallel stage's input between them, as for `--direct_num_workers`);
- `--environment_config` points at a dispatcher here that forwards each StartWorker to the next `--pools`
  endpoint in turn, so the harnesses start on different hosts;
- a ledger records which pool started each harness, the address its control stream came from, and how many
  ProcessBundle responses it returned without error. It is printed as one `MULTIHOST-LEDGER {json}` line when
  a job's stages are done (before the job reports DONE to the driver).

Run: python -m tests.multihost.job_service --address ADDR --job_port 8099 --dispatch_port 50000
     --pools HOST1:50000,HOST2:50000 --harnesses 2
"""

from __future__ import annotations

import argparse
import collections
import functools
import itertools
import json
import logging
import signal
import sys
import threading
import time

import grpc
from apache_beam.portability.api import beam_fn_api_pb2_grpc, beam_job_api_pb2
from apache_beam.runners.portability import local_job_service
from apache_beam.runners.portability.fn_api_runner import fn_runner, worker_handlers
from apache_beam.utils import thread_pool_executor

LEDGER_TAG = "MULTIHOST-LEDGER "


class Ledger:
    """Per harness (worker id): the pool that started it, its control peer, its successful bundles."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pools: dict[str, str] = {}
        self.peers: dict[str, str] = {}
        self.bundles: collections.Counter[str] = collections.Counter()

    def started(self, worker_id: str, pool: str) -> None:
        with self._lock:
            self.pools[worker_id] = pool

    def connected(self, worker_id: str, peer: str) -> None:
        with self._lock:
            self.peers[worker_id] = peer

    def bundle_done(self, worker_id: str) -> None:
        with self._lock:
            self.bundles[worker_id] += 1

    def snapshot(self) -> dict[str, dict]:
        with self._lock:
            ids = sorted(set(self.pools) | set(self.peers) | set(self.bundles))
            return {
                w: {"pool": self.pools.get(w), "peer": self.peers.get(w), "bundles": self.bundles[w]}
                for w in ids
            }


LEDGER = Ledger()


class PoolDispatcher(beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolServicer):
    """The one worker-pool endpoint the job names; each StartWorker goes on to the next real pool in turn."""

    def __init__(self, pools: list[str], timeout: float = 60) -> None:
        self._stubs = {
            p: beam_fn_api_pb2_grpc.BeamFnExternalWorkerPoolStub(grpc.insecure_channel(p)) for p in pools
        }
        self._next = itertools.cycle(pools)
        self._lock = threading.Lock()
        self._timeout = timeout

    def StartWorker(self, request, context):
        with self._lock:
            pool = next(self._next)
        response = self._stubs[pool].StartWorker(request, timeout=self._timeout)
        if not response.error:
            LEDGER.started(request.worker_id, pool)
        return response

    def StopWorker(self, request, context):
        pool = LEDGER.pools.get(request.worker_id) or next(iter(self._stubs))
        return self._stubs[pool].StopWorker(request, timeout=self._timeout)


class CountingControlServicer(worker_handlers.BeamFnControlServicer):
    """Beam's control service, noting each harness's peer address and its successful ProcessBundle replies."""

    def Control(self, iterator, context):
        worker_id = dict(context.invocation_metadata()).get("worker_id", "")
        LEDGER.connected(worker_id, context.peer())

        def counted():
            for response in iterator:
                if response.WhichOneof("response") == "process_bundle" and not response.error:
                    LEDGER.bundle_done(worker_id)
                yield response

        return super().Control(counted(), context)


class SpreadingBeamJob(local_job_service.BeamJob):
    """A job whose FnApiRunner keeps `harnesses` workers per environment instead of one."""

    def __init__(self, *args, harnesses: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._harnesses = harnesses

    def _invoke_runner(self):
        self.set_state(beam_job_api_pb2.JobState.RUNNING)
        runner = fn_runner.FnApiRunner(provision_info=self._provision_info)
        # run_via_runner_api (the job service's entry) never reads --direct_num_workers; set what it would.
        runner._num_workers = self._harnesses
        result = runner.run_via_runner_api(self._pipeline_proto, self.pipeline_options())
        print(LEDGER_TAG + json.dumps(LEDGER.snapshot(), sort_keys=True), flush=True)
        return result


class HostJobServicer(local_job_service.LocalJobServicer):
    """Listens on every address of its host and names `address` as its own (the artifact endpoint)."""

    def __init__(self, address: str, harnesses: int) -> None:
        super().__init__(beam_job_type=functools.partial(SpreadingBeamJob, harnesses=harnesses))
        self._address = address

    def get_bind_address(self) -> str:
        return "0.0.0.0"

    def get_service_address(self) -> str:
        return self._address


def serve(args: argparse.Namespace) -> None:
    # The runner's GrpcServer builds its control service from this module attribute when a job starts.
    worker_handlers.BeamFnControlServicer = CountingControlServicer
    jobs = HostJobServicer(args.address, args.harnesses)
    job_port = jobs.start_grpc_server(args.job_port)
    dispatcher = grpc.server(thread_pool_executor.shared_unbounded_instance())
    beam_fn_api_pb2_grpc.add_BeamFnExternalWorkerPoolServicer_to_server(
        PoolDispatcher(args.pools.split(",")), dispatcher
    )
    dispatch_port = dispatcher.add_insecure_port(f"0.0.0.0:{args.dispatch_port}")
    dispatcher.start()
    print(f"job service at {args.address}:{job_port}, worker pools dispatched at {dispatch_port}", flush=True)
    try:
        while True:
            time.sleep(3600)
    finally:
        dispatcher.stop(1)
        jobs.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.multihost.job_service")
    parser.add_argument("--address", required=True, help="this host's address, as the driver reaches it")
    parser.add_argument("--job_port", type=int, default=8099)
    parser.add_argument("--dispatch_port", type=int, default=50000)
    parser.add_argument("--pools", required=True, help="comma-separated HOST:PORT of the worker pools")
    parser.add_argument("--harnesses", type=int, default=2, help="SDK harnesses per environment")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    logging.basicConfig(level=logging.INFO)
    serve(args)


if __name__ == "__main__":
    main()
