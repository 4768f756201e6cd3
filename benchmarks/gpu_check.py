"""The same work on a GPU and on the CPU: training, evaluation, batch prediction and HTTP serving.

For a machine with a GPU: trains `finetune` (all-MiniLM-L6-v2, one epoch) on BBC News articles on
each device, evaluates on the test split, predicts the test texts in batches, then serves the run
(`headstart serve --device ...`) and sends one-text requests from 8 clients. It prints one table
with each step's throughput per device and the ratio, and the names of the devices measured.

    python benchmarks/gpu_check.py --device cuda          # GPU against CPU
    python benchmarks/gpu_check.py --device cpu --quick   # what CI runs: the CPU alone, small

On a machine without a GPU, `--device cuda` stops with the one-line error `--device` gives.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

import headstart
from headstart.devices import cpu_name, resolve_device

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # read when a model is resolved, not at import


def measure(device: str, data: Any, test: Any, out: Path, quick: bool) -> dict[str, float]:
    """Throughput of each step on one device."""
    run = headstart.train(
        data,
        out=out / f"run-{device}",
        strategy="finetune",
        epochs=1,
        max_length=64 if quick else 256,
        test_size=0.2,
        device=device,
        overwrite=True,
        checkpoint_every=0,
    )
    texts = test.text.tolist()
    started = time.perf_counter()
    run.evaluate(test)
    evaluated = len(texts) / (time.perf_counter() - started)
    started = time.perf_counter()
    run.predict(texts, show_progress=False)
    predicted = len(texts) / (time.perf_counter() - started)
    return {
        "train samples/s": run.metrics["cost"]["train_samples_per_second"],
        "evaluate texts/s": evaluated,
        "predict texts/s": predicted,
        "serve requests/s": serve_rate(run.path, device, texts[: 40 if quick else 400]),
    }


def serve_rate(run: Path, device: str, texts: list[str]) -> float:
    """Requests per second of `headstart serve` on the device, 8 clients sending one text each."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [sys.executable, "-m", "headstart", "serve", str(run), "--device", device, "--port", str(port)]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.time() > deadline or server.poll() is not None:
                sys.exit("the server did not start")
            time.sleep(0.3)
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(8) as pool:
            started = time.perf_counter()
            answers = list(
                pool.map(lambda text: client.post(f"{url}/predict", json={"texts": [text]}), texts)
            )
            seconds = time.perf_counter() - started
        if any(answer.status_code != 200 for answer in answers):
            sys.exit("the server answered an error")
        return len(texts) / seconds
    finally:
        server.terminate()
        server.wait(timeout=30)


def device_name(device: str) -> str:
    resolved = resolve_device(device)
    if resolved.type == "cuda":
        import torch

        return f"{resolved} ({torch.cuda.get_device_name(resolved)})"
    return f"{resolved} ({cpu_name()})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", help="the device to measure against the CPU")
    parser.add_argument("--quick", action="store_true", help="60 articles at 64 tokens: a check that it runs")
    parser.add_argument("--out", type=Path, default=Path("runs/gpu-check"))
    args = parser.parse_args()
    try:
        devices = ["cpu"] if resolve_device(args.device).type == "cpu" else ["cpu", args.device]
    except headstart.ConfigError as error:
        sys.exit(f"error: {error}")
    news = headstart.load_dataset("bbc-news").sample(frac=1.0, random_state=0).reset_index(drop=True)
    size = 60 if args.quick else 1200
    data, test = news.iloc[:size], news.iloc[size : size + (30 if args.quick else 400)]
    results = {device: measure(device, data, test, args.out, args.quick) for device in devices}
    print(f"| step | {' | '.join(devices)} | ratio |")
    print("| --- |" + " --- |" * (len(devices) + 1))
    for step in results["cpu"]:
        values = [results[device][step] for device in devices]
        ratio = f"×{values[-1] / values[0]:.2f}" if len(values) > 1 else "—"
        print(f"| {step} | {' | '.join(f'{v:.1f}' for v in values)} | {ratio} |")
    print("measured on: " + "; ".join(device_name(device) for device in devices))


if __name__ == "__main__":
    main()
