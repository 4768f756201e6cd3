"""Soak of `headstart serve --workers 2` on loopback: a mix of valid, oversize and malformed
requests from 32 clients, then SIGTERM in the middle of a load.

1. Warm-up, then the server's resident memory (the supervisor and its workers, summed).
2. --requests requests from --clients concurrent clients: 80 % valid (one BBC News headline,
   or a batch of 2-8), 10 % oversize (too many texts, a text over the character limit, a body
   over the byte limit), 10 % malformed (bad JSON, wrong types, empty or whitespace text, a lone
   surrogate, unknown keys). Valid requests must all get 200; bad ones a 4xx in the one error shape.
3. Memory again: within 10 % of the figure after warm-up.
4. A second load on fresh connections; after one second, SIGTERM to the server. Each request
   ends answered (200), shed (503), refused (no one listened any more) or reset (the connection
   closed before an answer). The server itself must answer every request it read (its log then
   holds no "never answered" line from headstart, nor uvicorn's "Cancel ... running task(s)")
   and exit 0. A reset request is one the server never read: connections the kernel queued in
   the listening socket's backlog, or had opened but not yet sent, when the last process closed
   it; a load balancer avoids them by draining on /ready before it sends SIGTERM.

Client and server share the machine's cores. Writes docs/results/serve-soak/results.json.

    python benchmarks/serve_soak.py [--run runs/bbc-news-features] [--requests 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np
import psutil

os.environ.setdefault("HF_HUB_OFFLINE", "1")
MAX_TEXTS, MAX_CHARS, MAX_BODY = 16, 2_000, 100_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tree_rss_mib(pid: int) -> float:
    root = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [root, *root.children(recursive=True)]) / 2**20


def bodies(texts: list[str], count: int, seed: int) -> list[tuple[str, bytes]]:
    """(kind, body) pairs: 'valid', 'oversize' or 'malformed', in a seeded mix."""
    rng = random.Random(seed)
    malformed = [
        b"{not json",
        b'{"text": 12}',
        b'{"texts": ["fine", null]}',
        b'{"text": ""}',
        b'{"texts": ["   "]}',
        b'{"text": "lone \\ud800 surrogate"}',
        b'{"txt": "hello"}',
        b"[1, 2, 3]",
    ]
    oversize = [
        json.dumps({"texts": ["a headline"] * (MAX_TEXTS + 1)}).encode(),
        json.dumps({"text": "word " * (MAX_CHARS // 4)}).encode(),
        json.dumps({"texts": ["x" * (MAX_CHARS - 1)] * 60}).encode(),
    ]
    mixed = []
    for _ in range(count):
        draw = rng.random()
        if draw < 0.8:
            batch = rng.sample(texts, rng.randint(2, 8)) if rng.random() < 0.3 else None
            body = {"texts": batch} if batch else {"text": rng.choice(texts)}
            mixed.append(("valid", json.dumps(body).encode()))
        elif draw < 0.9:
            mixed.append(("oversize", rng.choice(oversize)))
        else:
            mixed.append(("malformed", rng.choice(malformed)))
    return mixed


async def load(url: str, requests: list[tuple[str, bytes]], clients: int) -> dict[str, object]:
    latencies: list[float] = []
    outcome = {"valid_ok": 0, "valid_failed": 0, "bad_4xx": 0, "bad_other": 0}
    queue = iter(requests)

    async def client(session: httpx.AsyncClient) -> None:
        for kind, body in queue:
            started = time.perf_counter()
            try:
                response = await session.post(
                    f"{url}/predict", content=body, headers={"content-type": "application/json"}
                )
                status, shape = response.status_code, response.json()
            except (httpx.HTTPError, ValueError):
                status, shape = 0, {}
            if kind == "valid":
                latencies.append(time.perf_counter() - started)
                outcome["valid_ok" if status == 200 else "valid_failed"] += 1
            else:
                ok = 400 <= status < 500 and set(shape) == {"detail", "status", "request_id"}
                outcome["bad_4xx" if ok else "bad_other"] += 1

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - started
    quantiles = {f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1000, 2) for q in (50, 95, 99)}
    return {**outcome, "requests_per_second": round(len(requests) / wall, 1), **quantiles}


async def load_then_sigterm(
    url: str, server: subprocess.Popen, texts: list[str], clients: int
) -> dict[str, int]:
    """Requests on fresh connections; SIGTERM one second in. How each request ended."""
    ended = {"answered": 0, "shed": 0, "refused": 0, "reset": 0}
    stop = time.perf_counter() + 6

    async def client(session: httpx.AsyncClient, number: int) -> None:
        while time.perf_counter() < stop:
            try:
                response = await session.post(f"{url}/predict", json={"text": texts[number % len(texts)]})
                ended["answered" if response.status_code == 200 else "shed"] += 1
            except httpx.ConnectError:  # not accepted: the server no longer listens
                ended["refused"] += 1
                await asyncio.sleep(0.05)
            except httpx.HTTPError:  # the connection closed before an answer
                ended["reset"] += 1

    async def terminate() -> None:
        await asyncio.sleep(1)
        server.send_signal(signal.SIGTERM)

    fresh = httpx.Limits(max_connections=clients, max_keepalive_connections=0)
    async with httpx.AsyncClient(limits=fresh, timeout=60) as session:
        await asyncio.gather(terminate(), *(client(session, n) for n in range(clients)))
    return ended


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/bbc-news-features"))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("docs/results/serve-soak/results.json"))
    args = parser.parse_args()
    if not args.run.exists():
        sys.exit(f"{args.run} does not exist: run `make demo` first (it trains it), or pass --run")

    from headstart.data.bundled import load_bbc_news

    texts = [text.splitlines()[0] for text in load_bbc_news()["text"]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    limits = ["--max-texts", str(MAX_TEXTS), "--max-chars", str(MAX_CHARS), "--max-body-bytes", str(MAX_BODY)]
    command = [
        str(Path(sys.executable).with_name("headstart")),
        "serve",
        str(args.run),
        "--port",
        str(port),
        "--workers",
        str(args.workers),
        *limits,
    ]
    log = Path(tempfile.mkdtemp(prefix="serve-soak-")) / "server.log"  # what the server printed
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=log.open("w"))
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(f"{url}/ready", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.5)
    else:
        server.kill()
        sys.exit("the server did not get ready within 180 s")

    asyncio.run(load(url, bodies(texts, 500, seed=0), args.clients))  # warm-up: every worker's code paths
    rss_warm = tree_rss_mib(server.pid)
    soak = asyncio.run(load(url, bodies(texts, args.requests, seed=1), args.clients))
    rss_after = tree_rss_mib(server.pid)
    stopped = asyncio.run(load_then_sigterm(url, server, texts, args.clients))
    exit_code = server.wait(timeout=120)
    unanswered = [
        line for line in log.read_text().splitlines() if "never answered" in line or "Cancel" in line
    ]

    growth = (rss_after - rss_warm) / rss_warm * 100
    print(
        f"headstart serve {args.run} --workers {args.workers}; "
        f"{args.clients} clients, {args.requests} requests"
    )
    print("| valid 200 | valid failed | bad 4xx | bad other | requests/s | p50 ms | p95 ms | p99 ms |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    columns = ("valid_ok", "valid_failed", "bad_4xx", "bad_other", "requests_per_second")
    print(f"| {' | '.join(str(soak[key]) for key in (*columns, 'p50_ms', 'p95_ms', 'p99_ms'))} |")
    print(
        f"server RSS: {rss_warm:.0f} MiB after warm-up, {rss_after:.0f} MiB after the soak ({growth:+.1f} %)"
    )
    print(f"SIGTERM under load: {stopped}; server exit code {exit_code}")
    checks = {
        "0 errors on valid requests": soak["valid_failed"] == 0,
        "every bad request a 4xx in the error shape": soak["bad_other"] == 0,
        "RSS within 10 % of after warm-up": abs(growth) <= 10,
        "SIGTERM: every request the server read was answered": not unanswered,
        "SIGTERM: exit code 0": exit_code == 0,
    }
    print("\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    record = {
        "run": str(args.run),
        "workers": args.workers,
        "clients": args.clients,
        "soak": soak,
        "rss_mib": {"after_warm_up": round(rss_warm), "after_soak": round(rss_after)},
        "sigterm": stopped,
        "server_log_lines_of_unanswered_requests": unanswered,
        "exit_code": exit_code,
        "checks": checks,
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            "unknown",
        ),
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.write_text(json.dumps(record, indent=2) + "\n")


if __name__ == "__main__":
    main()
