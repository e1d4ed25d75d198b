"""The live progress bar of a terminal: one row per pass (documents and text MB done, rates, ETA), drawn by
`rich` from the figures of `ProgressMeter` (etl/run/progress.py), which logs lines instead where no bar is.
"""

from __future__ import annotations

import atexit
import os


class LiveBar:
    """One bar per pass on the terminal (documents and text MB done, rates, ETA), drawn by `rich`.

    Started by the first `show()`, in the process that configured logging only (a forked worker inherits the
    object, not the terminal); `stop()` removes it (transient), so the summary prints on a clean screen.
    """

    def __init__(self) -> None:
        self._pid = os.getpid()
        self._progress = None
        self._tasks: dict[str, int] = {}

    def active_here(self) -> bool:
        return os.getpid() == self._pid

    def show(self, what: str, docs: int, text_bytes: int, elapsed: float, done: int | None, total: int | None,
             eta: str) -> None:  # fmt: skip
        """Set the row of pass `what`: `done` of `total` bytes (None: no known total, no bar length)."""
        if self._progress is None:
            self._progress = _rich_progress()
            self._progress.start()
        seconds = max(elapsed, 1e-9)
        fields = {
            "docs": f"{docs:,}",
            "mb": f"{text_bytes / 1e6:,.1f}",
            "rate": f"{docs / seconds:,.0f} docs/s, {text_bytes / 1e6 / seconds:.2f} MB/s",
            "eta": eta,
        }
        if what in self._tasks:
            self._progress.update(self._tasks[what], total=total, completed=done or 0, **fields)
        else:  # with its fields: the refresh thread may draw the row before any update
            self._tasks[what] = self._progress.add_task(what, total=total, completed=done or 0, **fields)

    def stop(self) -> None:
        if self._progress is not None and self.active_here():
            self._progress.stop()
        self._progress = None
        self._tasks.clear()


def _rich_progress():
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description:<6}"),
        BarColumn(bar_width=30),
        TextColumn("{task.fields[docs]} docs, {task.fields[mb]} MB text ({task.fields[rate]})"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
        console=Console(stderr=True),
        transient=True,
        refresh_per_second=4,
        redirect_stdout=False,  # stdout is the command's output, never moved to the terminal's stderr
    )


_bar: LiveBar | None = None


def install_live_bar(enabled: bool) -> None:
    """A new bar for this process (drawn from its first `show()`), or none: progress lines instead."""
    global _bar
    stop_live_bar()
    _bar = LiveBar() if enabled else None


def live_bar() -> LiveBar | None:
    """The terminal's bar when this process drew it (the CLI on a terminal), else None: log lines instead."""
    return _bar if _bar is not None and _bar.active_here() else None


def stop_live_bar() -> None:
    """Take the bar off the terminal: before the summary or an error line, and at exit whatever happened."""
    if _bar is not None:
        _bar.stop()


atexit.register(stop_live_bar)
