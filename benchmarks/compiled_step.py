"""Is `torch.compile` worth it for a short-text fine-tuning step on a CPU? MiniLM-L6, batch 16 × 24
tokens (bbc-titles), fp32: one eager model and one compiled model (Inductor, the default mode) in
one process, steps interleaved so both share the machine's load. Prints the compile time of the
first step, the medians of the steady steps and their ratio, and the time of the first step at a
new length (a recompile: the loop's length-grouped batches change length from batch to batch).

    python benchmarks/compiled_step.py [--steps 60]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
from transformers import AutoModelForSequenceClassification

from headstart.models.zoo import resolve_model
from headstart.progress import quiet_libraries


def make_step(compiled: bool) -> Callable[[torch.Tensor], float]:
    """One training step (forward, backward, fused AdamW) of a fresh model on a batch of token ids."""
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_model("minilm-l6"), num_labels=5
    ).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, fused=True)
    forward = torch.compile(model) if compiled else model
    labels = torch.randint(0, 5, (16,))

    def step(ids: torch.Tensor) -> float:
        started = time.perf_counter()
        logits = forward(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        torch.nn.functional.cross_entropy(logits, labels).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return time.perf_counter() - started

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60)
    args = parser.parse_args()
    quiet_libraries()
    steps = {"eager": make_step(False), "compiled": make_step(True)}
    batch, other_length = torch.randint(1000, 6000, (16, 24)), torch.randint(1000, 6000, (16, 20))
    first = {name: step(batch) for name, step in steps.items()}
    for step in steps.values():  # warm-up
        for _ in range(5):
            step(batch)
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(args.steps):
        for name, step in steps.items():
            times[name].append(step(batch))
    medians = {name: statistics.median(found) for name, found in times.items()}
    print("| model | first step s | median step ms | first step at a new length s |")
    print("| --- | --- | --- | --- |")
    for name, step in steps.items():
        print(f"| {name} | {first[name]:.2f} | {1000 * medians[name]:.1f} | {step(other_length):.2f} |")
    print(f"\ncompiled ÷ eager, median step: ×{medians['compiled'] / medians['eager']:.3f}")


if __name__ == "__main__":
    main()
