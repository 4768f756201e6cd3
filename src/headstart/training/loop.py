"""The training loop shared by every strategy that trains encoder weights.

Read top to bottom: data loaders, optimiser and schedule, Accelerate, then epochs of steps with a
dev evaluation after each epoch (early stopping on the task's main metric: macro-F1 for classes,
Spearman for regression, entity F1 for NER) and checkpoints for --resume. Strategies change it
only through their hooks (`TrainingHooks`): parameter_groups, loss, penalty, on_epoch_start.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import DistributedType
from torch.optim.lr_scheduler import LambdaLR
from transformers import get_cosine_schedule_with_warmup, get_linear_schedule_with_warmup

from headstart.encoding import LengthGroupedBatchSampler, make_loader
from headstart.models.classifiers import TextClassifier
from headstart.progress import info, progress_bar
from headstart.training.checkpoint import Checkpointer, TrainState
from headstart.training.cpu_dropout import cpu_dropout
from headstart.training.embedding_rows import merge_seen_rows, train_seen_rows
from headstart.training.first_token import first_token_only
from headstart.training.frozen_layers import cached_bottom_layers, freeze_bottom_layers
from headstart.training.gelu_linear import gelu_linear
from headstart.training.job import FitReport, Fitted, TrainingHooks, TrainingJob

CPU_CLIPPED = (DistributedType.NO, DistributedType.MULTI_CPU)  # where `clip_gradients` clips by itself


def class_weights(label_ids: list[Any], num_classes: int) -> torch.Tensor:
    """Inverse class frequency, normalised so that the weights average to 1 (unlabelled rows, -100,
    skipped)."""
    counts = np.bincount([i for i in label_ids if i >= 0], minlength=num_classes).astype(np.float64)
    weights = counts.sum() / (num_classes * np.maximum(counts, 1))
    return torch.tensor(weights, dtype=torch.float32)


def slanted_triangular(
    total_steps: int, cut_fraction: float = 0.1, ratio: float = 32.0
) -> Callable[[int], float]:
    """ULMFiT's schedule (Howard & Ruder 2018): a short linear rise to the peak, then a long linear
    fall to peak / ratio. Returns the multiplier of the peak learning rate for each step."""
    cut = max(1, int(total_steps * cut_fraction))

    def multiplier(step: int) -> float:
        p = step / cut if step < cut else 1 - (step - cut) / max(1, total_steps - cut)
        return (1 + max(p, 0.0) * (ratio - 1)) / ratio

    return multiplier


def make_schedule(
    optimizer: torch.optim.Optimizer, name: str, warmup_ratio: float, total_steps: int
) -> LambdaLR:
    """The learning-rate schedule: linear or cosine decay after a linear warm-up, or ULMFiT's STLR."""
    warmup = int(warmup_ratio * total_steps)
    if name == "cosine":
        return get_cosine_schedule_with_warmup(optimizer, warmup, total_steps)
    if name == "stlr":
        return LambdaLR(optimizer, slanted_triangular(total_steps, cut_fraction=warmup_ratio or 0.1))
    return get_linear_schedule_with_warmup(optimizer, warmup, total_steps)


@torch.inference_mode()
def evaluate_loader(
    model: torch.nn.Module, loader: torch.utils.data.DataLoader, accelerator: Accelerator, job: TrainingJob
) -> Any:
    """The model's outputs on dev (`TrainingJob.dev_outputs`), its rows gathered from every process
    in their original order."""
    model.eval()
    rows: list[torch.Tensor] = [torch.empty(0)] * len(job.dev)
    for batch in loader:
        logits = model(batch["input_ids"], batch["attention_mask"])
        lengths = batch["attention_mask"].sum(dim=1)
        if job.task.token_level:  # processes' batches differ in length: pad before gathering
            logits = accelerator.pad_across_processes(logits, dim=1)
        logits, index, lengths = accelerator.gather_for_metrics((logits, batch["index"], lengths))
        for row, position, length in zip(logits.float().cpu(), index.tolist(), lengths.tolist(), strict=True):
            rows[position] = row[:length] if job.task.token_level else row
    return job.dev_outputs(rows if job.task.token_level else torch.stack(rows))


def make_optimizer(groups: Any, **settings: Any) -> torch.optim.AdamW:
    """AdamW, fused into one kernel per step when torch has one for every trained weight (CPU,
    CUDA, MPS, XPU). On 2 CPU cores it took MiniLM's optimiser step from ~300 to ~50 ms
    (`python benchmarks/optimizer_step.py`), more than the forward pass of a short batch."""
    groups = list(groups)
    tensors = [p for group in groups for p in (group["params"] if isinstance(group, dict) else [group])]
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda", "mps", "xpu") for p in tensors)
    return torch.optim.AdamW(groups, fused=True if fusable else None, **settings)


@contextmanager
def lean_steps(model: torch.nn.Module) -> Iterator[None]:
    """While training: the changes that save work and memory without changing the gradients."""
    with cpu_dropout(model), gelu_linear(model), first_token_only(model):
        yield


def clip_gradients(
    accelerator: Accelerator, model: torch.nn.Module, optimizer: torch.optim.Optimizer, max_norm: float
) -> None:
    """Scale the gradients down to norm `max_norm` when it is above. On a CPU, what torch's clipping
    gives (equal to float rounding) at less than half its cost, ~9 → ~4 ms of a ~90 ms short-text
    MiniLM step: the norm from one dot product per tensor (torch takes a norm per tensor, ~1.6×
    slower), and the scaling left to the fused AdamW, which divides every gradient it reads by its
    `grad_scale` (the hook torch's GradScaler uses) instead of a pass of its own. Gradients within
    the norm are left alone. Elsewhere, Accelerate's (GPU kernels, sharded models)."""
    if accelerator.device.type != "cpu" or accelerator.distributed_type not in CPU_CLIPPED:
        accelerator.clip_grad_norm_(model.parameters(), max_norm)
        return
    inner: Any = getattr(optimizer, "optimizer", optimizer)  # torch's, under Accelerate's wrapper
    inner.grad_scale = None  # set again below for this step only
    grads = [p.grad.reshape(-1) for p in model.parameters() if p.grad is not None]
    total = torch.stack([torch.dot(g, g) for g in grads]).sum().sqrt()
    if max_norm / (total + 1e-6) >= 1:  # torch's own coefficient, applied only when it scales
        return
    if inner.defaults.get("fused") and accelerator.scaler is None:  # a GradScaler sets grad_scale itself
        inner.grad_scale = (total + 1e-6) / max_norm
    else:
        torch.nn.utils.clip_grads_with_norm_(model.parameters(), max_norm, total)


def train_classifier(model: TextClassifier, strategy: TrainingHooks, job: TrainingJob) -> Fitted:
    """Train `model` by gradient steps with the strategy's hooks; the best dev epoch is kept."""
    config, accelerator = job.config, job.accelerator
    pad_id = job.tokenizer.pad_token_id

    # Data: length-grouped batches in a seeded order per epoch; each batch padded to its longest text.
    train_loader = make_loader(job.train, config.batch_size, pad_id, seed=config.seed, shuffle=True)
    sampler = train_loader.batch_sampler
    assert isinstance(sampler, LengthGroupedBatchSampler)  # make_loader's: its order follows the epoch
    dev_loader = make_loader(job.dev, config.eval_batch_size, pad_id)

    if config.freeze_layers:  # before the optimiser and the seen rows: these weights get no gradient
        freeze_bottom_layers(model, config.freeze_layers)
    # Only the token-embedding rows of the training texts' tokens can get a gradient: they alone
    # train, the rest of the table stays a frozen buffer (the same updates, less work per step).
    trained_rows = train_seen_rows(model, [*job.train.input_ids, [pad_id]])
    optimizer = make_optimizer(strategy.parameter_groups(model, config))  # every group sets its lr
    model, optimizer, train_loader, dev_loader = accelerator.prepare(
        model, optimizer, train_loader, dev_loader
    )
    unwrapped = accelerator.unwrap_model(model)
    steps_per_epoch = len(train_loader)  # per process, after Accelerate shards the batches
    total_steps = config.epochs * steps_per_epoch
    # Not passed to prepare(): Accelerate would step it once per process per optimiser step.
    scheduler = make_schedule(optimizer, config.schedule, config.warmup_ratio, total_steps)
    weights = (
        class_weights(job.train.label_ids or [], len(job.labels)).to(accelerator.device)
        if config.class_weights
        else None
    )

    checkpoints = Checkpointer(
        job.workdir / "checkpoints", accelerator.is_main_process, on_disk=config.checkpoint_every > 0
    )
    state = TrainState()
    best_outputs: Any = None  # the best epoch's dev outputs, when that epoch ran in this process
    if job.resume and checkpoints.exists():
        state = checkpoints.load(unwrapped, optimizer, scheduler)
        info(f"Resumed from step {state.step} (epoch {state.epoch + 1}, batch {state.batches_done}).")

    # Less work, same gradients: dropout on a CPU draws fewer random numbers and keeps no float masks,
    # attention on long texts no probabilities (cpu_dropout.py); on long texts the GELU is computed
    # again in the backward pass (gelu_linear.py); a first-token classifier's last layer computes that
    # token only (first_token.py).
    # --freeze-layers K: the bottom K layers' outputs are computed once and reused (frozen_layers.py).
    cached = cached_bottom_layers(
        unwrapped, config.freeze_layers, [job.train, job.dev], pad_id, config.eval_batch_size
    )
    with cached as cache, progress_bar("Training", total=total_steps) as bar, lean_steps(unwrapped):
        bar.advance(state.step)
        for epoch in range(state.epoch, config.epochs):
            if config.patience and state.epochs_without_gain >= config.patience:
                break
            sampler.set_epoch(epoch)
            strategy.on_epoch_start(unwrapped, epoch)
            model.train()
            started, losses = time.perf_counter(), []
            for batch_index, batch in enumerate(train_loader):
                if batch_index < state.batches_done:  # trained before the interruption
                    continue
                loss = strategy.loss(model, batch, job.task, weights)
                extra = strategy.penalty(unwrapped)
                if extra is not None:
                    loss = loss + extra
                accelerator.backward(loss)
                if config.max_grad_norm > 0:
                    clip_gradients(accelerator, model, optimizer, config.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)

                state.step += 1
                state.batches_done = batch_index + 1
                state.samples_seen += len(batch["labels"]) * accelerator.num_processes
                losses.append(loss.item())
                bar.advance()
                bar.update(status=f"epoch {epoch + 1} loss {np.mean(losses[-20:]):.3f}")
                if config.checkpoint_every and state.step % config.checkpoint_every == 0:
                    checkpoints.save(unwrapped, optimizer, scheduler, state)

            if job.keep_last:  # a refit: dev is part of the training rows
                state.history.append(
                    {"epoch": epoch + 1, "train_loss": float(np.mean(losses)) if losses else None}
                )
                state.epoch, state.batches_done = epoch + 1, 0
                checkpoints.save(unwrapped, optimizer, scheduler, state)
                continue
            outputs = evaluate_loader(model, dev_loader, accelerator, job)
            dev = job.dev_scores(outputs)
            state.history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": float(np.mean(losses)) if losses else None,
                    **{f"dev_{name}": value for name, value in dev.items() if name != "score"},
                    "seconds": round(time.perf_counter() - started, 2),
                }
            )
            info(f"epoch {epoch + 1}: dev {job.task.primary_metric} {dev['score']:.4f}")
            state.epoch, state.batches_done = epoch + 1, 0
            if dev["score"] > state.best_score:
                state.best_score, state.epochs_without_gain = dev["score"], 0
                best_outputs = outputs
                checkpoints.save_best(unwrapped)
            else:
                state.epochs_without_gain += 1
            checkpoints.save(unwrapped, optimizer, scheduler, state)

    accelerator.wait_for_everyone()
    if not job.keep_last:
        checkpoints.load_best(unwrapped)
    merge_seen_rows(unwrapped)
    report = FitReport(
        history=state.history,
        steps=state.step,
        samples_seen=state.samples_seen,
        best_dev_score=state.best_score,
        details={
            **({"embedding_rows_trained": trained_rows} if trained_rows else {}),
            **({"cached_layers": cache} if cache else {}),
        },
    )
    # The best epoch's dev outputs stand for the run's predictor only when both compute in fp32
    # (the predictor runs at --precision, this loop under --mixed-precision).
    fp32 = accelerator.mixed_precision == "no" and job.placement.precision == "fp32"
    return Fitted(unwrapped, report, dev_outputs=best_outputs if fp32 and not job.keep_last else None)
