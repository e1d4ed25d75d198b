"""Find the input files and open one safely: local paths as paths, anything with a protocol through fsspec.

A local path is never handed to fsspec as a URL string (fsspec reads `a::b.jsonl` as a chain of two URLs), and a
local file is opened only once it is known to be a regular file, so a named pipe never blocks a worker. What
cannot be opened raises `InputFault` with a reject reason; the listing keeps such entries so the reader can
reject them and the counts still add up.
"""

from __future__ import annotations

import errno
import glob
import os
import stat
from typing import BinaryIO

import fsspec

LOCAL_PREFIX = "file://"


class InputError(ValueError):
    """Input that names no readable file; the message says which pattern."""


class InputFault(Exception):
    """A whole input file that cannot be read: `reason` is the reject reason, `detail` says why and names it."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def is_local_fs(fs: fsspec.AbstractFileSystem) -> bool:
    """Whether an fsspec filesystem is the local disk (where renames are atomic and paths are plain)."""
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    return "file" in protocols or "local" in protocols


def local_path(url: str) -> str | None:
    """The filesystem path of a local input, None for a URL with a protocol (s3://, gs://, memory://, ...)."""
    if url.startswith(LOCAL_PREFIX):
        return url[len(LOCAL_PREFIX) :]
    return None if "://" in url else url


def _entry_size(path: str) -> int:
    """Size of a regular file, 0 for anything the reader will reject (special file, dangling link, loop)."""
    try:
        st = os.stat(path)
    except OSError:
        return 0
    return st.st_size if stat.S_ISREG(st.st_mode) else 0


def _is_folder(entry: os.DirEntry) -> bool:
    try:
        return entry.is_dir(follow_symlinks=True)
    except OSError:
        return False  # a link loop or an unreadable entry: listed as a file, and rejected by the reader


def _walk_local(root: str, found: dict[str, int], seen: set[tuple[int, int]]) -> None:
    """Every entry under a folder except dot-files; a folder reached twice through links is walked once."""
    try:
        st = os.stat(root)
        if (st.st_dev, st.st_ino) in seen:
            return
        seen.add((st.st_dev, st.st_ino))
        with os.scandir(root) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError:
        found[root] = 0  # a folder that cannot be listed: the reader rejects it as unreadable_file
        return
    for entry in entries:
        if entry.name.startswith("."):
            continue
        if _is_folder(entry):
            _walk_local(entry.path, found, seen)
        else:
            found[entry.path] = _entry_size(entry.path)


def _expand_local(pattern: str) -> dict[str, int]:
    path = os.path.abspath(local_path(pattern) or pattern)
    if glob.has_magic(path):
        names = glob.glob(path, recursive=True)
    else:
        names = [path] if os.path.lexists(path) else []
    found: dict[str, int] = {}
    seen: set[tuple[int, int]] = set()
    for name in sorted(names):
        if os.path.isdir(name):
            _walk_local(name, found, seen)
        else:
            found[name] = _entry_size(name)
    return found


def _with_protocol(fs: fsspec.AbstractFileSystem, path: str) -> str:
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    return path if is_local_fs(fs) else f"{protocol}://{path}"


def _expand_remote(pattern: str) -> dict[str, int]:
    fs, path = fsspec.core.url_to_fs(pattern)
    matches = fs.glob(path, detail=True) if fsspec.core.has_magic(path) else {}
    if not matches and fs.exists(path):
        matches = {path: fs.info(path)}
    files = {}
    for name, info in matches.items():
        if info.get("type") == "directory":
            for sub, subinfo in fs.find(name, detail=True).items():
                if not sub.rsplit("/", 1)[-1].startswith("."):
                    files[sub] = subinfo
        else:
            files[name] = info
    return {_with_protocol(fs, name): int(info.get("size") or 0) for name, info in files.items()}


def expand_inputs(patterns: list[str]) -> list[tuple[str, int]]:
    """Every file matched by the patterns (globs, directories, single files) with its size, sorted, unique.

    Local entries that are not regular files (named pipes, dangling links, link loops, folders that cannot be
    listed) are listed too, with size 0: `read_file` turns each into one reject instead of losing it.
    """
    found: dict[str, int] = {}
    for pattern in patterns:
        files = _expand_local(pattern) if local_path(pattern) is not None else _expand_remote(pattern)
        if not files:
            raise InputError(f"--input {pattern!r} matches no file")
        found.update(files)
    return sorted(found.items())


def _target(link: str) -> str:
    try:
        return repr(os.readlink(link))
    except OSError:
        return "a target that cannot be read"


def _check_local(path: str) -> None:
    """Raise InputFault unless `path` is (a link to) a regular file; never opens it."""
    try:
        link = stat.S_ISLNK(os.lstat(path).st_mode)
        st = os.stat(path)
    except FileNotFoundError:
        if os.path.lexists(path):
            raise InputFault(
                "dangling_link", f"{path}: a symbolic link to {_target(path)}, which does not exist"
            ) from None
        raise InputFault(
            "unreadable_file", f"{path}: no such file (removed after the inputs were listed?)"
        ) from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise InputFault("symlink_loop", f"{path}: symbolic links that loop ({err.strerror})") from None
        raise InputFault("unreadable_file", f"{path}: {err.strerror or err}") from None
    if stat.S_ISDIR(st.st_mode):
        raise InputFault("unreadable_file", f"{path}: a folder, not a file (one that could not be listed)")
    if not stat.S_ISREG(st.st_mode):
        kind = "named pipe" if stat.S_ISFIFO(st.st_mode) else "socket or device"
        via = " (through a symbolic link)" if link else ""
        raise InputFault("special_file", f"{path}: a {kind}{via}, not a regular file: not read")


def _open_local(path: str) -> BinaryIO:
    _check_local(path)
    try:
        # O_NONBLOCK: should the path have become a pipe since the check, opening it still does not block.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise InputFault("unreadable_file", f"{path}: cannot open: {err.strerror or err}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise InputFault("special_file", f"{path}: not a regular file: not read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def open_input(url: str) -> BinaryIO:
    """A binary file object for one listed input; InputFault when the whole file cannot be read."""
    path = local_path(url)
    if path is not None:
        return _open_local(path)
    try:
        fs, remote = fsspec.core.url_to_fs(url)
        return fs.open(remote, "rb")
    except OSError as err:
        raise InputFault("unreadable_file", f"{url}: cannot open: {type(err).__name__}: {err}") from None
