"""TEST CODE ONLY: hosts made of network namespaces, each with one veth into a switch namespace's bridge.

The switch is a namespace too, so the root namespace has no interface, address or route on the test network: it
never connects to a host (DESIGN.md "Lessons": such traffic leaves the machine by its default route). No host has
a default route. Every process runs as `ip netns exec NS unshare --mount` with tmpfs over the test's directories,
so no host sees another's files. Names carry this process's pid; `remove_stale` clears those of dead runs.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "cetlmh"
SUBNET = "10.231.0"
_NAME = re.compile(rf"^{PREFIX}(\d+)-")


def _ip(*args: str, timeout: float = 10) -> str:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=timeout)
    if proc.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _kill_namespace_pids(ns: str) -> None:
    """SIGKILL what still runs in one of our namespaces (only processes this test started live there)."""
    for pid in _ip("netns", "pids", ns).split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass


def _delete_namespace(ns: str) -> None:
    if Path(f"/run/netns/{ns}").exists():
        _kill_namespace_pids(ns)
    subprocess.run(["ip", "netns", "del", ns], capture_output=True, timeout=10)
    shutil.rmtree(f"/etc/netns/{ns}", ignore_errors=True)


def remove_stale() -> list[str]:
    """Delete the namespaces of earlier runs whose process is gone (a crash skips their teardown)."""
    removed = []
    listed = [line.split()[0] for line in _ip("netns", "list").splitlines() if line.strip()]
    etc = [p.name for p in Path("/etc/netns").glob(f"{PREFIX}*")]  # a resolver dir can outlive its namespace
    for ns in dict.fromkeys(listed + etc):
        match = _NAME.match(ns)
        if match and int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))):
            _delete_namespace(ns)
            removed.append(ns)
    return removed


def private_dirs(data_dir: Path, keep_visible: Path) -> list[str]:
    """The directories each host gets its own empty tmpfs over: /tmp and the test's data directory, except one
    that holds `keep_visible` (the checkout and its venv, which play the hosts' installed image)."""
    keep = keep_visible.resolve()
    dirs = [d for d in (Path("/tmp"), data_dir.resolve()) if not keep.is_relative_to(d)]
    return [str(d) for d in dirs if not any(d != o and d.is_relative_to(o) for o in dirs)]


@dataclass
class Host:
    role: str
    ns: str
    addr: str


@dataclass
class Network:
    """A switch and its hosts; `close()` (always, in a finally) ends every process and deletes every namespace."""

    hidden: list[str]
    run_id: str = field(default_factory=lambda: f"{PREFIX}{os.getpid()}")
    hosts: dict[str, Host] = field(default_factory=dict)
    procs: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.switch = f"{self.run_id}-sw"
        self._namespaces: list[str] = []
        try:
            self._add_namespace(self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
            _ip("-n", self.switch, "link", "set", "br0", "up")
        except BaseException:
            self.close()
            raise

    def _add_namespace(self, ns: str) -> None:
        if ns in _ip("netns", "list").split():
            _delete_namespace(ns)  # a leftover of this very pid (a reused pid or an earlier test in it)
        _ip("netns", "add", ns)
        self._namespaces.append(ns)
        _ip("-n", ns, "link", "set", "lo", "up")

    def add_host(self, role: str) -> Host:
        index = len(self.hosts)
        host = Host(role, f"{self.run_id}-{role}", f"{SUBNET}.{10 + index}")
        self._add_namespace(host.ns)
        port = f"p{index}"
        _ip("-n", host.ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns", self.switch)
        _ip("-n", self.switch, "link", "set", port, "master", "br0")
        _ip("-n", self.switch, "link", "set", port, "up")
        _ip("-n", host.ns, "addr", "add", f"{host.addr}/24", "dev", "eth0")
        _ip("-n", host.ns, "link", "set", "eth0", "up")
        self.hosts[role] = host
        return host

    def write_hosts_files(self, job_service: Host) -> None:
        """Every host resolves every role, and this machine's hostname to the job service: Beam's runner tells
        the workers to dial back to `socket.getfqdn()`, which is that name."""
        lines = ["127.0.0.1 localhost", "::1 localhost"]
        lines += [
            f"{h.addr} {socket.gethostname() + ' ' if h is job_service else ''}{h.role}"
            for h in self.hosts.values()
        ]
        for host in self.hosts.values():
            etc = Path(f"/etc/netns/{host.ns}")
            etc.mkdir(parents=True, exist_ok=True)
            (etc / "hosts").write_text("\n".join(lines) + "\n")
            (etc / "resolv.conf").write_text("")  # no DNS on this network

    def command(self, host: Host, argv: list[str]) -> list[str]:
        """argv run on `host`: its network, its own mount namespace with empty tmpfs over the hidden dirs."""
        mounts = "".join(f"mount -t tmpfs tmpfs {shlex.quote(d)} && " for d in self.hidden)
        script = f'{mounts}mkdir -p "$TMPDIR" && exec "$@"'
        return ["ip", "netns", "exec", host.ns, "unshare", "--mount", "--propagation", "private",
                "sh", "-c", script, "sh", *argv]  # fmt: skip

    def _env(self, host: Host, env: dict[str, str]) -> dict[str, str]:
        """TMPDIR inside the host's own tmpfs, so that temporary files are private even where /tmp is not."""
        return {**env, "TMPDIR": f"{self.hidden[0]}/host-{host.role}"}

    def start(self, host: Host, argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
        """A server on `host`, its output in `log` (a file of the test, opened before the mounts hide it)."""
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                self.command(host, argv), env=self._env(host, env), stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self.procs.append(proc)
        return proc

    def run(
        self, host: Host, argv: list[str], env: dict[str, str], timeout: float
    ) -> subprocess.CompletedProcess:
        """A client on `host`, bounded by `timeout` (killed when it runs past it)."""
        return subprocess.run(
            self.command(host, argv), env=self._env(host, env), capture_output=True, text=True,
            stdin=subprocess.DEVNULL, timeout=timeout,
        )  # fmt: skip

    def close(self) -> None:
        for proc in self.procs:
            _stop(proc)
        for ns in reversed(self._namespaces):
            _delete_namespace(ns)


def _stop(proc: subprocess.Popen, grace: float = 5) -> None:
    """SIGTERM to the process group the server leads (its SDK harnesses included), SIGKILL to what is left."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
