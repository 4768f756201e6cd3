"""Load test of `headstart serve` on loopback: latency, throughput, errors, memory.

Starts `headstart serve RUN --variant VARIANT` in its own process, then:
  1. one client sends --single requests one after another (one short text each): p50/p95/p99;
  2. --clients concurrent clients (httpx, asyncio) send --requests requests in all: requests/s,
     latency percentiles, errors (anything but 200, or no answer);
  3. malformed and oversize requests: each must get a 4xx.
The server's peak resident memory (VmHWM) is read from /proc. Short texts are BBC News headlines
(each article's first line). Client and server share the machine's cores, as they would on one box.

    python benchmarks/serve_load.py [--run runs/bench-bbc-teacher] [--variant onnx-int8]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.time() + seconds
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the server exited with code {server.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=1).json()["status"] == "ok":
                return
        except (httpx.HTTPError, ValueError):
            time.sleep(0.3)
    sys.exit(f"the server did not answer /health within {seconds:.0f} s")


def percentiles(latencies: list[float]) -> dict[str, float]:
    return {f"p{q}_ms": round(float(np.percentile(latencies, q)) * 1000, 2) for q in (50, 95, 99)}


async def load(url: str, texts: list[str], clients: int, requests: int) -> dict[str, float]:
    """`clients` tasks share a counter of `requests`; each sends one text per request."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))

    async def client(session: httpx.AsyncClient) -> None:
        nonlocal errors
        for index in counter:
            started = time.perf_counter()
            try:
                response = await session.post(f"{url}/predict", json={"text": texts[index % len(texts)]})
                ok = response.status_code == 200 and "label" in response.json()
            except httpx.HTTPError:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(limits=limits, timeout=60) as session:
        started = time.perf_counter()
        await asyncio.gather(*(client(session) for _ in range(clients)))
        wall = time.perf_counter() - started
    return {
        "requests": requests,
        "clients": clients,
        "errors": errors,
        "requests_per_second": round(requests / wall, 1),
        **percentiles(latencies),
    }


def bad_requests(url: str) -> dict[str, int]:
    cases = {
        "malformed JSON": b"{not json",
        "wrong type": b'{"text": 12}',
        "unknown field": b'{"txt": "hello"}',
        "too many texts": json.dumps({"texts": ["a"] * 1000}).encode(),
        "text too long": json.dumps({"text": "word " * 10_000}).encode(),
        "body too large": json.dumps({"texts": ["x" * 100_000] * 30}).encode(),
    }
    return {
        name: httpx.post(
            f"{url}/predict", content=body, headers={"content-type": "application/json"}, timeout=30
        ).status_code
        for name, body in cases.items()
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/bench-bbc-teacher"))
    parser.add_argument("--variant", default="onnx-int8")
    parser.add_argument("--single", type=int, default=500)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=Path("docs/results/serve-load/results.json"))
    args = parser.parse_args()
    if not args.run.exists():
        sys.exit(
            f"{args.run} does not exist: run benchmarks/inference_vs_hf.py "
            "first (it trains it), or pass --run"
        )

    from headstart.data.bundled import load_bbc_news

    texts = [text.splitlines()[0] for text in load_bbc_news()["text"]]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [
        str(Path(sys.executable).with_name("headstart")),
        "serve",
        str(args.run),
        "--variant",
        args.variant,
        "--port",
        str(port),
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    try:
        wait_until_up(url, server)
        asyncio.run(load(url, texts, 1, 50))  # warm-up
        single = asyncio.run(load(url, texts, 1, args.single))
        concurrent = asyncio.run(load(url, texts, args.clients, args.requests))
        refused = bad_requests(url)
        peak_kib = next(
            int(line.split()[1])
            for line in Path(f"/proc/{server.pid}/status").read_text().splitlines()
            if line.startswith("VmHWM")
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    words = np.mean([len(t.split()) for t in texts])
    print(
        f"headstart serve {args.run} --variant {args.variant}; "
        f"short texts: BBC headlines, {words:.1f} words on average\n"
    )
    print(
        "| load | requests | errors | requests/s | p50 ms | p95 ms "
        "| p99 ms |\n| --- | --- | --- | --- | --- | --- | --- |"
    )
    for name, result in (("1 client", single), (f"{args.clients} clients", concurrent)):
        print(
            f"| {name} | {result['requests']} | {result['errors']} | {result['requests_per_second']} | "
            f"{result['p50_ms']} | {result['p95_ms']} | {result['p99_ms']} |"
        )
    print("\nrefused requests: " + ", ".join(f"{name} → {status}" for name, status in refused.items()))
    print(f"server peak RSS: {peak_kib / 1024:.0f} MiB")
    checks = {
        "p95 at 1 client <= 25 ms": single["p95_ms"] <= 25,
        f">= 200 requests/s at {args.clients} clients": concurrent["requests_per_second"] >= 200,
        "0 errors": single["errors"] + concurrent["errors"] == 0,
        "bad requests all 4xx": all(400 <= status < 500 for status in refused.values()),
    }
    print("\n".join(f"{'PASS' if ok else 'FAIL'}  {name}" for name, ok in checks.items()))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(
        json.dumps(
            {
                "run": str(args.run),
                "variant": args.variant,
                "single": single,
                "concurrent": concurrent,
                "refused": refused,
                "server_peak_rss_mib": round(peak_kib / 1024),
                "checks": checks,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
