"""Jobs you can kill and rerun: `compare`, `tune`, `learning-curve` (and `train`) into one --out.

- One writer per folder: a second process aiming at the same --out gets one line and exit 2
  (`files.exclusive`).
- A rerun resumes only what the same options made: the first run writes <out>/options.json, and
  a rerun whose options differ is refused with one line naming them (`check_options`); the grid
  itself (models, strategies, seeds, sizes, trials) may grow. `overwrite` starts the folder over.
- SIGTERM is handled as Ctrl-C (`sigterm_as_interrupt`), so the `finally` blocks that stop
  worker processes run for both.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

from headstart.config import TrainConfig
from headstart.errors import ConfigError
from headstart.files import write_text_atomic

OPTIONS_FILE = "options.json"


def check_options(out: Path, job: str, options: dict[str, Any], overwrite: bool = False) -> None:
    """Refuse a rerun into `out` whose options differ from those it was made with (call it while
    holding `files.exclusive(out)`; `record_options` saves them once the job's data is checked).
    `overwrite` deletes what the folder held instead. `job` names the job in the refusal,
    formatted with the saved options (e.g. "search of strategy '{strategy}'")."""
    if overwrite and out.exists():
        shutil.rmtree(out)
    file = out / OPTIONS_FILE
    if not file.is_file():
        return
    saved, options = json.loads(file.read_text(encoding="utf-8")), _as_saved(options)
    differing = sorted(key for key in set(saved) | set(options) if saved.get(key) != options.get(key))
    if differing:
        raise ConfigError(
            f"'{out}' holds a {job.format(**saved)} made with other {', '.join(differing)}; rerun with "
            "the same options to resume it, --overwrite to start over, or choose another --out."
        )


def record_options(out: Path, options: dict[str, Any]) -> None:
    """Save the options `out` is made with, for `check_options` on a rerun."""
    write_text_atomic(out / OPTIONS_FILE, json.dumps(_as_saved(options), indent=1, sort_keys=True))


def _as_saved(options: dict[str, Any]) -> dict[str, Any]:
    saved: dict[str, Any] = json.loads(json.dumps(options, default=str))  # as read back: tuples are lists
    return saved


def grid_options(config: TrainConfig, strategy_options: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What a grid's cells must share: the config but the axes that may grow (model, strategy),
    and each strategy's own options."""
    shared = {k: v for k, v in config.to_dict().items() if k not in ("model", "strategy", "strategy_options")}
    return {**shared, **{f"strategy_options.{name}": value for name, value in strategy_options.items()}}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """While inside, SIGTERM raises KeyboardInterrupt in the main thread, as Ctrl-C does."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def die_with_parent() -> None:
    """In a worker process: the kernel sends it SIGTERM when its parent dies, even by `kill -9`
    (Linux; elsewhere a no-op)."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
        if os.getppid() == 1:  # the parent died before the call: nobody will send it
            os.kill(os.getpid(), signal.SIGTERM)
