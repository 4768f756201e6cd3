"""What each of the training loop's exact speed-ups is worth: headstart finetune on bbc-titles (the
short-text set of time_to_quality.py) with the peers' settings (3 epochs, batch 16, lr 5e-5),
with every speed-up on, with all of them off (the loop as plain as a Trainer's), and with each one
off in turn. Each run is its own process; rounds are interleaved so all share the machine's load.

The speed-ups (none changes what is computed, only how):
  rows     only the token-embedding rows of the training texts' tokens train (embedding_rows.py)
  dropout  CPU dropout from 16-bit draws, attention that keeps no probabilities (cpu_dropout.py)
  gelu     the GELU computed again in the backward pass (gelu_linear.py)
  first    the last layer computes the first token only, which the classifier reads (first_token.py)
  clip     gradients within the clipping norm are not multiplied by 1 (loop.clip_gradients)
A speed-up is turned off by replacing its function in `headstart.training.loop` with a no-op in
the worker process: the switch exists for this measurement only.

    python benchmarks/lean_training.py [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

PIECES = ("rows", "dropout", "gelu", "first", "clip")
ALL_OFF = "+".join(PIECES)


def worker(off: list[str], folder: Path) -> None:
    import contextlib

    import headstart
    import headstart.training.loop as loop
    from headstart.progress import set_quiet

    if "rows" in off:
        loop.train_seen_rows = lambda model, token_lists: 0
    if "dropout" in off:
        loop.cpu_dropout = lambda model: contextlib.nullcontext()
    if "gelu" in off:
        loop.gelu_linear = lambda model: contextlib.nullcontext(0)
    if "first" in off:
        loop.first_token_only = lambda model: contextlib.nullcontext(False)
    if "clip" in off:
        loop.clip_gradients = lambda accelerator, model, norm: accelerator.clip_grad_norm_(
            model.parameters(), norm
        )
    set_quiet(True)
    run = headstart.train(
        folder / "labelled.csv",
        test_data=str(folder / "test.csv"),
        out=folder / "run",
        overwrite=True,
        strategy="finetune",
        model="minilm-l6",
        seed=42,
        checkpoint_every=0,
        epochs=3,
        batch_size=16,
        lr=5e-5,
    )
    cost = run.metrics["cost"]
    result = {
        "samples_per_second": cost["train_samples_per_second"],
        "accuracy": run.metrics["test"]["accuracy"],
    }
    print("RESULT " + json.dumps(result | {"peak_memory_mib": cost["peak_memory_mib"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker([piece for piece in args.worker.split("+") if piece], Path(args.folder))
        return
    sys.path.insert(0, str(Path(__file__).parent))
    from time_to_quality import prepare

    folder = Path(tempfile.mkdtemp(prefix="headstart-lean-"))
    prepare("bbc-titles", folder)
    variants = {"every speed-up on": "", "every speed-up off": ALL_OFF} | {f"{p} off": p for p in PIECES}
    found: dict[str, list[dict]] = {name: [] for name in variants}
    for number in range(args.rounds):
        for name, off in variants.items():
            command = [sys.executable, __file__, "--worker", off, "--folder", str(folder)]
            done = subprocess.run(
                command, capture_output=True, text=True, env={**os.environ, "HF_HUB_OFFLINE": "1"}
            )
            lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if not lines:
                sys.exit(f"{name} failed:\n{done.stderr[-3000:]}")
            found[name].append(json.loads(lines[0][len("RESULT ") :]))
            print(f"round {number + 1} · {name}: {found[name][-1]}", flush=True)
    best = statistics.median(r["samples_per_second"] for r in found["every speed-up on"])
    print(f"\nbbc-titles, headstart finetune with the peers' settings; medians of {args.rounds} rounds")
    print("| variant | train samples/s | every speed-up on ÷ this | accuracy | peak RSS MiB |")
    print("| --- | --- | --- | --- | --- |")
    for name, rows in found.items():
        speed = statistics.median(r["samples_per_second"] for r in rows)
        accuracy = statistics.median(r["accuracy"] for r in rows)
        peak = statistics.median(r["peak_memory_mib"] for r in rows)
        print(f"| {name} | {speed:.1f} | ×{best / speed:.2f} | {accuracy:.4f} | {peak:,.0f} |")


if __name__ == "__main__":
    main()
