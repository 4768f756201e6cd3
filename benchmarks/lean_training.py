"""What each of the training loop's exact speed-ups is worth, per fine-tuning step of MiniLM-L6:
the step with every speed-up on, with all of them off (as a Trainer computes it), and with each
one off in turn. One model per variant in one process, steps interleaved variant by variant so all
share the machine's load; medians over the steps. Two shapes: short texts (batch 16 × 24 tokens,
bbc-titles) and the memory target's (batch 32 × 128 tokens).

The speed-ups (none changes what is computed, only how):
  rows     only the token-embedding rows of the training texts' tokens train (embedding_rows.py)
  dropout  CPU dropout from 16-bit draws, attention that keeps no probabilities but short texts'
           (cpu_dropout.py)
  gelu     the GELU computed again in the backward pass, for batches over 2^22 GELU inputs: at
           32 × 128, not at 16 × 24 (gelu_linear.py)
  first    the last layer computes the first token only, which the classifier reads (first_token.py)
  clip     the clipping norm from one dot product per tensor, the scaling left to the fused AdamW,
           equal to torch's clipping to float rounding (loop.clip_gradients)

With --model-changes: what the two options that do change the model would add on top, at 16 ×
`--tokens`: `--attention-dropout 0` (PyTorch's fused attention, no dropout draws) and
`--freeze-embeddings` (the token table gets no gradient and no optimiser update).

    python benchmarks/lean_training.py [--steps 40]
    python benchmarks/lean_training.py --profile [--tokens 9]   # where a short-text step's time goes
    python benchmarks/lean_training.py --model-changes [--tokens 9]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable

import torch
from accelerate import Accelerator
from transformers import AutoModelForSequenceClassification

from headstart.models.zoo import resolve_model
from headstart.progress import quiet_libraries
from headstart.training.cpu_dropout import cpu_dropout
from headstart.training.embedding_rows import train_seen_rows
from headstart.training.first_token import first_token_only
from headstart.training.gelu_linear import gelu_linear
from headstart.training.loop import clip_gradients

PIECES = ("rows", "dropout", "gelu", "first", "clip")
SHAPES = ((16, 24), (32, 128))  # batch, tokens
VOCABULARY = range(1000, 6000)  # the token ids the synthetic batches draw: the "training texts'" rows


def variants() -> dict[str, set[str]]:
    """Variant name → the speed-ups turned off."""
    return {"every speed-up on": set(), "every speed-up off": set(PIECES)} | {f"{p} off": {p} for p in PIECES}


# Variant name → (speed-ups off, attention dropout, embeddings frozen), for --model-changes.
MODEL_CHANGES = {
    "every speed-up off": (set(PIECES), None, False),
    "every speed-up on": (set(), None, False),
    "+ --attention-dropout 0": (set(), 0.0, False),
    "+ --freeze-embeddings": (set(), None, True),
    "+ both": (set(), 0.0, True),
}


def make_step(
    off: set[str],
    batch: int,
    tokens: int,
    attention_dropout: float | None = None,
    freeze_embeddings: bool = False,
) -> Callable[[], float]:
    """A function running one training step of a fresh model with `off` turned off; returns seconds."""
    changed = {} if attention_dropout is None else {"attention_probs_dropout_prob": attention_dropout}
    model = AutoModelForSequenceClassification.from_pretrained(
        resolve_model("minilm-l6"), num_labels=5, **changed
    ).train()
    if freeze_embeddings:
        model.get_input_embeddings().requires_grad_(False)
    if "rows" not in off:
        train_seen_rows(model, [list(VOCABULARY), [0]])
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-5, fused=True)
    accelerator = Accelerator(cpu=True)
    ids = torch.randint(VOCABULARY.start, VOCABULARY.stop, (batch, tokens))
    labels = torch.randint(0, 5, (batch,))
    switches = {"dropout": cpu_dropout, "gelu": gelu_linear, "first": first_token_only}

    def step() -> float:
        with contextlib.ExitStack() as stack:
            for name, switch in switches.items():
                if name not in off:
                    stack.enter_context(switch(model))
            started = time.perf_counter()
            logits = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
            torch.nn.functional.cross_entropy(logits, labels).backward()
            if "clip" in off:
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            else:
                clip_gradients(accelerator, model, optimizer, 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            return time.perf_counter() - started

    return step


def profile_step(steps: int, tokens: int) -> None:
    """torch.profiler's self time per operator over `steps` short-text steps of 16 × `tokens`,
    every speed-up on."""
    from torch.profiler import ProfilerActivity, profile

    step = make_step(set(), SHAPES[0][0], tokens)
    for _ in range(5):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as profiler:
        for _ in range(steps):
            step()
    print(profiler.key_averages().table(sort_by="self_cpu_time_total", row_limit=20))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--steps", type=int, default=40, help="timed steps per variant at 16 × 24 (a fifth at 32 × 128)"
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead: profile the step with every speed-up on at 16 × 24 and print its time by operator",
    )
    parser.add_argument(
        "--model-changes",
        action="store_true",
        help="instead: the step with every speed-up on, alone and with the options that change the model",
    )
    parser.add_argument(
        "--tokens",
        type=int,
        default=SHAPES[0][1],
        help="with --profile or --model-changes: tokens per text (a mean bbc-titles batch has 9)",
    )
    args = parser.parse_args()
    quiet_libraries()
    torch.manual_seed(0)
    if args.profile:
        profile_step(args.steps, args.tokens)
        return
    print("| shape | variant | ms per step | its time ÷ every speed-up on's |")
    print("| --- | --- | --- | --- |")
    if args.model_changes:
        shape = (SHAPES[0][0], args.tokens)
        steps = {
            name: make_step(off, *shape, dropout, frozen)
            for name, (off, dropout, frozen) in MODEL_CHANGES.items()
        }
        print_medians(steps, args.steps, shape)
        return
    for batch, tokens in SHAPES:
        steps = {name: make_step(off, batch, tokens) for name, off in variants().items()}
        print_medians(steps, args.steps if tokens < 64 else max(3, args.steps // 5), (batch, tokens))


def print_medians(steps: dict[str, Callable[[], float]], rounds: int, shape: tuple[int, int]) -> None:
    """Table rows: each variant's median step over `rounds` interleaved rounds, and its time over the
    step with every speed-up on."""
    for step in steps.values():  # warm-up: first calls allocate and pick kernels
        step(), step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            times[name].append(step())
    fastest = statistics.median(times["every speed-up on"])
    for name, found in times.items():
        median = statistics.median(found)
        print(
            f"| {shape[0]} × {shape[1]} | {name} | {1000 * median:.1f} | ×{median / fastest:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
