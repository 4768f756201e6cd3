"""A real PostgreSQL server for tests: Debian's binaries (`make test` installs the `postgresql`
package when they are missing, as it does the browser), a fresh cluster in a temporary folder,
listening on loopback only, trusting local connections. PostgreSQL refuses to run as root, so as
root the cluster belongs to the `postgres` user the package creates."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def binaries() -> Path | None:
    """The folder of initdb and pg_ctl: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(versions[-1]).parent if versions else None


def _as_owner(command: list[str], owner: str | None) -> list[str]:
    return ["runuser", "-u", owner, "--", *command] if owner else command


@contextmanager
def postgres_server() -> Iterator[str]:
    """Start a cluster; yield its URL prefix (postgresql+psycopg://postgres@127.0.0.1:PORT/)."""
    folder = binaries()
    assert folder is not None
    owner = "postgres" if os.geteuid() == 0 else None
    base = Path(tempfile.mkdtemp(prefix="headstart-pg-"))
    if owner:
        account = pwd.getpwnam(owner)
        os.chown(base, account.pw_uid, account.pw_gid)
    data = base / "data"
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    subprocess.run(
        _as_owner(
            [str(folder / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8"], owner
        ),
        check=True,
        capture_output=True,
    )
    options = f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories={base} -c fsync=off"
    start = [str(folder / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "log"), "-w", "start"]
    subprocess.run(_as_owner(start, owner), check=True, capture_output=True, timeout=60)
    try:
        yield f"postgresql+psycopg://postgres@127.0.0.1:{port}/"
    finally:
        stop = [str(folder / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"]
        subprocess.run(_as_owner(stop, owner), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)


def new_database(prefix: str, name: str) -> str:
    """Create database `name` on the server at `prefix`; its URL."""
    import psycopg

    address = prefix.removeprefix("postgresql+psycopg://")
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(f"postgresql://{address}postgres", autocommit=True) as connection:
                connection.execute(f'CREATE DATABASE "{name}"')
            return prefix + name
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
