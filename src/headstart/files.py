"""Writing files so that readers never see half of one: temporary name first, then a rename; and
one writer per output folder."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from headstart.errors import ConfigError


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: Path, text: str, mode: int | None = None) -> None:
    """Write to a temporary file beside the target, then rename: readers never see half a file.
    `mode` (e.g. 0o600 for secrets) replaces the usual permissions."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        os.chmod(temporary, mode if mode is not None else 0o666 & ~_umask())  # mkstemp makes 0600 files
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def staging_dir(target: Path) -> Path:
    """A fresh, empty folder beside `target` (named for this process) to build it in."""
    staging = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def replace_dir(new: Path, target: Path) -> None:
    """Move a finished folder into place; an older folder there is removed only after the swap."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        os.replace(target, old)
    os.replace(new, target)
    shutil.rmtree(old, ignore_errors=True)


def folder_size(path: Path) -> int:
    """Bytes of every file below `path`."""
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@contextlib.contextmanager
def exclusive(out: Path) -> Iterator[None]:
    """Hold the folder `out` for this process; refuse with one line if another one holds it.

    The lock is an flock on a hidden `.<out>.lock` beside the folder: the kernel releases it when
    the process ends, even by `kill -9`, so no stale lock outlives its holder. The file is removed
    on the way out; a process that locked a file since removed sees another inode and is refused.
    """
    lock = out.parent / f".{out.name}.lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    refused = ConfigError(
        f"Another headstart process is writing '{out}'; wait for it to end or choose another --out."
    )
    with open(lock, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise refused from None
        if not lock.exists() or os.stat(lock).st_ino != os.fstat(handle.fileno()).st_ino:
            raise refused
        try:
            yield
        finally:
            lock.unlink(missing_ok=True)
