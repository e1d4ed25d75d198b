"""TEST CODE ONLY: the multi-host deployment of issue 10, started and torn down as one context manager.

Hosts: `s3` (moto's server), `jobs` (Beam's job service with the spreading wrapper; the driver and every check
run here too), `pool1`, `pool2` (an SDK worker pool each). Pools start a bare `python` from PATH, so the venv
comes first on it; nothing is staged to them, so the checkout is on their PYTHONPATH and the AWS variables in
their environment. Every step is bounded; `close()` runs also when a start fails.
"""

from __future__ import annotations

import os
import shutil
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from tests.multihost.netns import Host, Network, private_dirs, remove_stale

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
S3_PORT, JOB_PORT, DISPATCH_PORT, POOL_PORT = 5000, 8099, 50000, 50000
POOLS = ("pool1", "pool2")


@dataclass
class Cluster:
    net: Network
    env: dict[str, str]
    logs: Path
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def jobs(self) -> Host:
        return self.net.hosts["jobs"]

    @property
    def pools(self) -> list[Host]:
        return [self.net.hosts[p] for p in POOLS]

    def log(self, role: str) -> str:
        return (self.logs / f"{role}.log").read_text(errors="replace")

    def tails(self, chars: int = 1500) -> str:
        """The end of every server's log, for a failure message."""
        return "".join(
            f"\n--- {p.stem} ---\n{p.read_text(errors='replace')[-chars:]}"
            for p in sorted(self.logs.glob("*.log"))
        )

    def client(self, argv: list[str], timeout: float):
        """A client run on the `jobs` host (the driver's host)."""
        return self.net.run(self.jobs, argv, self.env, timeout)

    def probe(self, *args: str, timeout: float = 60):
        proc = self.client([str(VENV_BIN / "python"), "-m", "tests.multihost.probe", *args], timeout)
        assert proc.returncode == 0, f"probe {args[0]} failed:\n{proc.stderr[-3000:]}{self.tails()}"
        return proc


def host_env(s3_addr: str) -> dict[str, str]:
    """The hosts' environment: this one without AWS settings or proxies (the test network has no way out; boto3
    and gRPC would send to a proxy), with the venv first on PATH, the checkout importable, S3 on the s3 host."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and "proxy" not in k.lower()}
    env.update({
        "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '/usr/bin:/bin')}",
        "PYTHONPATH": os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p),
        "AWS_ENDPOINT_URL": f"http://{s3_addr}:{S3_PORT}", "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
    })  # fmt: skip
    return env


def _start_servers(cluster: Cluster) -> dict[str, int]:
    net, env, hosts = cluster.net, cluster.env, cluster.net.hosts
    py = str(VENV_BIN / "python")
    argvs = {
        "s3": [str(VENV_BIN / "moto_server"), "-H", "0.0.0.0", "-p", str(S3_PORT)],
        **{p: [py, "-m", "apache_beam.runners.worker.worker_pool_main", f"--service_port={POOL_PORT}"] for p in POOLS},
        "jobs": [py, "-m", "tests.multihost.job_service", "--address", hosts["jobs"].addr,
                 f"--job_port={JOB_PORT}", f"--dispatch_port={DISPATCH_PORT}", f"--harnesses={len(POOLS)}",
                 "--pools", ",".join(f"{hosts[p].addr}:{POOL_PORT}" for p in POOLS)],
    }  # fmt: skip
    return {
        role: net.start(hosts[role], argv, env, cluster.logs / f"{role}.log").pid
        for role, argv in argvs.items()
    }


@contextmanager
def cluster(data_dir: Path, logs: Path, start_timeout: float = 90):
    """Four hosts with their servers listening; every check of readiness runs on the `jobs` host."""
    missing = [tool for tool in ("ip", "unshare", "mount") if not shutil.which(tool)]
    assert not missing, f"the multi-host test needs root and {missing} (Debian: iproute2, util-linux, mount)"
    remove_stale()
    logs.mkdir(parents=True, exist_ok=True)
    net = Network(hidden=private_dirs(data_dir, keep_visible=REPO))
    try:
        for role in ("s3", "jobs", *POOLS):
            net.add_host(role)
        net.write_hosts_files(job_service=net.hosts["jobs"])
        c = Cluster(net, host_env(net.hosts["s3"].addr), logs)
        c.pids = _start_servers(c)
        h = net.hosts
        c.probe("wait", f"{h['s3'].addr}:{S3_PORT}", f"{h['jobs'].addr}:{JOB_PORT}",
                f"{h['jobs'].addr}:{DISPATCH_PORT}", *(f"{h[p].addr}:{POOL_PORT}" for p in POOLS),
                "--timeout", str(start_timeout), timeout=start_timeout + 30)  # fmt: skip
        yield c
    finally:
        net.close()
