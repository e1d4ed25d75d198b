"""One writer per output: a run holds `OUT/_lease.json` from its start to the end of its commit.

The lease is created atomically (`O_EXCL` on local disk, a conditional put `If-None-Match: *` on S3), so of two
runs started together exactly one gets it; the other is refused with `OutputInUse` (exit 2, "in use"). The
holder renews the expiry from a background thread. A lease whose expiry has passed, or, on the same host, whose
process is gone, is stale and is taken over (a rename locally, a put conditional on its ETag on S3), so a run
killed with SIGKILL never blocks its output for good. `CORPUS_ETL_LEASE_TTL_S` sets the expiry (default 600 s).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

import fsspec

from etl.ingest.input_files import is_local_fs

log = logging.getLogger("corpus_etl")

LEASE_NAME = "_lease.json"
DEFAULT_TTL_S = 600.0


class OutputInUse(ValueError):
    """Another live run holds the output's lease (a usage error: exit 2); the message names that run."""


def lease_ttl() -> float:
    raw = os.environ.get("CORPUS_ETL_LEASE_TTL_S", "")
    try:
        ttl = float(raw) if raw else DEFAULT_TTL_S
    except ValueError:
        raise OutputInUse(f"CORPUS_ETL_LEASE_TTL_S={raw!r}: not a number of seconds") from None
    if ttl <= 0:
        raise OutputInUse(f"CORPUS_ETL_LEASE_TTL_S={raw!r}: must be > 0 seconds")
    return ttl


def _process_start(pid: int) -> str | None:
    """The start time of a process in clock ticks (/proc), so that a reused pid is not taken for the holder."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def _is_s3(fs) -> bool:
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "s3" in protocols or "s3a" in protocols


@dataclass
class Lease:
    """A held lease; `release()` when the run ends, `check()` before the commit's switch."""

    output: str
    owner: str
    ttl: float
    _fs: object = field(repr=False)
    _path: str
    _started: float = field(default_factory=time.time)
    _etag: str | None = None
    _lost: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)
    _thread: threading.Thread | None = field(default=None, repr=False)

    def body(self) -> dict:
        now = time.time()
        return {
            "owner": self.owner,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "pid_start": _process_start(os.getpid()),
            "started": self._started,
            "expires": now + self.ttl,
        }

    def check(self) -> None:
        """Raise OutputInUse when the lease was lost (taken over after it expired): the commit must not run."""
        current = _read(self._fs, self._path)
        if self._lost or current is None or current[0].get("owner") != self.owner:
            holder = current[0] if current else None
            raise OutputInUse(
                f"{self.output}: this run lost its lease ({self._lost or 'now held by ' + _describe(holder)}); "
                "nothing was committed"
            )

    def renew(self) -> None:
        data = json.dumps(self.body()).encode()
        if _is_s3(self._fs):
            bucket, key, _ = self._fs.split_path(self._path)
            try:
                out = self._fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, IfMatch=self._etag)
            except Exception as err:  # noqa: BLE001 - any refusal means the lease is no longer ours
                self._lost = f"renewal refused: {type(err).__name__}: {err}"
                return
            self._etag = out.get("ETag")
            return
        current = _read(self._fs, self._path)
        if current is None or current[0].get("owner") != self.owner:
            self._lost = "taken over while this run was not renewing it"
            return
        _write_replace(self._path, data)

    def start_renewing(self) -> None:
        def loop() -> None:
            while not self._stop.wait(self.ttl / 3):
                self.renew()
                if self._lost:
                    log.error("%s: %s", self.output, self._lost)
                    return

        self._thread = threading.Thread(target=loop, name="lease-renewal", daemon=True)
        self._thread.start()

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        current = _read(self._fs, self._path)
        if current is not None and current[0].get("owner") == self.owner:
            self._fs.rm(self._path)


def _describe(holder: dict | None) -> str:
    if not holder:
        return "an unknown run"
    expires = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(holder.get("expires", 0)))
    return (
        f"run {holder.get('owner')} on {holder.get('host')} (pid {holder.get('pid')}, lease until {expires})"
    )


def _read(fs, path: str) -> tuple[dict, str | None] | None:
    """(lease body, ETag on S3) or None when there is no lease; an unreadable lease counts as held."""
    try:
        if _is_s3(fs):
            # A takeover puts conditionally on this ETag: if the body changed in between, that put fails.
            etag = fs.info(path, refresh=True).get("ETag")
            data = fs.cat_file(path)
        else:
            with open(path, "rb") as fh:
                data = fh.read()
            etag = None
    except FileNotFoundError:
        return None
    try:
        return json.loads(data), etag
    except ValueError:
        return {"owner": "?", "expires": time.time() + DEFAULT_TTL_S}, etag


def _write_replace(path: str, data: bytes) -> None:
    tmp = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def _stale(holder: dict) -> str | None:
    """Why a lease may be taken over (expired, or its process on this host is gone), else None."""
    if holder.get("expires", 0) < time.time():
        return "expired"
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        start = _process_start(holder["pid"])
        if start is None or (holder.get("pid_start") is not None and start != holder.get("pid_start")):
            return f"its process {holder['pid']} on this host is gone"
    return None


def _create(lease: Lease, data: bytes, replace_etag: str | None = None) -> bool:
    """Atomically create the lease (or replace the stale one with this ETag on S3); False when someone won."""
    fs, path = lease._fs, lease._path
    if _is_s3(fs):
        bucket, key, _ = fs.split_path(path)
        cond = {"IfMatch": replace_etag} if replace_etag else {"IfNoneMatch": "*"}
        try:
            out = fs.call_s3("put_object", Bucket=bucket, Key=key, Body=data, **cond)
        except FileExistsError as err:  # 412 Precondition Failed: another run's lease is there (or changed)
            log.info("lease %s not created: %s", path, err)
            return False
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"{lease.output}: cannot write there ({err}); does the bucket exist?"
            ) from None
        lease._etag = out.get("ETag")
        return True
    if not is_local_fs(fs):
        # No atomic create on this store: best effort (documented in docs/failures.md).
        if fs.exists(path):
            return False
        fs.pipe_file(path, data)
        return True
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return True


def _take_over_local(path: str, owner: str) -> bool:
    """Move the stale lease aside; only one of several runs can rename it, the others then race on create."""
    aside = f"{path}.stale-{owner}"
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return True  # gone already: try to create
    os.remove(aside)
    return True


def acquire(output: str, ttl: float | None = None) -> Lease:
    """Take the output's lease, or raise OutputInUse naming the run that holds it."""
    fs, root = fsspec.core.url_to_fs(output)
    path = f"{root.rstrip('/')}/{LEASE_NAME}"
    lease = Lease(output=output, owner=uuid.uuid4().hex, ttl=ttl or lease_ttl(), _fs=fs, _path=path)
    for _ in range(3):  # bounded: create, or take over one stale lease and create
        if _create(lease, json.dumps(lease.body()).encode()):
            lease.start_renewing()
            return lease
        current = _read(fs, lease._path)
        if current is None:
            continue
        holder, etag = current
        why = _stale(holder)
        if why is None:
            raise OutputInUse(
                f"output {output} is in use by {_describe(holder)}; wait for it to finish, or use another "
                "--output"
            )
        log.warning("%s: taking over the lease of %s (%s)", output, _describe(holder), why)
        if _is_s3(fs):
            if _create(lease, json.dumps(lease.body()).encode(), replace_etag=etag):
                lease.start_renewing()
                return lease
        elif is_local_fs(fs):
            _take_over_local(lease._path, lease.owner)
        else:
            fs.rm(lease._path)
    raise OutputInUse(f"output {output} is in use: another run took its lease while this one tried to")


def live_holder(output: str) -> str | None:
    """The run that holds the output's lease now, described; None when a run could take it (no lease, or a
    stale one). Reads only: `corpus-etl run --dry-run` says whether a run would be refused as in use."""
    fs, root = fsspec.core.url_to_fs(output)
    current = _read(fs, f"{root.rstrip('/')}/{LEASE_NAME}")
    if current is None or _stale(current[0]) is not None:
        return None
    return _describe(current[0])
