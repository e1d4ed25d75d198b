"""What the CLI says when a command cannot go on: one line on stderr, the exit code of docs/failures.md, and the
traceback in a log file whose path the line gives (or on the terminal with -v).

`classify` maps an exception to (exit code, message): bad usage, config or input is 2 (missing or refused S3
credentials name the variables to set), a full disk is 3 naming the path, anything else is a failed run (3).
`CliParser` is argparse with its usage errors in the same one-line shape, and an unknown flag named with the
closest known one. Standard library only: the parser runs before anything heavy is imported.
"""

from __future__ import annotations

import argparse
import difflib
import errno
import os
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

EXIT_USAGE, EXIT_FAILED = 2, 3
_OUR_CODE = tuple(str(Path(__file__).resolve().parents[2] / d) + os.sep for d in ("etl", "transforms"))
_NO_SPACE = re.compile(r"\[Errno 28\]|No space left on device")
# botocore's errors for credentials that are missing or cannot be loaded (matched by name: no import needed).
_NO_CREDENTIALS = {"NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError",
                   "NoAuthTokenError", "UnauthorizedSSOTokenError", "TokenRetrievalError"}  # fmt: skip
# S3 error codes of credentials that the store refuses.
_REFUSED = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "ExpiredToken", "InvalidToken",
            "InvalidClientTokenId", "403", "Forbidden"}  # fmt: skip
CREDENTIALS_HINT = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_ENDPOINT_URL for a store other than AWS S3), "
    "or AWS_PROFILE for a profile of ~/.aws/credentials"
)


def one_line(text: str) -> str:
    """A message of several lines (YAML's, pydantic's) as one, without the lines that only point a caret."""
    return "; ".join(p.strip() for p in str(text).splitlines() if p.strip() and set(p.strip()) != {"^"})


def _chain(err: BaseException) -> list[BaseException]:
    """The error and the errors it was raised from or while handling (Beam and s3fs wrap the real one)."""
    seen: list[BaseException] = []
    while err is not None and err not in seen and len(seen) < 16:
        seen.append(err)
        err = err.__cause__ or err.__context__
    return seen


def _client_code(err: BaseException) -> str | None:
    response = getattr(err, "response", None)
    if not isinstance(response, dict):
        return None
    code = str((response.get("Error") or {}).get("Code") or "")
    status = (response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    return "403" if status == 403 and not code else code


def _credentials_problem(chain: list[BaseException]) -> BaseException | None:
    for err in chain:
        if type(err).__name__ in _NO_CREDENTIALS and type(err).__module__.startswith("botocore"):
            return err
        if type(err).__module__.startswith("botocore") and _client_code(err) in _REFUSED:
            return err
    return None


def _no_space(chain: list[BaseException]) -> BaseException | None:
    for err in chain:
        if isinstance(err, OSError) and err.errno == errno.ENOSPC:
            return err
    return next((err for err in chain if _NO_SPACE.search(str(err))), None)


def classify(err: BaseException, urls: list[str], output: str | None = None) -> tuple[int, str]:
    """(exit code, the one-line message) for an error that ended a command; `urls`: the command's paths,
    `output`: where it writes (named by a full disk whose error names no file)."""
    chain = _chain(err)
    full = _no_space(chain)
    if full is not None:
        path = getattr(full, "filename", None) or _named_path(str(full)) or output or "the output"
        return (
            EXIT_FAILED,
            f"no space left on device for {path}: free space there (or write elsewhere) and rerun",
        )
    refused = _credentials_problem(chain)
    if refused is not None:
        where = [u for u in urls if u.startswith(("s3://", "s3a://"))]
        return EXIT_USAGE, (
            f"S3 credentials missing or refused{' for ' + ', '.join(where) if where else ''} "
            f"({type(refused).__name__}: {one_line(refused)}): {CREDENTIALS_HINT}"
        )
    if isinstance(
        err, ValueError | FileNotFoundError | NotADirectoryError | IsADirectoryError | PermissionError
    ):
        return EXIT_USAGE, one_line(err)
    if isinstance(err, RuntimeError):
        return EXIT_FAILED, f"run failed: {one_line(err)}"
    return EXIT_FAILED, f"run failed: {type(err).__name__}: {one_line(err)}"


def _named_path(text: str) -> str | None:
    found = re.search(r"'(/[^']+)'", text)
    return found.group(1) if found else None


def raised_by_us(err: BaseException) -> bool:
    """Whether our own code raised it: its message then says all (a library's error may need its traceback)."""
    frames = traceback.extract_tb(err.__traceback__)
    return bool(frames) and frames[-1].filename.startswith(_OUR_CODE)


def log_folder() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "corpus-etl" / "logs"


def save_traceback(err: BaseException, argv: list[str]) -> str | None:
    """Write the traceback to `<cache>/corpus-etl/logs/<time>-<pid>.log` (the temp folder when the cache is
    not writable); its path, or None when neither could be written (a full disk)."""
    name = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}.log"
    text = f"corpus-etl {' '.join(argv)}\n\n" + "".join(traceback.format_exception(err))
    for folder in (log_folder(), Path(tempfile.gettempdir()) / "corpus-etl-logs"):
        try:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / name).write_text(text)
            return str(folder / name)
        except OSError:
            continue
    return None


def report(err: BaseException, argv: list[str], urls: list[str], output: str | None, verbose: bool) -> int:
    """Print the error in one line (the traceback above it with -v, else in a log file named by the line)
    and return its exit code."""
    code, message = classify(err, urls, output)
    if verbose:
        traceback.print_exception(err, file=sys.stderr)
    elif code == EXIT_FAILED or not raised_by_us(err):
        saved = save_traceback(err, argv)
        message += f" (traceback: {saved})" if saved else " (traceback not saved: rerun with -v)"
    print(f"corpus-etl: error: {message}", file=sys.stderr)
    return code


def check_is_run(run: str) -> None:
    """A RUN names a committed run's output folder or its manifest.json: anything else local is a usage error
    (exit 2) naming it, said before a loader fails deeper ("somefile.txt/manifest.json: not a directory").
    URLs are left to the loaders."""
    if "://" in run and not run.startswith("file://"):
        return
    path = Path(run.removeprefix("file://"))
    if path.is_dir():
        if not (path / "manifest.json").is_file():
            raise FileNotFoundError(
                f"{run}: no manifest.json there: not a committed run's output folder (or its manifest.json)"
            )
    elif path.is_file():
        if path.name != "manifest.json":
            raise ValueError(f"{run}: is a file, not a run's output folder or its manifest.json")
    else:
        raise FileNotFoundError(
            f"{run}: no such folder or file; name a run's output folder or its manifest.json"
        )


class CliParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line (exit 2), and which names an unknown flag, with the closest
    known one, before anything else: Python 3.11's argparse first complains that `--input` is missing when
    `--inptu` was given."""

    def parse_known_args(self, args=None, namespace=None):
        if self._subparsers is None and args is not None:  # a command's own parser: it sees all its flags
            self._check_flags(list(args))
        return super().parse_known_args(args, namespace)

    def _check_flags(self, args: list[str]) -> None:
        known = list(self._option_string_actions)
        for arg in args:
            if arg == "--":
                return
            if not arg.startswith("-") or arg == "-" or re.fullmatch(r"-\d[\d.e+-]*", arg):
                continue
            name = arg.split("=", 1)[0]
            if name in known or (name.startswith("--") and any(k.startswith(name) for k in known)):
                continue  # exact, or an abbreviation argparse resolves
            if not name.startswith("--") and all(f"-{c}" in known for c in name[1:]):
                continue  # grouped short flags (-qv)
            self.error(f"unknown flag {name}{_did_you_mean(name, known)}")

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            first = message.split(":", 1)[1].split()[0]
            if first.startswith("-"):
                message += _did_you_mean(first.split("=", 1)[0], self._all_flags())
        choice = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if choice:  # a command or a value misspelt
            message += _did_you_mean(choice[1], re.findall(r"'([^']*)'", choice[2]))
        command = self.prog.split(" ", 1)[1] + ": " if " " in self.prog else ""
        self.exit(EXIT_USAGE, f"corpus-etl: error: {command}{message} (see {self.prog} --help)\n")

    def _all_flags(self) -> list[str]:
        flags = list(self._option_string_actions)
        if self._subparsers is not None:
            for action in self._subparsers._group_actions:
                for parser in getattr(action, "choices", {}).values():
                    flags += list(parser._option_string_actions)
        return flags


def _did_you_mean(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, sorted(set(known)), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""
