"""Offline is proven, not assumed: the whole suite runs with pytest-socket refusing every
connection that leaves this machine (pyproject's addopts), and headstart turns telemetry off."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import pytest_socket


def test_connections_off_the_machine_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    assert socket.socket.connect is not pytest_socket._true_connect, "the suite runs without the guard"
    attempts: list[object] = []
    # Were the guard to let it through, this records the attempt instead of sending a packet.
    monkeypatch.setattr(pytest_socket, "_true_connect", lambda sock, *args: attempts.append(args))
    with socket.socket() as outside, pytest.raises(pytest_socket.SocketConnectBlockedError):
        outside.connect(("192.0.2.1", 443))  # TEST-NET-1: a documentation address
    assert attempts == []
    with socket.socket() as loopback:
        loopback.connect(("127.0.0.1", 9))  # allowed: recorded by the stand-in, not refused
    assert len(attempts) == 1


def test_importing_headstart_turns_telemetry_off() -> None:
    script = (
        "import os, headstart, huggingface_hub.constants as c;"
        "print(os.environ['HF_HUB_DISABLE_TELEMETRY'], os.environ['RAY_USAGE_STATS_ENABLED'],"
        " c.HF_HUB_DISABLE_TELEMETRY)"
    )
    env = {key: value for key, value in __import__("os").environ.items() if "TELEMETRY" not in key}
    printed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    )
    assert printed.stdout.split() == ["1", "0", "True"]
