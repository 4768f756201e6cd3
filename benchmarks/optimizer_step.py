"""AdamW's step on all-MiniLM-L6-v2's weights: torch's default on a CPU (a for-loop over
tensors), foreach, and fused (what headstart's training loop uses when torch can), in one group
and in the loop's groups (one per learning rate and decay: 2 by default, 16 for MiniLM with a
layer-wise decay), interleaved in one process so they share the machine's load; medians and
ratios to the default.

    python benchmarks/optimizer_step.py [--repeats 15]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    from transformers import AutoModelForSequenceClassification

    from headstart.config import TrainConfig
    from headstart.models.zoo import resolve_model
    from headstart.strategies.base import EncoderTuning
    from headstart.training.loop import make_optimizer

    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(resolve_model("minilm-l6"), num_labels=5)
    params = list(model.parameters())
    for param in params:
        param.grad = torch.randn_like(param) * 1e-3
    optimizers = {
        "default (for-loop)": torch.optim.AdamW(params, lr=1e-5),
        "foreach": torch.optim.AdamW(params, lr=1e-5, foreach=True),
        "headstart (fused)": make_optimizer(params, lr=1e-5),
        # the loop's groups: one per learning rate and decay
        "headstart (fused), the loop's 2 groups": make_optimizer(
            EncoderTuning().parameter_groups(model, TrainConfig(dataset="bbc-news", lr=1e-5))
        ),
        "headstart (fused), 16 groups (--layer-lr-decay 0.9)": make_optimizer(
            EncoderTuning().parameter_groups(
                model, TrainConfig(dataset="bbc-news", lr=1e-5, layer_lr_decay=0.9)
            )
        ),
    }
    times: dict[str, list[float]] = {name: [] for name in optimizers}
    for _ in range(args.repeats + 3):  # the first 3 rounds warm up
        for name, optimizer in optimizers.items():
            started = time.perf_counter()
            optimizer.step()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values[3:]) for name, values in times.items()}
    base = medians["default (for-loop)"]
    print(f"AdamW step on {sum(p.numel() for p in params):,} weights, {torch.get_num_threads()} threads")
    print("| optimiser | median ms | speed-up |\n| --- | --- | --- |")
    for name, median in medians.items():
        print(f"| {name} | {median * 1000:.1f} | ×{base / median:.2f} |")


if __name__ == "__main__":
    main()
