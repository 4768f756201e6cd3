"""Peak memory and speed of fine-tuning all-MiniLM-L6-v2 at batch 32 and 128 tokens (issue 15's
memory target: <= 2 GiB RSS), with the encoder's own attention dropout (0.1, headstart's default)
and with `--attention-dropout 0`.

Each configuration trains in its own process (800 BBC News articles, 1 epoch, no refit), rounds
interleaved so both share the machine's load; the peak is the run's own (metrics.json), the
samples/s its training loop's. Medians over the rounds, and the ratios between the two.

    python benchmarks/training_memory.py [--rounds 3]
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

SETTINGS = {"max_length": 128, "batch_size": 32, "epochs": 1, "refit": "no", "checkpoint_every": 0}
CONFIGURATIONS = {"0.1 (the encoder's; the default)": 0.1, "0 (--attention-dropout 0)": 0.0}
LIMIT_MIB = 2048


def worker(rate: float, folder: Path) -> None:
    import headstart
    from headstart.progress import set_quiet

    set_quiet(True)
    news = headstart.load_dataset("bbc-news").sample(800, random_state=0).reset_index(drop=True)
    run = headstart.train(
        news, out=folder / "run", overwrite=True, strategy="finetune", attention_dropout=rate, **SETTINGS
    )
    cost = run.metrics["cost"]
    print("RESULT " + json.dumps({key: cost[key] for key in ("peak_memory_mib", "train_samples_per_second")}))


def measure(rate: float) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="headstart-memory-") as folder:
        env = {**os.environ, "HF_HUB_OFFLINE": "1", "HEADSTART_CACHE": str(Path(folder) / "cache")}
        command = [sys.executable, __file__, "--worker", str(rate), "--folder", folder]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"attention dropout {rate} failed:\n{done.stderr[-3000:]}")
    return json.loads(next(line for line in done.stdout.splitlines() if line.startswith("RESULT "))[7:])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--worker", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        return worker(args.worker, args.folder)
    found: dict[str, list[dict[str, float]]] = {name: [] for name in CONFIGURATIONS}
    for round_ in range(args.rounds):
        for name, rate in CONFIGURATIONS.items():
            found[name].append(measure(rate))
            print(f"round {round_ + 1} · {name}: {found[name][-1]}", file=sys.stderr, flush=True)
    medians = {
        name: {key: statistics.median(r[key] for r in runs) for key in runs[0]}
        for name, runs in found.items()
    }
    print(f"MiniLM-L6 finetune, batch 32, 128 tokens, 800 BBC News rows; medians of {args.rounds} rounds")
    print("| attention dropout | peak RSS MiB | train samples/s | within 2 GiB |\n| --- | --- | --- | --- |")
    for name, median in medians.items():
        peak = median["peak_memory_mib"]
        print(f"| {name} | {peak:,.0f} | {median['train_samples_per_second']:.1f} | {peak <= LIMIT_MIB} |")
    default, without = medians.values()
    ratios = {key: without[key] / default[key] for key in default}
    print(
        f"--attention-dropout 0 ÷ the default: memory ×{ratios['peak_memory_mib']:.2f}, "
        f"samples/s ×{ratios['train_samples_per_second']:.2f}"
    )


if __name__ == "__main__":
    main()
