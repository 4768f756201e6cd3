"""`headstart serve` as a real process: `--workers 2` answers from two processes on one port,
SIGTERM with requests in flight answers every one of them, then exits 0, and /docs renders in
headless Chromium with no network."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

import headstart


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start_server(run: Path, *flags: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    command = [sys.executable, "-m", "headstart", "serve", str(run), "--port", str(port), *flags]
    server = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"server exited {server.returncode}: {server.stderr.read() if server.stderr else ''}")
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                return server, url
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    server.kill()
    pytest.fail("server did not become ready in 120 s")


def test_two_workers_answer_on_one_port(tiny_run: headstart.Run) -> None:
    server, url = start_server(tiny_run.path, "--workers", "2")
    try:
        pids = set()
        deadline = time.monotonic() + 60
        while len(pids) < 2 and time.monotonic() < deadline:  # the kernel spreads new connections
            with httpx.Client() as client:
                pids.add(client.get(f"{url}/metadata").json()["process"])
        assert len(pids) == 2 and server.pid not in pids
        answer = httpx.post(f"{url}/predict", json={"text": "goal striker match"})
        assert (
            answer.status_code == 200
            and answer.json()["label"] == tiny_run.predict(["goal striker match"])[0]
        )
    finally:
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0


def test_sigterm_answers_what_is_queued_then_exits(tiny_run: headstart.Run) -> None:
    # A forming batch waits up to 3 s for more texts, so the requests are still queued at SIGTERM.
    server, url = start_server(tiny_run.path, "--max-wait-ms", "3000", "--max-batch", "64")
    texts = [f"goal striker match number {number}" for number in range(8)]
    with ThreadPoolExecutor(max_workers=len(texts)) as pool:
        pending = [
            pool.submit(httpx.post, f"{url}/predict", json={"text": text}, timeout=30) for text in texts
        ]
        time.sleep(1.0)
        os.kill(server.pid, signal.SIGTERM)
        statuses = [future.result().status_code for future in pending]
    assert statuses == [200] * len(texts)
    assert server.wait(timeout=60) == 0


@pytest.mark.skipif(
    shutil.which("chromium") is None,
    reason="Debian's chromium is not installed (`make test` installs it as root)",
)
def test_docs_render_offline_in_headless_chromium(tiny_run: headstart.Run, tmp_path: Path) -> None:
    from tests.test_compare import chromium_command

    server, url = start_server(tiny_run.path)
    try:
        dom = subprocess.run(
            [
                *chromium_command(),
                f"--user-data-dir={tmp_path / 'profile'}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                f"{url}/docs",
            ],
            check=True,
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    assert "Unable to render" not in dom  # what an OpenAPI 3.1 schema gets from Swagger UI 4
    assert "opblock-summary-path" in dom and "/predict" in dom  # the routes, drawn by Swagger UI
