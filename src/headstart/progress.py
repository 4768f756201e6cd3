"""Progress bars (rich) on stderr, silenced by `--quiet` and on every process but the first."""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

console = Console(stderr=True)
_quiet = False


def set_quiet(quiet: bool) -> None:
    """Silence progress bars and status lines (errors and warnings still show)."""
    global _quiet
    _quiet = quiet


def quiet_libraries(debug: bool = False) -> None:
    """Keep libraries' notices to developers (deprecations, weight-loading reports, their own
    progress bars) off users' screens; `debug` keeps transformers talking.

    Set through the environment, which transformers and huggingface_hub read when imported, so
    nothing heavy is imported here; a transformers already imported is told directly."""
    for noise in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=noise)
    if debug:
        return
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "transformers" in sys.modules:
        transformers = sys.modules["transformers"]
        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()


@contextmanager
def quietly(quiet: bool = True) -> Iterator[None]:
    """Silence bars and status lines for the block when `quiet` (then restore what was set)."""
    previous = _quiet
    set_quiet(quiet or previous)
    try:
        yield
    finally:
        set_quiet(previous)


def is_main_process() -> bool:
    """True on the first (or only) process of a distributed run."""
    return os.environ.get("RANK", "0") == "0"


def show_progress() -> bool:
    """Whether bars and status lines are shown here."""
    return not _quiet and is_main_process()


def info(message: str) -> None:
    """A status line for people; scripts silence it with --quiet."""
    if show_progress():
        console.print(message, highlight=False)


class _Bar:
    """A progress bar, or nothing when bars are off."""

    def __init__(self, progress: Progress | None = None, task: TaskID | None = None) -> None:
        self._progress, self._task = progress, task

    def advance(self, amount: int = 1) -> None:
        """Move the bar on by `amount` steps."""
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, amount)

    def update(self, **fields: Any) -> None:
        """Change the bar's fields (`status`) or its position (`completed`)."""
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, **fields)


@contextmanager
def progress_bar(description: str, total: int | None, enabled: bool = True) -> Iterator[_Bar]:
    """A rich bar on stderr for the duration of the block (nothing when bars are off)."""
    if not (enabled and show_progress()):
        yield _Bar()
        return
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    )
    with progress:
        yield _Bar(progress, progress.add_task(description, total=total, status=""))
